//! Throttles sign-in attempts per email (and per client address): in memory, or in Redis so
//! replicas agree. An attempt is counted *before* its password is checked, in one atomic
//! step (a locked map, or one Lua script in Redis), so parallel guesses can't slip between
//! a check and a count: of any number at once, at most the limit reach the password check.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fred::prelude::{LuaInterface, Pool};

/// Failed sign-ins allowed per email within one window.
pub const MAX_FAILURES: u32 = 10;
/// Failed sign-ins allowed per client address within one window (several people may share
/// one address, so it is looser than the per-email limit).
pub const MAX_FAILURES_PER_ADDRESS: u32 = 50;
pub const WINDOW: Duration = Duration::from_secs(60);

/// What a throttle counts attempts against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Key {
    /// A normalised email.
    Email(String),
    /// The client's address, as [`common::http::ClientAddress`] tells it.
    Address(String),
}

impl Key {
    fn limit(&self) -> u32 {
        match self {
            Self::Email(_) => MAX_FAILURES,
            Self::Address(_) => MAX_FAILURES_PER_ADDRESS,
        }
    }

    fn name(&self) -> String {
        match self {
            Self::Email(email) => format!("email:{email}"),
            Self::Address(address) => format!("address:{address}"),
        }
    }
}

/// Whether an attempt may go on to the password check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Allowed,
    /// Over a limit: try again after this long (the rest of the window).
    Blocked(Duration),
}

#[derive(Clone)]
pub enum Throttle {
    Memory(Arc<Mutex<HashMap<Key, (Instant, u32)>>>),
    Redis { pool: Pool, prefix: String },
}

/// Counts one attempt against every key and returns, per key, `count, milliseconds left in
/// its window`; the first attempt of a window (or a key somehow left without expiry) starts
/// the window. One script for all the keys: one round trip per sign-in.
const COUNT_ATTEMPT: &str = r"
local out = {}
for i, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  local ttl = redis.call('PTTL', key)
  if n == 1 or ttl < 0 then
    redis.call('PEXPIRE', key, ARGV[1])
    ttl = tonumber(ARGV[1])
  end
  out[2 * i - 1] = n
  out[2 * i] = ttl
end
return out
";

/// Takes back one counted attempt (a sign-in that turned out right), never below zero.
const UNCOUNT_ATTEMPT: &str = r"
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0
";

impl Throttle {
    pub fn memory() -> Self {
        Self::Memory(Arc::default())
    }

    /// `prefix` is the deployment's `REDIS_PREFIX`.
    pub fn redis(pool: Pool, prefix: &str) -> Self {
        Self::Redis {
            pool,
            prefix: prefix.to_owned(),
        }
    }

    fn redis_key(prefix: &str, key: &Key) -> String {
        format!("{prefix}:auth:signin-attempts:{}", key.name())
    }

    /// Counts an attempt against every key; blocked when any of them is over its limit.
    /// (An attempt that is blocked still counts: hammering a blocked key doesn't shorten
    /// its window, and the count can't be raced down.)
    pub async fn admit(&self, keys: &[Key]) -> anyhow::Result<Admission> {
        let mut wait = None::<Duration>;
        for (key, (count, left)) in keys.iter().zip(self.count(keys).await?) {
            if count > key.limit() {
                wait = Some(wait.map_or(left, |w| w.max(left)));
            }
        }
        Ok(wait.map_or(Admission::Allowed, Admission::Blocked))
    }

    /// Counts an attempt against each key: its count and what is left of its window.
    async fn count(&self, keys: &[Key]) -> anyhow::Result<Vec<(u32, Duration)>> {
        match self {
            Self::Memory(map) => {
                let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                map.retain(|_, (start, _)| start.elapsed() < WINDOW);
                Ok(keys
                    .iter()
                    .map(|key| {
                        let entry = map.entry(key.clone()).or_insert((Instant::now(), 0));
                        entry.1 = entry.1.saturating_add(1);
                        (entry.1, WINDOW.saturating_sub(entry.0.elapsed()))
                    })
                    .collect())
            }
            Self::Redis { pool, prefix } => {
                if keys.is_empty() {
                    return Ok(Vec::new());
                }
                let window_ms = i64::try_from(WINDOW.as_millis()).unwrap_or(i64::MAX);
                let names: Vec<String> = keys
                    .iter()
                    .map(|key| Self::redis_key(prefix, key))
                    .collect();
                let reply: Vec<i64> = pool.eval(COUNT_ATTEMPT, names, vec![window_ms]).await?;
                if reply.len() != 2 * keys.len() {
                    anyhow::bail!("the throttle script answered {reply:?}");
                }
                Ok(reply
                    .chunks_exact(2)
                    .map(|pair| {
                        (
                            u32::try_from(pair[0]).unwrap_or(u32::MAX),
                            Duration::from_millis(u64::try_from(pair[1]).unwrap_or(0)),
                        )
                    })
                    .collect())
            }
        }
    }

    /// A right password: the email's failures are forgiven, and the attempt is taken back
    /// from the other keys (only failures should use up an address's allowance).
    pub async fn succeeded(&self, keys: &[Key]) -> anyhow::Result<()> {
        for key in keys {
            match (self, key) {
                (Self::Memory(map), Key::Email(_)) => {
                    map.lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .remove(key);
                }
                (Self::Memory(map), _) => {
                    let mut map = map.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    if let Some(entry) = map.get_mut(key) {
                        entry.1 = entry.1.saturating_sub(1);
                    }
                }
                (Self::Redis { pool, prefix }, Key::Email(_)) => {
                    let _: i64 =
                        fred::prelude::KeysInterface::del(pool, Self::redis_key(prefix, key))
                            .await?;
                }
                (Self::Redis { pool, prefix }, _) => {
                    let _: i64 = pool
                        .eval(
                            UNCOUNT_ATTEMPT,
                            vec![Self::redis_key(prefix, key)],
                            Vec::<i64>::new(),
                        )
                        .await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_memory_throttle_blocks_after_the_limit_and_forgives_on_success() {
        let t = Throttle::memory();
        let keys = [Key::Email("a@b.co".into())];
        for _ in 0..MAX_FAILURES {
            assert_eq!(t.admit(&keys).await.expect("admit"), Admission::Allowed);
        }
        let Admission::Blocked(wait) = t.admit(&keys).await.expect("admit") else {
            panic!("the attempt over the limit is blocked");
        };
        assert!(wait > Duration::ZERO && wait <= WINDOW, "{wait:?}");
        let other = [Key::Email("other@b.co".into())];
        assert_eq!(t.admit(&other).await.expect("admit"), Admission::Allowed);
        t.succeeded(&keys).await.expect("forgive");
        assert_eq!(t.admit(&keys).await.expect("admit"), Admission::Allowed);
    }
}
