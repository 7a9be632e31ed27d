//! `bench reserve <ticketing binary> [buyers]`: starts the system, has N buyers each order a
//! distinct ticket at once, and prints orders/second with p50/p99 latency — for the embedded
//! default and, when `DATABASE_URL`/`NATS_URL` are set, for PostgreSQL + JetStream.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some("reserve"), Some(binary)) = (args.first().map(String::as_str), args.get(1)) else {
        bail!("usage: bench reserve <path to ticketing> [buyers]");
    };
    let buyers: usize = args
        .get(2)
        .map(|n| n.parse())
        .transpose()
        .context("buyers must be a number")?
        .unwrap_or(200);
    let binary = PathBuf::from(binary);

    let mut rows = vec![
        run(
            "embedded (SQLite, in-process bus)",
            &binary,
            buyers,
            Backend::Embedded,
        )
        .await?,
    ];
    match (std::env::var("DATABASE_URL"), std::env::var("NATS_URL")) {
        (Ok(db), Ok(nats)) if db.starts_with("postgres") => {
            rows.push(run("PostgreSQL + JetStream", &binary, buyers, Backend::External { nats }).await?);
        }
        _ => println!("(set DATABASE_URL=postgres://… and NATS_URL=nats://… to benchmark PostgreSQL + JetStream too)"),
    }
    println!("\n| backend | buyers | orders/s | p50 | p99 |\n|---|---|---|---|---|");
    for row in rows {
        println!("{row}");
    }
    Ok(())
}

enum Backend {
    Embedded,
    External { nats: String },
}

async fn run(
    label: &str,
    binary: &Path,
    buyers: usize,
    backend: Backend,
) -> anyhow::Result<String> {
    println!("\n== {label}: {buyers} buyers, one distinct ticket each");
    let data = tempfile::tempdir()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let mut command = Command::new(binary);
    command
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("DATA_DIR", data.path())
        .env("RUST_LOG", "warn")
        .env_remove("INTERNAL_API_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    // Keep the test database alive for the whole run.
    let _database = match backend {
        Backend::Embedded => {
            command
                .env_remove("DATABASE_URL")
                .env_remove("NATS_URL")
                .env_remove("REDIS_URL");
            None
        }
        Backend::External { nats } => {
            let database = common::testing::TestDatabase::new().await?;
            command
                .env("DATABASE_URL", &database.url)
                .env("NATS_URL", nats);
            Some(database)
        }
    };
    let server = Server(command.spawn().context("starting ticketing")?);
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(buyers)
        .build()?;
    wait_ready(&client, &base).await?;

    let seller = sign_up(&client, &base, "seller").await?;
    let mut tickets = Vec::with_capacity(buyers);
    for i in 0..buyers {
        let ticket = post(
            &client,
            &base,
            "/api/tickets",
            &seller,
            json!({ "title": format!("Seat {i}"), "price": 25 }),
        )
        .await?;
        tickets.push(ticket.1["id"].as_str().context("a ticket id")?.to_owned());
    }
    let mut cookies = Vec::with_capacity(buyers);
    for i in 0..buyers {
        cookies.push(sign_up(&client, &base, &format!("buyer{i}")).await?);
    }
    // The orders service learns tickets from events: wait until it knows the last one.
    let probe_seller = sign_up(&client, &base, "probe").await?;
    let probe = post(
        &client,
        &base,
        "/api/tickets",
        &probe_seller,
        json!({ "title": "probe", "price": 1 }),
    )
    .await?;
    let probe_id = probe.1["id"].as_str().context("a ticket id")?.to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, _) = post(
            &client,
            &base,
            "/api/orders",
            &seller,
            json!({ "ticketId": probe_id }),
        )
        .await?;
        if status == 201 {
            break;
        }
        if Instant::now() > deadline {
            bail!("the orders service never learned about the tickets (last status {status})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let started = Instant::now();
    let mut tasks = Vec::with_capacity(buyers);
    for (ticket, cookie) in tickets.into_iter().zip(cookies) {
        let client = client.clone();
        let base = base.clone();
        tasks.push(tokio::spawn(async move {
            let begun = Instant::now();
            let (status, _) = post(
                &client,
                &base,
                "/api/orders",
                &cookie,
                json!({ "ticketId": ticket }),
            )
            .await?;
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
    drop(server);
    latencies.sort();
    let pick = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let rate = buyers as f64 / wall.as_secs_f64();
    println!(
        "orders/s {rate:.0}, p50 {:?}, p99 {:?}",
        pick(0.50),
        pick(0.99)
    );
    Ok(format!(
        "| {label} | {buyers} | {rate:.0} | {:.1} ms | {:.1} ms |",
        ms(pick(0.50)),
        ms(pick(0.99))
    ))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_ready(client: &reqwest::Client, base: &str) -> anyhow::Result<()> {
    for _ in 0..300 {
        if let Ok(r) = client.get(format!("{base}/api/tickets")).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("the server did not start")
}

async fn sign_up(client: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let email = format!("{name}-{}@bench.example", std::process::id());
    let response = client
        .post(format!("{base}/api/users/signup"))
        .json(&json!({ "email": email, "password": "secret1" }))
        .send()
        .await?;
    if response.status() != 201 {
        bail!("signup failed: {}", response.status());
    }
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok()?.split(';').next().map(str::to_owned))
        .collect::<Vec<_>>()
        .join("; ");
    Ok(cookie)
}

async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    cookie: &str,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    let response = client
        .post(format!("{base}{path}"))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}
