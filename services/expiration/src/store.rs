//! The `fired_expiries` record: which orders' `expiration:complete` is already in the outbox;
//! and marking outbox rows the scheduler published itself as sent.
use common::outbox::entity as outbox;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use crate::queue::sql::statement;
use crate::queue::Millis;

/// Records that `order_id` fired, inside the caller's transaction; false when it already had.
pub async fn record_fired(
    db: &impl ConnectionTrait,
    order_id: &str,
    at: Millis,
) -> Result<bool, DbErr> {
    let done = db
        .execute(statement(
            db.get_database_backend(),
            "INSERT INTO fired_expiries (order_id, fired_at) VALUES ($1, $2) \
             ON CONFLICT (order_id) DO NOTHING",
            [order_id.into(), at.into()],
        ))
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Which of `order_ids` fired already, in one statement.
pub async fn fired_among(
    db: &impl ConnectionTrait,
    order_ids: &[&str],
) -> Result<std::collections::HashSet<String>, DbErr> {
    if order_ids.is_empty() {
        return Ok(Default::default());
    }
    let placeholders: Vec<String> = (1..=order_ids.len()).map(|i| format!("${i}")).collect();
    let rows = db
        .query_all(statement(
            db.get_database_backend(),
            &format!(
                "SELECT order_id FROM fired_expiries WHERE order_id IN ({})",
                placeholders.join(", ")
            ),
            order_ids.iter().map(|id| (*id).into()),
        ))
        .await?;
    rows.iter()
        .map(|row| row.try_get::<String>("", "order_id"))
        .collect()
}

/// Forgets fired expiries older than `before`: by then no `order:created` for them can still
/// be in flight, so their record no longer guards anything.
pub async fn prune_fired(db: &impl ConnectionTrait, before: Millis) -> Result<u64, DbErr> {
    let done = db
        .execute(statement(
            db.get_database_backend(),
            "DELETE FROM fired_expiries WHERE fired_at < $1",
            [before.into()],
        ))
        .await?;
    Ok(done.rows_affected())
}

/// Marks the outbox rows with these event ids sent, so the relay need not publish them.
pub async fn mark_sent(db: &impl ConnectionTrait, ids: Vec<String>) -> Result<(), DbErr> {
    if ids.is_empty() {
        return Ok(());
    }
    outbox::Entity::update_many()
        .col_expr(outbox::Column::SentAt, Expr::value(chrono::Utc::now()))
        .filter(outbox::Column::Id.is_in(ids))
        .filter(outbox::Column::SentAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}
