//! `order:created` reserves a ticket and `order:cancelled` / `order:completed` end the
//! hold, once each, whatever order they arrive in, one at a time or in batches.

use serde_json::json;
use tickets::listeners::{self, Applied};

use crate::helpers::{order_cancelled, order_created, TestApp};

#[tokio::test]
async fn order_created_reserves_the_ticket_once_and_publishes_an_update() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 99.0).await;
    let before = app.pending().await;
    assert_eq!(app.reserve(&ticket, "order-1").await, Applied::Done);
    assert_eq!(
        app.reserve(&ticket, "order-1").await,
        Applied::Duplicate,
        "a redelivery changes nothing"
    );
    let shown = app
        .get(&format!(
            "/api/tickets/{}",
            ticket["id"].as_str().expect("id")
        ))
        .await
        .1;
    assert_eq!(shown["orderId"], "order-1");
    assert_eq!(shown["version"], 1);
    assert_eq!(
        app.pending().await,
        before + 1,
        "exactly one ticket:updated"
    );
}

#[tokio::test]
async fn order_cancelled_releases_the_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    app.reserve(&ticket, "order-1").await;
    let applied = app.release(&ticket, "order-1").await;
    assert_eq!(applied, Applied::Done);
    let shown = app
        .get(&format!(
            "/api/tickets/{}",
            ticket["id"].as_str().expect("id")
        ))
        .await
        .1;
    assert!(shown.get("orderId").is_none());
    assert_eq!(shown["version"], 2);
    assert_eq!(
        app.get("/api/tickets")
            .await
            .1
            .as_array()
            .expect("a list")
            .len(),
        1,
        "for sale again"
    );
}

#[tokio::test]
async fn a_ticket_shows_for_sale_then_reserved_until_the_hold_ends_then_sold() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    let path = format!("/api/tickets/{}", ticket["id"].as_str().expect("id"));
    let shown = app.get(&path).await.1;
    assert_eq!(shown["status"], "available");
    assert!(shown.get("reservedUntil").is_none());

    assert_eq!(
        app.complete(&ticket, "order-1").await,
        Applied::Early,
        "completed before its order:created arrived: waits for it"
    );
    app.reserve(&ticket, "order-1").await;
    let shown = app.get(&path).await.1;
    assert_eq!(shown["status"], "reserved");
    assert_eq!(shown["reservedUntil"], "2030-01-01T00:00:00.000Z");

    let pending = app.pending().await;
    assert_eq!(app.complete(&ticket, "order-1").await, Applied::Done);
    assert_eq!(
        app.complete(&ticket, "order-1").await,
        Applied::Duplicate,
        "a redelivery changes nothing"
    );
    let shown = app.get(&path).await.1;
    assert_eq!(shown["status"], "sold");
    assert_eq!(shown["orderId"], "order-1");
    assert!(shown.get("reservedUntil").is_none());
    assert_eq!(shown["version"], 1, "a sale changes nothing replicated");
    assert_eq!(app.pending().await, pending, "and publishes nothing");
    assert!(app
        .get("/api/tickets")
        .await
        .1
        .as_array()
        .expect("a list")
        .is_empty());
    assert_eq!(
        app.complete(&ticket, "order-2").await,
        Applied::Early,
        "another order's completion can't sell it"
    );
    assert_eq!(app.get(&path).await.1["orderId"], "order-1");
}

#[tokio::test]
async fn a_released_order_never_sells_the_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    app.reserve(&ticket, "order-1").await;
    app.release(&ticket, "order-1").await;
    assert_eq!(app.complete(&ticket, "order-1").await, Applied::Duplicate);
    let shown = app
        .get(&format!(
            "/api/tickets/{}",
            ticket["id"].as_str().expect("id")
        ))
        .await
        .1;
    assert_eq!(shown["status"], "available");
}

#[tokio::test]
async fn a_cancellation_that_overtakes_its_order_keeps_the_ticket_free() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    let applied = app.release(&ticket, "order-1").await;
    assert_eq!(applied, Applied::Duplicate);
    assert_eq!(app.reserve(&ticket, "order-1").await, Applied::Duplicate);
    let shown = app
        .get(&format!(
            "/api/tickets/{}",
            ticket["id"].as_str().expect("id")
        ))
        .await
        .1;
    assert!(shown.get("orderId").is_none());
}

#[tokio::test]
async fn a_new_order_waits_for_the_previous_one_to_be_released() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    app.reserve(&ticket, "order-1").await;
    assert_eq!(app.reserve(&ticket, "order-2").await, Applied::Early);
    listeners::release(&app.state, order_cancelled(&ticket, "order-1"))
        .await
        .expect("the step runs");
    assert_eq!(app.reserve(&ticket, "order-2").await, Applied::Done);
}

/// The set step a batch of `order:created` goes through: the free tickets are reserved in one
/// statement with one `ticket:updated` each; an order released before it arrived is a
/// duplicate, a ticket held by another order or not listed yet is early, and a repeat within
/// the batch reserves nothing twice.
#[tokio::test]
async fn a_batch_of_order_created_reserves_each_free_ticket_once() {
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn().await;
    let free = app.created("owner", "free", 10.0).await;
    let gone = app.created("owner", "gone", 10.0).await;
    let held = app.created("owner", "held", 10.0).await;
    let unknown = json!({ "id": uuid::Uuid::new_v4().to_string() });
    assert_eq!(app.reserve(&held, "holder").await, Applied::Done);
    assert_eq!(
        app.release(&gone, "cancelled-first").await,
        Applied::Duplicate
    );
    let before = app.pending().await;

    let txn = std::sync::Arc::new(app.state.background.begin().await.expect("a transaction"));
    let set = listeners::orders_created(
        &txn,
        vec![
            order_created(&free, "order-1"),
            order_created(&gone, "cancelled-first"),
            order_created(&held, "order-3"),
            order_created(&free, "order-1"),
            order_created(&unknown, "order-4"),
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
            Applied::Duplicate,
            Applied::Early,
            Applied::Duplicate,
            Applied::Early
        ]
    );
    std::sync::Arc::try_unwrap(txn)
        .unwrap_or_else(|_| panic!("the step kept the transaction"))
        .commit()
        .await
        .expect("commits");

    assert_eq!(
        app.pending().await,
        before + 1,
        "one ticket:updated, for the free ticket"
    );
    for (ticket, holder) in [(&free, json!("order-1")), (&held, json!("holder"))] {
        let id = ticket["id"].as_str().expect("id");
        let shown = app.get(&format!("/api/tickets/{id}")).await.1;
        assert_eq!(shown["orderId"], holder);
    }
    let id = gone["id"].as_str().expect("id");
    assert!(app
        .get(&format!("/api/tickets/{id}"))
        .await
        .1
        .get("orderId")
        .is_none());
}
