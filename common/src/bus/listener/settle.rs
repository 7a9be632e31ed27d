//! Settling one delivery by its outcome: ack, retry with backoff, or park it on the
//! dead-letter subject — never drop it silently.
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use futures::FutureExt;
use tracing::Instrument;

use super::super::{Delivery, EventBus, Message, Settle};
use super::{ListenerOptions, Listeners, Outcome};

/// How often a handler still at work tells the bus (well inside JetStream's ack wait).
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// Runs one handler to its outcome; a panic counts as a failure rather than killing the
/// listener, and a slow handler keeps its delivery (so a short ack wait only redelivers what
/// a dead process held).
pub(super) async fn run_step(
    work: impl Future<Output = Outcome>,
    settle: &mut dyn Settle,
) -> Outcome {
    let work = AssertUnwindSafe(work).catch_unwind();
    tokio::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => {
                break result.unwrap_or_else(|_| Outcome::Failed(anyhow::anyhow!("the handler panicked")));
            }
            () = tokio::time::sleep(PROGRESS_EVERY) => {
                if let Err(error) = settle.in_progress().await {
                    tracing::debug!(error = format!("{error:#}"), "cannot mark a delivery in progress");
                }
            }
        }
    }
}

/// Acks, retries or parks a delivery by its outcome.
pub(super) async fn settle_by(
    outcome: Outcome,
    message: &Message,
    attempt: u32,
    settle: Box<dyn Settle>,
    bus: &EventBus,
    options: &ListenerOptions,
) {
    let last = attempt >= options.max_attempts;
    let settled = match outcome {
        Outcome::Done => settle.ack().await,
        Outcome::Retry if !last => {
            tracing::debug!("not ready yet; will redeliver");
            settle.retry(options.backoff(attempt)).await
        }
        Outcome::Failed(error) if !last => {
            tracing::warn!(error = format!("{error:#}"), "handling failed; will retry");
            settle.retry(options.backoff(attempt)).await
        }
        Outcome::Retry => {
            let reason = format!("still not ready after {attempt} attempts");
            park(bus, message, reason, settle, options).await
        }
        Outcome::Failed(error) => {
            let reason = format!("failed after {attempt} attempts: {error:#}");
            park(bus, message, reason, settle, options).await
        }
        Outcome::Reject(reason) => park(bus, message, reason, settle, options).await,
    };
    if let Err(error) = settled {
        tracing::warn!(
            error = format!("{error:#}"),
            "cannot settle a delivery; it will be redelivered"
        );
    }
}

/// The span a delivery is handled and settled in.
pub(super) fn delivery_span(listener: &str, delivery: &Delivery) -> tracing::Span {
    tracing::info_span!(
        "listener",
        listener,
        message.id = %delivery.message.id,
        message.subject = %delivery.message.subject,
        message.attempt = delivery.attempt,
    )
}

/// Puts `message` on the dead-letter subject, then terminates the delivery.
async fn park(
    bus: &EventBus,
    message: &Message,
    reason: String,
    settle: Box<dyn Settle>,
    options: &ListenerOptions,
) -> anyhow::Result<()> {
    match bus.dead_letter(message, &reason).await {
        Ok(()) => {
            tracing::error!(reason = %reason, "message parked on the dead-letter subject");
            settle.terminate().await
        }
        Err(error) => {
            // Not parked, so not terminated either: it comes back and we try again.
            tracing::error!(reason = %reason, error = format!("{error:#}"), "cannot dead-letter; will retry");
            settle.retry(options.max_backoff).await
        }
    }
}

impl<S: Clone + Send + Sync + 'static> Listeners<S> {
    /// Settles deliveries by their outcomes, all at once: their acks travel together
    /// instead of one round trip after another.
    pub(super) async fn settle_all(&self, settled: Vec<(Delivery, Outcome)>, bus: &EventBus) {
        let settling = settled.into_iter().map(|(delivery, outcome)| {
            let span = delivery_span(self.group, &delivery);
            let Delivery {
                message,
                attempt,
                settle,
            } = delivery;
            async move {
                settle_by(outcome, &message, attempt, settle, bus, &self.options).await;
            }
            .instrument(span)
        });
        futures::future::join_all(settling).await;
    }
}
