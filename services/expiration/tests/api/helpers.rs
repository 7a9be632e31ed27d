//! The harness: the expiration service on whichever backends the environment selects
//! (SQLite + in-process bus + SQL queue by default; PostgreSQL, JetStream and the Redis queue
//! when DATABASE_URL / NATS_URL / REDIS_URL are set), a probe that records every
//! `expiration:complete` it sees, and a way to publish `order:created`.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::bus::{decode, encode, EventBus, ListenerOptions};
use common::events::{ExpirationComplete, OrderCreated, OrderStatus, OrderTicket, Subject};
use common::money::Money;
use common::service::Shutdown;
use common::testing::{Served, TestEnv};
use expiration::queue::{self, ExpiryQueue, QueueOptions};
use expiration::Options;

/// One test's world: its settings (database, Redis key) and bus, shared by every instance of
/// the service it starts, as replicas and restarts share them.
pub struct Harness {
    pub env: TestEnv,
    pub bus: EventBus,
    pub options: Options,
}

impl Harness {
    pub async fn new() -> Self {
        Self::with_bus(common::testing::test_bus().await).await
    }

    pub async fn with_bus(bus: EventBus) -> Self {
        let env = TestEnv::new().await;
        if let Some(url) = &env.settings.redis_url {
            drop_stale_keys(url).await;
        }
        let options = Options {
            // Tests share one Redis server and run in parallel: each has a key of its own.
            queue: QueueOptions {
                redis_key: Some(format!(
                    "{KEY_PREFIX}{}:{}",
                    Utc::now().timestamp(),
                    uuid::Uuid::new_v4().simple()
                )),
                ..QueueOptions::default()
            },
            listener: ListenerOptions {
                max_attempts: 3,
                base_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(100),
            },
            ..Options::default()
        };
        Self { env, bus, options }
    }

    /// Starts an instance of the service, tasks supervised as the binary runs them.
    pub async fn start(&self) -> Served {
        let shutdown = Shutdown::new();
        let running = expiration::start_with(
            self.env.settings.clone(),
            self.bus.clone(),
            shutdown.clone(),
            self.options.clone(),
        )
        .await
        .expect("the expiration service starts");
        Served::start(running, shutdown).await
    }

    /// A handle on the queue the service uses, through a connection of its own.
    pub async fn queue(&self) -> Arc<dyn ExpiryQueue> {
        self.queue_with(self.options.queue.clone()).await
    }

    pub async fn queue_with(&self, options: QueueOptions) -> Arc<dyn ExpiryQueue> {
        let db = expiration::connect_db(&self.env.settings)
            .await
            .expect("the expiration database");
        queue::open(&self.env.settings, &db, &options)
            .await
            .expect("the expiry queue opens")
    }

    /// Subscribes a probe now, so it sees everything the service publishes from here on.
    pub async fn probe(&self) -> Probe {
        Probe::subscribe(&self.bus).await
    }

    /// Publishes `order:created` for `order_id` expiring at `expires_at` (a fresh message id
    /// each time, so a second call is a true duplicate, not one the bus drops).
    pub async fn order_created(&self, order_id: &str, expires_at: DateTime<Utc>) {
        let message = encode(
            uuid::Uuid::new_v4().to_string(),
            &created(order_id, expires_at),
        )
        .expect("encodes");
        self.bus.publish(&message).await.expect("the bus takes it");
    }

    /// [`Harness::order_created`] with `expires_at` as given, timestamp or not.
    pub async fn order_created_raw(&self, order_id: &str, expires_at: &str) {
        let mut payload = serde_json::to_value(created(order_id, Utc::now())).expect("serializes");
        payload["expiresAt"] = expires_at.into();
        let message = common::bus::Message {
            id: uuid::Uuid::new_v4().to_string(),
            subject: Subject::OrderCreated,
            payload: serde_json::to_vec(&payload).expect("serializes"),
        };
        self.bus.publish(&message).await.expect("the bus takes it");
    }
}

/// An `order:created` for `order_id` expiring at `expires_at`.
fn created(order_id: &str, expires_at: DateTime<Utc>) -> OrderCreated {
    OrderCreated {
        id: order_id.to_owned(),
        version: 0,
        status: OrderStatus::Created,
        user_id: "buyer".to_owned(),
        expires_at,
        ticket: OrderTicket {
            id: format!("ticket-of-{order_id}"),
            price: Money::from_cents(1000),
        },
    }
}

const KEY_PREFIX: &str = "test:expiration:";

/// Test keys are left behind by the tests that made them; the next run deletes those more
/// than 15 minutes old (the key carries its creation time), so they don't pile up.
async fn drop_stale_keys(url: &str) {
    use fred::prelude::LuaInterface;
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    const SWEEP: &str = r"
local dropped = 0
for _, key in ipairs(redis.call('KEYS', ARGV[1] .. '*')) do
  local made = tonumber(string.match(key, '^' .. ARGV[1] .. '(%d+):'))
  if made and made < tonumber(ARGV[2]) then
    dropped = dropped + redis.call('DEL', key)
  end
end
return dropped
";
    let Ok(pool) = common::redis::connect(url).await else {
        return;
    };
    let cutoff = Utc::now().timestamp() - 15 * 60;
    let _: Result<i64, _> = pool
        .eval(
            SWEEP,
            Vec::<String>::new(),
            vec![KEY_PREFIX.to_owned(), cutoff.to_string()],
        )
        .await;
}

pub fn order_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

pub fn in_ms(ms: i64) -> DateTime<Utc> {
    Utc::now() + chrono::Duration::milliseconds(ms)
}

/// Every `expiration:complete` seen on the bus, with when it was seen.
#[derive(Clone)]
pub struct Probe {
    seen: Arc<Mutex<Vec<Sighting>>>,
}

/// An order id and when its `expiration:complete` was seen.
pub type Sighting = (String, DateTime<Utc>);

impl Probe {
    async fn subscribe(bus: &EventBus) -> Self {
        let mut sub = bus
            .subscribe("probe", &[Subject::ExpirationComplete])
            .await
            .expect("the probe subscribes");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        tokio::spawn(async move {
            while let Some(delivery) = sub.next().await {
                let at = Utc::now();
                if let Ok(event) = decode::<ExpirationComplete>(&delivery.message) {
                    record
                        .lock()
                        .expect("probe lock")
                        .push((event.order_id, at));
                }
                let _ = delivery.settle.ack().await;
            }
        });
        Self { seen }
    }

    pub fn seen(&self) -> Vec<Sighting> {
        self.seen.lock().expect("probe lock").clone()
    }

    /// When each sighting of `order_id` happened.
    pub fn sightings(&self, order_id: &str) -> Vec<DateTime<Utc>> {
        self.seen()
            .into_iter()
            .filter(|(id, _)| id == order_id)
            .map(|(_, at)| at)
            .collect()
    }

    /// Waits (up to `limit`) for `order_id`'s first sighting.
    pub async fn first(&self, order_id: &str, limit: Duration) -> Option<DateTime<Utc>> {
        common::testing::eventually(limit, || {
            let first = self.sightings(order_id).first().copied();
            async move { first }
        })
        .await
    }
}

/// Asserts `seen` is at or after `due`, and less than a second later.
pub fn assert_on_time(order_id: &str, due: DateTime<Utc>, seen: DateTime<Utc>) {
    let late = seen - due;
    assert!(
        late >= chrono::Duration::zero(),
        "{order_id} expired {}ms early",
        -late.num_milliseconds()
    );
    assert!(
        late < chrono::Duration::seconds(1),
        "{order_id} expired {}ms late",
        late.num_milliseconds()
    );
}
