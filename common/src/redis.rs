//! Redis connection shared by the stores that use it when `REDIS_URL` is set.
use anyhow::Context;
use std::time::Duration;

use fred::prelude::{Builder, ClientLike, Config, Pool, ReconnectPolicy};

/// A pool for `url`, connected (so a wrong URL or a down server fails start-up).
pub async fn connect(url: &str) -> anyhow::Result<Pool> {
    let pool = pool(url)?;
    pool.init()
        .await
        .with_context(|| format!("connecting to Redis at {}", crate::db::redact(url)))?;
    Ok(pool)
}

/// A pool for `url`, not yet connected.
pub fn pool(url: &str) -> anyhow::Result<Pool> {
    let config = Config::from_url(url).context("REDIS_URL is not a valid redis:// URL")?;
    Builder::from_config(config)
        // Reconnect for ever after a Redis restart, and fail a command while it is away rather
        // than queueing it, so a request answers 503 instead of hanging.
        .set_policy(ReconnectPolicy::new_exponential(0, 100, 2_000, 2))
        .with_performance_config(|config| {
            config.default_command_timeout = Duration::from_secs(2);
        })
        .build_pool(4)
        .context("building the Redis pool")
}

/// A connected pool when `REDIS_URL` is set; None means the embedded stores.
pub async fn connect_configured(
    settings: &crate::settings::Settings,
) -> anyhow::Result<Option<Pool>> {
    match &settings.redis_url {
        Some(url) => Ok(Some(connect(url).await?)),
        None => Ok(None),
    }
}
