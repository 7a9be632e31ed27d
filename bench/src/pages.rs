//! `pages`: how the landing page, a ticket page and the bare ticket list hold up as the number
//! of listed tickets grows from 100 to N (default 30,000), plus the site's wire sizes (its
//! wasm, JS and CSS as served: brotli, gzip and raw).
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;

use crate::api::{order_probe, post, sign_up};
use crate::stats::{ms, quantile};
use crate::system::{Backend, System};

const USAGE: &str = "usage: bench pages <path to ticketing> <path to target/site/pkg> \
                     [--tickets N] [--seconds N] [--release]";
/// The first measurement's size.
const SMALL: usize = 100;
/// Ticket creations in flight while seeding.
const SEED_CONCURRENCY: usize = 32;
/// Closed-loop clients during a measurement.
const CLIENTS: usize = 16;
const WARM_UP: Duration = Duration::from_secs(1);
/// The slowdown from SMALL to N tickets the pages should stay within.
const TARGET: f64 = 0.20;

struct Options {
    binary: PathBuf,
    pkg: PathBuf,
    tickets: usize,
    seconds: u64,
    release: bool,
}

fn parse(args: &[String]) -> anyhow::Result<Options> {
    let (Some(binary), Some(pkg)) = (args.first(), args.get(1)) else {
        bail!("{USAGE}");
    };
    let mut options = Options {
        binary: binary.into(),
        pkg: pkg.into(),
        tickets: 30_000,
        seconds: 5,
        release: false,
    };
    let mut rest = args[2..].iter();
    while let Some(arg) = rest.next() {
        let mut number = |name: &str| -> anyhow::Result<u64> {
            rest.next()
                .with_context(|| format!("{name} needs a number"))?
                .parse()
                .with_context(|| format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--tickets" => options.tickets = number("--tickets")?.try_into()?,
            "--seconds" => options.seconds = number("--seconds")?,
            "--release" => options.release = true,
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    ensure!(
        options.tickets > SMALL,
        "--tickets must be more than {SMALL}"
    );
    ensure!(options.seconds > 0, "--seconds must be at least 1");
    Ok(options)
}

pub async fn main(args: &[String]) -> anyhow::Result<()> {
    let options = parse(args)?;
    let build = if options.release { "release" } else { "debug" };
    println!(
        "\n== pages: {SMALL} then {} tickets listed; {CLIENTS} closed-loop clients, \
         {}s warm-up + {}s per page ({build} build, embedded backend)",
        thousands(options.tickets),
        WARM_UP.as_secs(),
        options.seconds
    );
    // Seeding 30,000 tickets in debug can outlast the default 15-minute access token.
    let system = System::start(
        &options.binary,
        Backend::Embedded,
        &[("ACCESS_TOKEN_SECONDS", "86400")],
    )
    .await?;
    let base = system.base.as_str();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(SEED_CONCURRENCY.max(CLIENTS))
        .timeout(Duration::from_secs(600))
        .build()?;
    let seller = sign_up(&client, base, "pages-seller").await?;
    let prober = sign_up(&client, base, "pages-prober").await?;

    seed(&client, base, &seller, 0, SMALL).await?;
    // One ticket of the first batch is the ticket page measured at both sizes.
    let ticket = first_ticket(&client, base).await?;
    let pages = [
        Page::new("landing", "/".into(), None),
        Page::new(
            "ticket page",
            format!("/tickets/{}", ticket.0),
            Some(ticket.1.clone()),
        ),
        Page::new(
            "GET /api/tickets?limit=50",
            "/api/tickets?limit=50".into(),
            None,
        ),
    ];

    let mut results = Vec::new();
    for (from, to) in [(0, SMALL), (SMALL, options.tickets)] {
        if from > 0 {
            seed(&client, base, &seller, from, to).await?;
        }
        settle(&client, base, &seller, &prober).await?;
        for page in &pages {
            let sample = page.measure(&client, base, options.seconds).await?;
            println!(
                "{} with {} tickets: {:.0} req/s, p50 {:.1} ms, p99 {:.1} ms ({} requests)",
                page.name,
                thousands(to),
                sample.rate,
                ms(sample.p50),
                ms(sample.p99),
                sample.requests
            );
            results.push((page.name, to, sample));
        }
    }
    drop(system);

    println!("\n| page | tickets listed | req/s | p50 | p99 |\n|---|---|---|---|---|");
    for (name, tickets, sample) in &results {
        println!(
            "| {name} | {} | {:.0} | {:.1} ms | {:.1} ms |",
            thousands(*tickets),
            sample.rate,
            ms(sample.p50),
            ms(sample.p99)
        );
    }
    println!();
    for page in &pages {
        let find = |n: usize| {
            results
                .iter()
                .find(|(name, tickets, _)| *name == page.name && *tickets == n)
                .map(|(_, _, sample)| sample)
        };
        let (Some(small), Some(big)) = (find(SMALL), find(options.tickets)) else {
            continue;
        };
        println!("{}", compare(page.name, options.tickets, small, big));
    }
    if !options.release {
        println!("(debug build: use --release for representative figures)");
    }

    site_sizes(&options.pkg, options.release)
}

/// Lists tickets `from..to` as the seller, `SEED_CONCURRENCY` at a time, printing progress.
async fn seed(
    client: &reqwest::Client,
    base: &str,
    seller: &str,
    from: usize,
    to: usize,
) -> anyhow::Result<()> {
    let count = to - from;
    println!("listing {} tickets ({from} → {to})…", thousands(count));
    let started = Instant::now();
    let step = (count / 10).max(1000);
    let mut created = 0;
    let mut stream = futures::stream::iter(from..to)
        .map(|i| async move {
            let (status, body) = post(
                client,
                base,
                "/api/tickets",
                seller,
                json!({ "title": title(i), "price": 10 + i % 490 }),
            )
            .await?;
            ensure!(status == 201, "listing ticket {i} failed: {status} {body}");
            anyhow::Ok(())
        })
        .buffer_unordered(SEED_CONCURRENCY);
    while stream.try_next().await?.is_some() {
        created += 1;
        if created % step == 0 && created < count {
            println!(
                "  {} / {} ({:.0} tickets/s)",
                thousands(created),
                thousands(count),
                created as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    println!(
        "  listed {} in {:.1}s ({:.0} tickets/s)",
        thousands(count),
        started.elapsed().as_secs_f64(),
        count as f64 / started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn title(i: usize) -> String {
    format!("Bench seat {i}")
}

/// The id and title of a listed ticket from the first batch.
async fn first_ticket(client: &reqwest::Client, base: &str) -> anyhow::Result<(String, String)> {
    let response = client
        .get(format!("{base}/api/tickets?limit=50"))
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "GET /api/tickets: {}",
        response.status()
    );
    let body: serde_json::Value = response.json().await?;
    // A bare array today; tolerate a page object (`{tickets: [...], ...}`) too.
    let list = body
        .as_array()
        .or_else(|| body.get("tickets").and_then(|t| t.as_array()))
        .context("GET /api/tickets returned no list")?;
    let ticket = list.first().context("no ticket listed")?;
    Ok((
        ticket["id"].as_str().context("a ticket id")?.to_owned(),
        ticket["title"]
            .as_str()
            .context("a ticket title")?
            .to_owned(),
    ))
}

/// Waits until the events of everything listed so far have been handled, so the event relay
/// is idle while measuring: lists one probe ticket (as another user) and orders it, which
/// succeeds once the orders service has caught up. The probe ends reserved, so unlisted.
async fn settle(
    client: &reqwest::Client,
    base: &str,
    seller: &str,
    prober: &str,
) -> anyhow::Result<()> {
    let id = order_probe(client, base, prober, seller, Duration::from_secs(300)).await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    // The reservation travels back to the tickets service; wait until the probe is unlisted.
    loop {
        let response = client
            .get(format!("{base}/api/tickets/{id}"))
            .send()
            .await?;
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if body.get("orderId").is_some_and(|o| !o.is_null()) {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("the probe ticket was never reserved");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Page {
    name: &'static str,
    path: String,
    /// Text the page must contain (checked once per measurement, not under load).
    expect: Option<String>,
}

struct Sample {
    rate: f64,
    p50: Duration,
    p99: Duration,
    requests: usize,
}

impl Page {
    fn new(name: &'static str, path: String, expect: Option<String>) -> Self {
        Self { name, path, expect }
    }

    /// `CLIENTS` anonymous clients, each sending its next request as soon as the last one is
    /// answered: a warm-up, then `seconds` measured. Any status but 200 fails the run.
    async fn measure(
        &self,
        client: &reqwest::Client,
        base: &str,
        seconds: u64,
    ) -> anyhow::Result<Sample> {
        let url = format!("{base}{}", self.path);
        if let Some(text) = &self.expect {
            let response = client.get(&url).send().await?;
            let status = response.status();
            let body = response.text().await?;
            ensure!(status == 200, "GET {}: status {status}", self.path);
            ensure!(
                body.contains(text.as_str()),
                "GET {} answered 200 without {text:?}",
                self.path
            );
        }
        self.load(client, &url, WARM_UP).await?;
        let started = Instant::now();
        let mut latencies = self
            .load(client, &url, Duration::from_secs(seconds))
            .await?;
        let wall = started.elapsed();
        latencies.sort();
        Ok(Sample {
            rate: latencies.len() as f64 / wall.as_secs_f64(),
            p50: quantile(&latencies, 0.50),
            p99: quantile(&latencies, 0.99),
            requests: latencies.len(),
        })
    }

    /// Runs the closed loop for `duration` (requests in flight then finish) and returns every
    /// request's latency.
    async fn load(
        &self,
        client: &reqwest::Client,
        url: &str,
        duration: Duration,
    ) -> anyhow::Result<Vec<Duration>> {
        let until = Instant::now() + duration;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CLIENTS {
            let (client, url, path) = (client.clone(), url.to_owned(), self.path.clone());
            tasks.spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let begun = Instant::now();
                    let response = client
                        .get(&url)
                        .send()
                        .await
                        .with_context(|| format!("GET {path}"))?;
                    let status = response.status();
                    response
                        .bytes()
                        .await
                        .with_context(|| format!("reading GET {path}"))?;
                    if status != 200 {
                        bail!("GET {path} answered {status}, not 200");
                    }
                    latencies.push(begun.elapsed());
                }
                anyhow::Ok(latencies)
            });
        }
        let mut all = Vec::new();
        while let Some(result) = tasks.join_next().await {
            all.extend(result??);
        }
        Ok(all)
    }
}

/// "landing: 30,000 tickets is 4% slower than 100 (target: within 20%)", by throughput.
fn compare(name: &str, tickets: usize, small: &Sample, big: &Sample) -> String {
    let ratio = small.rate / big.rate.max(f64::MIN_POSITIVE);
    let how = if ratio >= 2.0 {
        format!("{ratio:.1}× slower than")
    } else if ratio >= 1.0 {
        format!("{:.0}% slower than", (ratio - 1.0) * 100.0)
    } else {
        format!("{:.0}% faster than", (1.0 / ratio - 1.0) * 100.0)
    };
    let verdict = if ratio <= 1.0 + TARGET {
        "ok"
    } else {
        "OVER TARGET"
    };
    format!(
        "{name}: {} tickets is {how} {SMALL} (target: within {:.0}%: {verdict}; \
         p50 {:.1} → {:.1} ms)",
        thousands(tickets),
        TARGET * 100.0,
        ms(small.p50),
        ms(big.p50)
    )
}

/// Prints the size on the wire of the site's files, as `cargo xtask build` wrote them: the
/// brotli and gzip copies `/pkg` serves, and the raw file.
fn site_sizes(pkg: &Path, release: bool) -> anyhow::Result<()> {
    let hashes = std::fs::read_to_string(pkg.join("hash.txt")).with_context(|| {
        format!(
            "reading {}/hash.txt (build the site with `cargo xtask build`)",
            pkg.display()
        )
    })?;
    let size = |path: PathBuf| -> anyhow::Result<f64> {
        let bytes = std::fs::metadata(&path)
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        Ok(bytes as f64 / 1024.0)
    };
    println!(
        "
site files on the wire ({}){}:",
        pkg.display(),
        if release {
            " — release build, wasm-opt -Oz when it was available"
        } else {
            " — debug build: only representative with --release (opt-level z, LTO, wasm-opt)"
        }
    );
    for line in hashes.lines() {
        let Some((kind, hash)) = line.split_once(':') else {
            continue;
        };
        let (kind, hash) = (kind.trim(), hash.trim());
        let file = pkg.join(format!("ticketing.{hash}.{kind}"));
        let with = |suffix: &str| {
            let mut name = file.clone().into_os_string();
            name.push(suffix);
            size(PathBuf::from(name))
        };
        println!(
            "  {kind:<4} {:>8.1} KiB brotli  {:>8.1} KiB gzip  {:>8.1} KiB raw",
            with(".br")?,
            with(".gz")?,
            size(file.clone())?
        );
    }
    Ok(())
}

/// 30000 → "30,000".
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let head = digits.len() % 3;
    let mut groups = vec![&digits[..head]];
    groups.extend((head..digits.len()).step_by(3).map(|i| &digits[i..i + 3]));
    groups.retain(|g| !g.is_empty());
    groups.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_groups_digits() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(100), "100");
        assert_eq!(thousands(2000), "2,000");
        assert_eq!(thousands(30000), "30,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }

    fn sample(rate: f64) -> Sample {
        Sample {
            rate,
            p50: Duration::from_millis(10),
            p99: Duration::from_millis(20),
            requests: 1,
        }
    }

    #[test]
    fn compare_words_the_slowdown() {
        let line = compare("landing", 30000, &sample(100.0), &sample(96.0));
        assert!(
            line.starts_with("landing: 30,000 tickets is 4% slower than 100"),
            "{line}"
        );
        assert!(line.contains("ok"), "{line}");
        let line = compare("landing", 30000, &sample(100.0), &sample(10.0));
        assert!(
            line.contains("10.0× slower") && line.contains("OVER TARGET"),
            "{line}"
        );
        let line = compare("landing", 30000, &sample(100.0), &sample(125.0));
        assert!(line.contains("25% faster"), "{line}");
    }
}
