//! The expiry queue in Redis: a sorted set of order ids scored by the epoch-ms instant each
//! becomes claimable. Claiming is one Lua script (atomic on the server) that takes the due
//! members and re-scores them to the end of the lease, so two replicas never take the same
//! one and a claimer that dies only delays it by a lease.
use async_trait::async_trait;
use fred::prelude::{LuaInterface, Pool, SortedSetsInterface};
use fred::types::{SetOptions, Value};

use super::{Claim, ExpiryQueue, Millis};

pub struct RedisQueue {
    pool: Pool,
    key: String,
    lease: Millis,
}

impl RedisQueue {
    pub fn new(pool: Pool, key: String, lease: Millis) -> Self {
        Self { pool, key, lease }
    }
}

/// KEYS[1] the set; ARGV now, max, lease end. Returns the claimed members.
const CLAIM: &str = r"
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  redis.call('ZADD', KEYS[1], 'XX', ARGV[3], member)
end
return due
";

/// KEYS[1] the set; ARGV pairs of member and lease end. Removes each member still scored at
/// its lease end (a different score means the lease ran out and someone else holds it).
const COMPLETE: &str = r"
local removed = 0
for i = 1, #ARGV, 2 do
  local score = redis.call('ZSCORE', KEYS[1], ARGV[i])
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    removed = removed + redis.call('ZREM', KEYS[1], ARGV[i])
  end
end
return removed
";

/// KEYS[1] the set; ARGV pairs of member and score. Adds each member not queued yet (NX);
/// returns 1 or 0 per pair.
const SCHEDULE: &str = r"
local added = {}
for i = 1, #ARGV, 2 do
  added[#added + 1] = redis.call('ZADD', KEYS[1], 'NX', ARGV[i + 1], ARGV[i])
end
return added
";

#[async_trait]
impl ExpiryQueue for RedisQueue {
    async fn schedule_all(&self, entries: &[(String, Millis)]) -> anyhow::Result<Vec<bool>> {
        if entries.is_empty() {
            return Ok(Vec::new());
        }
        let mut args = Vec::with_capacity(entries.len() * 2);
        for (order_id, due) in entries {
            args.push(Value::from(order_id.as_str()));
            args.push(Value::from(*due));
        }
        let added: Vec<i64> = self
            .pool
            .eval(SCHEDULE, vec![self.key.as_str()], args)
            .await?;
        anyhow::ensure!(
            added.len() == entries.len(),
            "scheduling {} expiries answered {}",
            entries.len(),
            added.len()
        );
        Ok(added.into_iter().map(|n| n == 1).collect())
    }

    async fn schedule(&self, order_id: &str, due: Millis) -> anyhow::Result<bool> {
        // NX: an entry already queued (or under a claim) keeps its score.
        let added: i64 = self
            .pool
            .zadd(
                self.key.as_str(),
                Some(SetOptions::NX),
                None,
                false,
                false,
                (due as f64, order_id),
            )
            .await?;
        Ok(added == 1)
    }

    async fn claim_due(&self, now: Millis, max: usize) -> anyhow::Result<Vec<Claim>> {
        let lease_until = now.saturating_add(self.lease);
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let members: Vec<String> = self
            .pool
            .eval(
                CLAIM,
                vec![self.key.as_str()],
                vec![Value::from(now), Value::from(max), Value::from(lease_until)],
            )
            .await?;
        Ok(members
            .into_iter()
            .map(|order_id| Claim {
                order_id,
                lease_until,
            })
            .collect())
    }

    async fn complete(&self, claims: &[Claim]) -> anyhow::Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let args: Vec<Value> = claims
            .iter()
            .flat_map(|c| [Value::from(c.order_id.as_str()), Value::from(c.lease_until)])
            .collect();
        let _removed: i64 = self
            .pool
            .eval(COMPLETE, vec![self.key.as_str()], args)
            .await?;
        Ok(())
    }

    async fn next_due(&self) -> anyhow::Result<Option<Millis>> {
        let first: Vec<(String, f64)> = self
            .pool
            .zrange(self.key.as_str(), 0, 0, None, false, None, true)
            .await?;
        Ok(first.first().map(|(_, score)| *score as Millis))
    }
}
