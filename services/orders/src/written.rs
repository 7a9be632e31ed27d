//! The orders service's hot writes as jobs for the SQLite writer thread: a reservation, the
//! end of an order (one, or a banned buyer's live ones), and the ticket-replica steps. They make the same decisions as the sea-orm
//! code in `store`, `lifecycle` and `listeners` (which PostgreSQL runs), as plain statements
//! in one transaction; with one writer per file nothing read inside a job can go stale, so
//! none of them needs a version guard or a retry.
use chrono::{DateTime, Utc};
use common::bus::Applied;
use common::db::violates_written;
use common::events::{OrderStatus, TicketCreated, TicketUpdated, UserBanned};
use common::sqlite::rusqlite::{self, Row};
use common::sqlite::{parse_timestamp, timestamp, Tx};

use crate::store::{self, Ended, OrderRecord, TicketRow};

/// What a reservation came to.
pub enum Reserved {
    Order(OrderRecord, TicketRow),
    /// The replica doesn't hold the ticket.
    NoTicket,
    /// The ticket has a live order.
    Taken,
    /// The buyer is the ticket's seller.
    OwnTicket,
    /// The ticket is off the market (its seller was banned).
    Withdrawn,
}

/// Lapsed live orders of a ticket, cancelled. `status <> 'cancelled'` is the partial unique
/// index's own condition, so the planner searches that index by ticket instead of scanning.
pub const CANCEL_LAPSED: &str = "UPDATE orders SET status = 'cancelled', version = version + 1 \
     WHERE ticket_id = ?1 AND status <> 'cancelled' \
     AND status IN ('created', 'awaiting:payment') AND expires_at <= ?2 \
     RETURNING id, user_id, ticket_id, status, expires_at, version";

/// Reserves `ticket_id` for `user_id` until `expires_at`: cancels the ticket's lapsed live
/// orders (their `order:cancelled` first), inserts the order — the unique index on live
/// orders decides races — and writes its `order:created`.
pub fn reserve(
    tx: &mut Tx<'_>,
    user_id: &str,
    ticket_id: &str,
    expires_at: DateTime<Utc>,
) -> anyhow::Result<Reserved> {
    let Some(ticket) = tx.query_opt(
        "SELECT id, title, price_cents, version, seller_id, withdrawn FROM tickets WHERE id = ?1",
        [ticket_id],
        ticket_row,
    )?
    else {
        return Ok(Reserved::NoTicket);
    };
    if ticket.withdrawn {
        return Ok(Reserved::Withdrawn);
    }
    if ticket.is_sold_by(user_id) {
        return Ok(Reserved::OwnTicket);
    }
    let now = Utc::now();
    let lapsed = tx.query_all(CANCEL_LAPSED, (ticket_id, timestamp(now)), order_row)?;
    for lapsed in lapsed {
        let lapsed = lapsed?;
        tracing::info!(order.id = %lapsed.id, "cancelled a lapsed order to reserve its ticket again");
        tx.enqueue(&lapsed.cancelled_event())?;
    }
    let order = OrderRecord::new(user_id, ticket_id, expires_at);
    let inserted = tx.try_execute(
        "INSERT INTO orders (id, user_id, ticket_id, status, expires_at, version, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 0, ?6)",
        (
            &order.id,
            &order.user_id,
            &order.ticket_id,
            order.status,
            timestamp(expires_at),
            timestamp(now),
        ),
    );
    match inserted {
        Ok(_) => {}
        Err(err) if violates_written(&err, store::ONE_LIVE_PER_TICKET) => {
            tx.discard();
            return Ok(Reserved::Taken);
        }
        Err(err) => return Err(err.into()),
    }
    tx.enqueue(&order.created_event(&ticket))?;
    Ok(Reserved::Order(order, ticket))
}

/// Moves order `id` from a live status to `to` and writes its event; what it came to.
pub fn end(tx: &mut Tx<'_>, id: &str, to: OrderStatus) -> anyhow::Result<Ended> {
    let ended = tx.query_opt(
        "UPDATE orders SET status = ?2, version = version + 1 \
         WHERE id = ?1 AND status <> 'cancelled' AND status IN ('created', 'awaiting:payment') \
         RETURNING id, user_id, ticket_id, status, expires_at, version",
        (id, to),
        order_row,
    )?;
    let Some(ended) = ended else {
        return Ok(
            match tx.query_opt(
                "SELECT id, user_id, ticket_id, status, expires_at, version \
                 FROM orders WHERE id = ?1",
                [id],
                order_row,
            )? {
                Some(order) => Ended::Already(order?),
                None => Ended::Unknown,
            },
        );
    };
    let ended = ended?;
    match to {
        OrderStatus::Complete => tx.enqueue(&ended.completed_event())?,
        _ => tx.enqueue(&ended.cancelled_event())?,
    };
    Ok(Ended::Now(ended))
}

/// `user:banned`: cancels each of the buyer's live orders as [`end`] does, each with its
/// `order:cancelled` (tickets releases the ticket, payments voids or refunds). Completed
/// orders stand; none left live (a redelivery) is a duplicate.
pub fn user_banned(tx: &mut Tx<'_>, event: &UserBanned) -> anyhow::Result<Applied> {
    let live = tx.query_all(
        "SELECT id FROM orders WHERE user_id = ?1 \
         AND status IN ('created', 'awaiting:payment') ORDER BY seq",
        [&event.user_id],
        |row| row.get::<_, String>(0),
    )?;
    let mut cancelled = 0;
    for id in live {
        if let Ended::Now(_) = end(tx, &id, OrderStatus::Cancelled)? {
            cancelled += 1;
        }
    }
    if cancelled == 0 {
        return Ok(Applied::Duplicate);
    }
    tracing::info!(user.id = %event.user_id, orders = cancelled, "a banned buyer's live orders cancelled");
    Ok(Applied::Done)
}

/// `ticket:created`: adds the ticket to the replica; already there is a duplicate.
pub fn ticket_created(tx: &mut Tx<'_>, event: TicketCreated) -> anyhow::Result<Applied> {
    let added = tx.execute(
        "INSERT INTO tickets (id, title, price_cents, version, seller_id) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
        (
            &event.id,
            &event.title,
            event.price.cents(),
            event.version,
            &event.user_id,
        ),
    )?;
    Ok(if added == 1 {
        Applied::Done
    } else {
        Applied::Duplicate
    })
}

/// `ticket:updated`: applies only on top of the version before it.
pub fn ticket_updated(tx: &mut Tx<'_>, event: TicketUpdated) -> anyhow::Result<Applied> {
    let applied = tx.execute(
        "UPDATE tickets SET title = ?2, price_cents = ?3, version = ?4, seller_id = ?5, \
         withdrawn = ?6 WHERE id = ?1 AND version = ?4 - 1",
        (
            &event.id,
            &event.title,
            event.price.cents(),
            event.version,
            &event.user_id,
            event.withdrawn,
        ),
    )?;
    if applied == 1 {
        return Ok(Applied::Done);
    }
    let stored = tx.query_opt(
        "SELECT version FROM tickets WHERE id = ?1",
        [&event.id],
        |row| row.get::<_, i64>(0),
    )?;
    Ok(match stored {
        Some(version) if event.version <= version => Applied::Duplicate,
        // Unknown ticket (its `ticket:created` is still on the way) or a skipped version.
        _ => Applied::Early,
    })
}

fn ticket_row(row: &Row<'_>) -> rusqlite::Result<TicketRow> {
    Ok(TicketRow {
        id: row.get(0)?,
        title: row.get(1)?,
        price_cents: row.get(2)?,
        version: row.get(3)?,
        seller_id: row.get(4)?,
        withdrawn: row.get(5)?,
    })
}

/// An order row; the outer error is SQLite's, the inner one a value it can't be.
fn order_row(row: &Row<'_>) -> rusqlite::Result<anyhow::Result<OrderRecord>> {
    let (id, user_id, ticket_id): (String, String, String) =
        (row.get(0)?, row.get(1)?, row.get(2)?);
    let (status, expires_at, version): (OrderStatus, String, i64) =
        (row.get(3)?, row.get(4)?, row.get(5)?);
    Ok(parse_timestamp(&expires_at).map(|expires_at| OrderRecord {
        id,
        user_id,
        ticket_id,
        status,
        expires_at,
        version,
    }))
}
