//! The auth service: users, sign-up/in/out and access tokens (`routes`), refresh sessions
//! (rotated on every refresh, a replayed one ending its sign-in: `sessions`) and the sign-in
//! throttle (`throttle`).
#![forbid(unsafe_code)]

mod domain;
pub mod migration;
mod password;
mod routes;
mod sessions;
mod store;
mod throttle;

use std::sync::Arc;

use axum::extract::FromRef;
use common::auth::JwtKeys;
use common::bus::EventBus;
use common::service::{Readiness, Running, Service, Shutdown};
use common::settings::Settings;
use sea_orm::DatabaseConnection;

pub use routes::router;
pub use sessions::RefreshSessions;
pub use throttle::Throttle;

/// Everything the auth handlers need.
#[derive(Clone, FromRef)]
pub struct AuthState {
    pub db: DatabaseConnection,
    pub keys: JwtKeys,
    pub refresh_sessions: RefreshSessions,
    pub throttle: Throttle,
    pub settings: Arc<Settings>,
    /// The pool behind the refresh sessions and the throttle when `REDIS_URL` is set.
    pub redis: Option<fred::prelude::Pool>,
}

impl AuthState {
    /// Connects to the service's database (migrating it) and to Redis when configured.
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let db = common::db::connect_service::<migration::Migrator>(settings, "auth")
            .await?
            .write;
        let redis = common::redis::connect_configured(settings).await?;
        let keys = JwtKeys::with_deny_list(settings, redis.clone());
        let refresh_sessions =
            RefreshSessions::build(&db, redis.clone(), keys.clone(), settings).await?;
        let throttle = match redis.clone() {
            Some(pool) => Throttle::redis(pool, &settings.redis_prefix),
            None => Throttle::memory(),
        };
        Ok(Self {
            db,
            keys,
            refresh_sessions,
            throttle,
            settings: Arc::new(settings.clone()),
            redis,
        })
    }
}

pub const SERVICE: Service = Service {
    name: "auth",
    start: |settings, bus, shutdown| Box::pin(start(settings, bus, shutdown)),
};

/// The service's entry: it consumes and publishes no events and runs no background task.
pub async fn start(
    settings: Settings,
    _bus: EventBus,
    _shutdown: Shutdown,
) -> anyhow::Result<Running> {
    let state = AuthState::build(&settings).await?;
    let mut ready = vec![Readiness::database("auth", state.db.clone())];
    ready.extend(
        state
            .redis
            .clone()
            .map(|pool| Readiness::redis("auth", pool)),
    );
    Ok(Running {
        ready,
        router: router(state),
        tasks: Vec::new(),
    })
}
