//! `live`: N sockets on one web process (the all-in-one binary, embedded default) watch the
//! listing, some signed in as the buyers; then a burst of reservations. For each order, the
//! time from its commit — approximated by its `POST /api/orders` response arriving, which
//! comes just after — to its `ticket:updated` reaching every socket (p50/p99 over orders of
//! the last socket's arrival, and over all deliveries); plus the server's memory per idle
//! socket (RSS delta / N) and its CPU time per delivered message. Nothing polls: each socket
//! is a task that records when its messages arrive, and the run ends when the last expected
//! delivery is counted.
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{SinkExt, StreamExt};
use tokio::sync::Notify;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message as Frame;

use crate::api::{market, order};
use crate::stats::{ms, quantile};
use crate::system::{Backend, System};

/// Sockets opened at once while connecting.
const CONNECT_AT_ONCE: usize = 100;

pub async fn main(args: &[String]) -> anyhow::Result<()> {
    let Some(binary) = args.first() else {
        bail!("usage: bench live <path to ticketing> [--sockets N] [--orders N]");
    };
    let number = |name: &str, default: usize| -> anyhow::Result<usize> {
        args.iter()
            .position(|a| a == name)
            .map(|i| {
                args.get(i + 1)
                    .and_then(|n| n.parse().ok())
                    .with_context(|| format!("{name} needs a number"))
            })
            .transpose()
            .map(|n| n.unwrap_or(default))
    };
    let sockets = number("--sockets", 5_000)?;
    let orders = number("--orders", 200)?.min(sockets);
    let limit = open_files_limit();
    if limit.is_some_and(|l| l < sockets as u64 + 1_000) {
        bail!(
            "the open-files limit ({}) is below {} sockets and the rest: raise it (ulimit -n)",
            limit.unwrap_or_default(),
            sockets
        );
    }
    println!("\n== embedded (SQLite, in-process bus): {sockets} sockets, {orders} reservations");
    let cap = (sockets + 1).to_string();
    let system = System::start(
        Path::new(binary),
        Backend::Embedded,
        &[("LIVE_SOCKETS_PER_ADDRESS", cap.as_str())],
    )
    .await?;
    let result = run(&system, sockets, orders).await;
    drop(system);
    result
}

/// Each socket's arrivals: (ticket index, when).
type Arrivals = Vec<(u32, Instant)>;

async fn run(system: &System, sockets: usize, orders: usize) -> anyhow::Result<()> {
    let base = system.base.clone();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(orders)
        .build()?;
    let (_seller, tickets, buyers) = market(&client, &base, orders).await?;
    let index: Arc<HashMap<String, u32>> = Arc::new(
        tickets
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect(),
    );

    // Idle memory: the server's RSS before and after the sockets open and settle.
    let pid = system.pid();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before = rss_kib(pid).context("reading the server's RSS")?;
    let expected = orders * sockets;
    let counted = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Notify::new());
    let url = format!(
        "{}{}",
        base.replacen("http://", "ws://", 1),
        common::live::PATH
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut readers = Vec::with_capacity(sockets);
    let mut opened = 0;
    while opened < sockets {
        let batch: Vec<_> = (opened..(opened + CONNECT_AT_ONCE).min(sockets))
            .map(|i| {
                // The first `orders` sockets are the buyers' pages.
                let cookie = buyers.get(i).cloned();
                connect(url.clone(), base.clone(), cookie)
            })
            .collect();
        for socket in futures::future::try_join_all(batch).await? {
            readers.push(tokio::spawn(read(
                socket,
                index.clone(),
                counted.clone(),
                expected,
                all_in.clone(),
                stopped.clone(),
            )));
        }
        opened = readers.len();
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = rss_kib(pid).context("reading the server's RSS")?;
    let per_socket = (rss_after.saturating_sub(rss_before)) as f64 * 1024.0 / sockets as f64;
    println!(
        "server RSS {rss_before} KiB before, {rss_after} KiB with {sockets} idle sockets: {:.1} KB per socket",
        per_socket / 1000.0
    );

    // The burst: every buyer orders their ticket at once.
    let cpu_before = cpu_ticks(pid).context("reading the server's CPU time")?;
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(orders);
    for (ticket, cookie) in tickets.iter().zip(&buyers) {
        let (client, base, ticket, cookie) =
            (client.clone(), base.clone(), ticket.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            let (status, _) = order(&client, &base, &cookie, &ticket).await?;
            anyhow::Ok((status, Instant::now()))
        }));
    }
    let mut committed = Vec::with_capacity(orders);
    for task in tasks {
        let (status, at) = task.await??;
        if status != 201 {
            bail!("an order failed with status {status}");
        }
        committed.push(at);
    }
    let delivered_all = tokio::time::timeout(Duration::from_secs(120), all_in.notified())
        .await
        .is_ok();
    let wall = started.elapsed();
    let cpu_after = cpu_ticks(pid).context("reading the server's CPU time")?;
    let delivered = counted.load(Ordering::SeqCst);
    if !delivered_all {
        println!("only {delivered} of {expected} deliveries arrived within 120 s");
    }

    // Stopping the readers closes the sockets; each hands back what it saw.
    let _ = stop.send(true);
    let mut per_order_last = vec![None::<Duration>; orders];
    let mut all = Vec::with_capacity(expected);
    let mut early = 0usize;
    for reader in readers {
        let Ok(arrivals) = reader.await else { continue };
        for (ticket, at) in arrivals {
            let commit = committed[ticket as usize];
            let latency = at.checked_duration_since(commit).unwrap_or_else(|| {
                early += 1;
                Duration::ZERO
            });
            all.push(latency);
            let last = &mut per_order_last[ticket as usize];
            *last = Some(last.map_or(latency, |l| l.max(latency)));
        }
    }
    let mut last: Vec<Duration> = per_order_last.into_iter().flatten().collect();
    last.sort();
    all.sort();
    let ticks = cpu_after.saturating_sub(cpu_before);
    let cpu_ms = ticks as f64 * 1000.0 / ticks_per_second() as f64;
    println!(
        "{delivered} deliveries of {orders} reservations to {sockets} sockets in {:.2} s ({early} before their order's response)",
        wall.as_secs_f64()
    );
    println!(
        "per order, to its last socket: p50 {:.1} ms, p99 {:.1} ms; per delivery: p50 {:.1} ms, p99 {:.1} ms",
        ms(quantile(&last, 0.50)),
        ms(quantile(&last, 0.99)),
        ms(quantile(&all, 0.50)),
        ms(quantile(&all, 0.99)),
    );
    println!(
        "server CPU {cpu_ms:.0} ms over the burst (the orders themselves included): {:.1} µs per delivered message",
        cpu_ms * 1000.0 / delivered.max(1) as f64
    );
    println!(
        "\n| sockets | reservations | deliveries | p50 (last socket) | p99 (last socket) | p99 (any delivery) | memory per idle socket | server CPU per delivery |\n|---|---|---|---|---|---|---|---|"
    );
    println!(
        "| {sockets} | {orders} | {delivered} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} KB | {:.1} µs |",
        ms(quantile(&last, 0.50)),
        ms(quantile(&last, 0.99)),
        ms(quantile(&all, 0.99)),
        per_socket / 1000.0,
        cpu_ms * 1000.0 / delivered.max(1) as f64
    );
    Ok(())
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a socket from the site's origin watching the listing, and waits until the server
/// has taken the Watch (it answers a ping sent after it).
async fn connect(url: String, origin: String, cookie: Option<String>) -> anyhow::Result<Socket> {
    let mut request = url.into_client_request()?;
    request
        .headers_mut()
        .insert("origin", HeaderValue::from_str(&origin)?);
    if let Some(cookie) = cookie {
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(&cookie)?);
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await?;
    socket
        .send(Frame::text(
            r#"{"type":"watch","topics":[{"topic":"listing"}]}"#,
        ))
        .await?;
    socket.send(Frame::Ping(Default::default())).await?;
    loop {
        match socket.next().await {
            Some(Ok(Frame::Pong(_))) => return Ok(socket),
            Some(Ok(_)) => {}
            other => bail!("a socket ended while opening: {other:?}"),
        }
    }
}

/// Records the arrival of each reservation (a ticket change with an `orderId`) of the
/// benchmark's tickets until the socket closes.
async fn read(
    mut socket: Socket,
    index: Arc<HashMap<String, u32>>,
    counted: Arc<AtomicUsize>,
    expected: usize,
    all_in: Arc<Notify>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Arrivals {
    const TICKET: &str = r#"{"type":"ticket","id":""#;
    let mut arrivals = Vec::new();
    loop {
        let frame = tokio::select! {
            _ = stop.changed() => break,
            frame = socket.next() => frame,
        };
        let Some(Ok(frame)) = frame else { break };
        let Frame::Text(text) = frame else { continue };
        let at = Instant::now();
        let text = text.as_str();
        // Cheaper than parsing each of a million messages: the id comes first.
        let Some(id) = text
            .strip_prefix(TICKET)
            .and_then(|rest| rest.split('"').next())
        else {
            continue;
        };
        if !text.contains(r#""orderId":"#) {
            continue;
        }
        if let Some(ticket) = index.get(id) {
            arrivals.push((*ticket, at));
            if counted.fetch_add(1, Ordering::SeqCst) + 1 == expected {
                all_in.notify_one();
            }
        }
    }
    arrivals
}

/// The soft open-files limit of this process (the server inherits it).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// utime + stime of the process, in clock ticks.
fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name come fields 3 onwards: utime (14) and stime (15) are the 12th
    // and 13th.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some(user + system)
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux unless told otherwise).
fn ticks_per_second() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100)
}
