//! The service's writes as jobs for the SQLite writer thread, so the file has one writer:
//! listing, editing and relisting a ticket, the reservation steps and a ban's withdrawal —
//! each one guarded `UPDATE … RETURNING` and its `ticket:updated` outbox row, with a read only
//! to tell why the update found nothing to do. Same decisions as the sea-orm code in `routes`
//! and `listeners`.
use chrono::{SubsecRound, Utc};
use common::bus::Applied;
use common::events::{OrderCancelled, OrderCompleted, OrderCreated, TicketCreated, UserBanned};
use common::money::Money;
use common::sqlite::rusqlite::{self, Row};
use common::sqlite::{parse_timestamp, timestamp, Tx};

use crate::store::{self, TicketRow};

/// `order:created`: reserves the ticket for the order unless it is held, or the order was
/// cancelled already (its cancellation overtook it).
pub fn order_created(tx: &mut Tx<'_>, event: &OrderCreated) -> anyhow::Result<Applied> {
    let reserved = tx.query_opt(
        "UPDATE tickets SET order_id = ?1, reserved_until = ?3, version = version + 1 \
         WHERE id = ?2 AND order_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM released_orders WHERE order_id = ?1) \
         RETURNING id, title, price_cents, user_id, version, order_id, created_at, \
         reserved_until, sold, withdrawn_at",
        (
            &event.id,
            &event.ticket.id,
            timestamp(store::hold_end(event.expires_at)),
        ),
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
        "UPDATE tickets SET order_id = NULL, reserved_until = NULL, sold = FALSE, \
         version = version + 1 \
         WHERE id = ?1 AND order_id = ?2 \
         RETURNING id, title, price_cents, user_id, version, order_id, created_at, \
         reserved_until, sold, withdrawn_at",
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

/// `order:completed`: the holder paid, so the ticket is sold to it (no version change, no
/// event: nothing other services keep of a ticket changes).
pub fn order_completed(tx: &mut Tx<'_>, event: &OrderCompleted) -> anyhow::Result<Applied> {
    let sold = tx.execute(
        "UPDATE tickets SET sold = TRUE, reserved_until = NULL \
         WHERE id = ?1 AND order_id = ?2 AND NOT sold",
        (&event.ticket.id, &event.id),
    )?;
    if sold == 1 {
        tracing::info!(ticket.id = %event.ticket.id, order.id = %event.id, "ticket sold");
        return Ok(Applied::Done);
    }
    let state = tx.query_opt(
        "SELECT order_id, sold, EXISTS (SELECT 1 FROM released_orders WHERE order_id = ?2) \
         FROM tickets WHERE id = ?1",
        (&event.ticket.id, &event.id),
        |row| {
            Ok((
                row.get::<_, Option<String>>(0)?,
                row.get::<_, bool>(1)?,
                row.get::<_, bool>(2)?,
            ))
        },
    )?;
    Ok(match state {
        None => Applied::Early,
        Some((holder, sold, released)) => sold_or_not(&event.id, holder, sold, released),
    })
}

/// Why `order:completed` changed nothing: seen already, or its `order:created` (or the
/// cancellation of the order before it) is still on the way.
pub fn sold_or_not(order_id: &str, holder: Option<String>, sold: bool, released: bool) -> Applied {
    match holder {
        Some(holder) if holder == order_id && sold => Applied::Duplicate,
        // Released orders never complete; nothing to wait for.
        _ if released => Applied::Duplicate,
        _ => Applied::Early,
    }
}

/// Lists a new ticket at version 0 with its `ticket:created`.
pub fn list(
    tx: &mut Tx<'_>,
    title: &str,
    price: Money,
    user_id: &str,
) -> anyhow::Result<TicketRow> {
    let row = TicketRow {
        id: uuid::Uuid::new_v4().to_string(),
        title: title.to_owned(),
        price_cents: price.cents(),
        user_id: user_id.to_owned(),
        version: 0,
        order_id: None,
        reserved_until: None,
        sold: false,
        withdrawn_at: None,
        // Microseconds, as PostgreSQL keeps them (see `store::insert`).
        created_at: Utc::now().trunc_subsecs(6),
    };
    tx.execute(
        "INSERT INTO tickets (id, title, price_cents, user_id, version, order_id, created_at) \
         VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5)",
        (
            &row.id,
            &row.title,
            row.price_cents,
            &row.user_id,
            timestamp(row.created_at),
        ),
    )?;
    tx.enqueue(&TicketCreated {
        id: row.id.clone(),
        version: row.version,
        title: row.title.clone(),
        price,
        user_id: row.user_id.clone(),
    })?;
    Ok(row)
}

/// What an edit came to.
pub enum Edited {
    Done(TicketRow),
    NotFound,
    Reserved,
    NotOwner,
    /// Off the market: only relisting changes it.
    Withdrawn,
}

/// The owner's edit of title and price, never while the ticket is reserved or withdrawn;
/// checked in the order the API promises (reservation before ownership).
pub fn edit(
    tx: &mut Tx<'_>,
    id: &str,
    user_id: &str,
    title: &str,
    price: Money,
) -> anyhow::Result<Edited> {
    let current = tx.query_opt(
        "SELECT id, title, price_cents, user_id, version, order_id, created_at, \
         reserved_until, sold, withdrawn_at FROM tickets WHERE id = ?1",
        [id],
        ticket_row,
    )?;
    let Some(current) = current else {
        return Ok(Edited::NotFound);
    };
    let current = current?;
    if current.order_id.is_some() {
        return Ok(Edited::Reserved);
    }
    if current.user_id != user_id {
        return Ok(Edited::NotOwner);
    }
    if current.withdrawn_at.is_some() {
        return Ok(Edited::Withdrawn);
    }
    tx.execute(
        "UPDATE tickets SET title = ?2, price_cents = ?3, version = version + 1 WHERE id = ?1",
        (id, title, price.cents()),
    )?;
    let updated = TicketRow {
        title: title.to_owned(),
        price_cents: price.cents(),
        version: current.version + 1,
        ..current
    };
    tx.enqueue(&updated.updated_event())?;
    Ok(Edited::Done(updated))
}

/// `user:banned`: withdraws the seller's unsold tickets still listed (held ones too: their
/// buyer may still pay), each with its `ticket:updated`. Nothing left to withdraw (a
/// redelivery) is a duplicate.
pub fn user_banned(tx: &mut Tx<'_>, event: &UserBanned) -> anyhow::Result<Applied> {
    let withdrawn = tx.query_all(
        "UPDATE tickets SET withdrawn_at = ?2, version = version + 1 \
         WHERE user_id = ?1 AND withdrawn_at IS NULL AND NOT sold \
         RETURNING id, title, price_cents, user_id, version, order_id, created_at, \
         reserved_until, sold, withdrawn_at",
        (&event.user_id, timestamp(Utc::now().trunc_subsecs(6))),
        ticket_row,
    )?;
    if withdrawn.is_empty() {
        return Ok(Applied::Duplicate);
    }
    let count = withdrawn.len();
    for row in withdrawn {
        tx.enqueue(&row?.updated_event())?;
    }
    tracing::info!(user.id = %event.user_id, tickets = count, "a banned seller's tickets withdrawn");
    Ok(Applied::Done)
}

/// What a relisting came to.
pub enum Relisted {
    Done(TicketRow),
    NotFound,
    NotOwner,
    NotWithdrawn,
}

/// The seller puts a withdrawn ticket back on the market, with its `ticket:updated`.
pub fn relist(tx: &mut Tx<'_>, id: &str, user_id: &str) -> anyhow::Result<Relisted> {
    let current = tx.query_opt(
        "SELECT id, title, price_cents, user_id, version, order_id, created_at, \
         reserved_until, sold, withdrawn_at FROM tickets WHERE id = ?1",
        [id],
        ticket_row,
    )?;
    let Some(current) = current else {
        return Ok(Relisted::NotFound);
    };
    let current = current?;
    if current.user_id != user_id {
        return Ok(Relisted::NotOwner);
    }
    if current.withdrawn_at.is_none() {
        return Ok(Relisted::NotWithdrawn);
    }
    tx.execute(
        "UPDATE tickets SET withdrawn_at = NULL, version = version + 1 WHERE id = ?1",
        [id],
    )?;
    let relisted = TicketRow {
        withdrawn_at: None,
        version: current.version + 1,
        ..current
    };
    tx.enqueue(&relisted.updated_event())?;
    Ok(Relisted::Done(relisted))
}

/// A ticket row as the RETURNING lists give it; the inner error is a timestamp it can't be.
fn ticket_row(row: &Row<'_>) -> rusqlite::Result<anyhow::Result<TicketRow>> {
    let created_at: String = row.get(6)?;
    let reserved_until: Option<String> = row.get(7)?;
    let withdrawn_at: Option<String> = row.get(9)?;
    let ticket = TicketRow {
        id: row.get(0)?,
        title: row.get(1)?,
        price_cents: row.get(2)?,
        user_id: row.get(3)?,
        version: row.get(4)?,
        order_id: row.get(5)?,
        created_at: Default::default(),
        reserved_until: None,
        sold: row.get(8)?,
        withdrawn_at: None,
    };
    Ok((|| {
        Ok(TicketRow {
            created_at: parse_timestamp(&created_at)?,
            reserved_until: reserved_until.as_deref().map(parse_timestamp).transpose()?,
            withdrawn_at: withdrawn_at.as_deref().map(parse_timestamp).transpose()?,
            ..ticket
        })
    })())
}
