//! A service's listeners: one step per event type, registered here, and the one loop that
//! runs them (`consume`) until shutdown.
//!
//! * `mod.rs` — the registry ([`Listeners`]): how steps are registered and subscribed.
//! * `outcome` — what a step made of its event ([`Applied`]) and how a delivery settles
//!   ([`Outcome`]).
//! * `options` — retry limits and backoff ([`ListenerOptions`]).
//! * `consume` — the consumer loop: the deliveries at hand, run by their kind of step.
//! * `batch` — batched and set steps sharing one database transaction.
//! * `written` — written steps as one job of a SQLite writer thread.
//! * `settle` — ack, retry, or park on the dead-letter subject.
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use anyhow::Context as _;
use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;

use super::{decode, EventBus, Message};
use crate::events::{Event, Subject};
use crate::sqlite::{Tx, Writer};
use crate::task::{Shutdown, Task};

mod batch;
mod consume;
mod options;
mod outcome;
mod settle;
mod written;

use batch::Batching;
use written::Writing;

pub use batch::{Committer, Txn};
pub use options::{ListenerOptions, MAX_ATTEMPTS};
pub use outcome::{Applied, Outcome, SetOutcome, Unprocessable};

/// A step run on the SQLite writer thread, inside the batch's write job.
type WrittenStep<S> = dyn Fn(&S, &mut Tx<'_>, &Message) -> Outcome + Send + Sync;

/// A set step over decoded messages: their outcomes in order, and what it staged.
type SetStep<S> = dyn Fn(S, Txn, Vec<Message>) -> BoxFuture<'static, anyhow::Result<(Vec<Outcome>, Vec<Message>)>>
    + Send
    + Sync;

/// How a registered step runs, by the kind it was registered as.
enum Handler<S> {
    /// Runs on its own, with its own transactions (or none).
    Solo(Arc<dyn Fn(S, Message) -> BoxFuture<'static, Outcome> + Send + Sync>),
    /// Runs inside the listener's transaction, shared by the deliveries at hand.
    Batched(Arc<dyn Fn(S, Txn, Message) -> BoxFuture<'static, Outcome> + Send + Sync>),
    /// Runs in the writer thread's job for the deliveries at hand (see [`Listeners::writing`]).
    Written(Arc<WrittenStep<S>>),
    /// Runs once for a run of deliveries of its subject, in the listener's transaction.
    Set(Arc<SetStep<S>>),
}

/// A service's listeners, one step per event type, registered in one place. The group is the
/// durable subscription every replica of the service shares; a delivery on a subject nobody
/// registered goes straight to the dead-letter subject.
///
/// Steps registered with [`Listeners::on_batched`] write through one transaction for all
/// the deliveries already waiting, in delivery order, each in a savepoint (a step that must
/// wait undoes only itself; one that fails ends the batch, see `batch`): one commit for
/// many events, with every event's effect still all-or-nothing and nothing settled before
/// its commit. Steps registered with [`Listeners::on_written`] do the same as one job of a
/// SQLite writer thread, whose savepoints can be trusted after a failure, so a failed step
/// undoes only itself there too.
pub struct Listeners<S> {
    group: &'static str,
    state: S,
    options: ListenerOptions,
    handlers: HashMap<Subject, Handler<S>>,
    batching: Option<Batching>,
    writing: Option<Writing>,
}

impl<S: Clone + Send + Sync + 'static> Listeners<S> {
    /// An empty registry for the durable subscription `group`; every step gets a clone of `state`.
    pub fn new(group: &'static str, state: S) -> Self {
        Self {
            group,
            state,
            options: ListenerOptions::default(),
            handlers: HashMap::new(),
            batching: None,
            writing: None,
        }
    }

    /// Lets steps registered with [`Listeners::on_written`] run on `writer`: the deliveries
    /// at hand become one write job (a savepoint per step), answered after its commit;
    /// `after_commit` runs after each.
    pub fn writing(
        mut self,
        writer: Writer,
        after_commit: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        self.writing = Some(Writing {
            writer,
            after_commit: Arc::new(after_commit),
        });
        self
    }

    /// Handles `E` with `step` on the writer thread (see [`Listeners::writing`]): a plain
    /// function over the write transaction, kept when done or a duplicate, undone otherwise.
    pub fn on_written<E, F>(self, step: F) -> Self
    where
        E: Event,
        F: Fn(&S, &mut Tx<'_>, E) -> anyhow::Result<Applied> + Send + Sync + 'static,
    {
        assert!(
            self.writing.is_some(),
            "{}: call writing() before on_written()",
            self.group
        );
        let handler = Arc::new(move |state: &S, tx: &mut Tx<'_>, message: &Message| {
            match decode::<E>(message) {
                Ok(event) => Outcome::of(tx.step(
                    |tx| step(state, tx, event),
                    |applied| matches!(applied, Applied::Done | Applied::Duplicate),
                )),
                Err(err) => Outcome::Reject(format!("{err:#}")),
            }
        });
        self.register(E::SUBJECT, Handler::Written(handler))
    }

    /// Lets steps registered with [`Listeners::on_batched`] share transactions on `db`;
    /// `after_commit` runs after each (e.g. waking the outbox relay).
    pub fn batching(
        mut self,
        db: DatabaseConnection,
        after_commit: impl Fn() + Send + Sync + 'static,
    ) -> Self {
        self.batching = Some(Batching {
            db,
            after_commit: Arc::new(after_commit),
            relay: None,
        });
        self
    }

    /// Sets the retry limits and backoff, [bounded](ListenerOptions::bounded) by the broker's.
    pub fn with_options(mut self, options: ListenerOptions) -> Self {
        self.options = options.bounded();
        self
    }

    /// Handles `E` with `step`, which gets the service state and the decoded event.
    pub fn on<E, F, Fut>(self, step: F) -> Self
    where
        E: Event,
        F: Fn(S, E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<Applied>> + Send + 'static,
    {
        let step = Arc::new(step);
        let handler = Arc::new(move |state: S, message: Message| {
            let step = step.clone();
            Box::pin(
                async move { Outcome::of_event::<E, _, _>(&message, |e| step(state, e)).await },
            ) as BoxFuture<'static, Outcome>
        });
        self.register(E::SUBJECT, Handler::Solo(handler))
    }

    /// Handles `E` with `step` inside the listener's transaction (see [`Listeners`]); the
    /// step must write only through the transaction it is given.
    pub fn on_batched<E, F, Fut>(self, step: F) -> Self
    where
        E: Event,
        F: Fn(S, Txn, E) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<Applied>> + Send + 'static,
    {
        assert!(
            self.batching.is_some(),
            "{}: call batching() before on_batched()",
            self.group
        );
        let step = Arc::new(step);
        let handler = Arc::new(move |state: S, txn: Txn, message: Message| {
            let step = step.clone();
            Box::pin(async move {
                Outcome::of_event::<E, _, _>(&message, |e| step(state, txn, e)).await
            }) as BoxFuture<'static, Outcome>
        });
        self.register(E::SUBJECT, Handler::Batched(handler))
    }

    /// Handles `E` with `step` once for each run of `E` deliveries at hand, inside the
    /// listener's transaction: a step that applies its events in a constant number of
    /// statements (set-based), whatever their number. It must write only through the
    /// transaction it is given, and an event it reports as an error must have changed
    /// nothing; an error of the whole step rolls the batch back and every delivery in it
    /// comes again.
    pub fn on_set<E, F, Fut>(self, step: F) -> Self
    where
        E: Event,
        F: Fn(S, Txn, Vec<E>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<SetOutcome>> + Send + 'static,
    {
        assert!(
            self.batching.is_some(),
            "{}: call batching() before on_set()",
            self.group
        );
        let step = Arc::new(step);
        let handler = Arc::new(move |state: S, txn: Txn, messages: Vec<Message>| {
            let step = step.clone();
            Box::pin(async move {
                let mut outcomes: Vec<Option<Outcome>> = Vec::with_capacity(messages.len());
                let (mut events, mut at) = (Vec::new(), Vec::new());
                for message in &messages {
                    match decode::<E>(message) {
                        Ok(event) => {
                            at.push(outcomes.len());
                            outcomes.push(None);
                            events.push(event);
                        }
                        Err(err) => outcomes.push(Some(Outcome::Reject(format!("{err:#}")))),
                    }
                }
                let mut staged = Vec::new();
                if !events.is_empty() {
                    let set = step(state, txn, events).await?;
                    anyhow::ensure!(
                        set.applied.len() == at.len(),
                        "a set step answered for {} of {} events",
                        set.applied.len(),
                        at.len()
                    );
                    for (i, applied) in at.into_iter().zip(set.applied) {
                        outcomes[i] = Some(Outcome::of(applied));
                    }
                    staged = set.staged;
                }
                Ok((
                    outcomes
                        .into_iter()
                        .map(|o| o.unwrap_or(Outcome::Failed(anyhow::anyhow!("no outcome"))))
                        .collect(),
                    staged,
                ))
            }) as BoxFuture<'static, _>
        });
        self.register(E::SUBJECT, Handler::Set(handler))
    }

    /// Hands what set steps stage to `relay` after each commit, and pokes it when other
    /// steps wrote (their rows are found by its scan).
    pub fn relaying(mut self, relay: impl Committer + 'static) -> Self {
        if let Some(batching) = &mut self.batching {
            batching.relay = Some(Arc::new(relay));
        }
        self
    }

    fn register(mut self, subject: Subject, handler: Handler<S>) -> Self {
        let replaced = self.handlers.insert(subject, handler);
        assert!(replaced.is_none(), "{subject} registered twice");
        self
    }

    /// The subjects registered so far.
    pub fn subjects(&self) -> Vec<Subject> {
        let mut subjects: Vec<Subject> = self.handlers.keys().copied().collect();
        subjects.sort_by_key(|s| s.as_str());
        subjects
    }

    /// The outcome of a delivery on a subject nobody registered: parked at once.
    fn unhandled(&self, message: &Message) -> Outcome {
        Outcome::Reject(format!(
            "{} has no listener for {}",
            self.group, message.subject
        ))
    }

    /// Subscribes now (so nothing published from here on is missed) and returns the task
    /// that consumes the subscription until `shutdown`.
    pub async fn subscribe(self, bus: &EventBus, shutdown: Shutdown) -> anyhow::Result<Task> {
        let subjects = self.subjects();
        let sub = bus
            .subscribe(self.group, &subjects)
            .await
            .with_context(|| format!("subscribing {}", self.group))?;
        let bus = bus.clone();
        let group = self.group;
        Ok(Task::new(format!("{group} listener"), async move {
            let stop = shutdown.clone();
            crate::task::on_event_thread(async move {
                self.consume(sub, &bus, &stop).await;
            })
            .await
            .with_context(|| format!("the {group} listener panicked"))?;
            if shutdown.is_triggered() {
                Ok(())
            } else {
                anyhow::bail!("the bus closed the {group} subscription")
            }
        }))
    }
}
