//! The transactional outbox: a service writes its event in the same transaction as the state
//! change; the relay publishes pending rows in order and marks them sent. A crash between the
//! two only delays an event (it is published again, and the message id makes that harmless).
//! Beside a SQLite writer thread, committed rows are handed on at commit and the relay's scan
//! is the backstop (see [`Relay`]).
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};

use sea_orm::sea_query::{Alias, ColumnDef, Index, Table};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use tokio::sync::{mpsc, Notify};

use crate::bus::{Committer, EventBus, Message};
use crate::events::{Event, Subject};
use crate::sqlite::{Outgoing, Writer};
use crate::task::{Shutdown, Task};

/// The outbox table as a SeaORM entity: one row per event to publish.
pub mod entity {
    use sea_orm::entity::prelude::*;

    /// One event in the outbox, pending until `sent_at` is set.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        /// Write order: the relay publishes pending rows by it.
        #[sea_orm(primary_key, auto_increment = true)]
        pub seq: i64,
        /// The event's id, sent as the message id so a republished event is recognised.
        #[sea_orm(unique)]
        pub id: String,
        /// The event's subject, by its wire name.
        pub subject: String,
        /// The event as JSON, published as is.
        pub payload: String,
        /// When the event was written.
        pub created_at: ChronoDateTimeUtc,
        /// When the relay marked it published; none while pending.
        pub sent_at: Option<ChronoDateTimeUtc>,
    }

    /// The outbox relates to no other table.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Adds the outbox table; each publishing service lists it in its migrator.
pub struct CreateOutbox;

impl MigrationName for CreateOutbox {
    fn name(&self) -> &str {
        "m0000_create_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOutbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let table = Alias::new("outbox");
        manager
            .create_table(
                Table::create()
                    .table(table.clone())
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Alias::new("seq"))
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("id"))
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Alias::new("subject")).string().not_null())
                    .col(ColumnDef::new(Alias::new("payload")).text().not_null())
                    .col(
                        ColumnDef::new(Alias::new("created_at"))
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Alias::new("sent_at"))
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("outbox_pending")
                    .table(table)
                    .col(Alias::new("sent_at"))
                    .col(Alias::new("seq"))
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("outbox")).to_owned())
            .await
    }
}

/// Writes `event` to the outbox, inside the caller's transaction. Returns the event id.
pub async fn enqueue<E: Event>(db: &impl ConnectionTrait, event: &E) -> Result<String, DbErr> {
    Ok(stage(db, event).await?.id)
}

/// [`enqueue`], returning the message as the relay will send it: once the transaction has
/// committed, [`Relay::committed`] takes it straight to the bus.
pub async fn stage<E: Event>(db: &impl ConnectionTrait, event: &E) -> Result<Message, DbErr> {
    let mut staged = stage_all(db, std::slice::from_ref(event)).await?;
    staged
        .pop()
        .ok_or_else(|| DbErr::Custom("staging an event wrote no row".into()))
}

/// `event` as the message its outbox row becomes, under a new event id (for a statement
/// that writes the row itself; [`stage`] otherwise).
pub fn message<E: Event>(event: &E) -> Result<Message, DbErr> {
    Ok(Message {
        id: uuid::Uuid::new_v4().to_string(),
        subject: E::SUBJECT,
        payload: serde_json::to_vec(event)
            .map_err(|e| DbErr::Custom(format!("serializing an event: {e}")))?,
    })
}

/// Writes `events` to the outbox in one statement (in this order), inside the caller's
/// transaction; their messages, for [`Relay::committed`] after the commit.
pub async fn stage_all<E: Event>(
    db: &impl ConnectionTrait,
    events: &[E],
) -> Result<Vec<Message>, DbErr> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let now = chrono::Utc::now();
    let messages = events.iter().map(message).collect::<Result<Vec<_>, _>>()?;
    let rows = messages.iter().map(|message| entity::ActiveModel {
        id: Set(message.id.clone()),
        subject: Set(message.subject.as_str().to_owned()),
        payload: Set(String::from_utf8_lossy(&message.payload).into_owned()),
        created_at: Set(now),
        sent_at: Set(None),
        ..Default::default()
    });
    // Nothing of the rows is needed back: no RETURNING, no read after the insert.
    entity::Entity::insert_many(rows)
        .exec_without_returning(db)
        .await?;
    Ok(messages)
}

/// Publishes a service's pending outbox rows, oldest first.
///
/// With a SQLite writer thread ([`Relay::with_writer`]) events don't wait for the relay: the
/// writer hands each committed group's rows to the bus at once (in-process) or to the relay
/// to publish (JetStream), and the relay marks them sent in bulk in a later group. Its scan
/// of the table is then the backstop for what was never handed on (a crash between commit
/// and hand-off, rows written outside the writer thread).
#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    /// Where pending rows are read (a reader, so the read never waits for the writer).
    read: DatabaseConnection,
    bus: EventBus,
    wake: Arc<Notify>,
    writer: Option<Writer>,
    handed: Arc<Mutex<Option<mpsc::UnboundedReceiver<Handed>>>>,
    /// On PostgreSQL: messages of committed transactions, straight from their writers.
    fed: Option<mpsc::UnboundedSender<Vec<Message>>>,
    fed_rx: Arc<Mutex<Option<mpsc::UnboundedReceiver<Vec<Message>>>>>,
}

/// A committed group's outbox rows as the writer thread handed them on.
struct Handed {
    seqs: Vec<i64>,
    /// Still to publish (a bus that can't take them at once).
    publish: Option<Vec<Message>>,
    /// Resolves once the bus's groups have settled them.
    settled: Option<BoxFuture<'static, ()>>,
}

// Large: under load each cycle waits its turn for a connection (on SQLite the one writer),
// so a small batch caps the relay below the rate orders arrive at.
const BATCH: u64 = 1000;
const IDLE_POLL: Duration = Duration::from_millis(500);
// Short enough that events flow again within seconds of the bus coming back.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const BUSY_RETRY: Duration = Duration::from_millis(50);
/// How long a fed relay lets published rows wait to be marked sent, and how many at most:
/// one statement (and commit) for many cycles' worth.
const MARK_EVERY: Duration = Duration::from_millis(100);
const MARK_BATCH: usize = 1000;

impl Relay {
    /// A relay publishing `db`'s outbox to `bus`, read and marked on `db` alone.
    pub fn new(db: DatabaseConnection, bus: EventBus) -> Self {
        Self {
            read: db.clone(),
            db,
            bus,
            wake: Arc::new(Notify::new()),
            writer: None,
            handed: Arc::new(Mutex::new(None)),
            fed: None,
            fed_rx: Arc::new(Mutex::new(None)),
        }
    }

    /// The relay of a service's database: pending rows read from its readers, and on SQLite
    /// taking each commit of its writer thread straight to the bus.
    /// On PostgreSQL it works on the service's background pool and is fed what commits
    /// (see [`Relay::committed`]).
    pub fn for_service(db: &crate::db::ServiceDb, bus: EventBus) -> Self {
        match &db.writer {
            Some(writer) => Self::new(db.write.clone(), bus)
                .reading_from(db.read.clone())
                .with_writer(writer.clone()),
            None if db.background.get_database_backend() == sea_orm::DbBackend::Postgres => {
                Self::new(db.background.clone(), bus).fed()
            }
            None => Self::new(db.write.clone(), bus).reading_from(db.read.clone()),
        }
    }

    /// Takes the messages of each commit from [`Relay::committed`] and publishes them at once,
    /// marking them sent in bulk; its scan of the table is then the backstop.
    pub fn fed(mut self) -> Self {
        let (send, receive) = mpsc::unbounded_channel();
        self.fed = Some(send);
        self.fed_rx = Arc::new(Mutex::new(Some(receive)));
        self
    }

    /// Hands the messages a transaction staged ([`stage`]) to the relay once it committed.
    /// A relay that isn't fed (or has stopped) is poked instead, and its scan finds them.
    pub fn committed(&self, messages: Vec<Message>) {
        if messages.is_empty() {
            return;
        }
        match &self.fed {
            Some(fed) if fed.send(messages).is_ok() => {}
            _ => self.poke(),
        }
    }

    /// Reads pending rows through `read` (rows are marked sent through the main handle).
    pub fn reading_from(mut self, read: DatabaseConnection) -> Self {
        self.read = read;
        self
    }

    /// Takes each group `writer` commits straight to the bus, and marks rows sent through it.
    pub fn with_writer(mut self, writer: Writer) -> Self {
        let (send, handed) = mpsc::unbounded_channel();
        let bus = self.bus.clone();
        let installed = writer.on_commit(move |rows: Vec<Outgoing>| {
            let seqs = rows.iter().map(|row| row.seq).collect();
            let messages: Vec<Message> = rows.into_iter().map(|row| row.message).collect();
            let handed = match bus.offer(&messages) {
                Some(settled) => Handed {
                    seqs,
                    publish: None,
                    settled: Some(settled),
                },
                None => Handed {
                    seqs,
                    publish: Some(messages),
                    settled: None,
                },
            };
            // Gone only once the relay has stopped: the scan after the next start sends them.
            let _ = send.send(handed);
        });
        if installed {
            self.handed = Arc::new(Mutex::new(Some(handed)));
        }
        self.writer = Some(writer);
        self
    }

    /// Tells the relay there is something new (after a commit), so it need not wait to poll.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Commits `txn`, which wrote events with [`enqueue`], and wakes the relay so its scan
    /// sends them now rather than at its next poll.
    pub async fn commit(&self, txn: DatabaseTransaction) -> Result<(), DbErr> {
        self.commit_with(txn, Vec::new(), true).await
    }

    /// Commits `txn`, then hands the relay what it wrote: the messages it `staged` ([`stage`])
    /// go to the bus at once ([`Relay::committed`]); when it also `enqueued` rows the relay is
    /// woken to scan for them.
    pub async fn commit_with(
        &self,
        txn: DatabaseTransaction,
        staged: Vec<Message>,
        enqueued: bool,
    ) -> Result<(), DbErr> {
        txn.commit().await?;
        self.committed(staged);
        if enqueued {
            self.poke();
        }
        Ok(())
    }

    /// Publishes what is pending now, as one batch; returns how many rows were sent. Marks
    /// the sent ones in one statement, and only the unbroken run from the oldest, so events
    /// keep their order.
    pub async fn publish_pending(&self) -> anyhow::Result<usize> {
        self.publish_pending_except(&HashSet::new()).await
    }

    /// [`Relay::publish_pending`], leaving out rows handed on already and not yet marked.
    async fn publish_pending_except(&self, handed: &HashSet<i64>) -> anyhow::Result<usize> {
        if self.fed.is_some() {
            return Ok(self.publish_pending_locked().await?.unwrap_or(0));
        }
        let (seqs, messages) = pending_rows(&self.read, handed).await?;
        let (sent, published) = self.bus.publish_batch(&messages).await;
        if sent > 0 {
            self.mark_sent(seqs[..sent].to_vec()).await?;
        }
        published?;
        Ok(sent)
    }

    /// The fed relay's scan (PostgreSQL), under a transaction-scoped advisory lock named
    /// after the service's schema: one replica of a service scans at a time, so replicas
    /// never publish each other's pending rows twice. None when another replica holds it.
    async fn publish_pending_locked(&self) -> anyhow::Result<Option<usize>> {
        use sea_orm::TransactionTrait;
        let txn = self.db.begin().await?;
        let locked = txn
            .query_one(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock(hashtext('ticketing outbox relay ' || current_schema())) AS locked",
            ))
            .await?
            .map(|row| row.try_get::<bool>("", "locked"))
            .transpose()?
            .unwrap_or(false);
        if !locked {
            return Ok(None);
        }
        let (seqs, messages) = pending_rows(&txn, &HashSet::new()).await?;
        let (sent, published) = self.bus.publish_batch(&messages).await;
        if sent > 0 {
            mark_seqs_sent(&txn, seqs[..sent].to_vec()).await?;
        }
        txn.commit().await?;
        published?;
        Ok(Some(sent))
    }

    /// Marks rows sent in one statement.
    async fn mark_sent(&self, seqs: Vec<i64>) -> anyhow::Result<()> {
        if let Some(writer) = &self.writer {
            writer.write(move |tx| tx.mark_sent(&seqs)).await?;
            return Ok(());
        }
        mark_seqs_sent(&self.db, seqs).await
    }

    /// Publishes pending rows until `shutdown`, backing off while the bus is unreachable;
    /// then flushes what is left once (what can't be sent now is sent after the next start).
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let handed = self
            .handed
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(handed) = handed {
            return self.run_handed(handed, shutdown).await;
        }
        let fed = self
            .fed_rx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        match fed {
            Some(fed) => self.run_fed(fed, shutdown).await,
            None => self.run_scanning(shutdown).await,
        }
    }

    /// The fed relay (PostgreSQL): publishes each commit's messages as they arrive, taking
    /// whatever else arrived meanwhile in the same round trip to the bus, and marks them
    /// sent in one statement. The scan runs when poked, every [`IDLE_POLL`], and at once
    /// after a failure; what it finds was written without being fed (or failed to publish).
    /// A scan racing a hand-off may send a message twice: JetStream drops the second copy
    /// by its id, and every listener is idempotent anyway.
    async fn run_fed(
        self,
        mut fed: mpsc::UnboundedReceiver<Vec<Message>>,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let mut backoff = FIRST_BACKOFF;
        let now = tokio::time::Instant::now;
        let mut scan_at = now();
        // Published, not yet marked: marked together at most [`MARK_EVERY`] later (a crash in
        // between only sends them again, and JetStream drops the copies by id).
        let mut unmarked: Vec<String> = Vec::new();
        let mut mark_at = now() + MARK_EVERY;
        loop {
            let scan = now() >= scan_at;
            if !unmarked.is_empty() && (scan || now() >= mark_at || unmarked.len() >= MARK_BATCH) {
                match self.mark_ids(&unmarked).await {
                    Ok(()) => unmarked.clear(),
                    // Kept for the next try; a scan meanwhile may send them again (dropped
                    // as copies).
                    Err(err) => {
                        tracing::warn!(error = %err, "outbox relay could not mark rows sent")
                    }
                }
                mark_at = now() + MARK_EVERY;
            }
            if scan {
                scan_at = match self.publish_pending_locked().await {
                    Ok(Some(n)) if n as u64 == BATCH => now(),
                    Ok(Some(_)) => {
                        backoff = FIRST_BACKOFF;
                        now() + IDLE_POLL
                    }
                    // Another replica is scanning; look again shortly, in case it began
                    // before our latest commit.
                    Ok(None) => now() + BUSY_RETRY,
                    Err(err) => {
                        tracing::warn!(error = %err, retry_in = ?backoff, "outbox relay could not publish");
                        let at = now() + backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        at
                    }
                };
            }
            if shutdown.is_triggered() {
                break;
            }
            let wake_at = if unmarked.is_empty() {
                scan_at
            } else {
                scan_at.min(mark_at)
            };
            tokio::select! {
                biased;
                () = shutdown.wait() => {}
                first = fed.recv() => {
                    let Some(mut messages) = first else { break };
                    while let Ok(more) = fed.try_recv() {
                        messages.extend(more);
                        if messages.len() as u64 >= BATCH {
                            break;
                        }
                    }
                    if unmarked.is_empty() {
                        mark_at = now() + MARK_EVERY;
                    }
                    let (sent, published) = self.bus.publish_batch(&messages).await;
                    unmarked.extend(messages.into_iter().take(sent).map(|m| m.id));
                    if let Err(err) = published {
                        // The rest stays pending: the next scan sends it.
                        tracing::warn!(error = %err, "outbox relay could not publish what was committed");
                        scan_at = now() + backoff;
                    }
                }
                () = self.wake.notified() => scan_at = now(),
                () = tokio::time::sleep_until(wake_at) => {}
            }
        }
        while let Ok(messages) = fed.try_recv() {
            let (sent, published) = self.bus.publish_batch(&messages).await;
            unmarked.extend(messages.into_iter().take(sent).map(|m| m.id));
            if let Err(err) = published {
                tracing::warn!(error = %err, "outbox relay could not publish on shutdown; the rest goes out after the next start");
                break;
            }
        }
        if !unmarked.is_empty() {
            if let Err(err) = self.mark_ids(&unmarked).await {
                tracing::warn!(error = %err, "outbox relay could not mark rows sent on shutdown; they are sent again after the next start");
            }
        }
        self.flush().await;
        Ok(())
    }

    /// Marks rows sent by id, in statements of at most [`BATCH`] ids.
    async fn mark_ids(&self, ids: &[String]) -> anyhow::Result<()> {
        for chunk in ids.chunks(BATCH as usize) {
            mark_where_in(&self.db, entity::Column::Id, chunk.to_vec()).await?;
        }
        Ok(())
    }

    async fn run_scanning(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let mut backoff = FIRST_BACKOFF;
        while !shutdown.is_triggered() {
            let pause = match self.publish_pending().await {
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => {
                    backoff = FIRST_BACKOFF;
                    IDLE_POLL
                }
                Err(err) => {
                    tracing::warn!(error = %err, retry_in = ?backoff, "outbox relay could not publish");
                    let pause = backoff;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    pause
                }
            };
            tokio::select! {
                () = shutdown.wait() => {}
                () = self.wake.notified() => {}
                () = tokio::time::sleep(pause) => {}
            }
        }
        self.flush().await;
        Ok(())
    }

    /// The relay beside a writer thread: publishes (or waits for the bus to settle) what the
    /// writer hands on, marks it sent in bulk, and scans the table for anything else.
    async fn run_handed(
        self,
        mut handed: mpsc::UnboundedReceiver<Handed>,
        shutdown: Shutdown,
    ) -> anyhow::Result<()> {
        let mut in_flight: HashSet<i64> = HashSet::new();
        let mut settling = FuturesUnordered::new();
        let mut settled: Vec<i64> = Vec::new();
        let mut backoff = FIRST_BACKOFF;
        let mut scan_at = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= scan_at {
                scan_at = match self.publish_pending_except(&in_flight).await {
                    Ok(n) if n as u64 == BATCH => tokio::time::Instant::now(),
                    Ok(_) => {
                        backoff = FIRST_BACKOFF;
                        tokio::time::Instant::now() + IDLE_POLL
                    }
                    Err(err) => {
                        tracing::warn!(error = %err, retry_in = ?backoff, "outbox relay could not publish");
                        let at = tokio::time::Instant::now() + backoff;
                        backoff = (backoff * 2).min(MAX_BACKOFF);
                        at
                    }
                };
            }
            if !settled.is_empty() {
                match self.mark_sent(settled.clone()).await {
                    Ok(()) => {
                        for seq in settled.drain(..) {
                            in_flight.remove(&seq);
                        }
                    }
                    // They stay in flight, so no scan sends them again; marked next time.
                    Err(err) => {
                        tracing::warn!(error = %err, "outbox relay could not mark rows sent")
                    }
                }
            }
            if shutdown.is_triggered() {
                break;
            }
            tokio::select! {
                biased;
                () = shutdown.wait() => {}
                batch = handed.recv() => match batch {
                    Some(batch) => {
                        let mut next = Some(batch);
                        // Everything handed on meanwhile, in commit order.
                        while let Some(batch) = next.take() {
                            self.take(batch, &mut in_flight, &mut settling, &mut settled).await;
                            next = handed.try_recv().ok();
                        }
                    }
                    None => return self.run_scanning(shutdown).await,
                },
                Some(seqs) = settling.next(), if !settling.is_empty() => {
                    settled.extend(seqs);
                    while let Some(Some(seqs)) = settling.next().now_or_never() {
                        settled.extend(seqs);
                    }
                }
                () = self.wake.notified() => scan_at = tokio::time::Instant::now(),
                () = tokio::time::sleep_until(scan_at) => {}
            }
        }
        // What was handed on is in the bus already; wait (boundedly) for it to settle so the
        // marks go in, then send whatever is left.
        while let Ok(batch) = handed.try_recv() {
            self.take(batch, &mut in_flight, &mut settling, &mut settled)
                .await;
        }
        while let Some(seqs) = settling.next().await {
            settled.extend(seqs);
        }
        if !settled.is_empty() {
            if let Err(err) = self.mark_sent(settled).await {
                tracing::warn!(error = %err, "outbox relay could not mark rows sent on shutdown; they are sent again after the next start");
            }
        }
        self.flush().await;
        Ok(())
    }

    /// One handed-on group: published now if the bus could not take it at once.
    async fn take(
        &self,
        batch: Handed,
        in_flight: &mut HashSet<i64>,
        settling: &mut FuturesUnordered<BoxFuture<'static, Vec<i64>>>,
        settled: &mut Vec<i64>,
    ) {
        let Handed {
            seqs,
            publish,
            settled: done,
        } = batch;
        if let Some(done) = done {
            in_flight.extend(seqs.iter().copied());
            settling.push(Box::pin(async move {
                done.await;
                seqs
            }));
            return;
        }
        let messages = publish.unwrap_or_default();
        let (sent, published) = self.bus.publish_batch(&messages).await;
        if let Err(err) = published {
            // The rest stays pending: the scan sends it once the bus is back.
            tracing::warn!(error = %err, "outbox relay could not publish what the writer handed on");
        }
        in_flight.extend(seqs[..sent].iter().copied());
        settled.extend_from_slice(&seqs[..sent]);
    }

    /// Sends what is pending, once, on the way out.
    async fn flush(&self) {
        loop {
            match self.publish_pending().await {
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = %err, "outbox relay could not flush on shutdown; the rest goes out after the next start");
                    break;
                }
            }
        }
    }

    /// The relay as a supervised task.
    pub fn task(&self, service: &str, shutdown: Shutdown) -> Task {
        // On the event thread, like the listeners: request load can't hold events back.
        let relay = self.clone();
        Task::new(format!("{service} outbox relay"), async move {
            crate::task::on_event_thread(relay.run(shutdown)).await?
        })
    }

    /// Rows not yet published (for tests and health checks).
    pub async fn pending(&self) -> Result<u64, DbErr> {
        use sea_orm::PaginatorTrait;
        entity::Entity::find()
            .filter(entity::Column::SentAt.is_null())
            .count(&self.db)
            .await
    }
}

/// A listener's batch commits through the relay of its service.
impl Committer for Relay {
    fn commit_batch(
        &self,
        txn: DatabaseTransaction,
        staged: Vec<Message>,
        enqueued: bool,
    ) -> BoxFuture<'_, Result<(), DbErr>> {
        Box::pin(self.commit_with(txn, staged, enqueued))
    }
}

/// Up to [`BATCH`] pending rows, oldest first, leaving out `handed`; their sequence numbers
/// and messages (a row with an unknown subject is logged and skipped).
async fn pending_rows(
    db: &impl ConnectionTrait,
    handed: &HashSet<i64>,
) -> Result<(Vec<i64>, Vec<Message>), DbErr> {
    let rows = entity::Entity::find()
        .filter(entity::Column::SentAt.is_null())
        .order_by_asc(entity::Column::Seq)
        .limit(BATCH)
        .all(db)
        .await?;
    let mut seqs = Vec::with_capacity(rows.len());
    let mut messages = Vec::with_capacity(rows.len());
    for row in rows {
        if handed.contains(&row.seq) {
            continue;
        }
        let Some(subject) = Subject::parse(&row.subject) else {
            tracing::error!(outbox.id = %row.id, subject = %row.subject, "outbox row has an unknown subject; skipping it");
            continue;
        };
        seqs.push(row.seq);
        messages.push(Message {
            id: row.id,
            subject,
            payload: row.payload.into_bytes(),
        });
    }
    Ok((seqs, messages))
}

/// Marks rows sent in one statement.
async fn mark_seqs_sent(db: &impl ConnectionTrait, seqs: Vec<i64>) -> anyhow::Result<()> {
    mark_where_in(db, entity::Column::Seq, seqs).await
}

/// Marks sent the rows whose `column` is one of `values` (not empty), in one statement padded
/// to a power of two by repeating the last value, so the prepared-statement cache sees a few
/// shapes of `IN (…)`, not one per batch size.
async fn mark_where_in<V>(
    db: &impl ConnectionTrait,
    column: entity::Column,
    mut values: Vec<V>,
) -> anyhow::Result<()>
where
    V: Into<sea_orm::Value> + Clone,
{
    let Some(last) = values.last().cloned() else {
        return Ok(());
    };
    values.resize(values.len().next_power_of_two(), last);
    entity::Entity::update_many()
        .col_expr(
            entity::Column::SentAt,
            sea_orm::sea_query::Expr::value(chrono::Utc::now()),
        )
        .filter(column.is_in(values))
        .exec(db)
        .await?;
    Ok(())
}
