//! Refresh sessions: tower-sessions over Redis when configured, else the service's database.
use std::sync::Arc;

use async_trait::async_trait;
use fred::prelude::Pool;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::{session_store, Expiry, SessionManagerLayer, SessionStore};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use common::wire::cookie::REFRESH_SESSION as REFRESH_SESSION_COOKIE;

/// Whichever store the configuration chose, behind one type.
#[derive(Clone, Debug)]
pub struct SessionBackend(Arc<dyn SessionStore>);

impl SessionBackend {
    pub async fn build(db: &DatabaseConnection, redis: Option<Pool>) -> anyhow::Result<Self> {
        if let Some(pool) = redis {
            return Ok(Self(Arc::new(RedisStore::new(pool))));
        }
        Ok(match db.get_database_backend() {
            DbBackend::Postgres => {
                // Its table lives in the auth schema like the rest of the service's data.
                let store = PostgresStore::new(db.get_postgres_connection_pool().clone())
                    .with_schema_name("auth")
                    .map_err(|e| anyhow::anyhow!("session store schema: {e}"))?;
                store.migrate().await?;
                Self(Arc::new(store))
            }
            _ => {
                let store = SqliteStore::new(db.get_sqlite_connection_pool().clone());
                store.migrate().await?;
                Self(Arc::new(store))
            }
        })
    }

    /// Writes `record` under its own id whether or not one is there (the stores' `save`
    /// only updates on Redis, and `create` picks another id when taken).
    pub async fn put(&self, mut record: Record) -> session_store::Result<()> {
        let id = record.id;
        self.0.delete(&id).await?;
        self.0.create(&mut record).await?;
        if record.id != id {
            // Someone wrote the same id in between; theirs stands, ours is a stray.
            self.0.delete(&record.id).await?;
        }
        Ok(())
    }

    /// The layer that loads and saves the session behind the refresh cookie.
    pub fn layer(&self, secure: bool, lifetime: std::time::Duration) -> SessionManagerLayer<Self> {
        let lifetime =
            time::Duration::seconds(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
        SessionManagerLayer::new(self.clone())
            .with_name(REFRESH_SESSION_COOKIE)
            .with_path("/")
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(secure)
            .with_expiry(Expiry::OnInactivity(lifetime))
    }
}

#[async_trait]
impl SessionStore for SessionBackend {
    async fn create(&self, record: &mut Record) -> session_store::Result<()> {
        self.0.create(record).await
    }

    async fn save(&self, record: &Record) -> session_store::Result<()> {
        self.0.save(record).await
    }

    async fn load(&self, id: &Id) -> session_store::Result<Option<Record>> {
        self.0.load(id).await
    }

    async fn delete(&self, id: &Id) -> session_store::Result<()> {
        self.0.delete(id).await
    }
}
