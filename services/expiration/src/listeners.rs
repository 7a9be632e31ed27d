//! The `order:created` step: queue the order's expiry at its `expiresAt`.
use anyhow::Context as _;
use chrono::{DateTime, Utc};
use common::bus::Applied;
use common::events::OrderCreated;

use crate::queue::to_millis;
use crate::{store, ExpirationState};

/// Schedules the expiry of the created order. A malformed `expiresAt` can never succeed, so
/// it is an error: retried, then parked on the dead-letter subject.
pub async fn schedule_expiry(
    state: &ExpirationState,
    event: OrderCreated,
) -> anyhow::Result<Applied> {
    let due = DateTime::parse_from_rfc3339(&event.expires_at)
        .with_context(|| {
            format!(
                "order {} has a malformed expiresAt {:?}",
                event.id, event.expires_at
            )
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
