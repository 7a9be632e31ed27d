//! The fault-injection system test: many concurrent purchase flows through nginx while one
//! fault at a time hits the cluster — `kill -9` of an orders replica, a NATS restart,
//! `kill -9` and restart of expiration with reservations pending, PostgreSQL dropping the
//! services' connections, and `kill -9` of both payments replicas with payments in flight.
//! After each, everything acknowledged must be reflected and the system must settle into a
//! correct state ([`ledger::problems`], and the provider's money:
//! [`ledger::provider_problems`]) within [`SETTLE_WITHIN`]; the test prints what it
//! injected and how long settling took.
//!
//! - `faults.rs` (here): the test's rounds, and waiting for the system to settle.
//! - `faults/flows.rs`: the purchase flows, as browsers run them.
//! - `faults/inject.rs`: the faults, and the recovery after each.
//! - `faults/ledger.rs`: what the test was told, and what must then hold in the databases.
//! - `faults/stripe.rs`: a stand-in for Stripe's servers in this process, which the payments
//!   processes pay through (with their real Stripe adapter) and which outlives the kills.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::process::Stopped;
use crate::{Cluster, Options};
use flows::World;
use inject::Fault;
use ledger::Connections;
use stripe::StandIn;

mod flows;
mod inject;
mod ledger;
mod stripe;

/// Reservations lapse this fast, so abandoned orders expire during the test — but well after
/// JetStream's ack wait, so a `payment:created` held by a killed replica still reaches orders
/// inside the window (a payment whose event arrives after its window is refunded instead).
const WINDOW_SECONDS: u64 = 15;
/// Tickets per round; two buyers race for each.
const TICKETS_PER_ROUND: usize = 30;
const SETTLE_WITHIN: Duration = Duration::from_secs(45);
/// `PAYMENT_STALE_SECONDS` of the cluster: a payment in flight this long was abandoned (the
/// stand-in answers in milliseconds, so no live attempt takes that long), and the payments
/// sweeper settles it within a quarter more.
const PAYMENT_STALE_SECONDS: u64 = 10;

pub async fn run(binary: PathBuf, root: PathBuf, nginx: PathBuf) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let began = Instant::now();
    let mut options = Options::throwaway(&binary, &root, &nginx, dir.path(), "faults")?;
    let stripe = StandIn::start().await?;
    options.env = vec![
        (
            "EXPIRATION_WINDOW_SECONDS".into(),
            WINDOW_SECONDS.to_string(),
        ),
        (
            "PAYMENT_STALE_SECONDS".into(),
            PAYMENT_STALE_SECONDS.to_string(),
        ),
        ("STRIPE_SECRET_KEY".into(), stripe::SECRET_KEY.into()),
        ("STRIPE_API_BASE".into(), stripe.base.clone()),
        ("RUST_LOG".into(), "info".into()),
    ];
    let mut cluster = Cluster::start(options).await?;
    println!(
        "cluster up in {:.1} s: nginx at {}, NATS at {} (the test's own), logs in {}",
        began.elapsed().as_secs_f64(),
        cluster.url(),
        cluster.nats_url(),
        cluster.log_dir().display()
    );
    let result = exercise(&mut cluster, stripe).await;
    if result.is_err() {
        // Keep the logs for whoever reads the failure.
        let kept = dir.keep();
        println!("(cluster logs kept in {})", kept.join("logs").display());
    }
    let stopped = cluster.stop().await;
    result?;
    println!("\nSIGTERM to every process:");
    for s in &stopped {
        println!("  {s}");
    }
    let unclean = Stopped::unclean(&stopped, &[]);
    if !unclean.is_empty() {
        bail!("not stopped with exit 0 within 10 s: {unclean:?}");
    }
    Ok(())
}

async fn exercise(cluster: &mut Cluster, stripe: StandIn) -> anyhow::Result<()> {
    let dbs = Connections::open(cluster).await?;
    let world = World::sign_up(cluster.url(), stripe).await?;
    for (round, fault) in Fault::ALL.into_iter().enumerate() {
        println!("\n== round {}: {fault}", round + 1);
        let started = Instant::now();
        let flows: Vec<_> = (0..TICKETS_PER_ROUND)
            .map(|i| tokio::spawn(flows::flow(world.clone(), round * TICKETS_PER_ROUND + i)))
            .collect();
        inject::inject(cluster, &world, &dbs, fault, started).await?;
        for flow in flows {
            flow.await.context("a flow panicked")??;
        }
        let flows_done = Instant::now();
        println!(
            "   flows done {:.1} s after the round began",
            (flows_done - started).as_secs_f64()
        );
        inject::recover(cluster, fault).await?;
        let settled = settle(&world, &dbs).await?;
        let acks = world.ledger.snapshot();
        println!(
            "   settled {:.1} s after the flows ended (reservations lapse after {WINDOW_SECONDS} s); \
             so far acknowledged {} tickets, {} orders, {} payments, {} cancellations; \
             {} refused, {} unanswered; {}",
            settled.as_secs_f64(),
            acks.tickets.len(),
            acks.orders.len(),
            acks.paid.len(),
            acks.cancelled.len(),
            acks.refused,
            acks.unanswered,
            ledger::counts(&dbs).await?
        );
    }
    Ok(())
}

/// Waits until no problem remains; fails with the problems if they outlast the limit.
async fn settle(world: &World, dbs: &Connections) -> anyhow::Result<Duration> {
    let began = Instant::now();
    loop {
        let mut problems = ledger::problems(&world.ledger.snapshot(), dbs).await?;
        problems.extend(ledger::provider_problems(dbs, &world.stripe.money()).await?);
        if problems.is_empty() {
            return Ok(began.elapsed());
        }
        if began.elapsed() > SETTLE_WITHIN {
            let shown: Vec<&String> = problems.iter().take(20).collect();
            bail!(
                "not settled {} s after the flows ended; {} problems, first: {shown:#?}",
                SETTLE_WITHIN.as_secs(),
                problems.len()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
