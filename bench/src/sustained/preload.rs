//! `--preload N`: N sold tickets and their complete orders written straight into the service
//! databases before a run, so it can show whether the rate depends on table size.
use std::time::Instant;

use sea_orm::{ConnectionTrait, DatabaseConnection, TransactionTrait};
use serde_json::json;

use super::Target;

/// Rows per INSERT, and per transaction.
const CHUNK: usize = 1000;

/// Writes `count` rows to each table the run touches: in tickets, `tickets` (reserved by a
/// complete order); in orders, its ticket replica and `orders` (complete); in payments, its
/// order replica; and the events those would have published, already sent, in both outboxes
/// (so the relays have nothing to do). Direct SQL, after the system has migrated.
pub async fn preload(system: &Target, count: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    let postgres = system.postgres_url().is_some();
    let connect =
        |service: &'static str| async move { common::db::connect(&system.url(service)?).await };
    let (tickets_db, orders_db, payments_db) =
        tokio::try_join!(connect("tickets"), connect("orders"), connect("payments"))?;
    let table = |service: &str, table: &str| system.table(service, table);

    // A month ago, so nothing is due to expire or be listed as new.
    let created = chrono::Utc::now() - chrono::Duration::days(30);
    let at = quote(&created.to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
    let expires_at = created + chrono::Duration::minutes(15);
    let expires = quote(&expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, false));
    let seller = uuid::Uuid::new_v4().to_string();
    // Spread over many buyers, as the per-user order listing would see them.
    let buyers: Vec<String> = (0..1000)
        .map(|_| uuid::Uuid::new_v4().to_string())
        .collect();

    for first in (0..count).step_by(CHUNK) {
        let rows: Vec<Row> = (first..count.min(first + CHUNK))
            .map(|i| Row {
                i,
                ticket: uuid::Uuid::new_v4().to_string(),
                order: uuid::Uuid::new_v4().to_string(),
                buyer: &buyers[i % buyers.len()],
            })
            .collect();
        // One outbox row a preloaded row, already sent: what the service's own writes leave.
        let outbox = |service: &str, subject: &str, payload: &dyn Fn(&Row) -> serde_json::Value| {
            format!(
                "INSERT INTO {} (id, subject, payload, created_at, sent_at) VALUES\n{}",
                table(service, "outbox"),
                values(&rows, |r| format!(
                    "('{}', '{subject}', {}, {at}, {at})",
                    uuid::Uuid::new_v4(),
                    quote(&payload(r).to_string())
                ))
            )
        };
        let tickets = [
            format!(
                "INSERT INTO {} (id, title, price_cents, user_id, version, order_id, created_at) VALUES\n{}",
                table("tickets", "tickets"),
                values(&rows, |r| format!(
                    "('{}', 'Preloaded seat {}', 2500, '{seller}', 1, '{}', {at})",
                    r.ticket, r.i, r.order
                ))
            ),
            outbox("tickets", "ticket:updated", &|r| {
                json!({ "id": r.ticket, "version": 1, "title": format!("Preloaded seat {}", r.i),
                        "price": 25, "userId": seller, "orderId": r.order })
            }),
        ];
        let orders = [
            format!(
                "INSERT INTO {} (id, title, price_cents, version) VALUES\n{}",
                table("orders", "tickets"),
                values(&rows, |r| format!(
                    "('{}', 'Preloaded seat {}', 2500, 1)",
                    r.ticket, r.i
                ))
            ),
            format!(
                "INSERT INTO {} (id, user_id, ticket_id, status, expires_at, version, created_at) VALUES\n{}",
                table("orders", "orders"),
                values(&rows, |r| format!(
                    "('{}', '{}', '{}', 'complete', {expires}, 1, {at})",
                    r.order, r.buyer, r.ticket
                ))
            ),
            outbox("orders", "order:created", &|r| {
                json!({ "id": r.order, "version": 0, "status": "created", "userId": r.buyer,
                        "expiresAt": expires_at, "ticket": { "id": r.ticket, "price": 25 } })
            }),
        ];
        let payments = [format!(
            "INSERT INTO {} (id, user_id, price_cents, status, version, expires_at) VALUES\n{}",
            table("payments", "orders"),
            values(&rows, |r| format!(
                "('{}', '{}', 2500, 'complete', 1, {expires})",
                r.order, r.buyer
            ))
        )];
        tokio::try_join!(
            transaction(&tickets_db, &tickets),
            transaction(&orders_db, &orders),
            transaction(&payments_db, &payments),
        )?;
    }
    // PostgreSQL's planner should know the tables' new size, as autovacuum would tell it
    // soon enough in a real deployment; SQLite's keeps no statistics unless asked.
    if postgres {
        for (db, service, tables) in [
            (&tickets_db, "tickets", &["tickets", "outbox"][..]),
            (&orders_db, "orders", &["tickets", "orders", "outbox"][..]),
            (&payments_db, "payments", &["orders"][..]),
        ] {
            for name in tables {
                db.execute_unprepared(&format!("ANALYZE {}", table(service, name)))
                    .await?;
            }
        }
    }
    println!(
        "preloaded {count} sold tickets and complete orders in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

struct Row<'a> {
    i: usize,
    ticket: String,
    order: String,
    buyer: &'a str,
}

/// A multi-row VALUES list, one row per `rows`.
fn values(rows: &[Row], row: impl Fn(&Row) -> String) -> String {
    rows.iter().map(row).collect::<Vec<_>>().join(",\n")
}

/// Runs `statements` as one transaction.
async fn transaction(db: &DatabaseConnection, statements: &[String]) -> anyhow::Result<()> {
    let txn = db.begin().await?;
    for sql in statements {
        txn.execute_unprepared(sql).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// A SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
