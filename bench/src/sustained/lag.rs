//! The event lag of every order, read from the two outboxes once the load has stopped: from
//! the order's `order:created` row (orders service) to the `ticket:updated` row with which the
//! tickets service reserved its ticket. Both are written in the transaction that made the
//! change, so their `created_at`s are when each service acted, whatever the HTTP queue did.
//! The same rows, grouped by the second of the run the order was written in, show whether
//! the lag grows while the load lasts.
use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseConnection, QueryResult, Statement};

use super::Target;
use crate::stats::{ms, quantile};

/// How long after the run the tickets service gets to reserve the last tickets.
const PATIENCE: Duration = Duration::from_secs(30);
/// How often it is asked meanwhile (after the run, so this disturbs nothing).
const POLL: Duration = Duration::from_millis(200);

/// The newest row of each outbox before a run, so reading the lag skips what came before
/// (the listing, a preload).
#[derive(Clone, Copy)]
pub struct Since {
    orders: i64,
    tickets: i64,
}

pub struct Lags {
    /// One per measured order that was reserved in time, sorted.
    pub sorted: Vec<Duration>,
    /// The same, each with when its `order:created` row was written.
    pub timed: Vec<(DateTime<Utc>, Duration)>,
    /// Measured orders the tickets service had not reserved `PATIENCE` after the run.
    pub missing: usize,
    /// How long after the run the last reservation took to appear.
    pub waited: Duration,
}

pub async fn since(system: &Target) -> anyhow::Result<Since> {
    let newest = |service: &'static str| async move {
        let (db, table) = open(system, service).await?;
        let seq = scalar(
            &db,
            &format!("SELECT COALESCE(MAX(seq), 0) AS n FROM {table}"),
        )
        .await;
        db.close().await.ok();
        seq
    };
    let (orders, tickets) = tokio::try_join!(newest("orders"), newest("tickets"))?;
    Ok(Since { orders, tickets })
}

/// The lag of each of `measured` (order ids), once the tickets service has reserved all
/// `total` orders of the run (or `PATIENCE` has passed).
pub async fn lags(
    system: &Target,
    since: Since,
    total: usize,
    measured: &[String],
) -> anyhow::Result<Lags> {
    let stopped = Instant::now();
    let (tickets_db, tickets) = open(system, "tickets").await?;
    let count = format!(
        "SELECT COUNT(*) AS n FROM {tickets} WHERE subject = 'ticket:updated' AND seq > {}",
        since.tickets
    );
    let reserved = loop {
        let late = stopped.elapsed() >= PATIENCE;
        if late || scalar(&tickets_db, &count).await? as usize >= total {
            let reserved = read(
                &tickets_db,
                &tickets,
                "ticket:updated",
                since.tickets,
                "orderId",
            )
            .await?;
            // The count may include the probe's reservation, made just before the run.
            if late || measured.iter().all(|id| reserved.contains_key(id)) {
                break reserved;
            }
        }
        tokio::time::sleep(POLL).await;
    };
    let waited = stopped.elapsed();
    tickets_db.close().await.ok();
    let (orders_db, orders) = open(system, "orders").await?;
    let created = read(&orders_db, &orders, "order:created", since.orders, "id").await?;
    orders_db.close().await.ok();

    let mut timed = Vec::with_capacity(measured.len());
    let mut missing = 0;
    for id in measured {
        match (created.get(id), reserved.get(id)) {
            (Some(created), Some(reserved)) => {
                timed.push((
                    *created,
                    (*reserved - *created).to_std().unwrap_or_default(),
                ));
            }
            _ => missing += 1,
        }
    }
    let mut sorted: Vec<Duration> = timed.iter().map(|(_, lag)| *lag).collect();
    sorted.sort();
    Ok(Lags {
        sorted,
        timed,
        missing,
        waited,
    })
}

impl Lags {
    /// Per second of the window that began at `start` and lasted `window`, by when each
    /// order's `order:created` row was written: a markdown table of the orders and their lag
    /// p50/p99/max; and a line comparing the lag p99 of the first seconds with the last.
    /// Orders written just after the window (begun inside it) count in its last second.
    pub fn by_second(&self, start: DateTime<Utc>, window: Duration) -> (String, String) {
        let seconds = window.as_secs_f64().ceil().max(1.0) as usize;
        let offset = |at: &DateTime<Utc>| (*at - start).to_std().unwrap_or_default();
        let mut buckets = vec![Vec::new(); seconds];
        for (at, lag) in &self.timed {
            buckets[(offset(at).as_secs() as usize).min(seconds - 1)].push(*lag);
        }
        let mut table = String::from(
            "| second | orders | lag p50 | lag p99 | lag max |\n|---|---|---|---|---|\n",
        );
        for (i, lags) in buckets.iter_mut().enumerate() {
            lags.sort();
            let end = ((i + 1) as f64).min(window.as_secs_f64());
            let _ = match lags.last() {
                None => writeln!(table, "| {i}–{} s | 0 | — | — | — |", span(end)),
                Some(max) => writeln!(
                    table,
                    "| {i}–{} s | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
                    span(end),
                    lags.len(),
                    ms(quantile(lags, 0.50)),
                    ms(quantile(lags, 0.99)),
                    ms(*max),
                ),
            };
        }

        // Two seconds at each end, or half of a shorter window.
        let edge = Duration::from_secs(2).min(window / 2);
        let p99 = |keep: &dyn Fn(Duration) -> bool| {
            let mut lags: Vec<Duration> = self
                .timed
                .iter()
                .filter(|(at, _)| keep(offset(at)))
                .map(|(_, lag)| *lag)
                .collect();
            lags.sort();
            (quantile(&lags, 0.99), lags.len())
        };
        let (first, first_n) = p99(&|at| at < edge);
        let (last, last_n) = p99(&|at| at >= window - edge);
        let growth = if first.is_zero() {
            String::new()
        } else {
            format!(" (× {:.2})", last.as_secs_f64() / first.as_secs_f64())
        };
        let verdict = format!(
            "lag p99 first {edge} s {:.1} ms ({first_n} orders), last {edge} s {:.1} ms ({last_n} orders){growth}",
            ms(first),
            ms(last),
            edge = span(edge.as_secs_f64()),
        );
        (table, verdict)
    }
}

/// Seconds, without a fraction when whole.
fn span(seconds: f64) -> String {
    if seconds.fract() == 0.0 {
        format!("{seconds:.0}")
    } else {
        format!("{seconds:.1}")
    }
}

async fn open(system: &Target, service: &str) -> anyhow::Result<(DatabaseConnection, String)> {
    let url = system.url(service)?;
    Ok((
        common::db::connect(&url).await?,
        system.table(service, "outbox"),
    ))
}

/// An integer query's `n`.
async fn scalar(db: &DatabaseConnection, sql: &str) -> anyhow::Result<i64> {
    let row = db
        .query_one(Statement::from_string(db.get_database_backend(), sql))
        .await?
        .context("no row")?;
    Ok(row.try_get("", "n")?)
}

/// The `subject` rows after `since`: their payload's `key` (an order id) → `created_at`.
async fn read(
    db: &DatabaseConnection,
    table: &str,
    subject: &str,
    since: i64,
    key: &str,
) -> anyhow::Result<HashMap<String, DateTime<Utc>>> {
    let rows = db
        .query_all(Statement::from_string(
            db.get_database_backend(),
            format!(
                "SELECT payload, created_at FROM {table} WHERE subject = '{subject}' AND seq > {since}"
            ),
        ))
        .await?;
    let mut by_order = HashMap::with_capacity(rows.len());
    for row in rows {
        let payload: String = row.try_get("", "payload")?;
        let payload: serde_json::Value = serde_json::from_str(&payload)?;
        if let Some(order) = payload[key].as_str() {
            by_order.insert(order.to_owned(), created_at(&row)?);
        }
    }
    Ok(by_order)
}

/// `created_at`: a timestamptz on PostgreSQL, RFC 3339 text on SQLite.
fn created_at(row: &QueryResult) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(at) = row.try_get::<DateTime<Utc>>("", "created_at") {
        return Ok(at);
    }
    let text: String = row.try_get("", "created_at")?;
    Ok(DateTime::parse_from_rfc3339(&text)
        .with_context(|| format!("created_at {text:?}"))?
        .with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_are_grouped_by_the_second_they_were_written_in() {
        let start = DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
            .map(|t| t.with_timezone(&Utc))
            .expect("a time");
        let at = |ms: i64| start + chrono::Duration::milliseconds(ms);
        let lag = Duration::from_millis;
        let lags = Lags {
            sorted: Vec::new(),
            // Two in the first second, none in the second, one in the third; the last was
            // written after the 2.5 s window ended, and counts in its last second.
            timed: vec![
                (at(100), lag(10)),
                (at(900), lag(30)),
                (at(2_100), lag(50)),
                (at(2_600), lag(70)),
            ],
            missing: 0,
            waited: Duration::ZERO,
        };
        let (table, verdict) = lags.by_second(start, Duration::from_millis(2_500));
        let rows: Vec<&str> = table.lines().skip(2).collect();
        assert_eq!(
            rows,
            [
                "| 0–1 s | 2 | 10.0 ms | 30.0 ms | 30.0 ms |",
                "| 1–2 s | 0 | — | — | — |",
                "| 2–2.5 s | 2 | 50.0 ms | 70.0 ms | 70.0 ms |",
            ]
        );
        assert_eq!(
            verdict,
            "lag p99 first 1.2 s 30.0 ms (2 orders), last 1.2 s 70.0 ms (2 orders) (× 2.33)"
        );
    }
}
