//! The purchase flows the fault test runs through nginx, as browsers would: sellers list
//! tickets, two buyers race for each, and the winner pays, cancels or walks away. Every
//! acknowledged request goes into the [`Ledger`]; a request without an answer (or with a
//! 5xx) is retried where a person would retry it.
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use super::ledger::Ledger;
use super::stripe::StandIn;
use super::WINDOW_SECONDS;

const SELLERS: usize = 3;
const BUYERS: usize = 20;

#[derive(Clone)]
pub(super) struct Person {
    id: String,
    pub(super) cookie: String,
}

/// The people, and what they and the test share: the client, the gateway, the ledger and
/// the provider's stand-in.
#[derive(Clone)]
pub(super) struct World {
    pub(super) http: reqwest::Client,
    pub(super) base: String,
    pub(super) ledger: Arc<Ledger>,
    pub(super) stripe: StandIn,
    sellers: Vec<Person>,
    pub(super) buyers: Vec<Person>,
}

impl World {
    /// Checks the web tier answers through the gateway at `base`, then signs up the sellers
    /// and the buyers.
    pub(super) async fn sign_up(base: String, stripe: StandIn) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .pool_max_idle_per_host(64)
            .build()?;
        let mut world = World {
            http,
            base,
            ledger: Arc::new(Ledger::default()),
            stripe,
            sellers: Vec::new(),
            buyers: Vec::new(),
        };
        web_tier_answers(&world).await?;
        for i in 0..SELLERS {
            world
                .sellers
                .push(sign_up(&world, &format!("seller{i}")).await?);
        }
        for i in 0..BUYERS {
            world
                .buyers
                .push(sign_up(&world, &format!("buyer{i}")).await?);
        }
        Ok(world)
    }
}

/// One ticket's story: a seller lists it, two buyers race for it, and the winner pays,
/// cancels or walks away (by the ticket's number).
pub(super) async fn flow(world: World, n: usize) -> anyhow::Result<()> {
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
