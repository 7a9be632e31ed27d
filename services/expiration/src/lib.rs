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

use common::bus::{EventBus, ListenerOptions};
use common::outbox::Relay;
use common::service::{Builder, Running, Service};
use common::settings::Settings;
use common::sqlite::Writer;
use common::task::Task;
use sea_orm::DatabaseConnection;
use tokio::sync::Semaphore;

pub mod listeners;
pub mod migration;
pub mod queue;
pub mod scheduler;
pub mod store;

use queue::{ExpiryQueue, QueueOptions};
use scheduler::{SchedulerOptions, Wake};

pub const SERVICE: Service = Service::new("expiration", |mut service| {
    Box::pin(async move {
        let state = ExpirationState::build(&mut service, Options::default()).await?;
        start_on(state, service).await
    })
});

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
    pub options: Options,
}

/// Batches published ahead of the relay at once.
const IN_FLIGHT: usize = 8;

/// The service's database, migrated (tests open the queue on a connection of their own).
pub async fn connect_db(settings: &Settings) -> anyhow::Result<DatabaseConnection> {
    let db = common::db::connect_service::<migration::Migrator>(settings, SERVICE.name).await?;
    Ok(db.write)
}

impl ExpirationState {
    /// Connects the store and the queue (which must answer for the service to be ready).
    pub async fn build(service: &mut Builder, options: Options) -> anyhow::Result<Self> {
        let common::db::ServiceDb {
            write: db, writer, ..
        } = service.database::<migration::Migrator>().await?;
        let (queue, queue_ready) =
            queue::open_checked(service.settings(), &db, &options.queue).await?;
        service.ready(queue_ready);
        // The writer thread takes the listener's steps only while the queue is its table.
        let writer = writer.filter(|_| service.settings().redis_url.is_none());
        let bus = service.bus().clone();
        // The scheduler publishes what it fires itself; the relay is the backstop, scanning
        // the table on the write handle.
        let relay = service.adopt_relay(Relay::new(db.clone(), bus.clone()));
        Ok(Self {
            db,
            writer,
            bus,
            queue,
            relay,
            wake: Arc::new(Wake::default()),
            in_flight: Arc::new(Semaphore::new(IN_FLIGHT)),
            options,
        })
    }
}

/// The service on a state built already: its listener and the scheduler that fires due
/// expiries. It has no API.
pub async fn start_on(state: ExpirationState, mut service: Builder) -> anyhow::Result<Running> {
    service.listen(listeners::listeners(state.clone()));
    let name = format!("{} scheduler", service.name());
    let options = state.options.scheduler.clone();
    service.task(|shutdown| Task::new(name, scheduler::run(state, options, shutdown)));
    service.finish(axum::Router::new()).await
}
