//! The expiry queue in the service's own `expiries` table (SQLite or PostgreSQL). A claim is
//! one conditional `UPDATE … RETURNING` that moves `visible_at` to the end of the lease; on
//! PostgreSQL its row selection skips rows another replica's claim has locked.
use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value};

use super::{Claim, ExpiryQueue, Millis};

pub struct SqlQueue {
    db: DatabaseConnection,
    lease: Millis,
}

impl SqlQueue {
    pub fn new(db: DatabaseConnection, lease: Millis) -> Self {
        Self { db, lease }
    }
}

/// A statement written with PostgreSQL's `$n` placeholders, run on either backend (SQLite
/// reads `?n` the same way).
pub(crate) fn statement(
    backend: DbBackend,
    sql: &str,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    let sql = match backend {
        DbBackend::Postgres => sql.to_owned(),
        _ => sql.replace('$', "?"),
    };
    Statement::from_sql_and_values(backend, sql, values)
}

#[async_trait]
impl ExpiryQueue for SqlQueue {
    async fn schedule(&self, order_id: &str, due: Millis) -> anyhow::Result<bool> {
        let backend = self.db.get_database_backend();
        let done = self
            .db
            .execute(statement(
                backend,
                "INSERT INTO expiries (order_id, due_at, visible_at) VALUES ($1, $2, $2) \
                 ON CONFLICT (order_id) DO NOTHING",
                [order_id.into(), due.into()],
            ))
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn claim_due(&self, now: Millis, max: usize) -> anyhow::Result<Vec<Claim>> {
        let backend = self.db.get_database_backend();
        let lease_until = now.saturating_add(self.lease);
        // SQLite runs one writer at a time, so the statement alone is atomic there.
        let lock = match backend {
            DbBackend::Postgres => "FOR UPDATE SKIP LOCKED",
            _ => "",
        };
        let sql = format!(
            "UPDATE expiries SET visible_at = $1 \
             WHERE visible_at <= $2 AND order_id IN (\
               SELECT order_id FROM expiries WHERE visible_at <= $2 \
               ORDER BY visible_at LIMIT $3 {lock}) \
             RETURNING order_id"
        );
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let rows = self
            .db
            .query_all(statement(
                backend,
                &sql,
                [lease_until.into(), now.into(), max.into()],
            ))
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Claim {
                    order_id: row.try_get("", "order_id")?,
                    lease_until,
                })
            })
            .collect()
    }

    async fn complete(&self, claims: &[Claim]) -> anyhow::Result<()> {
        if claims.is_empty() {
            return Ok(());
        }
        let backend = self.db.get_database_backend();
        // One commit for the batch, not one per row.
        let txn = self.db.begin().await?;
        for claim in claims {
            txn.execute(statement(
                backend,
                "DELETE FROM expiries WHERE order_id = $1 AND visible_at = $2",
                [claim.order_id.as_str().into(), claim.lease_until.into()],
            ))
            .await?;
        }
        txn.commit().await?;
        Ok(())
    }

    async fn next_due(&self) -> anyhow::Result<Option<Millis>> {
        let backend = self.db.get_database_backend();
        let row = self
            .db
            .query_one(statement(
                backend,
                "SELECT MIN(visible_at) AS next FROM expiries",
                [],
            ))
            .await?;
        Ok(match row {
            Some(row) => row.try_get::<Option<i64>>("", "next")?,
            None => None,
        })
    }
}
