//! `DELETE /api/orders/:id`: the buyer cancels once, frees the ticket, and cannot cancel a
//! completed order.

use common::events::{OrderCancelled, OrderCreated, OrderStatus};
use reqwest::Method;

use serde_json::{json, Value};

use crate::helpers::{id_of, payment, TestApp, COMPLETED};

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
        json!({ "id": order["id"], "version": 1, "ticket": { "id": ticket.id }, "userId": buyer.id })
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
    app.payment_created(payment(&id_of(&order))).await;

    app.cancel_order(&buyer, &id_of(&order))
        .await
        .assert_error(400, COMPLETED);

    assert_eq!(
        app.stored_order(&id_of(&order)).await.status,
        OrderStatus::Complete
    );
    assert!(app.events::<OrderCancelled>().await.is_empty());
}
