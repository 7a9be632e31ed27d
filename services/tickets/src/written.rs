//! The reservation steps as jobs for the SQLite writer thread: each is one guarded
//! `UPDATE … RETURNING` and its `ticket:updated` outbox row, with a read only to tell why the
//! update found nothing to do. Same decisions as the sea-orm steps in `listeners`.
use common::events::{OrderCancelled, OrderCreated};
use common::sqlite::rusqlite::{self, Row};
use common::sqlite::{parse_timestamp, Tx};

use crate::listeners::Applied;
use crate::store::TicketRow;

/// `order:created`: reserves the ticket for the order unless it is held, or the order was
/// cancelled already (its cancellation overtook it).
pub fn order_created(tx: &mut Tx<'_>, event: &OrderCreated) -> anyhow::Result<Applied> {
    let reserved = tx.query_opt(
        "UPDATE tickets SET order_id = ?1, version = version + 1 \
         WHERE id = ?2 AND order_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM released_orders WHERE order_id = ?1) \
         RETURNING id, title, price_cents, user_id, version, order_id, created_at",
        (&event.id, &event.ticket.id),
        ticket_row,
    )?;
    if let Some(reserved) = reserved {
        let reserved = reserved?;
        tx.enqueue(&reserved.updated_event())?;
        return Ok(Applied::Done);
    }
    let holder = tx.query_opt(
        "SELECT order_id FROM tickets WHERE id = ?1",
        [&event.ticket.id],
        |row| row.get::<_, Option<String>>(0),
    )?;
    Ok(match holder {
        // Unknown ticket: its listing's event is still on the way.
        None => Applied::Early,
        Some(Some(holder)) if holder == event.id => Applied::Duplicate,
        // Still held by an earlier order whose cancellation hasn't arrived yet.
        Some(Some(_)) => Applied::Early,
        // Free, so the order was released before it arrived: nothing to reserve.
        Some(None) => Applied::Duplicate,
    })
}

/// `order:cancelled`: remembers the order was released and frees its ticket if it holds it.
pub fn order_cancelled(tx: &mut Tx<'_>, event: &OrderCancelled) -> anyhow::Result<Applied> {
    tx.execute(
        "INSERT INTO released_orders (order_id) VALUES (?1) ON CONFLICT (order_id) DO NOTHING",
        [&event.id],
    )?;
    let released = tx.query_opt(
        "UPDATE tickets SET order_id = NULL, version = version + 1 \
         WHERE id = ?1 AND order_id = ?2 \
         RETURNING id, title, price_cents, user_id, version, order_id, created_at",
        (&event.ticket.id, &event.id),
        ticket_row,
    )?;
    let Some(released) = released else {
        // Never reserved by this order (its `order:created` may still come: it will be skipped).
        return Ok(Applied::Duplicate);
    };
    let released = released?;
    tx.enqueue(&released.updated_event())?;
    tracing::info!(ticket.id = %released.id, order.id = %event.id, "ticket released");
    Ok(Applied::Done)
}

/// A ticket row as the RETURNING lists give it; the inner error is a timestamp it can't be.
fn ticket_row(row: &Row<'_>) -> rusqlite::Result<anyhow::Result<TicketRow>> {
    let created_at: String = row.get(6)?;
    let ticket = TicketRow {
        id: row.get(0)?,
        title: row.get(1)?,
        price_cents: row.get(2)?,
        user_id: row.get(3)?,
        version: row.get(4)?,
        order_id: row.get(5)?,
        created_at: Default::default(),
    };
    Ok(parse_timestamp(&created_at).map(|created_at| TicketRow {
        created_at,
        ..ticket
    }))
}
