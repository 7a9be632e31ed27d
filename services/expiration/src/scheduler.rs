//! The scheduler task: sleeps until the next expiry is due, claims what is due, and fires it —
//! `expiration:complete` into the outbox and the fired record in one transaction, then the
//! claims completed. A crash anywhere in between only delays: the claim's lease runs out and
//! the entry is claimed again, and the fired record keeps the second firing silent.
//!
//! Expiries fall due in bursts, faster than the outbox relay publishes (one row at a time), so
//! the scheduler also publishes each committed batch itself and marks it sent; the outbox
//! row stays the guarantee (whatever this misses, the relay sends, and the message id makes
//! the second send harmless). `expiration:complete` events carry no order among themselves.
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use common::bus::{encode, Message};
use common::events::ExpirationComplete;
use common::outbox;
use common::task::Shutdown;
use sea_orm::TransactionTrait;
use tokio::sync::Notify;

use crate::queue::{now_ms, Claim, Millis};
use crate::{store, ExpirationState};

/// How the scheduler paces itself.
#[derive(Debug, Clone)]
pub struct SchedulerOptions {
    /// The longest sleep, so entries other replicas queued (or whose lease ran out) are seen.
    pub max_sleep: Duration,
    /// Entries claimed (and fired in one transaction) at a time.
    pub batch: usize,
    /// How long a fired record is kept to silence late duplicates of `order:created`.
    pub keep_fired: Duration,
}

impl Default for SchedulerOptions {
    fn default() -> Self {
        Self {
            max_sleep: Duration::from_millis(500),
            batch: 100,
            keep_fired: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// Wakes the scheduler when an entry is queued before its planned wake-up.
#[derive(Debug)]
pub struct Wake {
    notify: Notify,
    /// When the scheduler means to look next; `Millis::MAX` while it is looking, so anything
    /// queued meanwhile wakes it again.
    planned: AtomicI64,
    /// The earliest entry written but maybe not yet committed (see [`Wake::written`]).
    uncommitted: AtomicI64,
}

impl Default for Wake {
    fn default() -> Self {
        Self {
            notify: Notify::new(),
            planned: AtomicI64::new(Millis::MAX),
            uncommitted: AtomicI64::new(Millis::MAX),
        }
    }
}

impl Wake {
    pub fn scheduled(&self, due: Millis) {
        if due < self.planned.load(Ordering::SeqCst) {
            self.notify.notify_one();
        }
    }

    /// An entry due at `due` is written in a transaction that has not committed yet: waking
    /// the scheduler now could let it look before the entry is there, so [`Wake::committed`]
    /// wakes it after the commit.
    pub fn written(&self, due: Millis) {
        self.uncommitted.fetch_min(due, Ordering::SeqCst);
    }

    /// What [`Wake::written`] noted has committed.
    pub fn committed(&self) {
        let due = self.uncommitted.swap(Millis::MAX, Ordering::SeqCst);
        if due != Millis::MAX {
            self.scheduled(due);
        }
    }
}

const PRUNE_EVERY: Duration = Duration::from_secs(3600);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Runs until `shutdown`, finishing the batch in hand. Store errors are logged and retried
/// with backoff rather than ending the task (which would stop the process).
pub async fn run(
    state: ExpirationState,
    options: SchedulerOptions,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let mut backoff = Duration::from_millis(100);
    let mut next_prune = tokio::time::Instant::now();
    while !shutdown.is_triggered() {
        state.wake.planned.store(Millis::MAX, Ordering::SeqCst);
        let pause = match step(&state, options.batch).await {
            Ok(Step::Busy) => continue,
            Ok(Step::Idle(next)) => {
                backoff = Duration::from_millis(100);
                let until_next = next.map_or(options.max_sleep, |at| {
                    Duration::from_millis(u64::try_from(at - now_ms()).unwrap_or(0))
                });
                until_next.min(options.max_sleep)
            }
            Err(error) => {
                tracing::warn!(error = format!("{error:#}"), retry_in = ?backoff, "expiry scheduler failed");
                let pause = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                pause
            }
        };
        if tokio::time::Instant::now() >= next_prune {
            next_prune += PRUNE_EVERY;
            prune(&state, options.keep_fired).await;
        }
        let pause_ms = Millis::try_from(pause.as_millis()).unwrap_or(Millis::MAX);
        state
            .wake
            .planned
            .store(now_ms().saturating_add(pause_ms), Ordering::SeqCst);
        tokio::select! {
            () = shutdown.wait() => {}
            () = state.wake.notify.notified() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
    tracing::info!("shutting down; expiry scheduler stopped");
    Ok(())
}

enum Step {
    /// A full batch was due: more may be.
    Busy,
    /// Nothing more is due; the next entry becomes claimable at this instant.
    Idle(Option<Millis>),
}

async fn step(state: &ExpirationState, batch: usize) -> anyhow::Result<Step> {
    let claims = state.queue.claim_due(now_ms(), batch).await?;
    if !claims.is_empty() {
        fire(state, &claims).await?;
        if claims.len() >= batch {
            return Ok(Step::Busy);
        }
    }
    Ok(Step::Idle(state.queue.next_due().await?))
}

/// Fires claimed expiries; returns how many were new (the rest had fired before).
pub async fn fire(state: &ExpirationState, claims: &[Claim]) -> anyhow::Result<usize> {
    let txn = state.db.begin().await?;
    let at = now_ms();
    let mut messages = Vec::with_capacity(claims.len());
    for claim in claims {
        if store::record_fired(&txn, &claim.order_id, at).await? {
            let event = ExpirationComplete {
                order_id: claim.order_id.clone(),
            };
            let id = outbox::enqueue(&txn, &event).await?;
            messages.push(encode(id, &event)?);
        } else {
            tracing::debug!(order.id = %claim.order_id, "expiry fired before; not again");
        }
    }
    txn.commit().await?;
    let fired = messages.len();
    if fired > 0 {
        hurry(state, messages);
    }
    state.queue.complete(claims).await?;
    tracing::debug!(claimed = claims.len(), fired, "expiries fired");
    Ok(fired)
}

/// Publishes a committed batch without waiting for the relay, in the background so the next
/// batch need not wait for consumers; when too many batches are in flight, leaves it to the
/// relay.
fn hurry(state: &ExpirationState, messages: Vec<Message>) {
    let Ok(permit) = state.in_flight.clone().try_acquire_owned() else {
        state.relay.poke();
        return;
    };
    let (bus, db, relay) = (state.bus.clone(), state.db.clone(), state.relay.clone());
    tokio::spawn(async move {
        let _permit = permit;
        let published =
            futures::future::join_all(messages.iter().map(|message| bus.publish(message))).await;
        let mut sent = Vec::with_capacity(messages.len());
        for (message, result) in messages.into_iter().zip(published) {
            match result {
                Ok(()) => sent.push(message.id),
                Err(error) => {
                    tracing::debug!(error = format!("{error:#}"), "left to the outbox relay");
                    relay.poke();
                }
            }
        }
        if let Err(error) = store::mark_sent(&db, sent).await {
            // The relay sends them again; the bus drops the copies by message id.
            tracing::warn!(error = %error, "cannot mark published expiries sent");
        }
    });
}

async fn prune(state: &ExpirationState, keep: Duration) {
    let keep = Millis::try_from(keep.as_millis()).unwrap_or(Millis::MAX);
    match store::prune_fired(&state.db, now_ms().saturating_sub(keep)).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(pruned = n, "forgot old fired expiries"),
        Err(error) => tracing::warn!(error = %error, "cannot prune fired expiries"),
    }
}
