//! What a step made of its event ([`Applied`], or an error) and how that settles the
//! delivery ([`Outcome`]).
use std::future::Future;

use super::super::{decode, Message};
use crate::events::Event;

/// What a handler made of a message.
#[derive(Debug)]
pub enum Outcome {
    /// Handled (or a duplicate): ack it.
    Done,
    /// Not yet, e.g. an event arrived before the one it follows: deliver it again later.
    Retry,
    /// Handling failed: retried with backoff, then dead-lettered.
    Failed(anyhow::Error),
    /// Nobody here handles it (e.g. an unregistered subject): dead-lettered at once.
    Reject(String),
}

/// What one listener step did with its event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// Its effect is written: acknowledged.
    Done,
    /// Seen before (or made moot by a later event): acknowledged, nothing changed.
    Duplicate,
    /// It depends on an event not yet seen: deliver it again later.
    Early,
}

/// A step's error that no retry can fix (a malformed payload, an impossible value): the
/// message goes to the dead-letter subject at once instead of after every retry.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unprocessable(pub String);

impl Outcome {
    /// How a step's result settles its delivery.
    pub fn of(step: anyhow::Result<Applied>) -> Self {
        match step {
            Ok(Applied::Done | Applied::Duplicate) => Self::Done,
            Ok(Applied::Early) => Self::Retry,
            Err(err) if err.downcast_ref::<Unprocessable>().is_some() => {
                Self::Reject(format!("unprocessable: {err:#}"))
            }
            Err(err) => Self::Failed(err),
        }
    }

    /// Decodes `message` as `E` and runs `step` on it.
    pub async fn of_event<E, F, Fut>(message: &Message, step: F) -> Self
    where
        E: Event,
        F: FnOnce(E) -> Fut,
        Fut: Future<Output = anyhow::Result<Applied>>,
    {
        match decode::<E>(message) {
            Ok(event) => Self::of(step(event).await),
            // The same bytes will never decode: park them now.
            Err(err) => Self::Reject(format!("{err:#}")),
        }
    }

    /// The outcome of a step whose batch did not commit: what was done is undone.
    pub(super) fn undone(self, err: &anyhow::Error) -> Self {
        match self {
            Self::Done => Self::Failed(anyhow::anyhow!("{err:#}")),
            other => other,
        }
    }
}

/// What a set step made of its events: one result per event, in their order (an `Err` means
/// that event changed nothing), and the outbox messages its writes staged
/// (`outbox::stage_all`), handed to the relay once the batch commits.
pub struct SetOutcome {
    /// One result per event, in the events' order (an `Err` changed nothing).
    pub applied: Vec<anyhow::Result<Applied>>,
    /// The outbox messages its writes staged, for the relay once the batch commits.
    pub staged: Vec<Message>,
}
