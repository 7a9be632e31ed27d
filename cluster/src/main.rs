//! The `cluster` command, run from the workspace root:
//! - `cluster up <ticketing> <nginx>`: the distributed system on this machine until Ctrl-C
//!   (what `cargo xtask cluster` runs);
//! - `cluster serve <ticketing> <nginx> [--kill <process>]…`: a throwaway cluster for the
//!   browser tests (`cargo xtask test`'s distributed e2e run);
//! - `cluster faults <ticketing> <nginx>`: the fault-injection system test (run by
//!   `cargo xtask test` when PostgreSQL, NATS and Redis are configured).
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context};
use cluster::{faults, parts, Cluster, Databases, Nats, Options, Ports, Stopped};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (binary, nginx) = match (args.get(1), args.get(2)) {
        (Some(binary), Some(nginx)) => (PathBuf::from(binary), PathBuf::from(nginx)),
        _ => bail!(
            "usage: cluster up|faults <path to ticketing> <path to nginx>\n       \
             cluster serve <path to ticketing> <path to nginx> [--kill <process>]…"
        ),
    };
    let root = std::env::current_dir()?;
    match args[0].as_str() {
        "up" => up(binary, root, nginx).await,
        "faults" => faults::run(binary, root, nginx).await,
        "serve" => serve(binary, root, nginx, &args[3..]).await,
        other => bail!("unknown command {other:?}: up, faults or serve"),
    }
}

/// For tests: a cluster on free ports, fresh databases and a NATS server of its own, with
/// the `--kill` processes (e.g. orders-1) `kill -9`ed once it is ready; prints
/// `ready <url>` and runs until its standard input closes.
async fn serve(
    binary: PathBuf,
    root: PathBuf,
    nginx: PathBuf,
    args: &[String],
) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir()?;
    let mut options = Options::throwaway(&binary, &root, &nginx, dir.path(), "serve")?;
    // Every browser of a test run comes from 127.0.0.1: the per-address cap on live sockets
    // would count them all as one household.
    options
        .env
        .push(("LIVE_SOCKETS_PER_ADDRESS".into(), "1000".into()));
    let mut cluster = Cluster::start(options).await?;
    let mut killed = Vec::new();
    for pair in args.chunks(2) {
        match pair {
            [flag, name] if flag == "--kill" => {
                cluster.kill(name).await?;
                killed.push(name.clone());
            }
            _ => bail!("unexpected arguments {pair:?}"),
        }
    }
    if !killed.is_empty() {
        eprintln!(
            "cluster: kill -9 {} (nginx must route around them)",
            killed.join(", ")
        );
    }
    println!("ready {}", cluster.url());
    let mut sink = Vec::new();
    tokio::io::stdin().read_to_end(&mut sink).await?;
    let stopped = cluster.stop().await;
    let unclean = Stopped::unclean(&stopped, &killed);
    if !unclean.is_empty() {
        eprintln!(
            "(cluster logs kept in {})",
            dir.keep().join("logs").display()
        );
        bail!("not stopped with exit 0 within 10 s: {unclean:?}");
    }
    Ok(())
}

async fn up(binary: PathBuf, root: PathBuf, nginx: PathBuf) -> anyhow::Result<()> {
    let var = |name: &str, default: &str| {
        std::env::var(name)
            .ok()
            .filter(|v| !v.trim().is_empty())
            .unwrap_or_else(|| default.to_owned())
    };
    let database = var(
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/postgres",
    );
    if !database.starts_with("postgres") {
        bail!("the cluster runs on PostgreSQL: DATABASE_URL must be postgres://…");
    }
    let dir = root.join("data/cluster");
    std::fs::create_dir_all(&dir)?;
    // One key for every process, kept so sessions survive a restart of the cluster.
    let key_path = dir.join("jwt.key");
    let jwt_key = match std::fs::read_to_string(&key_path) {
        Ok(key) if key.trim().len() >= 32 => key.trim().to_owned(),
        _ => {
            let key = cluster::random_key();
            std::fs::write(&key_path, &key)
                .with_context(|| format!("writing {}", key_path.display()))?;
            key
        }
    };
    let began = Instant::now();
    println!(
        "Starting nginx, {} processes, on {} …",
        parts().len(),
        common::db::redact(&database)
    );
    let cluster = Cluster::start(Options {
        binary,
        root,
        dir: dir.clone(),
        ports: Ports::Deploy,
        databases: Databases::Kept(database),
        nats: Nats::At(var("NATS_URL", "nats://127.0.0.1:4222")),
        redis_url: var("REDIS_URL", "redis://127.0.0.1:6379"),
        redis_prefix: var("REDIS_PREFIX", "ticketing-cluster"),
        jwt_key,
        env: std::env::var("RUST_LOG")
            .map(|level| vec![("RUST_LOG".to_owned(), level)])
            .unwrap_or_default(),
        nginx,
    })
    .await?;
    println!(
        "\nTicketing (distributed) is ready at {}  — {:.1} s",
        cluster.url(),
        began.elapsed().as_secs_f64()
    );
    for part in parts() {
        println!(
            "  {:<11} ticketing {:<10} http://127.0.0.1:{}/readyz",
            part.name, part.service.name, part.port
        );
    }
    println!(
        "  databases   ticketing_<service> on PostgreSQL; NATS {}; logs in {}",
        cluster.nats_url(),
        cluster.log_dir().display()
    );
    println!("Press Ctrl-C to stop. A process that exits is started again.");
    let mut cluster = cluster;
    let mut look = tokio::time::interval(std::time::Duration::from_secs(1));
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            result = &mut stop => break result?,
            _ = look.tick() => {}
        }
        for (name, status) in cluster.exited() {
            println!("{name} exited ({status}); starting it again");
            match cluster.restart(&name).await {
                Ok(took) => println!("{name} is ready again ({:.1} s)", took.as_secs_f64()),
                Err(error) => println!("{name} did not come back: {error:#}"),
            }
        }
    }
    println!("\nStopping (SIGTERM to each process) …");
    let stopped = cluster.stop().await;
    for s in &stopped {
        println!("  {s}");
    }
    if !Stopped::unclean(&stopped, &[]).is_empty() {
        bail!("some process did not exit cleanly within 10 s");
    }
    Ok(())
}
