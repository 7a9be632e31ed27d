//! The expiry queue seam: pending expiries keyed by order, claimed with a lease once due.
//! Redis (a sorted set) when `REDIS_URL` is set, the service's own table otherwise.
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use common::service::Readiness;
use common::settings::Settings;
use sea_orm::DatabaseConnection;

mod redis;
pub mod sql;

pub use self::redis::RedisQueue;
pub use self::sql::SqlQueue;

/// Milliseconds since the Unix epoch: the queue's clock, on both backends.
pub type Millis = i64;

/// Now, in queue time.
pub fn now_ms() -> Millis {
    Utc::now().timestamp_millis()
}

/// `at` in queue time, rounded up so an expiry never fires before its instant.
pub fn to_millis(at: DateTime<Utc>) -> Millis {
    let ms = at.timestamp_millis();
    if at.timestamp_subsec_nanos().is_multiple_of(1_000_000) {
        ms
    } else {
        ms + 1
    }
}

/// One due expiry held by this replica until `lease_until`, then visible to claimers again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub order_id: String,
    /// When the lease runs out; also what `complete` checks the claim is still ours by.
    pub lease_until: Millis,
}

#[async_trait]
pub trait ExpiryQueue: Send + Sync + 'static {
    /// Adds the expiry of `order_id` at `due`; false (and nothing changes) when it is
    /// already queued, so a redelivered `order:created` leaves one entry.
    async fn schedule(&self, order_id: &str, due: Millis) -> anyhow::Result<bool>;

    /// [`ExpiryQueue::schedule`] for many entries (one round trip where the queue can); for
    /// each, whether it was added.
    async fn schedule_all(&self, entries: &[(String, Millis)]) -> anyhow::Result<Vec<bool>> {
        let mut added = Vec::with_capacity(entries.len());
        for (order_id, due) in entries {
            added.push(self.schedule(order_id, *due).await?);
        }
        Ok(added)
    }

    /// Atomically takes up to `max` entries visible at `now` (due, and not under another
    /// claimer's lease), hiding them from every claimer for the queue's lease.
    async fn claim_due(&self, now: Millis, max: usize) -> anyhow::Result<Vec<Claim>>;

    /// Removes claimed entries, each only if its claim has not since passed to someone else.
    async fn complete(&self, claims: &[Claim]) -> anyhow::Result<()>;

    /// The earliest instant an entry becomes claimable, if any is queued.
    async fn next_due(&self) -> anyhow::Result<Option<Millis>>;
}

/// The Redis key of the sorted set, under the deployment's `REDIS_PREFIX`.
pub fn redis_key(settings: &Settings) -> String {
    format!("{}:expiration:due", settings.redis_prefix)
}

/// How a queue is opened: its Redis key (default [`redis_key`]) and lease.
#[derive(Debug, Clone)]
pub struct QueueOptions {
    pub redis_key: Option<String>,
    pub lease: Duration,
}

impl Default for QueueOptions {
    fn default() -> Self {
        Self {
            redis_key: None,
            lease: Duration::from_secs(30),
        }
    }
}

/// Redis when `settings.redis_url` is set, else the SQL table in `db`.
pub async fn open(
    settings: &Settings,
    db: &DatabaseConnection,
    options: &QueueOptions,
) -> anyhow::Result<Arc<dyn ExpiryQueue>> {
    Ok(open_checked(settings, db, options).await?.0)
}

/// Like [`open`], with the readiness check of the Redis behind the queue, if any (the SQL
/// queue's database is checked with the service's).
pub async fn open_checked(
    settings: &Settings,
    db: &DatabaseConnection,
    options: &QueueOptions,
) -> anyhow::Result<(Arc<dyn ExpiryQueue>, Option<Readiness>)> {
    let lease = Millis::try_from(options.lease.as_millis()).unwrap_or(Millis::MAX);
    match &settings.redis_url {
        Some(url) => {
            let pool = common::redis::connect(url).await?;
            let key = options
                .redis_key
                .clone()
                .unwrap_or_else(|| redis_key(settings));
            tracing::info!(key = %key, "expiry queue: Redis");
            let ready = Readiness::redis("expiration", pool.clone());
            Ok((Arc::new(RedisQueue::new(pool, key, lease)), Some(ready)))
        }
        None => {
            tracing::info!("expiry queue: SQL");
            Ok((Arc::new(SqlQueue::new(db.clone(), lease)), None))
        }
    }
}
