//! The `order:created` step: queue the order's expiry at its `expiresAt`.
use common::bus::{Applied, SetOutcome, Txn};
use common::events::OrderCreated;
use common::sqlite::Tx;

use crate::queue::{to_millis, Millis};
use crate::{store, ExpirationState};

/// Schedules the expiries of a batch of created orders: which fired already in one query (a
/// late redelivery is a duplicate), the rest queued in one call to the queue (one round
/// trip on Redis). (A malformed `expiresAt` never gets here: its event doesn't decode, and
/// is parked on the dead-letter subject at once.)
pub async fn schedule_expiries(
    state: &ExpirationState,
    db: &Txn,
    events: Vec<OrderCreated>,
) -> anyhow::Result<SetOutcome> {
    let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    let fired = store::fired_among(&**db, &ids).await?;
    let entries: Vec<(String, Millis)> = events
        .iter()
        .filter(|event| !fired.contains(&event.id))
        .map(|event| (event.id.clone(), due_at(event)))
        .collect();
    let mut added = state.queue.schedule_all(&entries).await?.into_iter();
    let mut applied = Vec::with_capacity(events.len());
    for event in &events {
        applied.push(if fired.contains(&event.id) {
            // Fired already (a late redelivery): queuing it again would only be a no-op fire.
            Ok(Applied::Duplicate)
        } else {
            match added.next() {
                Some(true) => {
                    state.wake.scheduled(due_at(event));
                    Ok(Applied::Done)
                }
                Some(false) => Ok(Applied::Duplicate),
                None => Err(anyhow::anyhow!("the queue answered for fewer expiries")),
            }
        });
    }
    Ok(SetOutcome {
        applied,
        staged: Vec::new(),
    })
}

/// [`schedule_expiries`] on the SQLite writer thread, for the table queue: one statement that
/// queues the expiry unless it is queued or fired already. The scheduler is woken once the
/// listener's job has committed ([`crate::scheduler::Wake::committed`]).
pub fn schedule_expiry_written(
    state: &ExpirationState,
    tx: &mut Tx<'_>,
    event: OrderCreated,
) -> anyhow::Result<Applied> {
    let due = due_at(&event);
    let queued = tx.execute(
        "INSERT INTO expiries (order_id, due_at, visible_at) SELECT ?1, ?2, ?2 \
         WHERE NOT EXISTS (SELECT 1 FROM fired_expiries WHERE order_id = ?1) \
         ON CONFLICT (order_id) DO NOTHING",
        (&event.id, due),
    )?;
    if queued == 0 {
        return Ok(Applied::Duplicate);
    }
    state.wake.written(due);
    Ok(Applied::Done)
}

/// When the order's expiry is due, in queue time.
fn due_at(event: &OrderCreated) -> Millis {
    to_millis(event.expires_at)
}
