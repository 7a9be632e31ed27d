//! The backstop for payments left in flight. A payment is `authorizing` or `capturing` only
//! while a request works on it; if its process dies (kill -9 of every replica mid-payment),
//! nothing else moves it: the order's `order:cancelled` waits for it, but the broker stops
//! redelivering after its own limit. So every replica sweeps: payments in flight for longer
//! than [`PaymentsState::stale_after`] are settled through [`charge::settle_abandoned`], which
//! asks the provider what became of them.
//!
//! The bound: a payment abandoned at `t` is settled by `t + stale_after + period` plus the
//! provider's answer (its calls time out at 30 s), as soon as the provider and the database
//! answer. A sweep that fails (either is down) is retried a period later, for ever; a payment
//! that fails to settle stays in flight and is picked again by the next sweep.
use std::time::Duration;

use chrono::Utc;
use common::task::{Shutdown, Task};

use crate::{charge, store, PaymentsState};

/// Payments settled per sweep at most; more wait for the next one.
const BATCH: u64 = 100;

/// How often a replica sweeps: a quarter of the staleness bound, between 1 and 30 s, so a
/// stuck payment waits at most a quarter longer than the bound before it is seen.
pub fn period(stale_after: Duration) -> Duration {
    (stale_after / 4).clamp(Duration::from_secs(1), Duration::from_secs(30))
}

/// The sweeper as a supervised task of the service.
pub fn task(state: PaymentsState, shutdown: Shutdown) -> Task {
    Task::every(
        "payments sweeper",
        period(state.stale_after),
        shutdown,
        move || {
            let state = state.clone();
            async move { sweep(&state).await.map(|_| ()) }
        },
    )
}

/// One sweep: settles the payments in flight for longer than the bound; how many it settled.
/// A payment that could not be settled is logged and left for the next sweep.
pub async fn sweep(state: &PaymentsState) -> anyhow::Result<usize> {
    let cutoff = Utc::now() - state.stale_after();
    let stuck = store::in_flight_before(&state.db, cutoff, BATCH).await?;
    let mut settled = 0;
    for payment in &stuck {
        match charge::settle_abandoned(state, payment).await {
            Ok(()) => settled += 1,
            Err(error) => {
                tracing::warn!(payment.id = %payment.id, error = format!("{error:#}"), "cannot settle an abandoned payment yet; the next sweep tries again");
            }
        }
    }
    Ok(settled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_a_quarter_of_the_bound_within_limits() {
        assert_eq!(
            period(Duration::from_secs(90)),
            Duration::from_millis(22_500)
        );
        assert_eq!(period(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(period(Duration::from_secs(3600)), Duration::from_secs(30));
    }
}
