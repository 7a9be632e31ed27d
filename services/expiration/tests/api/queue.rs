//! The expiration service, on whichever backends the environment selects: the queue seam's
//! contract, then the service end to end through the bus.
mod helpers;

use std::collections::HashSet;
use std::time::Duration;

use common::bus::InProcessBus;
use common::events::Subject;
use expiration::queue::{now_ms, QueueOptions};
use helpers::{assert_on_time, in_ms, order_id, Harness};

const LEASE_MS: i64 = 30_000;

// The queue seam.

#[tokio::test]
async fn scheduling_an_expiry_twice_leaves_one_entry() {
    let h = Harness::new().await;
    let queue = h.queue().await;
    let now = now_ms();
    let id = order_id();
    assert!(queue
        .schedule(&id, now - 10)
        .await
        .expect("the queue answers"));
    assert!(!queue
        .schedule(&id, now - 10)
        .await
        .expect("the queue answers"));
    // A second schedule with another due time changes nothing either.
    assert!(!queue
        .schedule(&id, now + 60_000)
        .await
        .expect("the queue answers"));
    let claims = queue.claim_due(now, 10).await.expect("the queue answers");
    assert_eq!(claims.len(), 1, "{claims:?}");
    assert_eq!(claims[0].order_id, id);
}

#[tokio::test]
async fn an_entry_is_not_claimed_before_it_is_due() {
    let h = Harness::new().await;
    let queue = h.queue().await;
    let now = now_ms();
    let id = order_id();
    queue
        .schedule(&id, now + 5_000)
        .await
        .expect("the queue answers");
    assert_eq!(
        queue.next_due().await.expect("the queue answers"),
        Some(now + 5_000)
    );
    assert!(queue
        .claim_due(now, 10)
        .await
        .expect("the queue answers")
        .is_empty());
    assert!(queue
        .claim_due(now + 4_999, 10)
        .await
        .expect("the queue answers")
        .is_empty());
    let claims = queue
        .claim_due(now + 5_000, 10)
        .await
        .expect("the queue answers");
    assert_eq!(claims.len(), 1);
}

#[tokio::test]
async fn two_concurrent_claimers_never_claim_the_same_entry() {
    let h = Harness::new().await;
    // Two handles with connections of their own, as two replicas have.
    let (a, b) = (h.queue().await, h.queue().await);
    let now = now_ms();
    let ids: HashSet<String> = (0..120).map(|_| order_id()).collect();
    for (i, id) in ids.iter().enumerate() {
        a.schedule(id, now - 1_000 + i as i64)
            .await
            .expect("the queue answers");
    }
    let drain = |queue: std::sync::Arc<dyn expiration::queue::ExpiryQueue>| async move {
        let mut mine = Vec::new();
        loop {
            let claims = queue.claim_due(now, 7).await.expect("the queue answers");
            if claims.is_empty() {
                return mine;
            }
            mine.extend(claims.into_iter().map(|c| c.order_id));
        }
    };
    let (mine_a, mine_b) = tokio::join!(drain(a), drain(b));
    let mut all: Vec<String> = mine_a.into_iter().chain(mine_b).collect();
    let claimed = all.len();
    all.sort();
    all.dedup();
    assert_eq!(claimed, all.len(), "an entry was claimed twice");
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), ids);
}

#[tokio::test]
async fn an_uncompleted_claim_reappears_when_its_lease_runs_out() {
    let h = Harness::new().await;
    let queue = h
        .queue_with(QueueOptions {
            lease: Duration::from_millis(LEASE_MS as u64),
            ..h.options.queue.clone()
        })
        .await;
    let now = now_ms();
    let id = order_id();
    queue.schedule(&id, now).await.expect("the queue answers");
    let first = queue.claim_due(now, 10).await.expect("the queue answers");
    assert_eq!(first.len(), 1);
    // Held: invisible to every claimer for the lease.
    assert!(queue
        .claim_due(now + 1, 10)
        .await
        .expect("the queue answers")
        .is_empty());
    assert!(queue
        .claim_due(now + LEASE_MS - 1, 10)
        .await
        .expect("the queue answers")
        .is_empty());
    assert_eq!(
        queue.next_due().await.expect("the queue answers"),
        Some(now + LEASE_MS)
    );
    // The claimer never completed it: it comes back.
    let again = queue
        .claim_due(now + LEASE_MS, 10)
        .await
        .expect("the queue answers");
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].order_id, id);
    // The first claim is stale now; completing it leaves the new claim's entry alone.
    queue.complete(&first).await.expect("the queue answers");
    assert_eq!(
        queue.next_due().await.expect("the queue answers"),
        Some(now + 2 * LEASE_MS)
    );
}

#[tokio::test]
async fn completing_a_claim_removes_the_entry() {
    let h = Harness::new().await;
    let queue = h.queue().await;
    let now = now_ms();
    let (done, other) = (order_id(), order_id());
    queue.schedule(&done, now).await.expect("the queue answers");
    queue
        .schedule(&other, now + 60_000)
        .await
        .expect("the queue answers");
    let claims = queue.claim_due(now, 10).await.expect("the queue answers");
    assert_eq!(claims.len(), 1);
    queue.complete(&claims).await.expect("the queue answers");
    assert_eq!(
        queue.next_due().await.expect("the queue answers"),
        Some(now + 60_000)
    );
    assert!(queue
        .claim_due(now + 10 * LEASE_MS, 10)
        .await
        .expect("the queue answers")
        .iter()
        .all(|c| c.order_id == other));
}

// The service.

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
    assert!(parked.reason.contains("expiresAt"), "{}", parked.reason);
    assert_eq!(
        queue.next_due().await.expect("the queue answers"),
        None,
        "nothing was queued"
    );
}
