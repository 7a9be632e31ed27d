//! The auth service: users, sign-up/in/out and access tokens (`routes`), refresh sessions
//! (rotated on every refresh, a replayed one ending its sign-in: `sessions`) and the sign-in
//! throttle (`throttle`), and the admins' bans (`routes::ban`).
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
use common::outbox::Relay;
use common::service::{Builder, Running, Service};
use common::settings::Settings;
use sea_orm::DatabaseConnection;

pub use routes::router;
pub use sessions::RefreshSessions;
pub use throttle::Throttle;

/// It publishes `user:banned` / `user:unbanned` (its outbox relay is its one task) and, like
/// every service, records them (`common::bans`).
pub const SERVICE: Service = Service::new("auth", |mut service| {
    Box::pin(async move {
        let state = AuthState::build(&mut service).await?;
        start_on(state, service).await
    })
})
.with_api(|| routes::api().into_openapi());

/// Everything the auth handlers need.
#[derive(Clone, FromRef)]
pub struct AuthState {
    pub db: DatabaseConnection,
    /// Publishes `user:banned` / `user:unbanned` from the outbox.
    pub relay: Relay,
    pub keys: JwtKeys,
    pub refresh_sessions: RefreshSessions,
    pub throttle: Throttle,
    pub settings: Arc<Settings>,
    /// The pool behind the refresh sessions and the throttle when `REDIS_URL` is set.
    pub redis: Option<fred::prelude::Pool>,
}

impl AuthState {
    /// Connects to the service's database (migrating it) and to Redis when configured; the
    /// refresh sessions, the throttle and the token deny-list share that one pool.
    pub async fn build(service: &mut Builder) -> anyhow::Result<Self> {
        let service_db = service.database::<migration::Migrator>().await?;
        let relay = service.relay(&service_db);
        let db = service_db.write;
        let settings = service.settings().clone();
        let redis = common::redis::connect_configured(&settings).await?;
        let keys = service.keys_on(redis.clone());
        let refresh_sessions =
            RefreshSessions::build(&db, redis.clone(), keys.clone(), &settings).await?;
        let throttle = match redis.clone() {
            Some(pool) => Throttle::redis(pool, &settings.redis_prefix),
            None => Throttle::memory(),
        };
        Ok(Self {
            db,
            relay,
            keys,
            refresh_sessions,
            throttle,
            settings: Arc::new(settings),
            redis,
        })
    }
}

/// The service on a state built already: its API alone.
pub async fn start_on(state: AuthState, service: Builder) -> anyhow::Result<Running> {
    service.finish(router(state)).await
}
