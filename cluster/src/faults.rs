//! The fault-injection system test: many concurrent purchase flows through nginx while one
//! fault at a time hits the cluster — `kill -9` of an orders replica, a NATS restart,
//! `kill -9` and restart of expiration with reservations pending, PostgreSQL dropping the
//! services' connections, and `kill -9` of both payments replicas with payments in flight.
//! After each, everything acknowledged must be reflected and the system must settle into a
//! correct state ([`crate::ledger::problems`], and the provider's money:
//! [`crate::ledger::provider_problems`]) within [`SETTLE_WITHIN`]; the test prints what it
//! injected and how long settling took. Payments go through the Stripe adapter to a stand-in
//! for Stripe's servers in this process ([`crate::stripe`]), which outlives the kills.
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::ledger::{self, Databases, Ledger};
use crate::stripe::{self as standin, StandIn};
use crate::{Cluster, Options};

/// Reservations lapse this fast, so abandoned orders expire during the test — but well after
/// JetStream's ack wait, so a `payment:created` held by a killed replica still reaches orders
/// inside the window (a payment whose event arrives after its window is refunded instead).
const WINDOW_SECONDS: u64 = 15;
/// Tickets per round; two buyers race for each.
const TICKETS_PER_ROUND: usize = 30;
const BUYERS: usize = 20;
const SETTLE_WITHIN: Duration = Duration::from_secs(45);
/// `PAYMENT_STALE_SECONDS` of the cluster: a payment in flight this long was abandoned (the
/// stand-in answers in milliseconds, so no live attempt takes that long), and the payments
/// sweeper settles it within a quarter more.
const PAYMENT_STALE_SECONDS: u64 = 10;
/// After both payments replicas are ready again, nginx must route to them within this.
const GATEWAY_BACK_WITHIN: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
enum Fault {
    KillOrdersReplica,
    RestartNats,
    KillExpiration,
    DropDatabaseConnections,
    KillBothPayments,
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KillOrdersReplica => "kill -9 of orders-1 mid-flow",
            Self::RestartNats => "NATS server restart mid-flow (down 2 s)",
            Self::KillExpiration => {
                "kill -9 of expiration with reservations pending, restart after the window"
            }
            Self::DropDatabaseConnections => {
                "pg_terminate_backend on every service's connections, twice"
            }
            Self::KillBothPayments => {
                "kill -9 of both payments replicas with payments in flight, restarted at once"
            }
        })
    }
}

#[derive(Clone)]
struct Person {
    id: String,
    cookie: String,
}

#[derive(Clone)]
struct World {
    http: reqwest::Client,
    base: String,
    ledger: Arc<Ledger>,
    stripe: StandIn,
    sellers: Vec<Person>,
    buyers: Vec<Person>,
}

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
        ("STRIPE_SECRET_KEY".into(), standin::SECRET_KEY.into()),
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
    let mut unclean = Vec::new();
    for s in &stopped {
        println!(
            "  {:<12} exit {:?} in {:.2} s",
            s.name,
            s.code,
            s.took.as_secs_f64()
        );
        // The test's own NATS server is not part of the product.
        if !s.clean() && s.name != "nats-server" {
            unclean.push(s.name.clone());
        }
    }
    if !unclean.is_empty() {
        bail!("not stopped with exit 0 within 10 s: {unclean:?}");
    }
    Ok(())
}

async fn exercise(cluster: &mut Cluster, stripe: StandIn) -> anyhow::Result<()> {
    let connect = |service: &str| {
        let url = cluster.database_url(service).map(str::to_owned);
        async move { common::db::connect(&url.context("a database")?).await }
    };
    let dbs = Databases {
        tickets: connect("tickets").await?,
        orders: connect("orders").await?,
        expiration: connect("expiration").await?,
        payments: connect("payments").await?,
    };
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(15))
        .pool_max_idle_per_host(64)
        .build()?;
    let base = cluster.url();
    let mut world = World {
        http,
        base,
        ledger: Arc::new(Ledger::default()),
        stripe,
        sellers: Vec::new(),
        buyers: Vec::new(),
    };
    web_tier_answers(&world).await?;
    for i in 0..3 {
        world
            .sellers
            .push(sign_up(&world, &format!("seller{i}")).await?);
    }
    for i in 0..BUYERS {
        world
            .buyers
            .push(sign_up(&world, &format!("buyer{i}")).await?);
    }

    let faults = [
        Fault::KillOrdersReplica,
        Fault::RestartNats,
        Fault::KillExpiration,
        Fault::DropDatabaseConnections,
        Fault::KillBothPayments,
    ];
    for (round, fault) in faults.into_iter().enumerate() {
        println!("\n== round {}: {fault}", round + 1);
        let started = Instant::now();
        let flows: Vec<_> = (0..TICKETS_PER_ROUND)
            .map(|i| tokio::spawn(flow(world.clone(), round * TICKETS_PER_ROUND + i)))
            .collect();
        inject(cluster, &world, &dbs, fault, started).await?;
        for flow in flows {
            flow.await.context("a flow panicked")??;
        }
        let flows_done = Instant::now();
        println!(
            "   flows done {:.1} s after the round began",
            (flows_done - started).as_secs_f64()
        );
        recover(cluster, fault).await?;
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
async fn settle(world: &World, dbs: &Databases) -> anyhow::Result<Duration> {
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

async fn inject(
    cluster: &mut Cluster,
    world: &World,
    dbs: &Databases,
    fault: Fault,
    started: Instant,
) -> anyhow::Result<()> {
    let at = |ms: u64| started + Duration::from_millis(ms);
    let say = |what: &str| println!("   {:>5.2} s  {what}", started.elapsed().as_secs_f64());
    match fault {
        Fault::KillOrdersReplica => {
            tokio::time::sleep_until(at(400).into()).await;
            cluster.kill("orders-1").await?;
            say("kill -9 orders-1");
        }
        Fault::RestartNats => {
            tokio::time::sleep_until(at(400).into()).await;
            say("stopping NATS");
            cluster.restart_nats(Duration::from_secs(2)).await?;
            say("NATS is back");
        }
        Fault::KillExpiration => {
            tokio::time::sleep_until(at(1500).into()).await;
            cluster.kill("expiration").await?;
            say("kill -9 expiration");
            // The window of what was reserved so far passes while it is down.
            tokio::time::sleep(Duration::from_secs(WINDOW_SECONDS + 1)).await;
            let took = cluster.restart("expiration").await?;
            say(&format!(
                "expiration restarted (ready in {:.1} s)",
                took.as_secs_f64()
            ));
        }
        Fault::DropDatabaseConnections => {
            let admin = std::env::var("DATABASE_URL").context("DATABASE_URL")?;
            let admin = common::db::connect(&admin).await?;
            for ms in [300, 1200] {
                tokio::time::sleep_until(at(ms).into()).await;
                let dropped = terminate_backends(&admin, cluster).await?;
                say(&format!(
                    "pg_terminate_backend: {dropped} service connections dropped"
                ));
            }
            admin.close().await.ok();
        }
        Fault::KillBothPayments => {
            // Mid-payment for certain: as soon as payments are in flight.
            let deadline = started + Duration::from_secs(WINDOW_SECONDS - 3);
            while in_flight(dbs).await?.len() < 2 {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "no payments were in flight to kill"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            cluster.kill("payments-1").await?;
            cluster.kill("payments-2").await?;
            say("kill -9 payments-1 and payments-2");
            let stuck = in_flight(dbs).await?;
            say(&format!(
                "{} payments left in flight: {}",
                stuck.len(),
                stuck.join(", ")
            ));
            let took = cluster.restart_all(&["payments-1", "payments-2"]).await?;
            let ready = Instant::now();
            say(&format!(
                "payments-1 and payments-2 restarted (ready in {:.2} s)",
                took.as_secs_f64()
            ));
            let back = gateway_back(world, ready).await?;
            say(&format!(
                "nginx routes to payments {:.2} s after the replicas were ready",
                back.as_secs_f64()
            ));
            anyhow::ensure!(
                back <= GATEWAY_BACK_WITHIN,
                "nginx took {:.1} s to route to the restarted payments replicas",
                back.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Payments in flight now, as `id (status)`.
async fn in_flight(dbs: &Databases) -> anyhow::Result<Vec<String>> {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = "SELECT id::text AS id, status FROM payments.payments \
               WHERE status IN ('authorizing', 'capturing')";
    let rows = dbs
        .payments
        .query_all(Statement::from_string(
            dbs.payments.get_database_backend(),
            sql,
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(format!(
                "{} ({})",
                row.try_get::<String>("", "id")?,
                row.try_get::<String>("", "status")?
            ))
        })
        .collect()
}

/// How long after `ready` nginx answers a payments request with the service's own answer
/// (anything but a 5xx), polling every 50 ms.
async fn gateway_back(world: &World, ready: Instant) -> anyhow::Result<Duration> {
    let buyer = world.buyers.first().context("a buyer")?;
    let url = format!(
        "{}/api/payments?orderId={}",
        world.base,
        uuid::Uuid::new_v4()
    );
    loop {
        let answered = world
            .http
            .get(&url)
            .header("cookie", &buyer.cookie)
            .send()
            .await
            .is_ok_and(|r| !r.status().is_server_error());
        if answered {
            return Ok(ready.elapsed());
        }
        if ready.elapsed() > Duration::from_secs(30) {
            bail!("nginx did not route to payments within 30 s of the replicas being ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn recover(cluster: &mut Cluster, fault: Fault) -> anyhow::Result<()> {
    if let Fault::KillOrdersReplica = fault {
        let took = cluster.restart("orders-1").await?;
        println!(
            "   orders-1 restarted (ready in {:.1} s)",
            took.as_secs_f64()
        );
    }
    Ok(())
}

async fn terminate_backends(
    admin: &sea_orm::DatabaseConnection,
    cluster: &Cluster,
) -> anyhow::Result<u64> {
    use sea_orm::{ConnectionTrait, Statement};
    let names: Vec<String> = crate::DATABASES
        .iter()
        .filter_map(|s| cluster.database_url(s))
        .filter_map(|url| url.rsplit('/').next())
        .map(|name| format!("'{}'", name.split('?').next().unwrap_or(name)))
        .collect();
    let sql = format!(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname IN ({}) AND pid <> pg_backend_pid()",
        names.join(", ")
    );
    let row = admin
        .query_one(Statement::from_string(admin.get_database_backend(), sql))
        .await?
        .context("a count")?;
    Ok(row.try_get::<i64>("", "n")? as u64)
}

/// One ticket's story: a seller lists it, two buyers race for it, and the winner pays,
/// cancels or walks away (by the ticket's number).
async fn flow(world: World, n: usize) -> anyhow::Result<()> {
    let seller = &world.sellers[n % world.sellers.len()];
    let title = format!("Seat {n}");
    let price = 10 + (n % 40) as i64;
    let ticket = loop {
        match call(
            &world,
            reqwest::Method::POST,
            "/api/tickets",
            seller,
            Some(json!({ "title": title, "price": price })),
        )
        .await
        {
            Answer::Ok(body) => {
                let id = body["id"].as_str().context("a ticket id")?.to_owned();
                world.ledger.record(|a| {
                    a.tickets.insert(id.clone(), (title.clone(), price * 100));
                });
                break id;
            }
            Answer::Refused(status, body) => bail!("listing a ticket was refused: {status} {body}"),
            Answer::Unanswered => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    };
    let racers = [n % world.buyers.len(), (n + 7) % world.buyers.len()];
    let races = racers.map(|b| {
        let world = world.clone();
        let ticket = ticket.clone();
        tokio::spawn(async move { reserve(&world, &world.buyers[b], &ticket).await })
    });
    // Both can be acknowledged only if the first order lapsed while the second buyer was
    // retrying; the ledger checks that no two were ever live at once.
    let mut winner = None;
    for (race, b) in races.into_iter().zip(racers) {
        if let Some(order) = race.await.context("a buyer panicked")?? {
            winner.get_or_insert((order, b));
        }
    }
    let Some((order, b)) = winner else {
        return Ok(()); // neither got an answer in time: nothing acknowledged to check
    };
    let buyer = &world.buyers[b];
    match n % 5 {
        0..=2 => pay(&world, buyer, &order).await,
        3 => cancel(&world, buyer, &order).await,
        _ => Ok(()), // walks away: the reservation must lapse
    }
}

/// Orders `ticket`; Some(order id) when acknowledged. Retries while the orders service has
/// not heard of the ticket yet, or the request got no answer.
async fn reserve(world: &World, buyer: &Person, ticket: &str) -> anyhow::Result<Option<String>> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match call(
            world,
            reqwest::Method::POST,
            "/api/orders",
            buyer,
            Some(json!({ "ticketId": ticket })),
        )
        .await
        {
            Answer::Ok(body) => {
                let id = body["id"].as_str().context("an order id")?.to_owned();
                world.ledger.record(|a| {
                    a.orders
                        .insert(id.clone(), (ticket.to_owned(), buyer.id.clone()));
                });
                return Ok(Some(id));
            }
            Answer::Refused(404, _) | Answer::Unanswered => {}
            Answer::Refused(_, _) => return Ok(None), // someone else has it
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Ok(None)
}

async fn pay(world: &World, buyer: &Person, order: &str) -> anyhow::Result<()> {
    // Inside the window only; later the order has lapsed and paying must be refused.
    let deadline = Instant::now() + Duration::from_secs(WINDOW_SECONDS - 1);
    while Instant::now() < deadline {
        let body = json!({ "orderId": order, "token": "tok_visa" });
        match call(
            world,
            reqwest::Method::POST,
            "/api/payments",
            buyer,
            Some(body),
        )
        .await
        {
            Answer::Ok(..) => {
                world.ledger.record(|a| {
                    a.paid.insert(order.to_owned());
                });
                return Ok(());
            }
            // Payments has not heard of the order yet, or the answer was lost.
            Answer::Refused(404, _) | Answer::Unanswered => {}
            Answer::Refused(_, _) => return Ok(()),
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    Ok(())
}

async fn cancel(world: &World, buyer: &Person, order: &str) -> anyhow::Result<()> {
    for _ in 0..20 {
        match call(
            world,
            reqwest::Method::DELETE,
            &format!("/api/orders/{order}"),
            buyer,
            None,
        )
        .await
        {
            Answer::Ok(..) => {
                world.ledger.record(|a| {
                    a.cancelled.insert(order.to_owned());
                });
                return Ok(());
            }
            Answer::Refused(_, _) => return Ok(()),
            Answer::Unanswered => tokio::time::sleep(Duration::from_millis(150)).await,
        }
    }
    Ok(())
}

enum Answer {
    Ok(Value),
    /// A 4xx: the system answered, and said no.
    Refused(u16, String),
    /// No response, or a 5xx (502 from nginx, 503 while a dependency is down).
    Unanswered,
}

async fn call(
    world: &World,
    method: reqwest::Method,
    path: &str,
    who: &Person,
    body: Option<Value>,
) -> Answer {
    let mut request = world
        .http
        .request(method, format!("{}{path}", world.base))
        .header("cookie", &who.cookie);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let answer = match request.send().await {
        Err(_) => Answer::Unanswered,
        Ok(response) => {
            let status = response.status().as_u16();
            let text = response.text().await.unwrap_or_default();
            match status {
                200..=299 => Answer::Ok(serde_json::from_str(&text).unwrap_or(Value::Null)),
                400..=499 => Answer::Refused(status, text),
                _ => Answer::Unanswered,
            }
        }
    };
    world.ledger.record(|a| match &answer {
        Answer::Refused(..) => a.refused += 1,
        Answer::Unanswered => a.unanswered += 1,
        Answer::Ok(..) => {}
    });
    answer
}

/// Through nginx, as a browser: a page renders and a server function answers (it is refused
/// unless the gateway passes the Host the browser's Origin names).
async fn web_tier_answers(world: &World) -> anyhow::Result<()> {
    let page = world.http.get(format!("{}/", world.base)).send().await?;
    anyhow::ensure!(
        page.status() == 200,
        "the landing page answered {}",
        page.status()
    );
    let call = world
        .http
        .post(format!("{}/_fn/current_user", world.base))
        .header("origin", &world.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .send()
        .await?;
    let status = call.status();
    anyhow::ensure!(
        status == 200,
        "a server function through nginx answered {status}: {}",
        call.text().await.unwrap_or_default()
    );
    println!("web tier through nginx: a page and a server function answer");
    Ok(())
}

async fn sign_up(world: &World, name: &str) -> anyhow::Result<Person> {
    let email = format!("{name}-{}@faults.example", uuid::Uuid::new_v4().simple());
    let response = world
        .http
        .post(format!("{}/api/users/signup", world.base))
        .json(&json!({ "email": email, "password": "secret-pass-1" }))
        .send()
        .await?;
    let reply = common::testing::TestResponse::read(response).await;
    anyhow::ensure!(reply.status == 201, "signup failed: {}", reply.status);
    let id = reply.json()["id"].as_str().context("a user id")?.to_owned();
    let cookie = reply.cookie_header();
    Ok(Person { id, cookie })
}
