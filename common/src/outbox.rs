//! The transactional outbox: a service writes its event in the same transaction as the state
//! change; the relay publishes pending rows in order and marks them sent. A crash between the
//! two only delays an event (it is published again, and the message id makes that harmless).
use std::sync::Arc;
use std::time::Duration;

use sea_orm::sea_query::{Alias, ColumnDef, Index, Table};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, QuerySelect, Set,
};
use sea_orm_migration::{MigrationName, MigrationTrait, SchemaManager};
use tokio::sync::Notify;

use crate::bus::{EventBus, Message};
use crate::events::{Event, Subject};
use crate::service::{Shutdown, Task};

pub mod entity {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = true)]
        pub seq: i64,
        #[sea_orm(unique)]
        pub id: String,
        pub subject: String,
        pub payload: String,
        pub created_at: ChronoDateTimeUtc,
        pub sent_at: Option<ChronoDateTimeUtc>,
    }

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
    let id = uuid::Uuid::new_v4().to_string();
    let payload = serde_json::to_string(event)
        .map_err(|e| DbErr::Custom(format!("serializing an event: {e}")))?;
    entity::ActiveModel {
        id: Set(id.clone()),
        subject: Set(E::SUBJECT.as_str().to_owned()),
        payload: Set(payload),
        created_at: Set(chrono::Utc::now()),
        sent_at: Set(None),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(id)
}

/// Publishes a service's pending outbox rows, oldest first.
#[derive(Clone)]
pub struct Relay {
    db: DatabaseConnection,
    /// Where pending rows are read (a reader, so the read never waits for the writer).
    read: DatabaseConnection,
    bus: EventBus,
    wake: Arc<Notify>,
}

// Large: under load each cycle waits its turn for a connection (on SQLite the one writer),
// so a small batch caps the relay below the rate orders arrive at.
const BATCH: u64 = 1000;
const IDLE_POLL: Duration = Duration::from_millis(500);
// Short enough that events flow again within seconds of the bus coming back.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

impl Relay {
    pub fn new(db: DatabaseConnection, bus: EventBus) -> Self {
        Self {
            read: db.clone(),
            db,
            bus,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Reads pending rows through `read` (rows are marked sent through the main handle).
    pub fn reading_from(mut self, read: DatabaseConnection) -> Self {
        self.read = read;
        self
    }

    /// Tells the relay there is something new (after a commit), so it need not wait to poll.
    pub fn poke(&self) {
        self.wake.notify_one();
    }

    /// Publishes what is pending now, as one batch; returns how many rows were sent. Marks
    /// the sent ones in one statement, and only the unbroken run from the oldest, so events
    /// keep their order.
    pub async fn publish_pending(&self) -> anyhow::Result<usize> {
        let rows = entity::Entity::find()
            .filter(entity::Column::SentAt.is_null())
            .order_by_asc(entity::Column::Seq)
            .limit(BATCH)
            .all(&self.read)
            .await?;
        let mut seqs = Vec::with_capacity(rows.len());
        let mut messages = Vec::with_capacity(rows.len());
        for row in rows {
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
        let (sent, published) = self.bus.publish_batch(&messages).await;
        if sent > 0 {
            // Padded to a power of two by repeating the last one, so the prepared-statement
            // cache sees a few shapes of `IN (…)`, not one per batch size.
            let mut marked = seqs[..sent].to_vec();
            marked.resize(sent.next_power_of_two(), seqs[sent - 1]);
            entity::Entity::update_many()
                .col_expr(
                    entity::Column::SentAt,
                    sea_orm::sea_query::Expr::value(chrono::Utc::now()),
                )
                .filter(entity::Column::Seq.is_in(marked))
                .exec(&self.db)
                .await?;
        }
        published?;
        Ok(sent)
    }

    /// Publishes pending rows until `shutdown`, backing off while the bus is unreachable;
    /// then flushes what is left once (what can't be sent now is sent after the next start).
    pub async fn run(self, shutdown: Shutdown) -> anyhow::Result<()> {
        let mut backoff = Duration::from_millis(250);
        while !shutdown.is_triggered() {
            let pause = match self.publish_pending().await {
                Ok(n) if n as u64 == BATCH => continue,
                Ok(_) => {
                    backoff = Duration::from_millis(250);
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
        Ok(())
    }

    /// The relay as a supervised task.
    pub fn task(&self, service: &str, shutdown: Shutdown) -> Task {
        Task::new(
            format!("{service} outbox relay"),
            self.clone().run(shutdown),
        )
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
