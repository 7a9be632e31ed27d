//! The scheduler fires each expiry once and on time: after a restart, when already past
//! due at start, and with two instances sharing the queue.

use std::time::Duration;

use crate::helpers::{assert_on_time, in_ms, order_id, Harness};

#[tokio::test]
async fn an_expiry_survives_a_restart_of_the_service() {
    let h = Harness::new().await;
    let probe = h.probe().await;
    let queue = h.queue().await;
    let served = h.start().await;
    let id = order_id();
    let due = in_ms(3_000);
    h.order_created(&id, due).await;
    common::testing::eventually(Duration::from_secs(2), || {
        let queue = queue.clone();
        async move {
            queue
                .next_due()
                .await
                .expect("the queue answers")
                .map(|_| ())
        }
    })
    .await
    .expect("the expiry is queued");
    served.stop().await.expect("a clean stop");
    assert!(probe.seen().is_empty(), "fired while stopping");

    let _restarted = h.start().await;
    let seen = probe
        .first(&id, Duration::from_secs(6))
        .await
        .expect("the expiry fires after the restart");
    assert_on_time(&id, due, seen);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(probe.sightings(&id).len(), 1);
}

#[tokio::test]
async fn an_expiry_already_past_due_at_start_fires_at_once() {
    let h = Harness::new().await;
    let probe = h.probe().await;
    let queue = h.queue().await;
    let served = h.start().await;
    let id = order_id();
    h.order_created(&id, in_ms(1_000)).await;
    common::testing::eventually(Duration::from_secs(2), || {
        let queue = queue.clone();
        async move {
            queue
                .next_due()
                .await
                .expect("the queue answers")
                .map(|_| ())
        }
    })
    .await
    .expect("the expiry is queued");
    served.stop().await.expect("a clean stop");
    // Down while it falls due.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(probe.seen().is_empty());

    let started = chrono::Utc::now();
    let _restarted = h.start().await;
    let seen = probe
        .first(&id, Duration::from_secs(5))
        .await
        .expect("the late expiry fires");
    assert_on_time(&id, started, seen);
    assert_eq!(probe.sightings(&id).len(), 1);
}

#[tokio::test]
async fn two_instances_fire_each_expiry_exactly_once() {
    let h = Harness::new().await;
    let probe = h.probe().await;
    let (_a, _b) = (h.start().await, h.start().await);
    let orders: Vec<(String, chrono::DateTime<chrono::Utc>)> = (0..30)
        .map(|i| (order_id(), in_ms(1_500 + 20 * i)))
        .collect();
    for (id, due) in &orders {
        h.order_created(id, *due).await;
    }
    common::testing::eventually(Duration::from_secs(8), || {
        let all = probe.seen().len() >= orders.len();
        async move { all.then_some(()) }
    })
    .await
    .expect("every expiry fires");
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    for (id, due) in &orders {
        let sightings = probe.sightings(id);
        assert_eq!(sightings.len(), 1, "{id} fired {} times", sightings.len());
        assert_on_time(id, *due, sightings[0]);
    }
    assert_eq!(probe.seen().len(), orders.len());
}
