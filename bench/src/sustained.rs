//! `reserve --connections N --seconds S`: N closed-loop clients each reserving distinct
//! tickets for S seconds — orders/s, p50/p99, and the event lag: how long after an order's
//! 201 (its commit) the tickets service's database holds the reservation, read straight from
//! that database so the figure isn't the HTTP queue's — beside `pgbench -b simple-update` at
//! the same concurrency on the same PostgreSQL.
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use sea_orm::{ConnectionTrait, Statement};
use serde_json::json;

use crate::api::{order_probe, post, sign_up};
use crate::stats::{ms, quantile};
use crate::system::{Backend, System};

/// Ticket stock per second of load; more than the system can reserve.
const STOCK_PER_SECOND: usize = 3000;
/// One order in this many has its event lag measured.
const LAG_SAMPLE: usize = 25;

pub async fn main(binary: &Path, connections: usize, seconds: u64) -> anyhow::Result<()> {
    let mut rows = vec![
        run(
            "embedded (SQLite, in-process bus)",
            binary,
            Backend::Embedded,
            connections,
            seconds,
        )
        .await?,
    ];
    let mut pgbench_tps = None;
    match (std::env::var("DATABASE_URL"), std::env::var("NATS_URL")) {
        (Ok(db), Ok(nats)) if db.starts_with("postgres") => {
            rows.push(
                run(
                    "PostgreSQL + JetStream",
                    binary,
                    Backend::External { nats },
                    connections,
                    seconds,
                )
                .await?,
            );
            pgbench_tps = Some(pgbench(connections, seconds).await?);
        }
        _ => println!("(set DATABASE_URL=postgres://… and NATS_URL=nats://… for PostgreSQL + JetStream and pgbench)"),
    }
    println!(
        "\n| backend | connections | orders/s | p50 | p99 | event lag p50 | event lag p99 | pgbench tps | ratio |\n|---|---|---|---|---|---|---|---|---|"
    );
    for row in rows {
        let (tps, ratio) = match (row.postgres, pgbench_tps) {
            (true, Some(tps)) => (format!("{tps:.0}"), format!("{:.2}", row.rate / tps)),
            _ => ("—".into(), "—".into()),
        };
        println!(
            "| {} | {connections} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {tps} | {ratio} |",
            row.label,
            row.rate,
            ms(row.p50),
            ms(row.p99),
            ms(row.lag50),
            ms(row.lag99)
        );
    }
    Ok(())
}

struct Row {
    label: &'static str,
    postgres: bool,
    rate: f64,
    p50: Duration,
    p99: Duration,
    lag50: Duration,
    lag99: Duration,
}

async fn run(
    label: &'static str,
    binary: &Path,
    backend: Backend,
    connections: usize,
    seconds: u64,
) -> anyhow::Result<Row> {
    let postgres = matches!(backend, Backend::External { .. });
    println!("\n== {label}: {connections} connections for {seconds} s, distinct tickets");
    let system = System::start(binary, backend, &[]).await?;
    let base = system.base.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(connections * 2)
        .build()?;

    let stock = STOCK_PER_SECOND * seconds as usize;
    let seller = sign_up(&client, &base, "seller").await?;
    let listed = Instant::now();
    let tickets = Arc::new(list_tickets(&client, &base, &seller, stock).await?);
    println!(
        "listed {stock} tickets in {:.1} s",
        listed.elapsed().as_secs_f64()
    );
    let prober = sign_up(&client, &base, "probe").await?;
    order_probe(&client, &base, &prober, &seller, Duration::from_secs(120)).await?;
    let mut buyers = Vec::with_capacity(connections);
    for i in 0..connections {
        buyers.push(sign_up(&client, &base, &format!("buyer{i}")).await?);
    }

    let next = Arc::new(AtomicUsize::new(0));
    let (lag_tx, mut lag_rx) = tokio::sync::mpsc::unbounded_channel::<(String, String, Instant)>();
    let (url, table) = system.table("tickets", "tickets");
    let tickets_db = common::db::connect(&url).await?;
    // Polls each sampled ticket's row until it holds the order.
    let lags = tokio::spawn(async move {
        let mut lags = Vec::new();
        let mut pending = Vec::new();
        while let Some(sample) = lag_rx.recv().await {
            let (db, table) = (tickets_db.clone(), table.clone());
            pending.push(tokio::spawn(async move {
                let (ticket, order, committed) = sample;
                let deadline = committed + Duration::from_secs(30);
                let read = Statement::from_sql_and_values(
                    db.get_database_backend(),
                    format!("SELECT order_id FROM {table} WHERE id = $1"),
                    [ticket.into()],
                );
                while Instant::now() < deadline {
                    let row = db.query_one(read.clone()).await.ok()??;
                    let holder: Option<String> = row.try_get("", "order_id").ok()?;
                    if holder.as_deref() == Some(order.as_str()) {
                        return Some(committed.elapsed());
                    }
                    tokio::time::sleep(Duration::from_micros(500)).await;
                }
                None
            }));
        }
        for task in pending {
            if let Ok(Some(lag)) = task.await {
                lags.push(lag);
            }
        }
        lags
    });

    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);
    let mut workers = Vec::with_capacity(connections);
    for buyer in buyers {
        let (client, base, tickets, next, lag_tx) = (
            client.clone(),
            base.clone(),
            tickets.clone(),
            next.clone(),
            lag_tx.clone(),
        );
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < until {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(ticket) = tickets.get(i) else { break };
                let begun = Instant::now();
                let (status, body) = post(
                    &client,
                    &base,
                    "/api/orders",
                    &buyer,
                    json!({ "ticketId": ticket }),
                )
                .await?;
                if status != 201 {
                    bail!("an order failed with status {status}: {body}");
                }
                latencies.push(begun.elapsed());
                if i % LAG_SAMPLE == 0 {
                    let order = body["id"].as_str().unwrap_or_default().to_owned();
                    let _ = lag_tx.send((ticket.clone(), order, Instant::now()));
                }
            }
            anyhow::Ok(latencies)
        }));
    }
    drop(lag_tx);
    let mut latencies = Vec::new();
    for worker in workers {
        latencies.extend(worker.await??);
    }
    let wall = started.elapsed();
    let mut lags = lags.await?;
    drop(system);
    if next.load(Ordering::Relaxed) >= tickets.len() {
        println!(
            "(ran out of tickets before {seconds} s: the figure is over {:.1} s)",
            wall.as_secs_f64()
        );
    }
    latencies.sort();
    lags.sort();
    let row = Row {
        label,
        postgres,
        rate: latencies.len() as f64 / wall.as_secs_f64(),
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
        lag50: quantile(&lags, 0.50),
        lag99: quantile(&lags, 0.99),
    };
    println!(
        "{} orders in {:.1} s: {:.0} orders/s, p50 {:.1} ms, p99 {:.1} ms; event lag ({} samples) p50 {:.1} ms, p99 {:.1} ms",
        latencies.len(),
        wall.as_secs_f64(),
        row.rate,
        ms(row.p50),
        ms(row.p99),
        lags.len(),
        ms(row.lag50),
        ms(row.lag99)
    );
    Ok(row)
}

/// Lists `count` tickets, 32 at a time; their ids in listing order.
async fn list_tickets(
    client: &reqwest::Client,
    base: &str,
    seller: &str,
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (client, base, seller, next) = (
            client.clone(),
            base.to_owned(),
            seller.to_owned(),
            next.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let (status, body) = post(
                    &client,
                    &base,
                    "/api/tickets",
                    &seller,
                    json!({ "title": format!("Seat {i}"), "price": 25 }),
                )
                .await?;
                if status != 201 {
                    bail!("listing a ticket failed with status {status}");
                }
                ids.push(body["id"].as_str().context("a ticket id")?.to_owned());
            }
            anyhow::Ok(ids)
        }));
    }
    let mut ids = Vec::with_capacity(count);
    for task in tasks {
        ids.extend(task.await??);
    }
    Ok(ids)
}

/// `pgbench -b simple-update` with `clients` for `seconds` on a scratch database of the same
/// PostgreSQL; its tps.
async fn pgbench(clients: usize, seconds: u64) -> anyhow::Result<f64> {
    println!("\n== pgbench -b simple-update: {clients} clients for {seconds} s");
    let database = common::testing::TestDatabase::new().await?;
    let run = |args: Vec<String>| {
        let url = database.url.clone();
        async move {
            let output = tokio::process::Command::new("pgbench")
                .args(&args)
                .arg(&url)
                .output()
                .await
                .context("running pgbench (apt-get install postgresql-client)")?;
            if !output.status.success() {
                bail!(
                    "pgbench failed: {}",
                    String::from_utf8_lossy(&output.stderr)
                );
            }
            anyhow::Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        }
    };
    run(vec!["-i".into(), "-q".into()]).await?;
    let out = run(vec![
        "-b".into(),
        "simple-update".into(),
        "-n".into(),
        "-c".into(),
        clients.to_string(),
        "-j".into(),
        "2".into(),
        "-T".into(),
        seconds.to_string(),
    ])
    .await?;
    let tps = out
        .lines()
        .find_map(|line| line.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .with_context(|| format!("no tps in pgbench's output:\n{out}"))?;
    println!("pgbench: {tps:.0} tps");
    Ok(tps)
}
