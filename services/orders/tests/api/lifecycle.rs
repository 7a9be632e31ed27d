//! `expiration:complete` and `payment:created` end an order, once, whichever comes first.

use common::events::{OrderCancelled, OrderCompleted, OrderStatus};
use orders::listeners::Applied;

use serde_json::{json, Value};

use crate::helpers::{payment, TestApp, ALREADY_RESERVED};

#[tokio::test]
async fn expiration_cancels_a_created_order_and_emits_order_cancelled() {
    let app = TestApp::spawn_lapsing().await;
    let (ticket, order_id) = app.ordered_ticket().await;

    let applied = app.expiration_complete(&order_id).await;

    assert_eq!(applied, Applied::Done);
    let stored = app.stored_order(&order_id).await;
    assert_eq!((stored.status, stored.version), (OrderStatus::Cancelled, 1));
    let events = app.events::<OrderCancelled>().await;
    assert_eq!(events.len(), 1);
    assert_eq!(
        (
            events[0].id.as_str(),
            events[0].version,
            events[0].ticket.id.as_str()
        ),
        (order_id.as_str(), 1, ticket.id.as_str())
    );
}

#[tokio::test]
async fn a_repeated_expiration_is_a_duplicate_and_emits_nothing() {
    let app = TestApp::spawn_lapsing().await;
    let (_, order_id) = app.ordered_ticket().await;
    app.expiration_complete(&order_id).await;

    let applied = app.expiration_complete(&order_id).await;

    assert_eq!(applied, Applied::Duplicate);
    assert_eq!(app.events::<OrderCancelled>().await.len(), 1);
    assert_eq!(app.stored_order(&order_id).await.version, 1);
}

#[tokio::test]
async fn an_expired_ticket_can_be_ordered_again() {
    let app = TestApp::spawn_lapsing().await;
    let (ticket, order_id) = app.ordered_ticket().await;
    app.expiration_complete(&order_id).await;

    let reply = app.create_order(&app.buyer(), &ticket.id).await;

    assert_eq!(reply.status, 201, "{}", reply.body);
}

#[tokio::test]
async fn expiration_does_not_cancel_a_completed_order() {
    let app = TestApp::spawn().await;
    let (_, order_id) = app.ordered_ticket().await;
    app.payment_created(payment(&order_id)).await;

    let applied = app.expiration_complete(&order_id).await;

    assert_eq!(applied, Applied::Duplicate);
    assert_eq!(
        app.stored_order(&order_id).await.status,
        OrderStatus::Complete
    );
    assert!(app.events::<OrderCancelled>().await.is_empty());
}

#[tokio::test]
async fn expiration_of_an_unknown_order_is_early() {
    let app = TestApp::spawn().await;
    let applied = app.expiration_complete("no-such-order").await;
    assert_eq!(applied, Applied::Early);
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn payment_created_completes_the_order_and_emits_order_completed() {
    let app = TestApp::spawn().await;
    let (ticket, order_id) = app.ordered_ticket().await;

    let applied = app.payment_created(payment(&order_id)).await;

    assert_eq!(applied, Applied::Done);
    let stored = app.stored_order(&order_id).await;
    assert_eq!((stored.status, stored.version), (OrderStatus::Complete, 1));
    let rows = app.outbox().await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].subject, "order:completed");
    let payload: Value = serde_json::from_str(&rows[1].payload).expect("JSON payload");
    assert_eq!(
        payload,
        json!({ "id": order_id, "version": 1, "ticket": { "id": ticket.id }, "userId": stored.user_id })
    );
}

#[tokio::test]
async fn a_sold_ticket_stays_reserved() {
    let app = TestApp::spawn().await;
    let (ticket, order_id) = app.ordered_ticket().await;
    app.payment_created(payment(&order_id)).await;

    app.create_order(&app.buyer(), &ticket.id)
        .await
        .assert_error(400, ALREADY_RESERVED);
}

#[tokio::test]
async fn a_repeated_payment_is_a_duplicate_and_emits_nothing() {
    let app = TestApp::spawn().await;
    let (_, order_id) = app.ordered_ticket().await;
    let paid = payment(&order_id);
    app.payment_created(paid.clone()).await;

    let applied = app.payment_created(paid).await;

    assert_eq!(applied, Applied::Duplicate);
    assert_eq!(app.events::<OrderCompleted>().await.len(), 1);
    assert_eq!(app.stored_order(&order_id).await.version, 1);
}

#[tokio::test]
async fn a_payment_after_expiry_leaves_the_order_cancelled() {
    let app = TestApp::spawn_lapsing().await;
    let (_, order_id) = app.ordered_ticket().await;
    app.expiration_complete(&order_id).await;

    let applied = app.payment_created(payment(&order_id)).await;

    assert_eq!(applied, Applied::Duplicate);
    assert_eq!(
        app.stored_order(&order_id).await.status,
        OrderStatus::Cancelled
    );
    assert!(app.events::<OrderCompleted>().await.is_empty());
}

#[tokio::test]
async fn a_payment_for_an_unknown_order_is_early() {
    let app = TestApp::spawn().await;
    let applied = app.payment_created(payment("no-such-order")).await;
    assert_eq!(applied, Applied::Early);
}
