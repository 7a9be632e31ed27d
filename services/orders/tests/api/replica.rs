//! `ticket:created` and `ticket:updated` keep the tickets replica: each version once, in
//! order.

use common::events::TicketCreated;
use common::money::Money;
use orders::listeners::{self, Applied};
use orders::store;

use serde_json::json;

use crate::helpers::{update, TestApp};

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
