//! Refresh sessions: the stored, rotating records behind the `refresh` cookie. One sign-in
//! (its id, `sid`, is what its access tokens carry) starts a family of them: each refresh
//! rotates the record to a new id and leaves the old id retired, and a retired id replayed
//! after a short grace ends the whole sign-in.
//!
//! [`RefreshSessions`] is what the routes call (`start`, `rotate`, `renew`, `sign_in_of`,
//! `end`); [`RefreshStore`] keeps the records, in Redis when configured, else in the
//! service's database, and is the store of the layer that loads them per request.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fred::prelude::Pool;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend};
use serde::{Deserialize, Serialize};
use tower_sessions::cookie::SameSite;
use tower_sessions::session::{Id, Record};
use tower_sessions::{session_store, Expiry, Session, SessionManagerLayer, SessionStore};
use tower_sessions_redis_store::RedisStore;
use tower_sessions_sqlx_store::{PostgresStore, SqliteStore};

use common::auth::JwtKeys;
use common::settings::Settings;
use common::wire::cookie::REFRESH_SESSION as REFRESH_SESSION_COOKIE;
use common::ApiError;

use crate::store::{self, UserRow};

// The keys inside a stored record. Their text is stored data: records written by earlier
// versions must still read, so they keep their names (`family` is the sign-in).
/// The signed-in user's id.
const USER_ID: &str = "user_id";
/// The sign-in the refresh session belongs to.
const SIGN_IN: &str = "family";
/// The one key of a retired refresh session id's record ([`Retired`]).
const RETIRED: &str = "retired";
/// The one key of an ended sign-in's record, stored under the sign-in's own id.
const ENDED: &str = "revoked";

/// The refresh sessions of the service, and what can happen to the one a request carries.
#[derive(Clone)]
pub struct RefreshSessions {
    store: RefreshStore,
    db: DatabaseConnection,
    /// To end a replayed sign-in's access tokens along with its refresh sessions.
    keys: JwtKeys,
    /// How long a refresh session lives unused (`REFRESH_SESSION_SECONDS`).
    lifetime: Duration,
    /// How long a retired id still answers (tabs refreshing at once).
    reuse_grace: Duration,
    cookie_secure: bool,
}

/// The record left under a refresh session id that a rotation retired: whose it was, its
/// sign-in, and when, so a late tab can be told from a replayed copy.
#[derive(Debug, Serialize, Deserialize)]
struct Retired {
    user_id: String,
    #[serde(rename = "family")]
    sign_in: String,
    /// When the rotation retired it (Unix milliseconds).
    at: i64,
}

impl RefreshSessions {
    /// Opens the store (`redis` when configured, else `db`, migrating its table).
    pub async fn build(
        db: &DatabaseConnection,
        redis: Option<Pool>,
        keys: JwtKeys,
        settings: &Settings,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            store: RefreshStore::build(db, redis).await?,
            db: db.clone(),
            keys,
            lifetime: settings.refresh_ttl,
            reuse_grace: settings.refresh_reuse_grace,
            cookie_secure: settings.cookie_secure,
        })
    }

    /// The layer that loads and saves the refresh session behind the `refresh` cookie.
    pub fn layer(&self) -> SessionManagerLayer<RefreshStore> {
        let lifetime =
            time::Duration::seconds(i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX));
        SessionManagerLayer::new(self.store.clone())
            .with_name(REFRESH_SESSION_COOKIE)
            .with_path("/")
            .with_http_only(true)
            .with_same_site(SameSite::Lax)
            .with_secure(self.cookie_secure)
            .with_expiry(Expiry::OnInactivity(lifetime))
    }

    /// Starts a refresh session for `user` under a new sign-in; its id (`sid`).
    pub async fn start(&self, current: &Session, user: &UserRow) -> Result<String, ApiError> {
        // A new id on every sign-in: a refresh session id planted before it is never promoted.
        current.cycle_id().await.map_err(session_error)?;
        current
            .insert(USER_ID, &user.id)
            .await
            .map_err(session_error)?;
        let sign_in = Id::default().to_string();
        current
            .insert(SIGN_IN, &sign_in)
            .await
            .map_err(session_error)?;
        Ok(sign_in)
    }

    /// `POST /refresh`: the user and sign-in of the live refresh session, which gets a new
    /// id (the old one kept as retired). None when there is none, and then the layer clears
    /// the `refresh` cookie.
    pub async fn rotate(&self, current: &Session) -> Result<Option<(UserRow, String)>, ApiError> {
        self.live(current, true).await
    }

    /// `currentuser`: the user and sign-in of the live refresh session, read but not rotated.
    /// That answer may go to someone else's server-side render and never reach the browser,
    /// whose cookie must keep working.
    pub async fn renew(&self, current: &Session) -> Result<Option<(UserRow, String)>, ApiError> {
        self.live(current, false).await
    }

    /// The sign-in of the refresh session behind this request, if it has one.
    pub async fn sign_in_of(&self, current: &Session) -> Result<Option<String>, ApiError> {
        current.get(SIGN_IN).await.map_err(session_error)
    }

    /// Ends the refresh session behind this request; the layer clears its cookie.
    pub async fn end(&self, current: &Session) -> Result<(), ApiError> {
        current.flush().await.map_err(session_error)
    }

    /// The user of the refresh session behind the `refresh` cookie and its sign-in, or None
    /// when there is none (never started, expired, its sign-in ended, its user gone or
    /// banned), and
    /// then it is flushed so the layer clears that cookie.
    ///
    /// With `rotate` a live refresh session gets a new id and its old one is kept as retired.
    /// A retired id presented again within the grace window answers as its refresh session,
    /// but is not rotated again; after it, it is a copied cookie being replayed, and the whole
    /// sign-in (every refresh session since, and its access tokens) is ended.
    async fn live(
        &self,
        current: &Session,
        rotate: bool,
    ) -> Result<Option<(UserRow, String)>, ApiError> {
        if let Some(retired) = current
            .get::<Retired>(RETIRED)
            .await
            .map_err(session_error)?
        {
            return self.retired(current, retired).await;
        }
        let user_id: Option<String> = current.get(USER_ID).await.map_err(session_error)?;
        let sign_in: Option<String> = current.get(SIGN_IN).await.map_err(session_error)?;
        let user = match (&user_id, &sign_in) {
            (Some(_), Some(sign_in)) if self.ended(sign_in).await? => None,
            (Some(id), _) => store::find_by_id(&self.db, id).await?,
            (None, _) => None,
        };
        // A banned user's refresh sessions end at their next use.
        let user = user.filter(|user| user.banned_at.is_none());
        let Some(user) = user else {
            self.end(current).await?;
            return Ok(None);
        };
        let sign_in = match sign_in {
            Some(sign_in) => sign_in,
            // Refresh sessions from before sign-ins were kept start one when they rotate.
            None if rotate => {
                let sign_in = Id::default().to_string();
                current
                    .insert(SIGN_IN, &sign_in)
                    .await
                    .map_err(session_error)?;
                sign_in
            }
            None => String::new(),
        };
        if rotate {
            self.retire(current, &user, &sign_in).await?;
        }
        Ok(Some((user, sign_in)))
    }

    /// A retired id presented again: its user within the grace window (unless its sign-in
    /// ended meanwhile); after it, the sign-in ends. The record is flushed when it answers
    /// no one.
    async fn retired(
        &self,
        current: &Session,
        retired: Retired,
    ) -> Result<Option<(UserRow, String)>, ApiError> {
        let age = chrono::Utc::now().timestamp_millis() - retired.at;
        let within_grace = u128::try_from(age).is_ok_and(|age| age <= self.reuse_grace.as_millis());
        if !within_grace {
            tracing::warn!(
                user_id = %retired.user_id,
                "a retired refresh session id was presented again: ending its sign-in"
            );
            self.end_sign_in(&retired.sign_in).await?;
        }
        let user = if within_grace && !self.ended(&retired.sign_in).await? {
            store::find_by_id(&self.db, &retired.user_id)
                .await?
                .filter(|user| user.banned_at.is_none())
        } else {
            None
        };
        if user.is_none() {
            self.end(current).await?;
        }
        Ok(user.map(|user| (user, retired.sign_in)))
    }

    /// Moves the refresh session to a new id and leaves a [`Retired`] record under the old one.
    async fn retire(
        &self,
        current: &Session,
        user: &UserRow,
        sign_in: &str,
    ) -> Result<(), ApiError> {
        let old = current.id();
        current.cycle_id().await.map_err(session_error)?;
        let Some(old) = old else {
            return Ok(());
        };
        let retired = Retired {
            user_id: user.id.clone(),
            sign_in: sign_in.to_owned(),
            at: chrono::Utc::now().timestamp_millis(),
        };
        let data = [(
            RETIRED.to_owned(),
            serde_json::to_value(&retired).map_err(|e| ApiError::Internal(e.into()))?,
        )];
        // As long as the old refresh session could have lived: a copy of its cookie is
        // caught for as long as it could be used.
        self.store
            .put(Record {
                id: old,
                data: data.into_iter().collect(),
                expiry_date: self.lifetime_from_now(),
            })
            .await
            .map_err(store_error)
    }

    /// Ends a sign-in: its access tokens, and its refresh sessions through a record under
    /// the sign-in's own id, kept as long as any of them could live.
    async fn end_sign_in(&self, sign_in: &str) -> Result<(), ApiError> {
        let Ok(id) = sign_in.parse::<Id>() else {
            return Ok(());
        };
        self.keys.revoke_sign_in(sign_in).await?;
        let record = Record {
            id,
            data: [(ENDED.to_owned(), serde_json::Value::Bool(true))]
                .into_iter()
                .collect(),
            expiry_date: self.lifetime_from_now(),
        };
        self.store.put(record).await.map_err(store_error)
    }

    async fn ended(&self, sign_in: &str) -> Result<bool, ApiError> {
        let Ok(id) = sign_in.parse::<Id>() else {
            return Ok(false);
        };
        let record = self.store.load(&id).await.map_err(store_error)?;
        Ok(record.is_some_and(|r| r.data.contains_key(ENDED)))
    }

    fn lifetime_from_now(&self) -> time::OffsetDateTime {
        let ttl = i64::try_from(self.lifetime.as_secs()).unwrap_or(i64::MAX / 4);
        time::OffsetDateTime::now_utc().saturating_add(time::Duration::seconds(ttl))
    }
}

fn session_error(err: tower_sessions::session::Error) -> ApiError {
    ApiError::Internal(err.into())
}

fn store_error(err: session_store::Error) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("refresh session store: {err}"))
}

/// Where refresh sessions are kept: whichever store the configuration chose, behind one type.
#[derive(Clone, Debug)]
pub struct RefreshStore(Arc<dyn SessionStore>);

impl RefreshStore {
    async fn build(db: &DatabaseConnection, redis: Option<Pool>) -> anyhow::Result<Self> {
        if let Some(pool) = redis {
            return Ok(Self(Arc::new(RedisStore::new(pool))));
        }
        Ok(match db.get_database_backend() {
            DbBackend::Postgres => {
                // Its table lives in the auth schema like the rest of the service's data.
                let store = PostgresStore::new(db.get_postgres_connection_pool().clone())
                    .with_schema_name("auth")
                    .map_err(|e| anyhow::anyhow!("refresh session store schema: {e}"))?;
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
    async fn put(&self, mut record: Record) -> session_store::Result<()> {
        let id = record.id;
        self.0.delete(&id).await?;
        self.0.create(&mut record).await?;
        if record.id != id {
            // Someone wrote the same id in between; theirs stands, ours is a stray.
            self.0.delete(&record.id).await?;
        }
        Ok(())
    }
}

#[async_trait]
impl SessionStore for RefreshStore {
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
