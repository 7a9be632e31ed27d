//! The expiration service: consumes `order:created` and publishes `expiration:complete` at
//! the order's `expiresAt`. It has no HTTP API.
//!
//! - [`queue`]: the expiry queue seam and its two implementations, Redis (a sorted set
//!   claimed by a Lua script) when `REDIS_URL` is set, and the service's own table otherwise;
//! - [`listeners`]: the `order:created` step that queues an expiry;
//! - [`scheduler`]: the task that claims due expiries and fires them through the outbox;
//! - [`store`]: the record of fired expiries that makes firing exactly-once;
//! - [`migration`]: the schema (outbox, `expiries`, `fired_expiries`).
#![forbid(unsafe_code)]

use std::sync::Arc;

use common::bus::{EventBus, ListenerOptions, Listeners, Txn};
use common::events::OrderCreated;
use common::outbox::Relay;
use common::service::{Running, Service, Shutdown, Task};
use common::settings::Settings;
use common::sqlite::Writer;
use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;

pub mod listeners;
pub mod migration;
pub mod queue;
pub mod scheduler;
pub mod store;

use queue::{ExpiryQueue, QueueOptions};
use scheduler::{SchedulerOptions, Wake};

pub const SERVICE: Service = Service {
    name: "expiration",
    start: |s, b, d| Box::pin(start(s, b, d)),
};

/// The durable subscription every replica shares.
pub const GROUP: &str = "expiration-service";

/// What the service needs besides [`Settings`]; the defaults are production's.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub queue: QueueOptions,
    pub scheduler: SchedulerOptions,
    pub listener: ListenerOptions,
}

#[derive(Clone)]
pub struct ExpirationState {
    pub db: DatabaseConnection,
    /// The SQLite writer thread when the queue is the service's SQLite table: the
    /// `order:created` step queues expiries through it.
    pub writer: Option<Writer>,
    pub bus: EventBus,
    pub queue: Arc<dyn ExpiryQueue>,
    pub relay: Relay,
    pub wake: Arc<Wake>,
    /// Batches the scheduler is publishing itself (see [`scheduler`]).
    pub in_flight: Arc<Semaphore>,
}

/// Batches published ahead of the relay at once.
const IN_FLIGHT: usize = 8;

/// The service's database, migrated.
pub async fn connect_db(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    connect(settings).await.map(|db| db.write)
}

/// The service's database handles, migrated.
pub async fn connect(settings: &Settings) -> anyhow::Result<common::db::ServiceDb> {
    common::db::connect_service::<migration::Migrator>(settings, "expiration").await
}

pub async fn start(
    settings: Settings,
    bus: EventBus,
    shutdown: Shutdown,
) -> anyhow::Result<Running> {
    start_with(settings, bus, shutdown, Options::default()).await
}

/// Connects the store and the queue and subscribes; the returned tasks (outbox relay,
/// listener, scheduler) are the caller's to spawn.
pub async fn start_with(
    settings: Settings,
    bus: EventBus,
    shutdown: Shutdown,
    options: Options,
) -> anyhow::Result<Running> {
    let common::db::ServiceDb {
        write: db, writer, ..
    } = connect(&settings).await?;
    let (queue, queue_ready) = queue::open_checked(&settings, &db, &options.queue).await?;
    // The writer thread takes the listener's steps only while the queue is its table.
    let writer = writer.filter(|_| settings.redis_url.is_none());
    let relay = Relay::new(db.clone(), bus.clone());
    let state = ExpirationState {
        db: db.clone(),
        writer: writer.clone(),
        bus: bus.clone(),
        queue,
        relay: relay.clone(),
        wake: Arc::new(Wake::default()),
        in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
    };
    let listener = Listeners::new(GROUP, state.clone()).with_options(options.listener);
    let listener = match writer {
        Some(writer) => {
            let wake = state.wake.clone();
            listener
                .writing(writer, move || wake.committed())
                .on_written(listeners::schedule_expiry_written)
        }
        None => listener.batching(db.clone(), || {}).on_set(
            |state: ExpirationState, txn: Txn, events: Vec<OrderCreated>| async move {
                listeners::schedule_expiries(&state, &txn, events).await
            },
        ),
    };
    let listener = listener.subscribe(&bus, shutdown.clone()).await?;
    let scheduler = Task::new(
        "expiration scheduler",
        scheduler::run(state, options.scheduler, shutdown.clone()),
    );
    let mut running = Running::with_outbox(
        "expiration",
        axum::Router::new(),
        db,
        &relay,
        listener,
        bus,
        shutdown,
    );
    running.tasks.push(scheduler);
    running.ready.extend(queue_ready);
    Ok(running)
}
