//! How a live order ends: cancelled (by its buyer or by expiry) or complete (paid). Each end
//! is one transaction holding the conditional update and its event in the outbox.
use common::events::OrderStatus;
use common::outbox;
use sea_orm::{DbErr, TransactionTrait};

use crate::store::{self, OrderRecord};
use crate::OrdersState;

/// What ending an order came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// This call ended it; the event is in the outbox.
    Now(OrderRecord),
    /// It had already ended (cancelled or complete) and is left as it is.
    Already(OrderRecord),
    /// There is no such order.
    Unknown,
}

/// An order changes at most a few times, so losing the race more often than this means
/// something is wrong rather than busy.
const MAX_ATTEMPTS: usize = 8;

/// Cancels `current` unless it has already ended; publishes `order:cancelled`.
pub async fn cancel(state: &OrdersState, current: OrderRecord) -> Result<Ended, DbErr> {
    end(state, current, End::Cancel).await
}

/// Completes `current` unless it has already ended; publishes `order:completed`.
pub async fn complete(state: &OrdersState, current: OrderRecord) -> Result<Ended, DbErr> {
    end(state, current, End::Complete).await
}

/// The two ways out of a live status.
#[derive(Debug, Clone, Copy)]
enum End {
    Cancel,
    Complete,
}

impl End {
    fn status(self) -> OrderStatus {
        match self {
            Self::Cancel => OrderStatus::Cancelled,
            Self::Complete => OrderStatus::Complete,
        }
    }
}

async fn end(state: &OrdersState, mut current: OrderRecord, how: End) -> Result<Ended, DbErr> {
    if let Some(writer) = &state.writer {
        if !store::LIVE.contains(&current.status) {
            return Ok(Ended::Already(current));
        }
        let (id, to) = (current.id.clone(), how.status());
        // Its event is handed on at commit: no relay to wake.
        return writer
            .write(move |tx| crate::written::end(tx, &id, to))
            .await
            .map_err(|e| DbErr::Custom(format!("{e:#}")));
    }
    for _ in 0..MAX_ATTEMPTS {
        if !store::LIVE.contains(&current.status) {
            return Ok(Ended::Already(current));
        }
        // The conditional update is the transaction's first statement, so on SQLite it takes
        // the write lock (waiting its turn) before reading anything that could go stale.
        let txn = state.db.begin().await?;
        if let Some(ended) = store::transition(&txn, &current, how.status()).await? {
            match how {
                End::Complete => outbox::enqueue(&txn, &ended.completed_event()).await?,
                End::Cancel => outbox::enqueue(&txn, &ended.cancelled_event()).await?,
            };
            txn.commit().await?;
            state.relay.poke();
            return Ok(Ended::Now(ended));
        }
        txn.rollback().await?;
        // Someone else changed it between our read and our write: look again.
        current = match store::find_order(&state.db, &current.id).await? {
            Some(order) => order,
            None => return Ok(Ended::Unknown),
        };
    }
    Err(DbErr::Custom(format!(
        "order {} kept changing while being {}",
        current.id,
        how.status().as_str()
    )))
}
