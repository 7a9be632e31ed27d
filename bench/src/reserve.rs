//! `reserve`: N buyers each order a distinct ticket at the same moment; orders/s, p50/p99.
use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context};

use crate::api::{market, order};
use crate::stats::{ms, quantile};
use crate::system::{Backend, Distributed, System};

pub async fn main(args: &[String]) -> anyhow::Result<()> {
    let Some(binary) = args.first() else {
        bail!("usage: bench reserve <path to ticketing> [buyers] [--cluster <path to nginx>]");
    };
    let nginx = args
        .iter()
        .position(|a| a == "--cluster")
        .map(|i| args.get(i + 1).context("--cluster needs the path to nginx"))
        .transpose()?;
    let buyers: usize = args
        .get(1)
        .filter(|a| !a.starts_with("--"))
        .map(|n| n.parse())
        .transpose()
        .context("buyers must be a number")?
        .unwrap_or(200);
    let binary = Path::new(binary);
    let number = |name: &str| -> anyhow::Result<Option<u64>> {
        args.iter()
            .position(|a| a == name)
            .map(|i| {
                args.get(i + 1)
                    .and_then(|n| n.parse().ok())
                    .with_context(|| format!("{name} needs a number"))
            })
            .transpose()
    };
    if let Some(connections) = number("--connections")? {
        let seconds = number("--seconds")?.unwrap_or(10);
        let preload = number("--preload")?.unwrap_or(0) as usize;
        return crate::sustained::main(
            binary,
            nginx.map(Path::new),
            connections as usize,
            seconds,
            preload,
        )
        .await;
    }

    let mut rows = vec![
        run(
            "embedded (SQLite, in-process bus)",
            binary,
            buyers,
            Backend::Embedded,
        )
        .await?,
    ];
    match (std::env::var("DATABASE_URL"), std::env::var("NATS_URL")) {
        (Ok(db), Ok(nats)) if db.starts_with("postgres") => {
            rows.push(run("PostgreSQL + JetStream", binary, buyers, Backend::External { nats }).await?);
        }
        _ => println!("(set DATABASE_URL=postgres://… and NATS_URL=nats://… to benchmark PostgreSQL + JetStream too)"),
    }
    if let Some(nginx) = nginx {
        rows.push(through_the_cluster(binary, Path::new(nginx), buyers).await?);
    }
    println!("\n| backend | buyers | orders/s | p50 | p99 |\n|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

async fn run(
    label: &str,
    binary: &Path,
    buyers: usize,
    backend: Backend,
) -> anyhow::Result<String> {
    println!("\n== {label}: {buyers} buyers, one distinct ticket each");
    let system = System::start(binary, backend, &[]).await?;
    let row = measure(label, &system.base, buyers).await;
    drop(system);
    row
}

/// The distributed system, measured through nginx.
async fn through_the_cluster(binary: &Path, nginx: &Path, buyers: usize) -> anyhow::Result<String> {
    let label = Distributed::LABEL;
    println!("\n== {label}: {buyers} buyers, one distinct ticket each");
    let cluster = Distributed::start(binary, nginx).await?;
    let row = measure(label, &cluster.base(), buyers).await;
    cluster.stop().await;
    row
}

async fn measure(label: &str, base: &str, buyers: usize) -> anyhow::Result<String> {
    let base = base.to_owned();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(buyers)
        .build()?;

    let (_seller, tickets, cookies) = market(&client, &base, buyers).await?;

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(buyers);
    for (ticket, cookie) in tickets.into_iter().zip(cookies) {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let begun = Instant::now();
            let (status, _) = order(&client, &base, &cookie, &ticket).await?;
            anyhow::Ok((status, begun.elapsed()))
        }));
    }
    let mut latencies = Vec::with_capacity(buyers);
    for task in tasks {
        let (status, latency) = task.await??;
        if status != 201 {
            bail!("an order failed with status {status}");
        }
        latencies.push(latency);
    }
    let wall = started.elapsed();
    latencies.sort();
    let (p50, p99) = (quantile(&latencies, 0.50), quantile(&latencies, 0.99));
    let rate = buyers as f64 / wall.as_secs_f64();
    println!("orders/s {rate:.0}, p50 {p50:?}, p99 {p99:?}");
    Ok(format!(
        "| {label} | {buyers} | {rate:.0} | {:.1} ms | {:.1} ms |",
        ms(p50),
        ms(p99)
    ))
}
