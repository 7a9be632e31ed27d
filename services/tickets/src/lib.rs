//! The tickets service: events (what, where, when) and the tickets sellers list and edit for
//! them; reservations arrive as order events.
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
use common::outbox::Relay;
use common::service::{Builder, Running, Service};
use common::sqlite::Writer;
use sea_orm::DatabaseConnection;

pub use routes::router;

pub const SERVICE: Service = Service::new("tickets", |mut service| {
    Box::pin(async move {
        let state = TicketsState::build(&mut service).await?;
        start_on(state, service).await
    })
})
.with_api(|| routes::api().into_openapi());

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
    /// Connects to (and migrates) the service's database, with its outbox relay.
    pub async fn build(service: &mut Builder) -> anyhow::Result<Self> {
        let db = service.database::<migration::Migrator>().await?;
        let relay = service.relay(&db);
        let keys = service.keys().await?;
        let common::db::ServiceDb {
            write: db,
            read,
            writer,
            background,
        } = db;
        Ok(Self {
            db,
            read,
            writer,
            background,
            keys,
            relay,
        })
    }
}

/// The service on a state built already (tests keep it to drive listener steps): its API
/// and its listeners.
pub async fn start_on(state: TicketsState, mut service: Builder) -> anyhow::Result<Running> {
    service.listen(listeners::listeners(state.clone()));
    service.finish(router(state)).await
}
