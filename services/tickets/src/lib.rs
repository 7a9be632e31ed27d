//! The tickets service: sellers list and edit tickets; reservations arrive as order events.
#![forbid(unsafe_code)]

mod domain;
pub mod listeners;
pub mod listing;
pub mod migration;
mod routes;
pub mod store;
pub mod written;

use axum::extract::FromRef;
use common::auth::JwtKeys;
use common::bus::EventBus;
use common::outbox::Relay;
use common::service::{Running, Service, Shutdown};
use common::settings::Settings;
use common::sqlite::Writer;
use sea_orm::DatabaseConnection;

pub use routes::router;

#[derive(Clone, FromRef)]
pub struct TicketsState {
    pub db: DatabaseConnection,
    /// Plain reads (on SQLite a pool of readers beside the one writer).
    #[from_ref(skip)]
    pub read: DatabaseConnection,
    /// The SQLite writer thread, on SQLite: the reservation steps go through it.
    #[from_ref(skip)]
    pub writer: Option<Writer>,
    /// Listeners' connections, apart from the requests' (see `common::db::ServiceDb`).
    #[from_ref(skip)]
    pub background: DatabaseConnection,
    pub keys: JwtKeys,
    pub relay: Relay,
}

impl TicketsState {
    /// Connects to (and migrates) the service's database; events leave through `bus`.
    pub async fn build(settings: &Settings, bus: common::bus::EventBus) -> anyhow::Result<Self> {
        let service_db =
            common::db::connect_service::<migration::Migrator>(settings, "tickets").await?;
        let relay = Relay::for_service(&service_db, bus);
        let common::db::ServiceDb {
            write: db,
            read,
            writer,
            background,
        } = service_db;
        Ok(Self {
            db,
            read,
            writer,
            background,
            keys: JwtKeys::connect(settings).await?,
            relay,
        })
    }
}

pub const SERVICE: Service = Service {
    name: "tickets",
    start: |settings, bus, shutdown| Box::pin(start(settings, bus, shutdown)),
};

/// The service's entry: its API, its listener (subscribed now) and its outbox relay.
pub async fn start(
    settings: Settings,
    bus: EventBus,
    shutdown: Shutdown,
) -> anyhow::Result<Running> {
    let state = TicketsState::build(&settings, bus.clone()).await?;
    start_with(state, bus, shutdown).await
}

/// [`start`] on a state built already (tests keep it to drive listener steps).
pub async fn start_with(
    state: TicketsState,
    bus: EventBus,
    shutdown: Shutdown,
) -> anyhow::Result<Running> {
    let listener = listeners::subscribe(state.clone(), &bus, shutdown.clone()).await?;
    let mut running = Running::with_outbox(
        "tickets",
        router(state.clone()),
        state.db,
        &state.relay,
        listener,
        bus,
        shutdown,
    );
    // Every authenticated route asks the token deny-list.
    running.ready.extend(state.keys.readiness("tickets"));
    Ok(running)
}
