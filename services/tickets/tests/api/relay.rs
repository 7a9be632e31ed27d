//! The outbox relay: events written while it is stopped still reach the bus.

use std::time::Duration;

use common::bus::decode;
use common::events::{Event, TicketCreated, TicketUpdated};
use common::money::Money;
use common::service::Shutdown;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn events_written_while_the_relay_is_stopped_are_delivered_when_it_runs() {
    let app = TestApp::spawn().await;
    let mut sub = app
        .bus
        .subscribe(
            "orders-test",
            &[TicketCreated::SUBJECT, TicketUpdated::SUBJECT],
        )
        .await
        .expect("subscribe");
    let ticket = app.created("owner", "concert", 20.0).await;
    app.update(
        Some("owner"),
        ticket["id"].as_str().expect("id"),
        json!({ "title": "renamed", "price": 30 }),
    )
    .await;
    assert_eq!(app.pending().await, 2, "both events wait in the outbox");

    tokio::spawn(app.state.relay.clone().run(Shutdown::new()));
    // On JetStream each subject has its own consumer, so the two may arrive either way round
    // (the orders replica orders them by version); each arrives once, as written.
    let mut deliveries = Vec::new();
    for _ in 0..2 {
        let delivery = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("delivered in time")
            .expect("a delivery");
        deliveries.push(delivery);
    }
    deliveries.sort_by_key(|d| d.message.subject != TicketCreated::SUBJECT);
    let created: TicketCreated = decode(&deliveries[0].message).expect("a ticket:created");
    assert_eq!(
        (created.title.as_str(), created.version, created.price),
        ("concert", 0, Money::from_cents(2000))
    );
    let updated: TicketUpdated = decode(&deliveries[1].message).expect("a ticket:updated");
    assert_eq!((updated.title.as_str(), updated.version), ("renamed", 1));
    for delivery in deliveries {
        delivery.settle.ack().await.expect("ack");
    }
    for _ in 0..50 {
        if app.pending().await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox was not drained");
}
