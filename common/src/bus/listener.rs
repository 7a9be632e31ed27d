//! The loop around a listener's single step: settle each delivery by its outcome, retry with
//! backoff, and park what keeps failing on the dead-letter subject — never drop it silently.
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use futures::future::BoxFuture;
use futures::FutureExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use tracing::Instrument;

use super::{Delivery, EventBus, Message, Settle, Subscription};
use crate::events::{Event, Subject};
use crate::sqlite::{Tx, Writer};
use crate::task::{Shutdown, Task};

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
}

/// Retry limits; the defaults suit production, tests shrink the backoff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerOptions {
    /// Deliveries before a message is dead-lettered (the first delivery counts).
    pub max_attempts: u32,
    /// Delay before the second delivery; doubles on each later one.
    pub base_backoff: Duration,
    pub max_backoff: Duration,
}

pub const MAX_ATTEMPTS: u32 = 8;

impl Default for ListenerOptions {
    fn default() -> Self {
        Self {
            max_attempts: MAX_ATTEMPTS,
            base_backoff: Duration::from_millis(200),
            max_backoff: Duration::from_secs(10),
        }
    }
}

/// The most deliveries a listener may plan for: fewer than the broker makes
/// ([`super::jetstream::MAX_DELIVER`]), so a listener's last attempt is one it sees and parks
/// as a dead letter. A higher limit lets JetStream stop redelivering first, and the message
/// is then gone with no dead letter and no log line.
pub const MAX_LISTENER_ATTEMPTS: u32 = super::jetstream::MAX_DELIVER as u32 - 1;

const _: () = assert!(MAX_ATTEMPTS <= MAX_LISTENER_ATTEMPTS);

impl ListenerOptions {
    /// `base × 2^(attempt-1)`, capped.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let factor = 1u32 << attempt.saturating_sub(1).min(20);
        self.base_backoff
            .saturating_mul(factor)
            .min(self.max_backoff)
    }

    /// These options with `max_attempts` between 1 and [`MAX_LISTENER_ATTEMPTS`]; a higher
    /// limit is lowered (and logged), since the broker would drop the message before it.
    pub fn bounded(self) -> Self {
        let max_attempts = self.max_attempts.clamp(1, MAX_LISTENER_ATTEMPTS);
        if max_attempts != self.max_attempts {
            tracing::warn!(
                asked = self.max_attempts,
                max_attempts,
                "listener attempts bounded by the broker's redelivery limit"
            );
        }
        Self {
            max_attempts,
            ..self
        }
    }
}

#[cfg(test)]
mod options_tests {
    use super::*;

    #[test]
    fn listener_attempts_never_reach_the_brokers_limit() {
        let asked = |max_attempts| {
            ListenerOptions {
                max_attempts,
                ..ListenerOptions::default()
            }
            .bounded()
            .max_attempts
        };
        assert!(i64::from(asked(20)) < super::super::jetstream::MAX_DELIVER);
        assert_eq!(asked(20), MAX_LISTENER_ATTEMPTS);
        assert_eq!(asked(u32::MAX), MAX_LISTENER_ATTEMPTS);
        assert_eq!(asked(0), 1, "the first delivery is an attempt");
        assert_eq!(asked(3), 3, "a lower limit is kept");
        let default = ListenerOptions::default();
        assert!(i64::from(default.max_attempts) < super::super::jetstream::MAX_DELIVER);
        assert_eq!(default.clone().bounded(), default);
    }
}

/// Runs `handle` on every delivery of `sub` until the bus shuts down, with default options.
pub async fn run_listener<F, Fut>(
    sub: Box<dyn Subscription>,
    bus: EventBus,
    name: &'static str,
    handle: F,
) where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = Outcome>,
{
    run_listener_with(
        sub,
        bus,
        name,
        ListenerOptions::default(),
        Shutdown::new(),
        handle,
    )
    .await
}

/// How often a handler still at work tells the bus (well inside JetStream's ack wait).
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

/// [`run_listener`] with explicit retry limits, stopping (between messages: the one in hand
/// is finished and settled) when `shutdown` fires.
pub async fn run_listener_with<F, Fut>(
    mut sub: Box<dyn Subscription>,
    bus: EventBus,
    name: &'static str,
    options: ListenerOptions,
    shutdown: Shutdown,
    handle: F,
) where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let options = options.bounded();
    tracing::info!(listener = name, "listening");
    loop {
        let delivery = tokio::select! {
            biased;
            () = shutdown.wait() => {
                tracing::info!(listener = name, "shutting down; listener stopped");
                return;
            }
            delivery = sub.next() => delivery,
        };
        let Some(delivery) = delivery else { break };
        let span = delivery_span(name, &delivery);
        process(delivery, &bus, &options, &handle)
            .instrument(span)
            .await;
    }
    tracing::info!(listener = name, "bus closed; listener stopped");
}

async fn process<F, Fut>(delivery: Delivery, bus: &EventBus, options: &ListenerOptions, handle: &F)
where
    F: Fn(Message) -> Fut,
    Fut: Future<Output = Outcome>,
{
    let Delivery {
        message,
        attempt,
        mut settle,
    } = delivery;
    let outcome = run_step(handle(message.clone()), settle.as_mut()).await;
    settle_by(outcome, &message, attempt, settle, bus, options).await;
}

/// Runs one handler to its outcome; a panic counts as a failure rather than killing the
/// listener, and a slow handler keeps its delivery (so a short ack wait only redelivers what
/// a dead process held).
async fn run_step(work: impl Future<Output = Outcome>, settle: &mut dyn Settle) -> Outcome {
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
async fn settle_by(
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

fn delivery_span(listener: &str, delivery: &Delivery) -> tracing::Span {
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

/// A typed event out of a message, checking it travelled on the event's subject.
pub fn decode<E: Event>(message: &Message) -> anyhow::Result<E> {
    anyhow::ensure!(
        message.subject == E::SUBJECT,
        "expected a {} message, got {}",
        E::SUBJECT,
        message.subject
    );
    serde_json::from_slice(&message.payload)
        .with_context(|| format!("malformed {} payload (message {})", E::SUBJECT, message.id))
}

/// A message carrying `event`; `id` is the event id, the key duplicates are dropped by.
pub fn encode<E: Event>(id: String, event: &E) -> anyhow::Result<Message> {
    let payload = serde_json::to_vec(event)
        .with_context(|| format!("cannot serialize a {} event", E::SUBJECT))?;
    Ok(Message {
        id,
        subject: E::SUBJECT,
        payload,
    })
}

/// The transaction a batched step writes through (each step in a savepoint of its own).
pub type Txn = Arc<DatabaseTransaction>;

/// A step run on the SQLite writer thread, inside the batch's write job.
type WrittenStep<S> = dyn Fn(&S, &mut Tx<'_>, &Message) -> Outcome + Send + Sync;

/// What a set step made of its events: one result per event, in their order (an `Err` means
/// that event changed nothing), and the outbox messages its writes staged (`outbox::stage_all`),
/// handed to the relay once the batch commits.
pub struct SetOutcome {
    pub applied: Vec<anyhow::Result<Applied>>,
    pub staged: Vec<Message>,
}

/// A set step over decoded messages: their outcomes in order, and what it staged.
type SetStep<S> = dyn Fn(S, Txn, Vec<Message>) -> BoxFuture<'static, anyhow::Result<(Vec<Outcome>, Vec<Message>)>>
    + Send
    + Sync;

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

/// The database batched steps share a transaction on, and what to do after each commit.
struct Batching {
    db: DatabaseConnection,
    after_commit: Arc<dyn Fn() + Send + Sync>,
    /// Commits the batch and takes what set steps staged; woken when other steps wrote.
    relay: Option<Arc<dyn Committer>>,
}

/// How a batch's transaction ends when its steps write events: committed, then what it
/// wrote handed to the service's outbox relay, which implements this (`outbox::Relay`).
pub trait Committer: Send + Sync {
    /// Commits `txn`; `staged` messages go to the relay at once, and `enqueued` says other
    /// outbox rows were written (found by the relay's scan).
    fn commit_batch(
        &self,
        txn: DatabaseTransaction,
        staged: Vec<Message>,
        enqueued: bool,
    ) -> BoxFuture<'_, Result<(), sea_orm::DbErr>>;
}

/// Deliveries already waiting that one batch takes at most: a PostgreSQL transaction's, and
/// a writer-thread job's. A set step applies its share in a few statements, so a batch this
/// large is one commit for hundreds of events.
const MAX_BATCH: usize = 256;
const MAX_WRITTEN_BATCH: usize = 512;

/// The transaction the batched deliveries at hand share. Once a step fails, or a savepoint
/// can't be opened or closed, it is *broken*: the error may be the connection's, and sqlx's
/// savepoint bookkeeping can't be trusted after a failed savepoint (a failed `SAVEPOINT`
/// lowers its depth, after which `COMMIT` is skipped and reports success — the writes of
/// the steps already done would be lost while their deliveries are acked). A broken batch is
/// rolled back and its done deliveries are retried.
#[derive(Default)]
struct Batch {
    /// Shared with set steps while they run; theirs again once they return.
    txn: Option<Txn>,
    broken: bool,
    /// What set steps staged for the relay.
    staged: Vec<Message>,
    /// A step other than a set step was done (its outbox rows, if any, wait for a scan).
    unstaged: bool,
}

impl Batch {
    /// The batch's transaction, begun on `db` if this is its first step.
    async fn begin(&mut self, db: &DatabaseConnection) -> anyhow::Result<Txn> {
        if let Some(txn) = &self.txn {
            return Ok(txn.clone());
        }
        let txn = Arc::new(db.begin().await.context("beginning a batch")?);
        self.txn = Some(txn.clone());
        Ok(txn)
    }

    fn broken_by(&mut self, err: anyhow::Error) -> Outcome {
        self.broken = true;
        Outcome::Failed(err)
    }
}

/// Rolls back a broken batch's transaction. On PostgreSQL a plain `ROLLBACK` goes first, as
/// sqlx may no longer know it is in a transaction; its own rollback on drop then finds none
/// (a warning) or fails, and a connection whose rollback failed is closed, not reused.
/// SQLite's connections are in-process and can't break this way; there a `ROLLBACK` sqlx
/// didn't send would throw its depth off, so the drop alone rolls back.
async fn abandon(txn: DatabaseTransaction) {
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        if let Err(err) = txn.execute_unprepared("ROLLBACK").await {
            tracing::debug!(error = %err, "rolling back a broken batch");
        }
    }
    drop(txn);
}

impl Outcome {
    /// The outcome of a step whose batch did not commit: what was done is undone.
    fn undone(self, err: &anyhow::Error) -> Self {
        match self {
            Self::Done => Self::Failed(anyhow::anyhow!("{err:#}")),
            other => other,
        }
    }
}

/// A service's listeners, one step per event type, registered in one place. The group is the
/// durable subscription every replica of the service shares; a delivery on a subject nobody
/// registered goes straight to the dead-letter subject.
///
/// Steps registered with [`Listeners::on_batched`] write through one transaction for all
/// the deliveries already waiting, in delivery order, each in a savepoint (a step that must
/// wait undoes only itself; one that fails ends the batch, see [`Batch`]): one commit for
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

/// The SQLite writer thread that steps registered with [`Listeners::on_written`] run on.
struct Writing {
    writer: Writer,
    after_commit: Arc<dyn Fn() + Send + Sync>,
}

impl<S: Clone + Send + Sync + 'static> Listeners<S> {
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

    /// Handles one message as the running listener would (for tests and tools).
    pub async fn dispatch(&self, message: Message) -> Outcome {
        match self.handlers.get(&message.subject) {
            Some(Handler::Solo(handler)) => handler(self.state.clone(), message).await,
            Some(Handler::Batched(_)) => {
                let mut batch = Batch::default();
                let outcome = self.in_batch(&mut batch, message).await;
                match self.finish(batch).await {
                    Ok(()) => outcome,
                    Err(err) => outcome.undone(&err),
                }
            }
            Some(Handler::Set(_)) => {
                let mut batch = Batch::default();
                let mut outcomes = self.in_batch_set(&mut batch, vec![message]).await;
                let outcome = outcomes.pop().unwrap_or_else(|| {
                    Outcome::Failed(anyhow::anyhow!("the set step gave no outcome"))
                });
                match self.finish(batch).await {
                    Ok(()) => outcome,
                    Err(err) => outcome.undone(&err),
                }
            }
            Some(Handler::Written(_)) => {
                let mut outcomes = self.written(vec![message]).await;
                outcomes.pop().unwrap_or_else(|| {
                    Outcome::Failed(anyhow::anyhow!("the write job gave no outcome"))
                })
            }
            None => self.unhandled(&message),
        }
    }

    /// Runs the written steps of `messages` as one job on the writer thread, each in a
    /// savepoint of its own; their outcomes in order once the job's group committed (every
    /// done one failed if it did not).
    async fn written(&self, messages: Vec<Message>) -> Vec<Outcome> {
        let Some(writing) = &self.writing else {
            return messages.iter().map(|m| self.unhandled(m)).collect();
        };
        let steps: Vec<(Option<Arc<WrittenStep<S>>>, Message)> = messages
            .into_iter()
            .map(|message| {
                let step = match self.handlers.get(&message.subject) {
                    Some(Handler::Written(step)) => Some(step.clone()),
                    _ => None,
                };
                (step, message)
            })
            .collect();
        let count = steps.len();
        let state = self.state.clone();
        let group = self.group;
        let job = writing.writer.write(move |tx| {
            Ok(steps
                .into_iter()
                .map(|(step, message)| match step {
                    Some(step) => step(&state, tx, &message),
                    None => {
                        Outcome::Reject(format!("{group} has no listener for {}", message.subject))
                    }
                })
                .collect::<Vec<_>>())
        });
        match job.await {
            Ok(outcomes) => {
                (writing.after_commit)();
                outcomes
            }
            Err(err) => (0..count)
                .map(|_| Outcome::Failed(anyhow::anyhow!("{err:#}")))
                .collect(),
        }
    }

    fn unhandled(&self, message: &Message) -> Outcome {
        Outcome::Reject(format!(
            "{} has no listener for {}",
            self.group, message.subject
        ))
    }

    /// Runs a batched step in a savepoint of the batch's transaction (begun if need be);
    /// keeps its writes only if it is done. A step that fails breaks the batch (see [`Batch`]).
    async fn in_batch(&self, batch: &mut Batch, message: Message) -> Outcome {
        let (Some(Handler::Batched(handler)), Some(batching)) =
            (self.handlers.get(&message.subject), &self.batching)
        else {
            return self.unhandled(&message);
        };
        let txn = match batch.begin(&batching.db).await {
            Ok(txn) => txn,
            Err(err) => return Outcome::Failed(err),
        };
        let savepoint = match txn.begin().await {
            Ok(savepoint) => Arc::new(savepoint),
            Err(err) => {
                return batch
                    .broken_by(anyhow::Error::new(err).context("opening a step's savepoint"))
            }
        };
        let work = handler(self.state.clone(), savepoint.clone(), message);
        let outcome = AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Outcome::Failed(anyhow::anyhow!("the handler panicked")));
        let Ok(savepoint) = Arc::try_unwrap(savepoint) else {
            return batch.broken_by(anyhow::anyhow!("a step kept its transaction"));
        };
        let settled = match &outcome {
            Outcome::Done => {
                batch.unstaged = true;
                savepoint.commit().await
            }
            Outcome::Failed(_) => {
                // Its error may have come from the connection itself: nothing after it in
                // this transaction can be trusted, so the batch ends here.
                let _ = savepoint.rollback().await;
                batch.broken = true;
                return outcome;
            }
            Outcome::Retry | Outcome::Reject(_) => savepoint.rollback().await,
        };
        match settled {
            Ok(()) => outcome,
            Err(err) => {
                batch.broken_by(anyhow::Error::new(err).context("closing a step's savepoint"))
            }
        }
    }

    /// Runs a set step on `messages` (all of its subject) in the batch's transaction (begun
    /// if need be); an error of the step breaks the batch.
    async fn in_batch_set(&self, batch: &mut Batch, messages: Vec<Message>) -> Vec<Outcome> {
        let count = messages.len();
        let failed = |err: &anyhow::Error| {
            (0..count)
                .map(|_| Outcome::Failed(anyhow::anyhow!("{err:#}")))
                .collect::<Vec<_>>()
        };
        let Some(message) = messages.first() else {
            return Vec::new();
        };
        let (Some(Handler::Set(handler)), Some(batching)) =
            (self.handlers.get(&message.subject), &self.batching)
        else {
            return messages.iter().map(|m| self.unhandled(m)).collect();
        };
        let txn = match batch.begin(&batching.db).await {
            Ok(txn) => txn,
            Err(err) => return failed(&err),
        };
        let work = handler(self.state.clone(), txn, messages);
        let result = AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the set step panicked")));
        match result {
            Ok((outcomes, staged)) => {
                batch.staged.extend(staged);
                outcomes
            }
            Err(err) => {
                batch.broken = true;
                failed(&err)
            }
        }
    }

    /// Commits the batch's transaction, unless a step broke it: then it is rolled back and
    /// the error says so.
    async fn finish(&self, batch: Batch) -> anyhow::Result<()> {
        let (Some(txn), Some(batching)) = (batch.txn, &self.batching) else {
            return Ok(());
        };
        let txn = match Arc::try_unwrap(txn) {
            Ok(txn) => txn,
            // A step kept a handle on it: dropping ours leaves it to roll back once the
            // last one goes, and nothing of the batch is kept.
            Err(_) => anyhow::bail!("a step kept the batch's transaction"),
        };
        if batch.broken {
            abandon(txn).await;
            anyhow::bail!("a step failed, so the batch it was in was rolled back");
        }
        match &batching.relay {
            Some(relay) => relay.commit_batch(txn, batch.staged, batch.unstaged).await,
            None => txn.commit().await,
        }
        .context("committing a batch of events")?;
        (batching.after_commit)();
        Ok(())
    }

    /// Handles the deliveries at hand in order: batched and set steps share a transaction,
    /// settled once it commits (a set step takes each unbroken run of its subject at once);
    /// a solo step first commits what came before it, and so does a step that breaks the
    /// batch (the deliveries after it start a new one).
    async fn process_all(&self, deliveries: Vec<Delivery>, bus: &EventBus) {
        let mut batch = Batch::default();
        let mut done: Vec<(Delivery, Outcome)> = Vec::new();
        let mut written: Vec<Delivery> = Vec::new();
        let mut run: Vec<Delivery> = Vec::new();
        for mut delivery in deliveries {
            let handler = self.handlers.get(&delivery.message.subject);
            if let Some(Handler::Written(_)) = handler {
                written.push(delivery);
                continue;
            }
            self.settle_written(std::mem::take(&mut written), bus).await;
            if let Some(Handler::Set(_)) = handler {
                if run
                    .first()
                    .is_some_and(|d| d.message.subject != delivery.message.subject)
                {
                    self.run_set(&mut batch, &mut run, &mut done, bus).await;
                }
                run.push(delivery);
                continue;
            }
            self.run_set(&mut batch, &mut run, &mut done, bus).await;
            match handler {
                Some(Handler::Batched(_)) => {
                    let work = self.in_batch(&mut batch, delivery.message.clone());
                    let outcome = run_step(work, delivery.settle.as_mut()).await;
                    done.push((delivery, outcome));
                    if batch.broken {
                        self.settle_batch(
                            std::mem::take(&mut batch),
                            std::mem::take(&mut done),
                            bus,
                        )
                        .await;
                    }
                }
                handler => {
                    self.settle_batch(std::mem::take(&mut batch), std::mem::take(&mut done), bus)
                        .await;
                    let span = delivery_span(self.group, &delivery);
                    async {
                        let outcome = match handler {
                            Some(Handler::Solo(handler)) => {
                                let work = handler(self.state.clone(), delivery.message.clone());
                                run_step(work, delivery.settle.as_mut()).await
                            }
                            _ => self.unhandled(&delivery.message),
                        };
                        let Delivery {
                            message,
                            attempt,
                            settle,
                        } = delivery;
                        settle_by(outcome, &message, attempt, settle, bus, &self.options).await;
                    }
                    .instrument(span)
                    .await;
                }
            }
        }
        self.settle_written(written, bus).await;
        self.run_set(&mut batch, &mut run, &mut done, bus).await;
        self.settle_batch(batch, done, bus).await;
    }

    /// Applies a run of one set step's deliveries in the batch (settled with it).
    async fn run_set(
        &self,
        batch: &mut Batch,
        run: &mut Vec<Delivery>,
        done: &mut Vec<(Delivery, Outcome)>,
        bus: &EventBus,
    ) {
        if run.is_empty() {
            return;
        }
        let deliveries = std::mem::take(run);
        let messages = deliveries.iter().map(|d| d.message.clone()).collect();
        let outcomes = self.in_batch_set(batch, messages).await;
        done.extend(deliveries.into_iter().zip(outcomes));
        if batch.broken {
            self.settle_batch(std::mem::take(batch), std::mem::take(done), bus)
                .await;
        }
    }

    /// Runs waiting written deliveries as one write job, then settles each by its outcome.
    async fn settle_written(&self, deliveries: Vec<Delivery>, bus: &EventBus) {
        if deliveries.is_empty() {
            return;
        }
        let messages = deliveries.iter().map(|d| d.message.clone()).collect();
        let outcomes = self.written(messages).await;
        self.settle_all(deliveries.into_iter().zip(outcomes).collect(), bus)
            .await;
    }

    /// Commits the batch, then settles each delivery by its outcome (a done one as failed if
    /// the batch did not commit, so it comes back).
    async fn settle_batch(&self, batch: Batch, done: Vec<(Delivery, Outcome)>, bus: &EventBus) {
        if done.is_empty() && batch.txn.is_none() {
            return;
        }
        let committed = self.finish(batch).await;
        let settled = done
            .into_iter()
            .map(|(delivery, outcome)| match &committed {
                Ok(()) => (delivery, outcome),
                Err(err) => (delivery, outcome.undone(err)),
            })
            .collect();
        self.settle_all(settled, bus).await;
    }

    /// Settles deliveries by their outcomes, all at once: their acks travel together
    /// instead of one round trip after another.
    async fn settle_all(&self, settled: Vec<(Delivery, Outcome)>, bus: &EventBus) {
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

    /// Takes what is waiting (up to [`MAX_BATCH`]) and handles it, until the bus closes or
    /// `shutdown` fires (between batches: the one in hand is finished and settled).
    async fn consume(&self, mut sub: Box<dyn Subscription>, bus: &EventBus, shutdown: &Shutdown) {
        tracing::info!(listener = self.group, "listening");
        loop {
            let first = tokio::select! {
                biased;
                () = shutdown.wait() => {
                    tracing::info!(listener = self.group, "shutting down; listener stopped");
                    return;
                }
                delivery = sub.next() => delivery,
            };
            let Some(first) = first else { break };
            let mut deliveries = vec![first];
            let mut closed = false;
            // Only what is already here: a batch never waits for more to arrive.
            let most = if self.writing.is_some() {
                MAX_WRITTEN_BATCH
            } else {
                MAX_BATCH
            };
            while (self.batching.is_some() || self.writing.is_some()) && deliveries.len() < most {
                match sub.next().now_or_never() {
                    Some(Some(delivery)) => deliveries.push(delivery),
                    Some(None) => {
                        closed = true;
                        break;
                    }
                    None => break,
                }
            }
            self.process_all(deliveries, bus).await;
            if closed {
                break;
            }
        }
        tracing::info!(listener = self.group, "bus closed; listener stopped");
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
