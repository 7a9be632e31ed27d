//! `order:created` yields one `expiration:complete` at its `expiresAt`, also when delivered
//! twice; a malformed one is dead-lettered.

use std::time::Duration;

use common::bus::InProcessBus;
use common::events::Subject;

use crate::helpers::{assert_on_time, in_ms, order_id, Harness};

#[tokio::test]
async fn an_order_created_yields_one_expiration_complete_at_its_expires_at() {
    let h = Harness::new().await;
    let probe = h.probe().await;
    let _served = h.start().await;
    let id = order_id();
    let due = in_ms(1_500);
    h.order_created(&id, due).await;
    let seen = probe
        .first(&id, Duration::from_secs(5))
        .await
        .expect("the expiry fires");
    assert_on_time(&id, due, seen);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(probe.sightings(&id).len(), 1);
}

#[tokio::test]
async fn a_duplicate_order_created_still_yields_one_expiration_complete() {
    let h = Harness::new().await;
    let probe = h.probe().await;
    let _served = h.start().await;
    let id = order_id();
    let due = in_ms(1_500);
    h.order_created(&id, due).await;
    h.order_created(&id, due).await;
    let seen = probe
        .first(&id, Duration::from_secs(5))
        .await
        .expect("the expiry fires");
    assert_on_time(&id, due, seen);
    // Redelivered after it fired: still nothing more.
    h.order_created(&id, due).await;
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(probe.sightings(&id).len(), 1);
}

/// Always on the in-process bus, whose dead letters can be read back; the store and queue
/// are still the environment's.
#[tokio::test]
async fn a_malformed_expires_at_is_dead_lettered() {
    let bus = InProcessBus::shared();
    let h = Harness::with_bus(bus.clone()).await;
    let queue = h.queue().await;
    let _served = h.start().await;
    let id = order_id();
    h.order_created_raw(&id, "next tuesday").await;
    let parked = common::testing::eventually(Duration::from_secs(5), || {
        let parked = bus
            .dead_letters()
            .into_iter()
            .find(|d| d.message.subject == Subject::OrderCreated);
        async move { parked }
    })
    .await
    .expect("the malformed order:created is dead-lettered");
    assert!(
        parked
            .reason
            .contains(r#"malformed timestamp "next tuesday""#),
        "{}",
        parked.reason
    );
    assert_eq!(
        queue.next_due().await.expect("the queue answers"),
        None,
        "nothing was queued"
    );
}
