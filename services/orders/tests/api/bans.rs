//! `user:banned`: the buyer's live orders are cancelled, each with its `order:cancelled`;
//! completed orders stand; a redelivery changes nothing. A ticket withdrawn from sale (its
//! seller was banned) can't be ordered until it is relisted.

use std::time::Duration;

use common::events::{OrderCancelled, OrderStatus, UserBanned};
use common::task::{Shutdown, Supervisor};
use orders::listeners::{self, Applied};

use crate::helpers::{id_of, payment, replicate_updated, update, TestApp, WITHDRAWN};

fn banned(user_id: &str) -> UserBanned {
    UserBanned {
        user_id: user_id.to_owned(),
        reason: "<script>alert(1)</script>\u{7} spam".into(),
    }
}

async fn ban(app: &TestApp, user_id: &str) -> Applied {
    listeners::user_banned(&app.state, banned(user_id))
        .await
        .expect("user:banned runs")
}

#[tokio::test]
async fn a_banned_buyers_live_orders_are_cancelled_with_order_cancelled() {
    let app = TestApp::spawn().await;
    let (buyer, other) = (app.buyer(), app.buyer());
    let first = app.ticket("concert", 2000).await;
    let second = app.ticket("opera", 3000).await;
    let theirs = app.ticket("ballet", 4000).await;
    let orders = [
        id_of(&app.ordered(&buyer, &first.id).await),
        id_of(&app.ordered(&buyer, &second.id).await),
    ];
    let others = id_of(&app.ordered(&other, &theirs.id).await);

    assert_eq!(ban(&app, &buyer.id).await, Applied::Done);

    for id in &orders {
        let stored = app.stored_order(id).await;
        assert_eq!((stored.status, stored.version), (OrderStatus::Cancelled, 1));
    }
    let cancelled = app.events::<OrderCancelled>().await;
    let mut seen: Vec<_> = cancelled
        .iter()
        .map(|e| {
            (
                e.id.clone(),
                e.version,
                e.ticket.id.clone(),
                e.user_id.clone(),
            )
        })
        .collect();
    seen.sort();
    let mut expected = vec![
        (orders[0].clone(), 1, first.id.clone(), buyer.id.clone()),
        (orders[1].clone(), 1, second.id.clone(), buyer.id.clone()),
    ];
    expected.sort();
    assert_eq!(seen, expected, "one order:cancelled per live order");
    assert_eq!(
        app.stored_order(&others).await.status,
        OrderStatus::Created,
        "another buyer's order is untouched"
    );
    // The tickets are free again for others.
    let reply = app.create_order(&other, &first.id).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[tokio::test]
async fn a_banned_buyers_completed_order_stands() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    let paid_for = app.ticket("concert", 2000).await;
    let held = app.ticket("opera", 3000).await;
    let paid = id_of(&app.ordered(&buyer, &paid_for.id).await);
    assert_eq!(app.payment_created(payment(&paid)).await, Applied::Done);
    let live = id_of(&app.ordered(&buyer, &held.id).await);

    assert_eq!(ban(&app, &buyer.id).await, Applied::Done);

    let stored = app.stored_order(&paid).await;
    assert_eq!((stored.status, stored.version), (OrderStatus::Complete, 1));
    assert_eq!(app.stored_order(&live).await.status, OrderStatus::Cancelled);
    let cancelled = app.events::<OrderCancelled>().await;
    assert_eq!(cancelled.len(), 1, "{cancelled:?}");
    assert_eq!(cancelled[0].id, live);
}

#[tokio::test]
async fn a_second_delivery_of_the_ban_changes_nothing() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    let ticket = app.ticket("concert", 2000).await;
    let order = id_of(&app.ordered(&buyer, &ticket.id).await);
    assert_eq!(ban(&app, &buyer.id).await, Applied::Done);
    let outbox = app.outbox().await.len();

    assert_eq!(ban(&app, &buyer.id).await, Applied::Duplicate);

    assert_eq!(
        app.outbox().await.len(),
        outbox,
        "nothing new in the outbox"
    );
    assert_eq!(app.stored_order(&order).await.version, 1);
    assert_eq!(
        ban(&app, &app.buyer().id).await,
        Applied::Duplicate,
        "a user with no orders: nothing to do"
    );
}

#[tokio::test]
async fn a_ban_on_the_bus_reaches_the_listener() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    let ticket = app.ticket("concert", 2000).await;
    let order = id_of(&app.ordered(&buyer, &ticket.id).await);
    let shutdown = Shutdown::new();
    let task = listeners::listeners(app.state.clone())
        .subscribe(&app.bus, shutdown.clone())
        .await
        .expect("subscribes");
    let mut supervisor = Supervisor::new(shutdown.clone());
    supervisor.add([task]);
    let running = tokio::spawn(supervisor.run());
    let message =
        common::bus::encode(uuid::Uuid::new_v4().to_string(), &banned(&buyer.id)).expect("encodes");

    app.bus.publish(&message).await.expect("published");

    let db = app.state.db.clone();
    let cancelled = common::testing::eventually(Duration::from_secs(10), || {
        let (db, order) = (db.clone(), order.clone());
        async move {
            let stored = orders::store::find_order(&db, &order)
                .await
                .ok()
                .flatten()?;
            (stored.status == OrderStatus::Cancelled).then_some(())
        }
    })
    .await;
    shutdown.trigger();
    let _ = running.await;
    assert!(cancelled.is_some(), "the listener cancelled the order");
    assert_eq!(app.events::<OrderCancelled>().await.len(), 1);
}

#[tokio::test]
async fn a_withdrawn_ticket_cannot_be_ordered_until_it_is_relisted() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let withdrawn = common::events::TicketUpdated {
        withdrawn: true,
        ..update(&ticket, 1, "concert", 2000)
    };
    assert_eq!(replicate_updated(&app, withdrawn).await, Applied::Done);
    assert!(app.stored_ticket(&ticket.id).await.withdrawn);

    let reply = app.create_order(&app.buyer(), &ticket.id).await;

    reply.assert_error(400, WITHDRAWN);
    assert!(app.outbox().await.is_empty(), "no order, no event");

    let relisted = update(&ticket, 2, "concert", 2000);
    assert_eq!(replicate_updated(&app, relisted).await, Applied::Done);
    assert!(!app.stored_ticket(&ticket.id).await.withdrawn);
    let reply = app.create_order(&app.buyer(), &ticket.id).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
}

/// The set step PostgreSQL applies batches of `ticket:updated` with carries the flag too.
#[tokio::test]
async fn a_batch_of_ticket_updates_carries_the_withdrawal() {
    use sea_orm::TransactionTrait;
    use std::sync::Arc;
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let withdrawn = common::events::TicketUpdated {
        withdrawn: true,
        ..update(&ticket, 1, "concert", 2000)
    };
    let txn = Arc::new(app.state.db.begin().await.expect("begins"));

    let outcome = listeners::tickets_updated(&txn, vec![withdrawn])
        .await
        .expect("the set step runs");

    assert!(matches!(outcome.applied[..], [Ok(Applied::Done)]));
    Arc::try_unwrap(txn)
        .unwrap_or_else(|_| panic!("the step kept the transaction"))
        .commit()
        .await
        .expect("commits");
    assert!(app.stored_ticket(&ticket.id).await.withdrawn);
    let reply = app.create_order(&app.buyer(), &ticket.id).await;
    reply.assert_error(400, WITHDRAWN);
}
