//! `expiry`: the expiration service in-process, fed N `order:created` (default 1,000) each
//! expiring a few seconds after it is published; prints how late each `expiration:complete`
//! was seen on the bus after its `expiresAt` — embedded (SQLite, in-process bus, SQL queue)
//! and, when DATABASE_URL / NATS_URL / REDIS_URL are all set, PostgreSQL + JetStream + Redis.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use common::bus::{decode, encode, EventBus, InProcessBus, JetStreamBus};
use common::events::{
    timestamp, ExpirationComplete, OrderCreated, OrderStatus, OrderTicket, Subject,
};
use common::money::Money;
use common::service::{Shutdown, Supervisor};
use common::settings::Settings;
use common::testing::TestDatabase;
use futures::StreamExt;

use crate::stats::{ms, quantile};

/// How long after its publication each order expires.
const WINDOW: Duration = Duration::from_secs(5);
/// Publications in flight at once.
const CONCURRENCY: usize = 32;

pub async fn main(args: &[String]) -> anyhow::Result<()> {
    let orders: usize = match args.iter().position(|a| a == "--orders") {
        Some(i) => args
            .get(i + 1)
            .context("--orders needs a number")?
            .parse()
            .context("--orders needs a number")?,
        None => 1_000,
    };
    if orders == 0 {
        bail!("--orders must be at least 1");
    }
    let mut rows = vec![run("embedded (SQLite, in-process bus, SQL queue)", orders, None).await?];
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
    match (env("DATABASE_URL"), env("NATS_URL"), env("REDIS_URL")) {
        (Some(db), Some(nats), Some(redis)) if db.starts_with("postgres") => {
            let external = External { nats, redis };
            rows.push(
                run(
                    "PostgreSQL + JetStream + Redis queue",
                    orders,
                    Some(external),
                )
                .await?,
            );
        }
        _ => println!(
            "(set DATABASE_URL=postgres://…, NATS_URL=nats://… and REDIS_URL=redis://… to \
             benchmark PostgreSQL + JetStream + Redis too)"
        ),
    }
    println!(
        "\n| backend | orders | window | late p50 | late p99 | late max | early |\n|---|---|---|---|---|---|---|"
    );
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

struct External {
    nats: String,
    redis: String,
}

async fn run(label: &str, orders: usize, external: Option<External>) -> anyhow::Result<String> {
    println!(
        "\n== {label}: {orders} orders, each expiring {}s after it is published",
        WINDOW.as_secs()
    );
    let data = tempfile::tempdir()?;
    let mut settings = Settings::for_tests(data.path().to_path_buf());
    let mut database = None;
    let bus: EventBus = match &external {
        None => InProcessBus::new(),
        Some(external) => {
            let db = TestDatabase::new().await?;
            settings.database_url = Some(db.url.clone());
            settings.redis_url = Some(external.redis.clone());
            database = Some(db);
            let prefix = format!("bench{}", uuid::Uuid::new_v4().simple());
            JetStreamBus::connect(&external.nats, &prefix).await?
        }
    };

    let seen = Arc::new(Mutex::new(HashMap::<String, DateTime<Utc>>::new()));
    let mut sub = bus
        .subscribe("bench-probe", &[Subject::ExpirationComplete])
        .await?;
    let record = seen.clone();
    let probe = tokio::spawn(async move {
        let mut duplicates = 0usize;
        while let Some(delivery) = sub.next().await {
            let at = Utc::now();
            if let Ok(event) = decode::<ExpirationComplete>(&delivery.message) {
                let mut seen = record.lock().unwrap_or_else(|e| e.into_inner());
                if seen.insert(event.order_id, at).is_some() {
                    duplicates += 1;
                }
            }
            let _ = delivery.settle.ack().await;
        }
        duplicates
    });

    let shutdown = Shutdown::new();
    let mut options = expiration::Options::default();
    // A key of its own, so a run never meets another's entries.
    options.queue.redis_key = Some(format!(
        "bench:expiration:{}",
        uuid::Uuid::new_v4().simple()
    ));
    let running =
        expiration::start_with(settings.clone(), bus.clone(), shutdown.clone(), options).await?;
    let mut supervisor = Supervisor::new(shutdown.clone());
    supervisor.add(running.tasks);
    let service = tokio::spawn(supervisor.run());

    let due: Arc<Mutex<HashMap<String, DateTime<Utc>>>> = Arc::default();
    let publishing = std::time::Instant::now();
    futures::stream::iter(0..orders)
        .map(|_| {
            let (bus, due) = (bus.clone(), due.clone());
            async move { publish_order(&bus, &due).await }
        })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<anyhow::Result<()>>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<()>>()?;
    println!(
        "published {orders} order:created in {:.0} ms",
        ms(publishing.elapsed())
    );

    let deadline = tokio::time::Instant::now() + WINDOW + Duration::from_secs(60);
    loop {
        let count = seen.lock().unwrap_or_else(|e| e.into_inner()).len();
        if count >= orders {
            break;
        }
        if tokio::time::Instant::now() >= deadline {
            bail!("only {count} of {orders} expiries fired within a minute of their expiresAt");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Room for a duplicate to show up before counting.
    tokio::time::sleep(Duration::from_secs(1)).await;
    shutdown.trigger();
    service.await??;

    let due = due.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let seen = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let mut late = Vec::with_capacity(orders);
    let mut early = 0usize;
    for (id, at) in &seen {
        let expires = due
            .get(id)
            .context("an expiry for an order never published")?;
        match (*at - *expires).to_std() {
            Ok(d) => late.push(d),
            Err(_) => {
                early += 1;
                late.push(Duration::ZERO);
            }
        }
    }
    late.sort();
    probe.abort();
    let duplicates = probe.await.unwrap_or(0);
    let (p50, p99, max) = (
        quantile(&late, 0.50),
        quantile(&late, 0.99),
        late.last().copied().unwrap_or_default(),
    );
    println!(
        "late after expiresAt: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; {early} early, {duplicates} duplicates",
        ms(p50),
        ms(p99),
        ms(max)
    );
    drop(database);
    Ok(format!(
        "| {label} | {orders} | {}s | {:.0} ms | {:.0} ms | {:.0} ms | {early} |",
        WINDOW.as_secs(),
        ms(p50),
        ms(p99),
        ms(max)
    ))
}

/// Publishes one `order:created` expiring `WINDOW` from now, noting its `expiresAt`.
async fn publish_order(
    bus: &EventBus,
    due: &Mutex<HashMap<String, DateTime<Utc>>>,
) -> anyhow::Result<()> {
    let id = uuid::Uuid::new_v4().to_string();
    let expires = Utc::now() + WINDOW;
    // Truncated to what the wire carries, so lateness is measured against the same instant.
    let expires = timestamp::parse(&timestamp::format(&expires))?;
    due.lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id.clone(), expires);
    let event = OrderCreated {
        id: id.clone(),
        version: 0,
        status: OrderStatus::Created,
        user_id: "bench".to_owned(),
        expires_at: expires,
        ticket: OrderTicket {
            id: format!("ticket-{id}"),
            price: Money::from_cents(1_000),
        },
    };
    bus.publish(&encode(uuid::Uuid::new_v4().to_string(), &event)?)
        .await
}
