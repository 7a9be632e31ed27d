//! The `order:created` step: queue the order's expiry at its `expiresAt`.
use chrono::{DateTime, Utc};
use common::bus::{Applied, Unprocessable};
use common::events::OrderCreated;

use crate::queue::to_millis;
use crate::{store, ExpirationState};

/// Schedules the expiry of the created order. A malformed `expiresAt` can never succeed, so
/// it is unprocessable: parked on the dead-letter subject at once.
pub async fn schedule_expiry(
    state: &ExpirationState,
    event: OrderCreated,
) -> anyhow::Result<Applied> {
    let due = DateTime::parse_from_rfc3339(&event.expires_at)
        .map_err(|_| {
            Unprocessable(format!(
                "order {} has a malformed expiresAt {:?}",
                event.id, event.expires_at
            ))
        })?
        .with_timezone(&Utc);
    // Fired already (this is a late redelivery): queuing it again would only be a no-op fire.
    if store::has_fired(&state.db, &event.id).await? {
        return Ok(Applied::Duplicate);
    }
    let due = to_millis(due);
    if !state.queue.schedule(&event.id, due).await? {
        return Ok(Applied::Duplicate);
    }
    state.wake.scheduled(due);
    tracing::debug!(order.id = %event.id, due, "expiry scheduled");
    Ok(Applied::Done)
}
