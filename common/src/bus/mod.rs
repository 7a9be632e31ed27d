//! The event bus seam: one trait, two implementations chosen by `NATS_URL` — an in-process
//! bus (all-in-one) and NATS JetStream (distributed).
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::events::Subject;

/// A message as it travels: its id is the event id, the key duplicates are dropped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub subject: Subject,
    pub payload: Vec<u8>,
}

#[async_trait]
pub trait Bus: Send + Sync + 'static {
    /// Publishes one message; Ok means the bus has it (JetStream: the stream acknowledged it).
    async fn publish(&self, message: &Message) -> anyhow::Result<()>;

    /// A durable subscription shared by every replica of `group` (one group per service):
    /// each message reaches one member of the group, until it is acked.
    async fn subscribe(&self, group: &str, subjects: &[Subject]) -> anyhow::Result<Box<dyn Subscription>>;
}

#[async_trait]
pub trait Subscription: Send {
    /// The next delivery; None when the bus has shut down.
    async fn next(&mut self) -> Option<Delivery>;
}

/// What the consumer does with a delivery, settled exactly once.
#[async_trait]
pub trait Settle: Send {
    async fn ack(self: Box<Self>) -> anyhow::Result<()>;
    /// Not now: deliver again after `delay`.
    async fn retry(self: Box<Self>, delay: Duration) -> anyhow::Result<()>;
    /// Never deliver again (the caller has parked it on the dead-letter subject).
    async fn terminate(self: Box<Self>) -> anyhow::Result<()>;
}

pub struct Delivery {
    pub message: Message,
    /// 1 on first delivery.
    pub attempt: u32,
    pub settle: Box<dyn Settle>,
}

pub type EventBus = Arc<dyn Bus>;
