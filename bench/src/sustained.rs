//! `reserve --connections N --seconds S [--preload P] [--cluster <nginx>]`: N closed-loop
//! clients each reserving distinct tickets for S seconds, measured over the window after a
//! warm-up: orders/s, p50/p99 latency, and for every measured order the event lag, from its
//! `order:created` outbox row in orders to the `ticket:updated` row with which tickets
//! reserved the ticket — read from both outboxes after the load stops, so nothing polls the
//! databases during the run; the same lag per second of the window, to show whether it grows
//! while the load lasts; and what the consumers still had pending the moment the load
//! stopped. Over the same window: statements and commits per order (the server's `/metrics`;
//! on PostgreSQL also `pg_stat_database`, server-wide), and CPU time and context switches per
//! order of the server, the bench itself, PostgreSQL and NATS (from /proc). Beside it,
//! `pgbench -b simple-update` at the same concurrency on the same PostgreSQL. `--preload P`
//! first writes P sold tickets and complete orders straight into the databases, to show
//! whether the rate depends on table size. `--cluster` adds the distributed system, through
//! nginx.
mod lag;
mod pending;
mod preload;
mod procstat;

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tokio::sync::Notify;

use crate::api::{list_seat, order, order_probe, sign_up};
use crate::stats::{ms, quantile};
use crate::system::{Backend, Distributed, System};
use procstat::{Group, Who};

/// Ticket stock per second of load; more than the system can reserve.
const STOCK_PER_SECOND: usize = 6000;

pub async fn main(
    binary: &Path,
    nginx: Option<&Path>,
    connections: usize,
    seconds: u64,
    preload: usize,
) -> anyhow::Result<()> {
    let warmup = warm_up(seconds);
    println!(
        "warm-up: orders begun in the first {:.1} s are left out of every figure \
         (the first second; the first 10 % of runs shorter than 10 s)",
        warmup.as_secs_f64()
    );
    let load = Load {
        connections,
        seconds,
        preload,
    };
    let embedded = System::start(binary, Backend::Embedded, &[]).await?;
    let mut rows = vec![
        run(
            "embedded (SQLite, in-process bus)",
            Target::One(embedded),
            &load,
        )
        .await?,
    ];
    let postgres = std::env::var("DATABASE_URL").is_ok_and(|db| db.starts_with("postgres"));
    match std::env::var("NATS_URL") {
        Ok(nats) if postgres => {
            let system = System::start(binary, Backend::External { nats }, &[]).await?;
            rows.push(run("PostgreSQL + JetStream", Target::One(system), &load).await?);
        }
        _ => println!("(set DATABASE_URL=postgres://… and NATS_URL=nats://… for PostgreSQL + JetStream; pgbench runs beside any PostgreSQL row)"),
    }
    if let Some(nginx) = nginx {
        let label = Distributed::LABEL;
        println!("\n== {label}: starting");
        let cluster = Distributed::start(binary, nginx).await?;
        rows.push(run(label, Target::Cluster(Box::new(cluster)), &load).await?);
    }
    let pgbench_tps = if rows.iter().any(|r| r.postgres) {
        Some(pgbench(connections, seconds).await?)
    } else {
        None
    };
    let preloaded = if preload > 0 {
        format!(", {preload} orders preloaded")
    } else {
        String::new()
    };
    println!(
        "\nover the measured window (warm-up {:.1} s left out{preloaded}); lag = order:created → \
         ticket:updated in the outboxes; pending = when the load stopped, the consumers' \
         unread + unacknowledged JetStream messages and the outbox rows not yet marked sent; commits: the \
         SQLite writer's, or PostgreSQL's pg_stat_database (the whole server); — = not counted",
        warmup.as_secs_f64()
    );
    println!(
        "\n| backend | connections | orders/s | p50 | p99 | lag p50 | lag p99 | lag max | pending: consumers | pending: outboxes | stmts/order | commits/order | pgbench tps | ratio |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let figure = |n: Option<f64>| n.map_or("—".into(), |n| format!("{n:.1}"));
    for row in &rows {
        let (tps, ratio) = match (row.postgres, pgbench_tps) {
            (true, Some(tps)) => (format!("{tps:.0}"), format!("{:.2}", row.rate / tps)),
            _ => ("—".into(), "—".into()),
        };
        let (consumers, outboxes) = row.pending.totals();
        println!(
            "| {} | {connections} | {:.0} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {consumers} | {outboxes} | {} | {} | {tps} | {ratio} |",
            row.label,
            row.rate,
            ms(row.p50),
            ms(row.p99),
            ms(row.lag50),
            ms(row.lag99),
            ms(row.lag_max),
            figure(row.statements),
            figure(row.commits),
        );
    }
    for row in &rows {
        println!(
            "\n{}:\n\n{}\npending when the load stopped: {}\n\nlag by second of the window (when the order was written):\n\n{}\nper order:\n\n{}",
            row.label,
            row.lag_verdict,
            row.pending.detail(),
            row.lag_by_second,
            row.processes
        );
    }
    Ok(())
}

/// How hard and how long each run loads its system.
struct Load {
    connections: usize,
    seconds: u64,
    preload: usize,
}

/// What a run measures: the all-in-one process, or the distributed system through nginx.
pub enum Target {
    One(System),
    Cluster(Box<Distributed>),
}

impl Target {
    fn base(&self) -> String {
        match self {
            Self::One(system) => system.base.clone(),
            Self::Cluster(cluster) => cluster.base(),
        }
    }

    /// The database holding `service`'s tables.
    pub fn url(&self, service: &str) -> anyhow::Result<String> {
        match self {
            Self::One(system) => Ok(system.table(service, "outbox").0),
            Self::Cluster(cluster) => Ok(cluster.database_url(service)?.to_owned()),
        }
    }

    /// `service`'s `table` as named in [`Target::url`]'s database.
    pub fn table(&self, service: &str, table: &str) -> String {
        match self {
            Self::One(system) => system.table(service, table).1,
            Self::Cluster(_) => format!("\"{service}\".{table}"),
        }
    }

    /// A database on the PostgreSQL server, if it runs on one (`pg_stat_database` covers the
    /// whole server, so any will do).
    pub fn postgres_url(&self) -> Option<String> {
        match self {
            Self::One(system) => system.database_url().map(str::to_owned),
            Self::Cluster(cluster) => cluster.database_url("orders").ok().map(str::to_owned),
        }
    }

    /// The NATS server and the subject prefix the system's bus uses, on JetStream.
    pub fn nats(&self) -> Option<(&str, &str)> {
        match self {
            Self::One(system) => system.nats(),
            Self::Cluster(cluster) => Some((cluster.nats_url(), common::settings::DEFAULT_PREFIX)),
        }
    }

    /// Where to read the server's statement counters: only the all-in-one is one process
    /// (through nginx, `/metrics` would be one replica's).
    fn metrics(&self) -> Option<String> {
        match self {
            Self::One(system) => Some(system.base.clone()),
            Self::Cluster(_) => None,
        }
    }

    /// The rows of the CPU table. The cluster's processes, nginx and NATS server are
    /// this process's children, told apart from any other run's on the machine.
    fn groups(&self) -> Vec<Group> {
        let bench = Group {
            label: "bench",
            who: Who::Pid(std::process::id()),
        };
        let postgres = Group {
            label: "postgres",
            who: Who::Comm("postgres"),
        };
        let machine = Group {
            label: "whole machine",
            who: Who::Machine,
        };
        match self {
            Self::One(system) => vec![
                Group {
                    label: "server (ticketing)",
                    who: Who::Pid(system.pid()),
                },
                bench,
                postgres,
                Group {
                    label: "nats-server",
                    who: Who::Comm("nats-server"),
                },
                machine,
            ],
            Self::Cluster(_) => vec![
                Group {
                    label: "ticketing services",
                    who: Who::Started("ticketing"),
                },
                Group {
                    label: "nginx",
                    who: Who::Started("nginx"),
                },
                bench,
                postgres,
                Group {
                    label: "nats-server, the cluster's",
                    who: Who::Started("nats-server"),
                },
                machine,
            ],
        }
    }

    async fn stop(self) {
        match self {
            Self::One(system) => drop(system),
            Self::Cluster(cluster) => cluster.stop().await,
        }
    }
}

/// The first second (the first 10 % of runs shorter than 10 s): connections open, caches and
/// the SQLite page cache fill, the pools grow.
fn warm_up(seconds: u64) -> Duration {
    Duration::from_secs(1).min(Duration::from_secs(seconds) / 10)
}

struct Row {
    label: &'static str,
    postgres: bool,
    rate: f64,
    p50: Duration,
    p99: Duration,
    lag50: Duration,
    lag99: Duration,
    lag_max: Duration,
    statements: Option<f64>,
    commits: Option<f64>,
    pending: pending::Counts,
    /// The lag per second of the window, as a table.
    lag_by_second: String,
    /// The lag p99 at the start of the window against its end.
    lag_verdict: String,
    /// The per-process CPU and context switch table.
    processes: String,
}

/// One order: when its request began, the order id, and how long the 201 took.
struct Done {
    begun: Instant,
    order: String,
    latency: Duration,
}

async fn run(label: &'static str, system: Target, load: &Load) -> anyhow::Result<Row> {
    let result = measure(label, &system, load).await;
    system.stop().await;
    result
}

async fn measure(label: &'static str, system: &Target, load: &Load) -> anyhow::Result<Row> {
    let &Load {
        connections,
        seconds,
        preload,
    } = load;
    let postgres = system.postgres_url().is_some();
    println!("\n== {label}: {connections} connections for {seconds} s, distinct tickets");
    if preload > 0 {
        preload::preload(system, preload).await?;
    }
    let base = system.base();
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
    let since = lag::since(system).await?;
    let pending = pending::Pending::open(system).await?;
    let before = pending.read().await;
    if before.any() {
        // A stream shared with an earlier run may still hold its leftovers.
        println!("pending before the load: {}", before.detail());
    }
    let watch = Arc::new(Watch {
        groups: system.groups(),
        client: client.clone(),
        metrics: system.metrics(),
        // Opened now, so connecting isn't part of the window.
        postgres: match system.postgres_url() {
            Some(url) => Some(common::db::connect(&url).await?),
            None => None,
        },
    });

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let (warm, until) = (
        started + warm_up(seconds),
        started + Duration::from_secs(seconds),
    );
    // Counters are read when the warm-up ends and when the load stops (at S seconds, or
    // sooner if the tickets run out).
    let finished = Arc::new(Notify::new());
    let marks = tokio::spawn({
        let (watch, finished) = (watch.clone(), finished.clone());
        async move {
            let finished = finished.notified();
            tokio::pin!(finished);
            tokio::select! {
                () = tokio::time::sleep_until(warm.into()) => {}
                () = &mut finished => return None,
            }
            let start = watch.mark().await;
            tokio::select! {
                () = tokio::time::sleep_until(until.into()) => {}
                () = &mut finished => {}
            }
            Some((start, watch.mark().await))
        }
    });
    let mut workers = Vec::with_capacity(connections);
    for buyer in buyers {
        let (client, base, tickets, next) =
            (client.clone(), base.clone(), tickets.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut done = Vec::new();
            while Instant::now() < until {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(ticket) = tickets.get(i) else { break };
                let begun = Instant::now();
                let (status, body) = order(&client, &base, &buyer, ticket).await?;
                if status != 201 {
                    bail!("an order failed with status {status}: {body}");
                }
                done.push(Done {
                    begun,
                    latency: begun.elapsed(),
                    order: body["id"].as_str().context("an order id")?.to_owned(),
                });
            }
            anyhow::Ok(done)
        }));
    }
    let mut done = Vec::new();
    for worker in workers {
        done.extend(worker.await??);
    }
    finished.notify_one();
    // The load has stopped: what is still queued, read before anything waits for it.
    let (left, marks) = tokio::join!(pending.read(), marks);
    let Some((start, end)) = marks? else {
        bail!("the tickets ran out within the warm-up");
    };
    if next.load(Ordering::Relaxed) >= tickets.len() {
        println!("(ran out of tickets before {seconds} s: the window ends there)");
    }

    // Orders begun inside the window, over its length: a closed loop starts as many as it
    // finishes, so the requests in flight at either end even out.
    let measured: Vec<&Done> = done
        .iter()
        .filter(|d| d.begun >= start.at && d.begun < end.at)
        .collect();
    if measured.is_empty() {
        bail!("no order began after the warm-up");
    }
    let orders = measured.len();
    let window = end.at - start.at;
    let mut latencies: Vec<Duration> = measured.iter().map(|d| d.latency).collect();
    latencies.sort();
    let ids: Vec<String> = measured.iter().map(|d| d.order.clone()).collect();
    let lags = lag::lags(system, since, done.len(), &ids).await?;
    pending.close().await;
    let (lag_by_second, lag_verdict) = lags.by_second(start.wall, window);

    let per_order = |before: Option<u64>, after: Option<u64>| match (before, after) {
        (Some(before), Some(after)) if after > before => {
            Some((after - before) as f64 / orders as f64)
        }
        _ => None,
    };
    let statements = per_order(
        start.counters.map(|c| c.statements),
        end.counters.map(|c| c.statements),
    );
    let commits = if postgres {
        per_order(start.pg_commits, end.pg_commits)
    } else {
        per_order(
            start.counters.map(|c| c.commits),
            end.counters.map(|c| c.commits),
        )
    };
    let used = procstat::delta(&start.processes, &end.processes);
    let row = Row {
        label,
        postgres,
        rate: orders as f64 / window.as_secs_f64(),
        p50: quantile(&latencies, 0.50),
        p99: quantile(&latencies, 0.99),
        lag50: quantile(&lags.sorted, 0.50),
        lag99: quantile(&lags.sorted, 0.99),
        lag_max: lags.sorted.last().copied().unwrap_or_default(),
        statements,
        commits,
        pending: left,
        lag_by_second,
        lag_verdict,
        processes: procstat::table(&watch.groups, &used, orders),
    };
    let figure = |n: Option<f64>| n.map_or("—".into(), |n| format!("{n:.1}"));
    println!(
        "{orders} orders in the {:.1} s window ({} in all): {:.0} orders/s, p50 {:.1} ms, p99 {:.1} ms",
        window.as_secs_f64(),
        done.len(),
        row.rate,
        ms(row.p50),
        ms(row.p99),
    );
    println!(
        "event lag of {} orders: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (all reserved {:.1} s after the load stopped)",
        lags.sorted.len(),
        ms(row.lag50),
        ms(row.lag99),
        ms(row.lag_max),
        lags.waited.as_secs_f64(),
    );
    if lags.missing > 0 {
        println!(
            "({} measured orders had no ticket:updated {:.0} s after the load stopped: left out of the lag)",
            lags.missing,
            lags.waited.as_secs_f64()
        );
    }
    println!("pending when the load stopped: {}", row.pending.detail());
    print!("{}", row.lag_by_second);
    println!("{}", row.lag_verdict);
    println!(
        "per order: {} statements, {} commits ({})",
        figure(row.statements),
        figure(row.commits),
        if postgres {
            "pg_stat_database, the whole server"
        } else {
            "the SQLite writer"
        }
    );
    print!("{}", row.processes);
    Ok(row)
}

/// What is read at each end of the measured window.
struct Watch {
    groups: Vec<Group>,
    client: reqwest::Client,
    /// The server to ask for `/metrics`, if it is one process.
    metrics: Option<String>,
    postgres: Option<DatabaseConnection>,
}

struct Mark {
    at: Instant,
    /// `at` on the clock the databases' `created_at` follow.
    wall: DateTime<Utc>,
    processes: procstat::Snapshot,
    counters: Option<Counters>,
    pg_commits: Option<u64>,
}

#[derive(Clone, Copy)]
struct Counters {
    statements: u64,
    commits: u64,
}

impl Watch {
    async fn mark(&self) -> Mark {
        let (at, wall) = (Instant::now(), Utc::now());
        let processes = procstat::snapshot(&self.groups);
        let (counters, pg_commits) = tokio::join!(self.counters(), self.pg_commits());
        Mark {
            at,
            wall,
            processes,
            counters,
            pg_commits,
        }
    }

    /// The server's database counters from `GET /metrics`; None if it doesn't serve them.
    async fn counters(&self) -> Option<Counters> {
        let text = self
            .client
            .get(format!("{}/metrics", self.metrics.as_ref()?))
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?
            .error_for_status()
            .ok()?
            .text()
            .await
            .ok()?;
        let value = |name: &str| {
            text.lines().find_map(|line| {
                let (key, n) = line.split_once(' ')?;
                (key == name).then(|| n.trim().parse::<f64>().ok())?
            })
        };
        Some(Counters {
            statements: value("ticketing_db_statements_total")? as u64,
            commits: value("ticketing_db_sqlite_commits_total").unwrap_or(0.0) as u64,
        })
    }

    /// Transactions committed in the whole PostgreSQL server (its backends report them at
    /// most about once a second, so either end may be that late).
    async fn pg_commits(&self) -> Option<u64> {
        let db = self.postgres.as_ref()?;
        let row = db
            .query_one(Statement::from_string(
                db.get_database_backend(),
                "SELECT CAST(SUM(xact_commit) AS BIGINT) AS n FROM pg_stat_database",
            ))
            .await
            .ok()??;
        row.try_get::<i64>("", "n").ok().map(|n| n as u64)
    }
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
                let (status, body) = list_seat(&client, &base, &seller, i).await?;
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
