//! The few API calls the benchmarks make.
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

/// Signs up `<name>-<pid>@bench.example` and returns its cookies as a `Cookie` header value.
pub async fn sign_up(client: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let email = format!("{name}-{}@bench.example", std::process::id());
    let response = client
        .post(format!("{base}/api/users/signup"))
        .json(&json!({ "email": email, "password": "secret1" }))
        .send()
        .await?;
    let reply = common::testing::TestResponse::read(response).await;
    if reply.status != 201 {
        bail!("signup failed: {}", reply.status);
    }
    let cookie = reply.cookie_header();
    Ok(cookie)
}

/// POSTs a JSON body with the given cookies; returns the status and the JSON body (or null).
pub async fn post(
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

/// Lists "Seat `i`" at $25 as `seller` (`POST /api/tickets`).
pub async fn list_seat(
    client: &reqwest::Client,
    base: &str,
    seller: &str,
    i: usize,
) -> anyhow::Result<(u16, Value)> {
    post(
        client,
        base,
        "/api/tickets",
        seller,
        json!({ "title": format!("Seat {i}"), "price": 25 }),
    )
    .await
}

/// Orders `ticket_id` as `buyer` (`POST /api/orders`): the call every benchmark times.
pub async fn order(
    client: &reqwest::Client,
    base: &str,
    buyer: &str,
    ticket_id: &str,
) -> anyhow::Result<(u16, Value)> {
    post(
        client,
        base,
        "/api/orders",
        buyer,
        json!({ "ticketId": ticket_id }),
    )
    .await
}

/// Lists a probe ticket as `prober`, then orders it as `buyer` until that succeeds within
/// `limit`: the orders service applies ticket events in order, so by then it knows every
/// ticket listed before the probe. Returns the probe's id (left reserved).
pub async fn order_probe(
    client: &reqwest::Client,
    base: &str,
    prober: &str,
    buyer: &str,
    limit: Duration,
) -> anyhow::Result<String> {
    let (status, probe) = post(
        client,
        base,
        "/api/tickets",
        prober,
        json!({ "title": "probe", "price": 1 }),
    )
    .await?;
    if status != 201 {
        bail!("listing the probe ticket failed: {status}");
    }
    let id = probe["id"].as_str().context("a ticket id")?.to_owned();
    let deadline = Instant::now() + limit;
    loop {
        let (status, _) = order(client, base, buyer, &id).await?;
        if status == 201 {
            return Ok(id);
        }
        if Instant::now() > deadline {
            bail!("the orders service never caught up with the listings (last status {status})");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The market a burst runs on: a seller with `count` tickets listed and `count` buyers signed
/// up (cookies), returned once the orders service knows every ticket (see [`order_probe`]).
/// Returns the seller's cookie, the ticket ids and the buyers' cookies.
pub async fn market(
    client: &reqwest::Client,
    base: &str,
    count: usize,
) -> anyhow::Result<(String, Vec<String>, Vec<String>)> {
    let seller = sign_up(client, base, "seller").await?;
    let mut tickets = Vec::with_capacity(count);
    for i in 0..count {
        let ticket = list_seat(client, base, &seller, i).await?;
        tickets.push(ticket.1["id"].as_str().context("a ticket id")?.to_owned());
    }
    let mut buyers = Vec::with_capacity(count);
    for i in 0..count {
        buyers.push(sign_up(client, base, &format!("buyer{i}")).await?);
    }
    // The orders service learns tickets from events: wait until it knows the last one.
    let prober = sign_up(client, base, "probe").await?;
    order_probe(client, base, &prober, &seller, Duration::from_secs(60)).await?;
    Ok((seller, tickets, buyers))
}
