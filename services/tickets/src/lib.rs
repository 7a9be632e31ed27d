//! The tickets service: sellers list and edit tickets; reservations arrive as order events.
#![forbid(unsafe_code)]

mod domain;
pub mod listeners;
pub mod listing;
pub mod migration;
mod routes;
pub mod store;

use axum::extract::FromRef;
use common::auth::JwtKeys;
use common::outbox::Relay;
use common::settings::Settings;
use sea_orm::DatabaseConnection;

pub use routes::router;

#[derive(Clone, FromRef)]
pub struct TicketsState {
    pub db: DatabaseConnection,
    pub keys: JwtKeys,
    pub relay: Relay,
}

impl TicketsState {
    /// Connects to (and migrates) the service's database; events leave through `bus`.
    pub async fn build(settings: &Settings, bus: common::bus::EventBus) -> anyhow::Result<Self> {
        let db = common::db::connect_and_migrate::<migration::Migrator>(
            &settings.database_url_for("tickets")?,
        )
        .await?;
        let relay = Relay::new(db.clone(), bus);
        Ok(Self {
            db,
            keys: JwtKeys::from_settings(settings),
            relay,
        })
    }
}
