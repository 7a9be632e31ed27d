//! The queue seam's contract: one entry per order, nothing claimed early, no claim twice,
//! leases that run out, completed claims gone.

use std::collections::HashSet;
use std::time::Duration;

use expiration::queue::{now_ms, QueueOptions};

use crate::helpers::{order_id, Harness};

const LEASE_MS: i64 = 30_000;

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
