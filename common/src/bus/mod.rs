//! The event bus seam: one trait, two implementations chosen by `NATS_URL` — an in-process
//! bus (all-in-one) and NATS JetStream (distributed).
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use crate::events::Message;
use crate::events::Subject;
use crate::settings::Settings;

mod codec;
mod in_process;
mod jetstream;
mod listener;
mod watch;

pub use codec::{decode, encode};
pub use in_process::{DeadLetter, InProcessBus};
pub use jetstream::{dead_letter_subject, nats_subject, stream_name, JetStreamBus, ACK_WAIT};
pub use listener::{
    Applied, Committer, ListenerOptions, Listeners, Outcome, SetOutcome, Txn, Unprocessable,
    MAX_ATTEMPTS,
};
pub use watch::{Watch, Watched, WATCH_CAPACITY};

/// JetStream when `NATS_URL` is set, else the in-process bus.
pub async fn connect(settings: &Settings) -> anyhow::Result<EventBus> {
    match &settings.nats_url {
        Some(url) => {
            // Its connection task lives where it is connected: on the event thread, the
            // relays' publishes and the listeners' acks don't queue behind HTTP requests.
            let (url, prefix) = (url.clone(), settings.nats_prefix.clone());
            let bus =
                crate::task::on_event_thread(
                    async move { JetStreamBus::connect(&url, &prefix).await },
                )
                .await??;
            tracing::info!("event bus: JetStream");
            Ok(bus)
        }
        None => {
            tracing::info!("event bus: in-process");
            Ok(InProcessBus::new())
        }
    }
}

/// What services publish events on and consume them from; the outbox relay publishes, the
/// listeners subscribe. Implemented by [`InProcessBus`] and [`JetStreamBus`].
#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes one message; Ok means the bus has it (JetStream: the stream acknowledged it).
    async fn publish(&self, message: &Message) -> anyhow::Result<()>;

    /// Publishes `messages` in order, overlapping the waits where the bus can. Returns how
    /// many of them, from the first, the bus has for sure, and the error that stopped the
    /// rest (some of which may have arrived too: a re-send is dropped by its id).
    async fn publish_batch(&self, messages: &[Message]) -> (usize, anyhow::Result<()>) {
        for (sent, message) in messages.iter().enumerate() {
            if let Err(err) = self.publish(message).await {
                return (sent, Err(err));
            }
        }
        (messages.len(), Ok(()))
    }

    /// Hands `messages` over now, in order, without waiting, where the bus can (in-process);
    /// the future resolves once every group has settled them, or after a bound. None means
    /// this bus can't: the caller publishes them.
    fn offer(&self, _messages: &[Message]) -> Option<futures::future::BoxFuture<'static, ()>> {
        None
    }

    /// A durable subscription shared by every replica of `group` (one group per service):
    /// each message reaches one member of the group, until it is acked.
    async fn subscribe(
        &self,
        group: &str,
        subjects: &[Subject],
    ) -> anyhow::Result<Box<dyn Subscription>>;

    /// Every message on `subjects` published from now on, to this caller alone: not a group
    /// (nothing is shared or load-balanced, nothing is acked or retained), so each web
    /// process sees every event. In-process it is fed where messages are handed to the
    /// groups; on JetStream it is a core NATS subscription to the subjects the stream
    /// captures. A watcher that falls behind learns how much it missed ([`Watched::Missed`]).
    async fn watch(&self, _subjects: &[Subject]) -> anyhow::Result<Watch> {
        anyhow::bail!("this bus cannot be watched")
    }

    /// Parks a message nobody could handle, with why, where an operator can find it
    /// (JetStream: `{prefix}.dead.{subject}`; in-process: [`InProcessBus::dead_letters`]).
    async fn dead_letter(&self, message: &Message, reason: &str) -> anyhow::Result<()>;

    /// Whether the bus answers now (for readiness checks).
    async fn ready(&self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// A group's stream of deliveries, from [`Bus::subscribe`]; the listener loop drains it.
#[async_trait]
pub trait Subscription: Send {
    /// The next delivery; None when the bus has shut down.
    async fn next(&mut self) -> Option<Delivery>;
}

/// What the consumer does with a delivery, settled exactly once.
#[async_trait]
pub trait Settle: Send {
    /// Handled (or a duplicate): never deliver again.
    async fn ack(self: Box<Self>) -> anyhow::Result<()>;
    /// Not now: deliver again after `delay`.
    async fn retry(self: Box<Self>, delay: Duration) -> anyhow::Result<()>;
    /// Never deliver again (the caller has parked it on the dead-letter subject).
    async fn terminate(self: Box<Self>) -> anyhow::Result<()>;
    /// Still working on it: don't redeliver yet (JetStream restarts its ack timer).
    async fn in_progress(&mut self) -> anyhow::Result<()> {
        Ok(())
    }
}

/// One message handed to one member of a group, to be settled once.
pub struct Delivery {
    /// The message delivered.
    pub message: Message,
    /// 1 on first delivery.
    pub attempt: u32,
    /// How to tell the bus what became of it.
    pub settle: Box<dyn Settle>,
}

/// The bus as services hold it: shared, behind the [`Bus`] seam ([`connect`] picks which).
pub type EventBus = Arc<dyn Bus>;
