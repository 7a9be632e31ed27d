//! Throttles repeated failed sign-ins per email: in memory, or in Redis so replicas agree.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fred::prelude::{KeysInterface, Pool};

/// Failed sign-ins allowed per email within one window.
pub const MAX_FAILURES: u32 = 10;
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Clone)]
pub enum Throttle {
    Memory(Arc<Mutex<HashMap<String, (Instant, u32)>>>),
    Redis(Pool),
}

impl Throttle {
    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    pub fn redis(pool: Pool) -> Self {
        Self::Redis(pool)
    }

    fn redis_key(email_key: &str) -> String {
        format!("auth:signin-failures:{email_key}")
    }

    /// True when this email has used up its failed attempts for the current window.
    pub async fn is_blocked(&self, email_key: &str) -> anyhow::Result<bool> {
        Ok(match self {
            Self::Memory(map) => {
                let map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                map.get(email_key)
                    .is_some_and(|(start, n)| start.elapsed() < WINDOW && *n >= MAX_FAILURES)
            }
            Self::Redis(pool) => {
                let n: Option<u32> = pool.get(Self::redis_key(email_key)).await?;
                n.unwrap_or(0) >= MAX_FAILURES
            }
        })
    }

    pub async fn record_failure(&self, email_key: &str) -> anyhow::Result<()> {
        match self {
            Self::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                map.retain(|_, (start, _)| start.elapsed() < WINDOW);
                let entry = map
                    .entry(email_key.to_owned())
                    .or_insert((Instant::now(), 0));
                entry.1 += 1;
            }
            Self::Redis(pool) => {
                let key = Self::redis_key(email_key);
                let n: i64 = pool.incr(&key).await?;
                if n == 1 {
                    let _: () = pool.expire(&key, WINDOW.as_secs() as i64, None).await?;
                }
            }
        }
        Ok(())
    }

    pub async fn clear(&self, email_key: &str) -> anyhow::Result<()> {
        match self {
            Self::Memory(map) => {
                map.lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .remove(email_key);
            }
            Self::Redis(pool) => {
                let _: i64 = pool.del(Self::redis_key(email_key)).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_throttle_blocks_after_the_limit_and_clears_on_success() {
        let t = Throttle::memory();
        for _ in 0..MAX_FAILURES - 1 {
            t.record_failure("a@b.co").await.expect("record");
        }
        assert!(!t.is_blocked("a@b.co").await.expect("check"));
        t.record_failure("a@b.co").await.expect("record");
        assert!(t.is_blocked("a@b.co").await.expect("check"));
        assert!(!t.is_blocked("other@b.co").await.expect("check"));
        t.clear("a@b.co").await.expect("clear");
        assert!(!t.is_blocked("a@b.co").await.expect("check"));
    }
}
