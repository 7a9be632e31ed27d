//! What the fault test was told (every acknowledged request) and what must be true of the
//! services' databases once the system has settled.
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use anyhow::Context;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::stripe::Money;
use crate::Cluster;

/// Requests the system acknowledged (a 2xx reached the client), and how many were not.
#[derive(Default)]
pub struct Ledger {
    inner: Mutex<Acks>,
}

#[derive(Default, Clone)]
pub struct Acks {
    /// ticket id → (title, price in cents)
    pub tickets: BTreeMap<String, (String, i64)>,
    /// order id → (ticket id, buyer id)
    pub orders: BTreeMap<String, (String, String)>,
    /// orders whose payment was acknowledged
    pub paid: BTreeSet<String>,
    /// orders whose cancellation was acknowledged
    pub cancelled: BTreeSet<String>,
    /// requests that got no answer, or a 5xx: their effect is unknown
    pub unanswered: u64,
    /// definite refusals (4xx), e.g. a ticket someone else reserved first
    pub refused: u64,
}

impl Ledger {
    pub fn record(&self, change: impl FnOnce(&mut Acks)) {
        change(&mut self.inner.lock().unwrap_or_else(|p| p.into_inner()));
    }

    pub fn snapshot(&self) -> Acks {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// One connection per service database the checks read.
pub struct Connections {
    pub tickets: DatabaseConnection,
    pub orders: DatabaseConnection,
    pub expiration: DatabaseConnection,
    pub payments: DatabaseConnection,
}

impl Connections {
    pub async fn open(cluster: &Cluster) -> anyhow::Result<Self> {
        let connect = |service: &str| {
            let url = cluster.database_url(service).map(str::to_owned);
            async move { common::db::connect(&url.context("a database")?).await }
        };
        Ok(Self {
            tickets: connect("tickets").await?,
            orders: connect("orders").await?,
            expiration: connect("expiration").await?,
            payments: connect("payments").await?,
        })
    }

    /// The services with an outbox (auth publishes nothing).
    fn publishers(&self) -> [(&'static str, &DatabaseConnection); 4] {
        [
            ("tickets", &self.tickets),
            ("orders", &self.orders),
            ("expiration", &self.expiration),
            ("payments", &self.payments),
        ]
    }
}

type Row = Vec<String>;

/// Every row of `sql` as text columns (the query casts what it selects to text).
async fn rows(db: &DatabaseConnection, sql: &str, columns: usize) -> anyhow::Result<Vec<Row>> {
    let result = db
        .query_all(Statement::from_string(db.get_database_backend(), sql))
        .await?;
    result
        .iter()
        .map(|row| {
            (0..columns)
                .map(|i| {
                    Ok(row
                        .try_get_by_index::<Option<String>>(i)?
                        .unwrap_or_default())
                })
                .collect::<Result<Row, sea_orm::DbErr>>()
        })
        .collect::<Result<_, _>>()
        .map_err(Into::into)
}

const LIVE: [&str; 3] = ["created", "awaiting:payment", "complete"];

/// Everything that must hold once the system has settled; each problem as a line. Empty
/// means settled and correct.
pub async fn problems(acks: &Acks, dbs: &Connections) -> anyhow::Result<Vec<String>> {
    let mut problems = Vec::new();
    let tickets = rows(
        &dbs.tickets,
        "SELECT id::text, title, price_cents::text, version::text, order_id::text FROM tickets.tickets",
        5,
    )
    .await?;
    let orders = rows(
        &dbs.orders,
        "SELECT id::text, ticket_id::text, user_id::text, status, version::text FROM orders.orders",
        5,
    )
    .await?;
    let ticket_replica = rows(
        &dbs.orders,
        "SELECT id::text, title, price_cents::text, version::text FROM orders.tickets",
        4,
    )
    .await?;
    let order_replica = rows(
        &dbs.payments,
        "SELECT id::text, status, version::text FROM payments.orders",
        3,
    )
    .await?;
    let payments = rows(
        &dbs.payments,
        "SELECT id::text, order_id::text, status FROM payments.payments",
        3,
    )
    .await?;

    // Every acknowledged request is reflected.
    let ticket_by_id: BTreeMap<&str, &Row> = tickets.iter().map(|t| (t[0].as_str(), t)).collect();
    for (id, (title, price)) in &acks.tickets {
        match ticket_by_id.get(id.as_str()) {
            None => problems.push(format!("acknowledged ticket {id} is missing")),
            Some(t) if t[1] != *title || t[2] != price.to_string() => problems.push(format!(
                "ticket {id} is {:?}/{}, not {title:?}/{price}",
                t[1], t[2]
            )),
            Some(_) => {}
        }
    }
    let order_by_id: BTreeMap<&str, &Row> = orders.iter().map(|o| (o[0].as_str(), o)).collect();
    for (id, (ticket, user)) in &acks.orders {
        match order_by_id.get(id.as_str()) {
            None => problems.push(format!("acknowledged order {id} is missing")),
            Some(o) if o[1] != *ticket || o[2] != *user => problems.push(format!(
                "order {id} is for {}/{}, not {ticket}/{user}",
                o[1], o[2]
            )),
            Some(_) => {}
        }
    }

    // Every order ends in the right state.
    let mut captured: BTreeMap<&str, usize> = BTreeMap::new();
    for p in &payments {
        if p[2] == "captured" {
            *captured.entry(p[1].as_str()).or_default() += 1;
        }
    }
    for order in &orders {
        let (id, status) = (order[0].as_str(), order[3].as_str());
        let paid = captured.get(id).copied().unwrap_or(0);
        match status {
            "created" | "awaiting:payment" => {
                problems.push(format!("order {id} is still {status} after its window"))
            }
            "complete" if paid != 1 => problems.push(format!(
                "order {id} is complete with {paid} captured payments"
            )),
            "cancelled" if paid > 0 => problems.push(format!(
                "order {id} is cancelled but a payment was captured"
            )),
            _ => {}
        }
        if acks.paid.contains(id) && status != "complete" {
            problems.push(format!(
                "order {id}'s payment was acknowledged, but it is {status}"
            ));
        }
        if acks.cancelled.contains(id) && status != "cancelled" {
            problems.push(format!(
                "order {id}'s cancellation was acknowledged, but it is {status}"
            ));
        }
    }
    for p in &payments {
        // Nothing stays in flight: a payment whose process died is settled by the sweeper.
        if p[2] == "authorizing" || p[2] == "capturing" {
            problems.push(format!(
                "payment {} of order {} is still {}",
                p[0], p[1], p[2]
            ));
        }
        if p[2] == "captured" && !order_by_id.contains_key(p[1].as_str()) {
            problems.push(format!(
                "payment {} captured for an unknown order {}",
                p[0], p[1]
            ));
        }
    }

    // No ticket has two live orders, and each ticket points at its completed order.
    let mut live: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for order in &orders {
        if LIVE.contains(&order[3].as_str()) {
            live.entry(order[1].as_str())
                .or_default()
                .push(order[0].as_str());
        }
    }
    for (ticket, ids) in &live {
        if ids.len() > 1 {
            problems.push(format!(
                "ticket {ticket} has {} live orders: {ids:?}",
                ids.len()
            ));
        }
    }
    for ticket in &tickets {
        let expected = live
            .get(ticket[0].as_str())
            .and_then(|ids| ids.first())
            .copied()
            .unwrap_or("");
        if ticket[4] != expected {
            problems.push(format!(
                "ticket {} is reserved by {:?}, its live order is {expected:?}",
                ticket[0], ticket[4]
            ));
        }
    }

    // Every replica has converged.
    let replica: BTreeSet<&[String]> = ticket_replica.iter().map(Vec::as_slice).collect();
    for ticket in &tickets {
        if !replica.contains(&ticket[..4]) {
            problems.push(format!(
                "orders' replica of ticket {} differs from tickets'",
                ticket[0]
            ));
        }
    }
    if ticket_replica.len() != tickets.len() {
        problems.push(format!(
            "orders knows {} tickets, tickets has {}",
            ticket_replica.len(),
            tickets.len()
        ));
    }
    let replica: BTreeMap<&str, (&str, &str)> = order_replica
        .iter()
        .map(|o| (o[0].as_str(), (o[1].as_str(), o[2].as_str())))
        .collect();
    for order in &orders {
        if replica.get(order[0].as_str()) != Some(&(order[3].as_str(), order[4].as_str())) {
            problems.push(format!(
                "payments' replica of order {} differs from orders'",
                order[0]
            ));
        }
    }

    // Every outbox is drained.
    for (service, db) in dbs.publishers() {
        let pending = count(db, &format!("{service}.outbox WHERE sent_at IS NULL")).await?;
        if pending != "0" {
            problems.push(format!("{service}'s outbox holds {pending} unsent events"));
        }
    }
    Ok(problems)
}

/// How many rows each table holds (for the report).
pub async fn counts(dbs: &Connections) -> anyhow::Result<String> {
    let tickets = count(&dbs.tickets, "tickets.tickets").await?;
    let orders = count(&dbs.orders, "orders.orders").await?;
    let complete = count(&dbs.orders, "orders.orders WHERE status = 'complete'").await?;
    let captured = count(&dbs.payments, "payments.payments WHERE status = 'captured'").await?;
    Ok(format!(
        "{tickets} tickets, {orders} orders ({complete} complete), {captured} captured payments"
    ))
}

/// `SELECT count(*) FROM <from>`, as text.
async fn count(db: &DatabaseConnection, from: &str) -> anyhow::Result<String> {
    let sql = format!("SELECT count(*)::text FROM {from}");
    let rows = rows(db, &sql, 1).await?;
    Ok(rows
        .first()
        .and_then(|r| r.first())
        .cloned()
        .unwrap_or_default())
}

/// The provider's side: a complete order keeps exactly one charge, a cancelled one none, and
/// no hold is left open.
pub async fn provider_problems(
    dbs: &Connections,
    money: &BTreeMap<String, Money>,
) -> anyhow::Result<Vec<String>> {
    let orders = rows(&dbs.orders, "SELECT id::text, status FROM orders.orders", 2).await?;
    let mut problems = Vec::new();
    for order in &orders {
        let (id, status) = (order[0].as_str(), order[1].as_str());
        let held = money.get(id).copied().unwrap_or_default();
        match status {
            "complete" if held.kept != 1 => problems.push(format!(
                "order {id} is complete but the provider kept {} charges",
                held.kept
            )),
            "cancelled" if held.kept > 0 => problems.push(format!(
                "order {id} is cancelled but the provider kept {} charges",
                held.kept
            )),
            _ => {}
        }
        if held.held > 0 {
            problems.push(format!(
                "order {id} has {} holds left open at the provider",
                held.held
            ));
        }
    }
    Ok(problems)
}
