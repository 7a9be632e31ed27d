//! The all-in-one bus: per-group queues in memory, shared by the group's consumers.
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::sync::{broadcast, mpsc, oneshot};

use super::{Bus, Delivery, EventBus, Message, Settle, Subscription, Watch, WATCH_CAPACITY};
use crate::events::Subject;

/// How long `publish` waits for the subscribed groups to settle a message. The outbox marks a
/// row sent only after `publish` returns, so waiting makes "sent" mean "handled" and a crash
/// in between loses nothing (the row is published again); a message still being retried
/// after this long stays queued and `publish` returns anyway, so one slow event can't stall
/// every later one.
const SETTLE_WAIT: Duration = Duration::from_secs(5);

/// How long a message id is remembered to drop re-sends, like JetStream's default window.
const DUPLICATE_WINDOW: Duration = Duration::from_secs(120);

/// A message parked on the dead-letter list, with why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message as it was delivered.
    pub message: Message,
    /// Why the listener parked it: it failed or stayed early through every attempt, or was
    /// rejected outright (a payload it can't decode).
    pub reason: String,
}

/// Messages reach every group that subscribed to their subject *before* they were published;
/// nothing is retained for groups that subscribe later — in embedded mode each service's outbox
/// re-publishes until the publish succeeds, which is where durability comes from.
pub struct InProcessBus {
    groups: Mutex<HashMap<String, Group>>,
    recent: Mutex<Recent>,
    dead: Mutex<Vec<DeadLetter>>,
    /// Every message handed to the groups, for the watchers ([`Bus::watch`]).
    watchers: broadcast::Sender<Message>,
}

impl Default for InProcessBus {
    fn default() -> Self {
        Self {
            groups: Mutex::default(),
            recent: Mutex::default(),
            dead: Mutex::default(),
            watchers: broadcast::channel(WATCH_CAPACITY).0,
        }
    }
}

struct Group {
    subjects: HashSet<Subject>,
    sender: mpsc::UnboundedSender<Entry>,
    /// Every subscription of the group pulls from this one receiver (competing consumers).
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Entry>>>,
}

struct Entry {
    message: Message,
    attempt: u32,
    /// Fired when the group settles the message for good (ack or terminate).
    settled: Option<oneshot::Sender<()>>,
}

/// Ids published within the duplicate window, oldest first.
#[derive(Default)]
struct Recent {
    order: VecDeque<(Instant, String)>,
    ids: HashSet<String>,
}

impl Recent {
    /// False when `id` was already published within the window.
    fn insert(&mut self, id: &str, now: Instant) -> bool {
        while let Some((at, _)) = self.order.front() {
            if now.duration_since(*at) < DUPLICATE_WINDOW {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
        if !self.ids.insert(id.to_string()) {
            return false;
        }
        self.order.push_back((now, id.to_string()));
        true
    }
}

/// A poisoned lock only means another thread panicked mid-update of plain collections.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl InProcessBus {
    /// A new, empty bus behind the [`EventBus`] seam: what [`super::connect`] picks without
    /// `NATS_URL`.
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> EventBus {
        Self::shared()
    }

    /// Hands `message` to every subscribed group (unless it is a re-send); the receivers fire
    /// as each group settles it.
    fn enqueue(&self, message: &Message) -> Vec<oneshot::Receiver<()>> {
        if !lock(&self.recent).insert(&message.id, Instant::now()) {
            tracing::debug!(message.id = %message.id, "duplicate publish dropped");
            return Vec::new();
        }
        if self.watchers.receiver_count() > 0 {
            // Fails only when the last watcher has just gone: nobody to tell.
            let _ = self.watchers.send(message.clone());
        }
        let mut settled = Vec::new();
        {
            let groups = lock(&self.groups);
            for group in groups
                .values()
                .filter(|g| g.subjects.contains(&message.subject))
            {
                let (done, wait) = oneshot::channel();
                // The receiver lives as long as the group entry, which we hold.
                if group
                    .sender
                    .send(Entry {
                        message: message.clone(),
                        attempt: 1,
                        settled: Some(done),
                    })
                    .is_ok()
                {
                    settled.push(wait);
                }
            }
        }
        settled
    }

    /// A new bus as its concrete type, for callers (tests) that inspect its dead letters.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Everything parked on the dead-letter list so far.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        lock(&self.dead).clone()
    }
}

#[async_trait]
impl Bus for InProcessBus {
    async fn publish(&self, message: &Message) -> anyhow::Result<()> {
        let settled = self.enqueue(message);
        let all = futures::future::join_all(settled);
        if tokio::time::timeout(SETTLE_WAIT, all).await.is_err() {
            tracing::debug!(message.id = %message.id, "still being retried; publish returns");
        }
        Ok(())
    }

    /// Queues the whole batch at once, then waits for all of it: one wait, not one per message.
    async fn publish_batch(&self, messages: &[Message]) -> (usize, anyhow::Result<()>) {
        let settled: Vec<_> = messages.iter().flat_map(|m| self.enqueue(m)).collect();
        let all = futures::future::join_all(settled);
        if tokio::time::timeout(SETTLE_WAIT, all).await.is_err() {
            tracing::debug!(
                messages = messages.len(),
                "some still being retried; publish returns"
            );
        }
        (messages.len(), Ok(()))
    }

    fn offer(&self, messages: &[Message]) -> Option<futures::future::BoxFuture<'static, ()>> {
        let settled: Vec<_> = messages.iter().flat_map(|m| self.enqueue(m)).collect();
        Some(Box::pin(async move {
            let all = futures::future::join_all(settled);
            let _ = tokio::time::timeout(SETTLE_WAIT, all).await;
        }))
    }

    async fn subscribe(
        &self,
        group: &str,
        subjects: &[Subject],
    ) -> anyhow::Result<Box<dyn Subscription>> {
        let mut groups = lock(&self.groups);
        let entry = groups.entry(group.to_string()).or_insert_with(|| {
            let (sender, receiver) = mpsc::unbounded_channel();
            Group {
                subjects: HashSet::new(),
                sender,
                receiver: Arc::new(tokio::sync::Mutex::new(receiver)),
            }
        });
        entry.subjects.extend(subjects.iter().copied());
        Ok(Box::new(InProcessSubscription {
            receiver: entry.receiver.clone(),
            // Weak, so the channel closes (and `next` ends) when the bus is dropped.
            sender: entry.sender.downgrade(),
        }))
    }

    async fn watch(&self, subjects: &[Subject]) -> anyhow::Result<Watch> {
        Ok(Watch::new(self.watchers.subscribe(), subjects))
    }

    async fn dead_letter(&self, message: &Message, reason: &str) -> anyhow::Result<()> {
        lock(&self.dead).push(DeadLetter {
            message: message.clone(),
            reason: reason.to_string(),
        });
        Ok(())
    }
}

struct InProcessSubscription {
    receiver: Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<Entry>>>,
    sender: mpsc::WeakUnboundedSender<Entry>,
}

#[async_trait]
impl Subscription for InProcessSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        let entry = self.receiver.lock().await.recv().await?;
        let sender = self.sender.upgrade()?;
        let message = entry.message.clone();
        let attempt = entry.attempt;
        Some(Delivery {
            message,
            attempt,
            settle: Box::new(InProcessSettle {
                entry: Some(entry),
                sender,
            }),
        })
    }
}

struct InProcessSettle {
    /// `None` once settled.
    entry: Option<Entry>,
    sender: mpsc::UnboundedSender<Entry>,
}

impl InProcessSettle {
    fn finish(&mut self) {
        if let Some(done) = self.entry.take().and_then(|mut e| e.settled.take()) {
            let _ = done.send(());
        }
    }

    fn requeue_after(&mut self, delay: Duration) {
        let Some(mut entry) = self.entry.take() else {
            return;
        };
        entry.attempt += 1;
        let sender = self.sender.clone();
        if delay.is_zero() {
            let _ = sender.send(entry);
            return;
        }
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            // Fails only when the bus is gone, and then nobody is left to deliver to.
            let _ = sender.send(entry);
        });
    }
}

#[async_trait]
impl Settle for InProcessSettle {
    async fn ack(mut self: Box<Self>) -> anyhow::Result<()> {
        self.finish();
        Ok(())
    }

    async fn retry(mut self: Box<Self>, delay: Duration) -> anyhow::Result<()> {
        self.requeue_after(delay);
        Ok(())
    }

    async fn terminate(mut self: Box<Self>) -> anyhow::Result<()> {
        self.finish();
        Ok(())
    }
}

impl Drop for InProcessSettle {
    /// A delivery dropped unsettled (a panicking consumer) comes back, as an ack timeout would.
    fn drop(&mut self) {
        if let Some(entry) = &self.entry {
            tracing::warn!(message.id = %entry.message.id, "delivery dropped unsettled; redelivering");
            self.requeue_after(Duration::ZERO);
        }
    }
}
