//! Many buyers at once: one winner per ticket, each order ended exactly once, lapsed
//! orders out of the way.

use std::time::Duration;

use common::events::{OrderCancelled, OrderCompleted, OrderCreated, OrderStatus};
use futures::future::join_all;
use orders::listeners::{self, Applied};
use orders::store;
use sea_orm::{EntityTrait, PaginatorTrait};

use crate::helpers::{
    expire, id_of, live_orders_of_ticket, payment, update, Buyer, TestApp, ALREADY_RESERVED,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn of_fifty_concurrent_buyers_of_one_ticket_exactly_one_wins() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let buyers: Vec<Buyer> = (0..50).map(|_| app.buyer()).collect();

    let replies = join_all(
        buyers
            .iter()
            .map(|buyer| app.create_order(buyer, &ticket.id)),
    )
    .await;

    let created = replies.iter().filter(|r| r.status == 201).count();
    let rejected: Vec<_> = replies.iter().filter(|r| r.status != 201).collect();
    assert_eq!(
        created,
        1,
        "statuses: {:?}",
        replies
            .iter()
            .map(|r| (r.status, &r.body))
            .collect::<Vec<_>>()
    );
    for reply in rejected {
        reply.assert_error(400, ALREADY_RESERVED);
    }
    assert_eq!(live_orders_of_ticket(&app, &ticket.id).await, 1);
    assert_eq!(app.events::<OrderCreated>().await.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_tickets_with_four_buyers_each_sell_exactly_two_hundred_orders() {
    let app = TestApp::spawn().await;
    // The relay publishes (and marks rows sent) while the buyers write, as in production.
    app.run_relay();
    let mut tickets = Vec::new();
    for n in 0..200 {
        tickets.push(app.ticket(&format!("ticket {n}"), 1000 + n).await);
    }
    let buyers: Vec<Buyer> = (0..4).map(|_| app.buyer()).collect();
    let attempts: Vec<_> = tickets
        .iter()
        .flat_map(|t| buyers.iter().map(move |b| (b, t.id.as_str())))
        .collect();

    let replies = join_all(
        attempts
            .iter()
            .map(|(buyer, ticket)| app.create_order(buyer, ticket)),
    )
    .await;

    let server_errors: Vec<_> = replies
        .iter()
        .filter(|r| r.status >= 500)
        .map(|r| &r.body)
        .collect();
    assert!(
        server_errors.is_empty(),
        "{} server errors, e.g. {:?}",
        server_errors.len(),
        server_errors.first()
    );
    assert_eq!(replies.iter().filter(|r| r.status == 201).count(), 200);
    assert_eq!(replies.iter().filter(|r| r.status == 400).count(), 600);
    let rows = store::order::Entity::find()
        .count(&app.state.db)
        .await
        .expect("countable");
    assert_eq!(rows, 200);
    let mut sold: Vec<String> = app
        .events::<OrderCreated>()
        .await
        .into_iter()
        .map(|e| e.ticket.id)
        .collect();
    sold.sort_unstable();
    sold.dedup();
    assert_eq!(sold.len(), 200, "one order:created per ticket");
    assert!(
        app.outbox_drained(Duration::from_secs(30)).await,
        "the relay published every event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_racing_an_expiry_or_a_cancel_ends_each_order_exactly_once() {
    let app = TestApp::spawn_lapsing().await;
    let buyer = app.buyer();
    let mut orders = Vec::new();
    for n in 0..20 {
        let ticket = app.ticket(&format!("ticket {n}"), 1000).await;
        orders.push(id_of(&app.ordered(&buyer, &ticket.id).await));
    }

    let races = orders.iter().map(|id| {
        let app = &app;
        let buyer = &buyer;
        async move {
            let (paid, expired, cancelled) = tokio::join!(
                listeners::payment_created(&app.state, payment(id)),
                listeners::expiration_complete(&app.state, expire(id)),
                app.cancel_order(buyer, id),
            );
            (
                paid.expect("payment runs"),
                expired.expect("expiry runs"),
                cancelled.status,
            )
        }
    });
    let outcomes = join_all(races).await;

    for (id, (paid, expired, cancelled)) in orders.iter().zip(outcomes) {
        assert!(
            cancelled == 204 || cancelled == 400,
            "cancel answered {cancelled}"
        );
        let stored = app.stored_order(id).await;
        assert_eq!(stored.version, 1, "an order ends once");
        let winners = [paid == Applied::Done, expired == Applied::Done]
            .iter()
            .filter(|w| **w)
            .count();
        match stored.status {
            OrderStatus::Complete => assert_eq!(
                (paid, expired, cancelled),
                (Applied::Done, Applied::Duplicate, 400)
            ),
            OrderStatus::Cancelled => assert_eq!((paid, winners <= 1), (Applied::Duplicate, true)),
            other => panic!("order left {other:?}"),
        }
    }
    let ended =
        app.events::<OrderCancelled>().await.len() + app.events::<OrderCompleted>().await.len();
    assert_eq!(ended, orders.len(), "one ending event per order");
}

#[tokio::test]
async fn an_expiry_that_arrives_before_the_window_closes_is_redelivered_later() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;

    let applied = listeners::expiration_complete(&app.state, expire(&id_of(&order)))
        .await
        .expect("runs");

    assert_eq!(applied, Applied::Early);
    let stored = app.stored_order(&id_of(&order)).await;
    assert_eq!((stored.status, stored.version), (OrderStatus::Created, 0));
    assert!(app.events::<OrderCancelled>().await.is_empty());
}

#[tokio::test]
async fn a_lapsed_order_no_longer_blocks_a_new_buyer_even_before_its_expiry_arrives() {
    let app = TestApp::spawn_with_window(Duration::from_millis(300)).await;
    let ticket = app.ticket("concert", 2000).await;
    let first = id_of(&app.ordered(&app.buyer(), &ticket.id).await);
    let early = app.create_order(&app.buyer(), &ticket.id).await;
    early.assert_error(400, "Ticket is already reserved");

    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = id_of(&app.ordered(&app.buyer(), &ticket.id).await);

    let stored = app.stored_order(&first).await;
    assert_eq!((stored.status, stored.version), (OrderStatus::Cancelled, 1));
    let subjects: Vec<String> = app.outbox().await.into_iter().map(|r| r.subject).collect();
    assert_eq!(
        subjects,
        ["order:created", "order:cancelled", "order:created"],
        "the lapsed order's cancellation leaves before the new reservation"
    );
    let cancelled = app.events::<OrderCancelled>().await;
    assert_eq!(
        (cancelled[0].id.as_str(), cancelled[0].version),
        (first.as_str(), 1)
    );
    assert_eq!(app.stored_order(&second).await.status, OrderStatus::Created);
    // Its expiry arriving afterwards changes nothing.
    let late = listeners::expiration_complete(&app.state, expire(&first))
        .await
        .expect("runs");
    assert_eq!(late, Applied::Duplicate);
}

/// The lapsed-order search runs inside every reservation's write transaction: it must find
/// a ticket's live orders through the partial unique index, not scan every order (its cost
/// would grow with the table). SQLite's plan is read for both spellings (the writer thread's
/// and sea-orm's); PostgreSQL's with sequential scans priced out, so only a usable index
/// avoids one.
#[tokio::test]
async fn the_lapsed_order_search_uses_the_live_order_index() {
    use sea_orm::{ConnectionTrait, Statement, TransactionTrait};
    let app = TestApp::spawn().await;
    let db = &app.state.db;
    let backend = db.get_database_backend();
    let now = chrono::Utc::now();
    let seaorm = store::cancel_lapsed_statement(backend, "t-1", now);
    let plan = |statement: Statement| {
        let sql = if app.is_postgres() {
            format!("EXPLAIN {}", statement.sql)
        } else {
            format!("EXPLAIN QUERY PLAN {}", statement.sql)
        };
        Statement { sql, ..statement }
    };
    let mut plans = Vec::new();
    let txn = db.begin().await.expect("begins");
    if app.is_postgres() {
        txn.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await
            .expect("sets");
    } else {
        plans.push(Statement::from_sql_and_values(
            backend,
            orders::written::CANCEL_LAPSED,
            ["t-1".into(), common::sqlite::timestamp(now).into()],
        ));
    }
    plans.push(seaorm);
    for statement in plans {
        let shown = statement.sql.clone();
        let rows = txn.query_all(plan(statement)).await.expect("explains");
        let text: Vec<String> = rows
            .iter()
            .map(|row| {
                row.try_get::<String>("", "detail")
                    .or_else(|_| row.try_get::<String>("", "QUERY PLAN"))
                    .expect("a plan line")
            })
            .collect();
        let text = text.join("\n");
        assert!(
            text.contains("orders_one_live_per_ticket"),
            "{shown}\nplans without the live-order index:\n{text}"
        );
        assert!(
            !text.contains("SCAN orders") && !text.contains("Seq Scan"),
            "{shown}\nscans the orders:\n{text}"
        );
    }
    txn.rollback().await.expect("rolls back");
}

/// The set step a batch of `ticket:updated` goes through: two versions of one ticket, newest
/// first, both apply in version order within the one transaction; a repeat is a duplicate and
/// a skipped version early, and neither changes anything.
#[tokio::test]
async fn a_batch_of_ticket_updates_applies_each_tickets_versions_in_order() {
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn().await;
    let (a, b) = (app.ticket("a", 100).await, app.ticket("b", 200).await);
    let txn = std::sync::Arc::new(app.state.db.begin().await.expect("a transaction"));
    let set = listeners::tickets_updated(
        &txn,
        vec![
            update(&a, 2, "a two", 300),
            update(&b, 1, "b one", 400),
            update(&a, 1, "a one", 500),
            update(&b, 1, "b one", 400),
            update(&b, 5, "b five", 600),
        ],
    )
    .await
    .expect("the set applies");
    let applied: Vec<Applied> = set
        .applied
        .into_iter()
        .map(|a| a.expect("each event is classified"))
        .collect();
    assert_eq!(
        applied,
        [
            Applied::Done,
            Applied::Done,
            Applied::Done,
            Applied::Duplicate,
            Applied::Early
        ]
    );
    assert!(set.staged.is_empty(), "the replica writes no events");
    std::sync::Arc::try_unwrap(txn)
        .unwrap_or_else(|_| panic!("the step kept the transaction"))
        .commit()
        .await
        .expect("commits");
    for (ticket, title, cents, version) in [(&a, "a two", 300, 2), (&b, "b one", 400, 1)] {
        let stored = store::find_ticket(&app.state.db, &ticket.id)
            .await
            .expect("readable")
            .expect("replicated");
        assert_eq!(
            (stored.title.as_str(), stored.price_cents, stored.version),
            (title, cents, version)
        );
    }
}
