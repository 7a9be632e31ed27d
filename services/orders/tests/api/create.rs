//! The orders service end to end: its HTTP API over real sockets and its listener steps, on
//! SQLite (default) or PostgreSQL (`DATABASE_URL=postgres://…`). Cases follow the course
//! app's orders suite, plus versions, idempotency and contention.
mod helpers;

use std::time::Duration;

use common::dto::ErrorItem;
use common::events::{
    ExpirationComplete, OrderCancelled, OrderCompleted, OrderCreated, OrderStatus, PaymentCreated,
    Subject, TicketCreated, TicketUpdated,
};
use common::money::Money;
use futures::future::join_all;
use helpers::{Buyer, TestApp};
use orders::listeners::{self, Applied};
use orders::store;
use reqwest::Method;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde_json::{json, Value};

const ALREADY_RESERVED: &str = "Ticket is already reserved";
const COMPLETED: &str = "Cannot cancel a completed order";
const OWN_TICKET: &str = "You cannot buy your own ticket";

fn keys_of(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

fn expire(order_id: &str) -> ExpirationComplete {
    ExpirationComplete {
        order_id: order_id.to_owned(),
    }
}

fn payment(order_id: &str) -> PaymentCreated {
    PaymentCreated {
        id: uuid::Uuid::new_v4().to_string(),
        order_id: order_id.to_owned(),
        stripe_id: "ch_test".into(),
    }
}

fn update(ticket: &TicketCreated, version: i64, title: &str, price_cents: i64) -> TicketUpdated {
    TicketUpdated {
        id: ticket.id.clone(),
        version,
        title: title.to_owned(),
        price: Money::from_cents(price_cents),
        user_id: ticket.user_id.clone(),
        order_id: None,
    }
}

/// `ticket:created` applied the way the service applies it on this backend: the writer
/// thread's step on SQLite, the sea-orm listener on PostgreSQL.
async fn replicate_created(app: &TestApp, event: TicketCreated) -> Applied {
    match &app.state.writer {
        Some(writer) => writer
            .write(move |tx| orders::written::ticket_created(tx, event))
            .await
            .expect("ticket:created applies"),
        None => listeners::ticket_created(&app.state.db, event)
            .await
            .expect("ticket:created applies"),
    }
}

/// `ticket:updated`, as [`replicate_created`] applies `ticket:created`.
async fn replicate_updated(app: &TestApp, event: TicketUpdated) -> Applied {
    match &app.state.writer {
        Some(writer) => writer
            .write(move |tx| orders::written::ticket_updated(tx, event))
            .await
            .expect("ticket:updated applies"),
        None => listeners::ticket_updated(&app.state.db, event)
            .await
            .expect("ticket:updated applies"),
    }
}

/// Makes a replica row look as if it was replicated before sellers were kept.
async fn forget_seller(app: &TestApp, ticket_id: &str) {
    store::ticket::Entity::update_many()
        .col_expr(
            store::ticket::Column::SellerId,
            Expr::value(Option::<String>::None),
        )
        .filter(store::ticket::Column::Id.eq(ticket_id))
        .exec(&app.state.db)
        .await
        .expect("the replica is writable");
}

async fn live_orders_of_ticket(app: &TestApp, ticket_id: &str) -> u64 {
    store::order::Entity::find()
        .filter(store::order::Column::TicketId.eq(ticket_id))
        .filter(store::order::Column::Status.ne(OrderStatus::Cancelled.as_str()))
        .count(&app.state.db)
        .await
        .expect("orders are countable")
}

// ---------------------------------------------------------------------------------------
// POST /api/orders

#[tokio::test]
async fn ordering_without_signing_in_is_401_even_with_an_invalid_body() {
    let app = TestApp::spawn().await;
    app.post_order(None, &json!({}))
        .await
        .assert_error(401, "Not authorized");
    app.post_order(Some("session=not-a-jwt"), &json!({ "ticketId": "" }))
        .await
        .assert_error(401, "Not authorized");
}

#[tokio::test]
async fn ordering_without_a_ticket_id_is_a_field_error() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    for body in [
        json!({}),
        json!({ "ticketId": "" }),
        json!({ "ticketId": "  " }),
        json!({ "ticketId": 42 }),
        json!({ "ticketId": null }),
    ] {
        let reply = app.post_order(Some(&buyer.cookie), &body).await;
        reply.assert_errors(
            400,
            &[ErrorItem::field("ticketId", "TicketId must be provided")],
        );
    }
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn a_malformed_order_body_is_400_in_the_envelope() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    let request = app
        .request(Method::POST, "/api/orders", Some(&buyer.cookie))
        .header("content-type", "application/json")
        .body("{\"ticketId\":");
    let reply = app.send(request).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    reply.errors();
}

#[tokio::test]
async fn ordering_a_ticket_that_does_not_exist_is_404() {
    let app = TestApp::spawn().await;
    let reply = app
        .create_order(&app.buyer(), &uuid::Uuid::new_v4().to_string())
        .await;
    reply.assert_error(404, "Not Found");
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn ids_that_could_never_exist_are_404_rather_than_server_errors() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    for id in ["a\u{0}b", "tab\there", &"x".repeat(65)] {
        app.create_order(&buyer, id)
            .await
            .assert_error(404, "Not Found");
    }
    for path in ["/api/orders/a%00b", "/api/orders/line%0Abreak"] {
        let reply = app
            .send(app.request(Method::GET, path, Some(&buyer.cookie)))
            .await;
        reply.assert_error(404, "Not Found");
        let reply = app
            .send(app.request(Method::DELETE, path, Some(&buyer.cookie)))
            .await;
        reply.assert_error(404, "Not Found");
    }
}

#[tokio::test]
async fn ordering_a_ticket_that_is_already_reserved_is_rejected() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    app.ordered(&app.buyer(), &ticket.id).await;

    let reply = app.create_order(&app.buyer(), &ticket.id).await;

    reply.assert_error(400, ALREADY_RESERVED);
    assert_eq!(live_orders_of_ticket(&app, &ticket.id).await, 1);
    assert_eq!(app.events::<OrderCreated>().await.len(), 1);
}

#[tokio::test]
async fn a_seller_cannot_order_their_own_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let seller = app.signed_in_as(&ticket.user_id);

    let reply = app.create_order(&seller, &ticket.id).await;

    reply.assert_error(400, OWN_TICKET);
    assert_eq!(live_orders_of_ticket(&app, &ticket.id).await, 0);
    assert!(app.events::<OrderCreated>().await.is_empty());
    app.ordered(&app.buyer(), &ticket.id).await;
}

#[tokio::test]
async fn the_replica_learns_the_seller_from_ticket_created_and_ticket_updated() {
    let app = TestApp::spawn().await;
    let seller = app.buyer();
    let created = TicketCreated {
        id: uuid::Uuid::new_v4().to_string(),
        version: 0,
        title: "concert".into(),
        price: Money::from_cents(2000),
        user_id: seller.id.clone(),
    };
    assert_eq!(
        replicate_created(&app, created.clone()).await,
        Applied::Done
    );
    app.create_order(&seller, &created.id)
        .await
        .assert_error(400, OWN_TICKET);

    // A row from before the seller was kept gets it from the ticket's next update.
    forget_seller(&app, &created.id).await;
    let updated = update(&created, 1, "concert", 2500);
    assert_eq!(replicate_updated(&app, updated).await, Applied::Done);
    app.create_order(&seller, &created.id)
        .await
        .assert_error(400, OWN_TICKET);
    assert_eq!(live_orders_of_ticket(&app, &created.id).await, 0);
}

#[tokio::test]
async fn a_ticket_replicated_before_sellers_were_kept_can_be_ordered_by_anyone() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    forget_seller(&app, &ticket.id).await;

    app.ordered(&app.signed_in_as(&ticket.user_id), &ticket.id)
        .await;
}

#[tokio::test]
async fn ordering_a_ticket_reserves_it_and_returns_the_order() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2050).await;
    let buyer = app.buyer();
    let before = chrono::Utc::now();

    let reply = app.create_order(&buyer, &ticket.id).await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    let order = reply.json();
    assert_eq!(
        keys_of(&order),
        ["expiresAt", "id", "status", "ticket", "userId", "version"],
        "{order}"
    );
    assert_eq!(order["status"], "created");
    assert_eq!(order["userId"], buyer.id.as_str());
    assert_eq!(order["version"], 0);
    assert_eq!(
        order["ticket"],
        json!({ "id": ticket.id, "title": "concert", "price": 20.5, "version": 0 })
    );
    let expires_at = order["expiresAt"].as_str().expect("expiresAt is a string");
    assert!(expires_at.ends_with('Z'), "{expires_at}");
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(expires_at).expect("expiresAt is RFC 3339");
    let window = expires_at.signed_duration_since(before).num_seconds();
    assert!(
        (899..=901).contains(&window),
        "expires {window}s after ordering"
    );
    assert_eq!(
        app.stored_order(&id_of(&order)).await.status,
        OrderStatus::Created
    );
}

#[tokio::test]
async fn an_order_expires_after_the_configured_window() {
    let app = TestApp::spawn_with_window(Duration::from_secs(60)).await;
    let ticket = app.ticket("concert", 2000).await;
    let before = chrono::Utc::now();

    let order = app.ordered(&app.buyer(), &ticket.id).await;

    let expires_at =
        chrono::DateTime::parse_from_rfc3339(order["expiresAt"].as_str().expect("a string"))
            .expect("RFC 3339");
    let window = expires_at.signed_duration_since(before).num_seconds();
    assert!(
        (59..=61).contains(&window),
        "expires {window}s after ordering"
    );
}

#[tokio::test]
async fn ordering_a_ticket_writes_one_order_created_event_to_the_outbox() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let buyer = app.buyer();

    let order = app.ordered(&buyer, &ticket.id).await;

    let rows = app.outbox().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].subject, "order:created");
    let payload: Value = serde_json::from_str(&rows[0].payload).expect("JSON payload");
    assert_eq!(
        payload,
        json!({
            "id": order["id"],
            "version": 0,
            "status": "created",
            "userId": buyer.id,
            "expiresAt": order["expiresAt"],
            "ticket": { "id": ticket.id, "price": 20 },
        })
    );
}

#[tokio::test]
async fn an_order_created_event_reaches_the_bus_through_the_relay() {
    let app = TestApp::spawn().await;
    let mut subscription = app
        .bus
        .subscribe("test-service", &[Subject::OrderCreated])
        .await
        .expect("subscribes");
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;

    assert_eq!(
        app.state.relay.publish_pending().await.expect("publishes"),
        1
    );

    let delivery = tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .expect("delivered in time")
        .expect("the bus is up");
    assert_eq!(delivery.message.subject, Subject::OrderCreated);
    let event: OrderCreated =
        serde_json::from_slice(&delivery.message.payload).expect("an order:created payload");
    assert_eq!(event.id, id_of(&order));
    assert_eq!(app.state.relay.pending().await.expect("countable"), 0);
}

// ---------------------------------------------------------------------------------------
// GET /api/orders

#[tokio::test]
async fn listing_returns_only_the_callers_orders_in_insertion_order_with_their_tickets() {
    let app = TestApp::spawn().await;
    let (one, two, three) = (
        app.ticket("one", 100).await,
        app.ticket("two", 200).await,
        app.ticket("three", 300).await,
    );
    let (user_one, user_two) = (app.buyer(), app.buyer());
    app.ordered(&user_one, &one.id).await;
    let first = app.ordered(&user_two, &two.id).await;
    let second = app.ordered(&user_two, &three.id).await;

    let reply = app.list_orders(&user_two).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let orders = body.as_array().expect("an array");
    assert_eq!(orders.len(), 2, "{body}");
    assert_eq!((&orders[0], &orders[1]), (&first, &second));
    assert_eq!(orders[0]["ticket"]["id"], two.id.as_str());
    assert_eq!(orders[1]["ticket"]["id"], three.id.as_str());
}

#[tokio::test]
async fn listing_includes_cancelled_and_completed_orders() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    let (one, two) = (app.ticket("one", 100).await, app.ticket("two", 200).await);
    let cancelled = app.ordered(&buyer, &one.id).await;
    assert_eq!(
        app.cancel_order(&buyer, &id_of(&cancelled)).await.status,
        204
    );
    let paid = app.ordered(&buyer, &two.id).await;
    listeners::payment_created(&app.state, payment(&id_of(&paid)))
        .await
        .expect("applies");

    let body = app.list_orders(&buyer).await.json();

    let statuses: Vec<_> = body
        .as_array()
        .expect("an array")
        .iter()
        .map(|o| (o["status"].clone(), o["version"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("cancelled"), json!(1)),
            (json!("complete"), json!(1))
        ]
    );
}

#[tokio::test]
async fn listing_orders_without_signing_in_is_401() {
    let app = TestApp::spawn().await;
    app.send(app.request(Method::GET, "/api/orders", None))
        .await
        .assert_error(401, "Not authorized");
}

#[tokio::test]
async fn a_buyer_without_orders_gets_an_empty_list() {
    let app = TestApp::spawn().await;
    let reply = app.list_orders(&app.buyer()).await;
    assert_eq!((reply.status, reply.json()), (200, json!([])));
}

// ---------------------------------------------------------------------------------------
// GET /api/orders/:id

#[tokio::test]
async fn fetching_your_order_returns_it_with_its_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let buyer = app.buyer();
    let order = app.ordered(&buyer, &ticket.id).await;

    let reply = app.show_order(&buyer, &id_of(&order)).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), order);
}

#[tokio::test]
async fn fetching_another_users_order_is_401() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;

    app.show_order(&app.buyer(), &id_of(&order))
        .await
        .assert_error(401, "Not authorized");
}

#[tokio::test]
async fn fetching_an_unknown_order_is_404() {
    let app = TestApp::spawn().await;
    app.show_order(&app.buyer(), "no-such-order")
        .await
        .assert_error(404, "Not Found");
}

#[tokio::test]
async fn fetching_an_order_without_signing_in_is_401() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;
    let request = app.request(Method::GET, &format!("/api/orders/{}", id_of(&order)), None);
    app.send(request).await.assert_error(401, "Not authorized");
}

// ---------------------------------------------------------------------------------------
// DELETE /api/orders/:id

#[tokio::test]
async fn cancelling_an_order_marks_it_cancelled_and_answers_204_with_an_empty_body() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let buyer = app.buyer();
    let order = app.ordered(&buyer, &ticket.id).await;

    let reply = app.cancel_order(&buyer, &id_of(&order)).await;

    assert_eq!(reply.status, 204, "{}", reply.body);
    assert!(reply.body.is_empty(), "{:?}", reply.body);
    let stored = app.stored_order(&id_of(&order)).await;
    assert_eq!((stored.status, stored.version), (OrderStatus::Cancelled, 1));
}

#[tokio::test]
async fn cancelling_an_order_writes_one_order_cancelled_event() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let buyer = app.buyer();
    let order = app.ordered(&buyer, &ticket.id).await;

    assert_eq!(app.cancel_order(&buyer, &id_of(&order)).await.status, 204);

    let rows = app.outbox().await;
    let subjects: Vec<_> = rows.iter().map(|r| r.subject.as_str()).collect();
    assert_eq!(subjects, ["order:created", "order:cancelled"]);
    let payload: Value = serde_json::from_str(&rows[1].payload).expect("JSON payload");
    assert_eq!(
        payload,
        json!({ "id": order["id"], "version": 1, "ticket": { "id": ticket.id } })
    );
}

#[tokio::test]
async fn cancelling_a_cancelled_order_again_is_204_and_emits_nothing_new() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let buyer = app.buyer();
    let order = app.ordered(&buyer, &ticket.id).await;
    assert_eq!(app.cancel_order(&buyer, &id_of(&order)).await.status, 204);

    let again = app.cancel_order(&buyer, &id_of(&order)).await;

    assert_eq!(again.status, 204, "{}", again.body);
    assert_eq!(app.events::<OrderCancelled>().await.len(), 1);
    assert_eq!(app.stored_order(&id_of(&order)).await.version, 1);
}

#[tokio::test]
async fn cancelling_an_unknown_order_is_404() {
    let app = TestApp::spawn().await;
    app.cancel_order(&app.buyer(), "no-such-order")
        .await
        .assert_error(404, "Not Found");
}

#[tokio::test]
async fn cancelling_another_users_order_is_401_and_leaves_it_alone() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;

    app.cancel_order(&app.buyer(), &id_of(&order))
        .await
        .assert_error(401, "Not authorized");

    assert_eq!(
        app.stored_order(&id_of(&order)).await.status,
        OrderStatus::Created
    );
    assert!(app.events::<OrderCancelled>().await.is_empty());
}

#[tokio::test]
async fn cancelling_without_signing_in_is_401() {
    let app = TestApp::spawn().await;
    app.send(app.request(Method::DELETE, "/api/orders/anything", None))
        .await
        .assert_error(401, "Not authorized");
}

#[tokio::test]
async fn cancelling_frees_the_ticket_for_a_new_order() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let first = app.buyer();
    let order = app.ordered(&first, &ticket.id).await;
    assert_eq!(app.cancel_order(&first, &id_of(&order)).await.status, 204);

    let reply = app.create_order(&app.buyer(), &ticket.id).await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(app.events::<OrderCreated>().await.len(), 2);
}

#[tokio::test]
async fn a_completed_order_cannot_be_cancelled() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let buyer = app.buyer();
    let order = app.ordered(&buyer, &ticket.id).await;
    listeners::payment_created(&app.state, payment(&id_of(&order)))
        .await
        .expect("applies");

    app.cancel_order(&buyer, &id_of(&order))
        .await
        .assert_error(400, COMPLETED);

    assert_eq!(
        app.stored_order(&id_of(&order)).await.status,
        OrderStatus::Complete
    );
    assert!(app.events::<OrderCancelled>().await.is_empty());
}

// ---------------------------------------------------------------------------------------
// ticket:created / ticket:updated

#[tokio::test]
async fn ticket_created_adds_the_ticket_to_the_replica() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 1000).await;

    let stored = store::find_ticket(&app.state.db, &ticket.id)
        .await
        .expect("readable")
        .expect("replicated");

    assert_eq!(
        (stored.title.as_str(), stored.price_cents, stored.version),
        ("concert", 1000, 0)
    );
}

#[tokio::test]
async fn a_duplicate_ticket_created_is_applied_once() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 1000).await;
    let resent = TicketCreated {
        title: "changed".into(),
        ..ticket.clone()
    };

    let applied = listeners::ticket_created(&app.state.db, resent)
        .await
        .expect("applies");

    assert_eq!(applied, Applied::Duplicate);
    let stored = store::find_ticket(&app.state.db, &ticket.id)
        .await
        .expect("readable")
        .expect("replicated");
    assert_eq!(stored.title, "concert");
}

#[tokio::test]
async fn ticket_updated_applies_the_next_version() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;

    let applied =
        listeners::ticket_updated(&app.state.db, update(&ticket, 1, "new concert", 99900))
            .await
            .expect("applies");

    assert_eq!(applied, Applied::Done);
    let stored = store::find_ticket(&app.state.db, &ticket.id)
        .await
        .expect("readable")
        .expect("replicated");
    assert_eq!(
        (stored.title.as_str(), stored.price_cents, stored.version),
        ("new concert", 99900, 1)
    );
}

#[tokio::test]
async fn ticket_updated_with_a_skipped_version_is_early_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;

    let applied =
        listeners::ticket_updated(&app.state.db, update(&ticket, 10, "new concert", 99900))
            .await
            .expect("runs");

    assert_eq!(applied, Applied::Early);
    let stored = store::find_ticket(&app.state.db, &ticket.id)
        .await
        .expect("readable")
        .expect("replicated");
    assert_eq!((stored.title.as_str(), stored.version), ("concert", 0));
}

#[tokio::test]
async fn ticket_updated_for_an_unknown_ticket_is_early() {
    let app = TestApp::spawn().await;
    let unknown = TicketCreated {
        id: uuid::Uuid::new_v4().to_string(),
        version: 0,
        title: "x".into(),
        price: Money::from_cents(100),
        user_id: "u".into(),
    };
    let applied = listeners::ticket_updated(&app.state.db, update(&unknown, 1, "y", 200))
        .await
        .expect("runs");
    assert_eq!(applied, Applied::Early);
}

#[tokio::test]
async fn ticket_updates_arriving_out_of_order_end_at_the_latest_version() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let (v1, v2) = (
        update(&ticket, 1, "first", 3000),
        update(&ticket, 2, "second", 4000),
    );

    assert_eq!(
        listeners::ticket_updated(&app.state.db, v2.clone())
            .await
            .expect("runs"),
        Applied::Early
    );
    assert_eq!(
        listeners::ticket_updated(&app.state.db, v1)
            .await
            .expect("runs"),
        Applied::Done
    );
    assert_eq!(
        listeners::ticket_updated(&app.state.db, v2)
            .await
            .expect("runs"),
        Applied::Done
    );

    let stored = store::find_ticket(&app.state.db, &ticket.id)
        .await
        .expect("readable")
        .expect("replicated");
    assert_eq!(
        (stored.title.as_str(), stored.price_cents, stored.version),
        ("second", 4000, 2)
    );
}

#[tokio::test]
async fn a_duplicate_ticket_updated_is_applied_once() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let v1 = update(&ticket, 1, "first", 3000);
    assert_eq!(
        listeners::ticket_updated(&app.state.db, v1.clone())
            .await
            .expect("runs"),
        Applied::Done
    );
    assert_eq!(
        listeners::ticket_updated(&app.state.db, update(&ticket, 2, "second", 4000))
            .await
            .expect("runs"),
        Applied::Done
    );

    let applied = listeners::ticket_updated(&app.state.db, v1)
        .await
        .expect("runs");

    assert_eq!(applied, Applied::Duplicate);
    let stored = store::find_ticket(&app.state.db, &ticket.id)
        .await
        .expect("readable")
        .expect("replicated");
    assert_eq!((stored.title.as_str(), stored.version), ("second", 2));
}

#[tokio::test]
async fn a_new_order_embeds_the_updated_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    listeners::ticket_updated(&app.state.db, update(&ticket, 1, "new concert", 2500))
        .await
        .expect("applies");

    let order = app.ordered(&app.buyer(), &ticket.id).await;

    assert_eq!(
        order["ticket"],
        json!({ "id": ticket.id, "title": "new concert", "price": 25, "version": 1 })
    );
}

// ---------------------------------------------------------------------------------------
// expiration:complete / payment:created

#[tokio::test]
async fn expiration_cancels_a_created_order_and_emits_order_cancelled() {
    let app = TestApp::spawn_lapsing().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;

    let applied = listeners::expiration_complete(&app.state, expire(&id_of(&order)))
        .await
        .expect("applies");

    assert_eq!(applied, Applied::Done);
    let stored = app.stored_order(&id_of(&order)).await;
    assert_eq!((stored.status, stored.version), (OrderStatus::Cancelled, 1));
    let events = app.events::<OrderCancelled>().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].id.as_str(),
            events[0].version,
            events[0].ticket.id.as_str()
        ),
        (id_of(&order).as_str(), 1, ticket.id.as_str())
    );
}

#[tokio::test]
async fn a_repeated_expiration_is_a_duplicate_and_emits_nothing() {
    let app = TestApp::spawn_lapsing().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;
    listeners::expiration_complete(&app.state, expire(&id_of(&order)))
        .await
        .expect("applies");

    let applied = listeners::expiration_complete(&app.state, expire(&id_of(&order)))
        .await
        .expect("runs");

    assert_eq!(applied, Applied::Duplicate);
    assert_eq!(app.events::<OrderCancelled>().await.len(), 1);
    assert_eq!(app.stored_order(&id_of(&order)).await.version, 1);
}

#[tokio::test]
async fn an_expired_ticket_can_be_ordered_again() {
    let app = TestApp::spawn_lapsing().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;
    listeners::expiration_complete(&app.state, expire(&id_of(&order)))
        .await
        .expect("applies");

    let reply = app.create_order(&app.buyer(), &ticket.id).await;

    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[tokio::test]
async fn expiration_does_not_cancel_a_completed_order() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;
    listeners::payment_created(&app.state, payment(&id_of(&order)))
        .await
        .expect("applies");

    let applied = listeners::expiration_complete(&app.state, expire(&id_of(&order)))
        .await
        .expect("runs");

    assert_eq!(applied, Applied::Duplicate);
    assert_eq!(
        app.stored_order(&id_of(&order)).await.status,
        OrderStatus::Complete
    );
    assert!(app.events::<OrderCancelled>().await.is_empty());
}

#[tokio::test]
async fn expiration_of_an_unknown_order_is_early() {
    let app = TestApp::spawn().await;
    let applied = listeners::expiration_complete(&app.state, expire("no-such-order"))
        .await
        .expect("runs");
    assert_eq!(applied, Applied::Early);
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn payment_created_completes_the_order_and_emits_order_completed() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;

    let applied = listeners::payment_created(&app.state, payment(&id_of(&order)))
        .await
        .expect("applies");

    assert_eq!(applied, Applied::Done);
    let stored = app.stored_order(&id_of(&order)).await;
    assert_eq!((stored.status, stored.version), (OrderStatus::Complete, 1));
    let rows = app.outbox().await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].subject, "order:completed");
    let payload: Value = serde_json::from_str(&rows[1].payload).expect("JSON payload");
    assert_eq!(
        payload,
        json!({ "id": order["id"], "version": 1, "ticket": { "id": ticket.id } })
    );
}

#[tokio::test]
async fn a_sold_ticket_stays_reserved() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;
    listeners::payment_created(&app.state, payment(&id_of(&order)))
        .await
        .expect("applies");

    app.create_order(&app.buyer(), &ticket.id)
        .await
        .assert_error(400, ALREADY_RESERVED);
}

#[tokio::test]
async fn a_repeated_payment_is_a_duplicate_and_emits_nothing() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;
    let paid = payment(&id_of(&order));
    listeners::payment_created(&app.state, paid.clone())
        .await
        .expect("applies");

    let applied = listeners::payment_created(&app.state, paid)
        .await
        .expect("runs");

    assert_eq!(applied, Applied::Duplicate);
    assert_eq!(app.events::<OrderCompleted>().await.len(), 1);
    assert_eq!(app.stored_order(&id_of(&order)).await.version, 1);
}

#[tokio::test]
async fn a_payment_after_expiry_leaves_the_order_cancelled() {
    let app = TestApp::spawn_lapsing().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;
    listeners::expiration_complete(&app.state, expire(&id_of(&order)))
        .await
        .expect("applies");

    let applied = listeners::payment_created(&app.state, payment(&id_of(&order)))
        .await
        .expect("runs");

    assert_eq!(applied, Applied::Duplicate);
    assert_eq!(
        app.stored_order(&id_of(&order)).await.status,
        OrderStatus::Cancelled
    );
    assert!(app.events::<OrderCompleted>().await.is_empty());
}

#[tokio::test]
async fn a_payment_for_an_unknown_order_is_early() {
    let app = TestApp::spawn().await;
    let applied = listeners::payment_created(&app.state, payment("no-such-order"))
        .await
        .expect("runs");
    assert_eq!(applied, Applied::Early);
}

// ---------------------------------------------------------------------------------------
// Contention

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
