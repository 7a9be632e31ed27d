//! The service's writes as jobs for the SQLite writer thread, so the file has one writer:
//! listing, editing and relisting a ticket, the reservation steps and a ban's withdrawal —
//! each one guarded `UPDATE … RETURNING` and its `ticket:updated` outbox row, with a read only
//! to tell why the update found nothing to do. Same decisions as the sea-orm code in `routes`
//! and `listeners`.
use chrono::{SubsecRound, Utc};
use common::bus::Applied;
use common::events::{OrderCancelled, OrderCompleted, OrderCreated, TicketCreated, UserBanned};
use common::sqlite::rusqlite::{self, Row};
use common::sqlite::{parse_timestamp, timestamp, Tx};

use crate::domain::{NewTicket, EVENT_STARTED, NO_SUCH_EVENT};
use crate::store::{self, EventRow, TicketRow, PLACEHOLDER_EVENT};

/// A ticket row's columns in the order [`ticket_row`] reads them.
macro_rules! columns {
    () => {
        "id, title, price_cents, user_id, version, order_id, created_at, reserved_until, sold, \
         withdrawn_at, event_id, section, seat_row, seat"
    };
}

/// `order:created`: reserves the ticket for the order unless it is held, or the order was
/// cancelled already (its cancellation overtook it).
pub fn order_created(tx: &mut Tx<'_>, event: &OrderCreated) -> anyhow::Result<Applied> {
    let reserved = tx.query_opt(
        concat!(
            "UPDATE tickets SET order_id = ?1, reserved_until = ?3, version = version + 1 \
         WHERE id = ?2 AND order_id IS NULL \
         AND NOT EXISTS (SELECT 1 FROM released_orders WHERE order_id = ?1) \
         RETURNING ",
            columns!()
        ),
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
        concat!(
            "UPDATE tickets SET order_id = NULL, reserved_until = NULL, sold = FALSE, \
         version = version + 1 \
         WHERE id = ?1 AND order_id = ?2 \
         RETURNING ",
            columns!()
        ),
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

/// Why a listing or an edit can't go to the event asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventRefused {
    NotFound,
    Started,
}

impl From<EventRefused> for common::ApiError {
    fn from(refused: EventRefused) -> Self {
        let message = match refused {
            EventRefused::NotFound => NO_SUCH_EVENT,
            EventRefused::Started => EVENT_STARTED,
        };
        common::ApiError::Validation(vec![common::dto::ErrorItem::field("eventId", message)])
    }
}

/// Whether a ticket may go to event `id` now: it exists and has not started.
fn open_event(tx: &Tx<'_>, id: &str) -> anyhow::Result<Result<(), EventRefused>> {
    let start = tx.query_opt("SELECT starts_at FROM events WHERE id = ?1", [id], |row| {
        row.get::<_, Option<String>>(0)
    })?;
    Ok(match start {
        None => Err(EventRefused::NotFound),
        Some(Some(at)) if parse_timestamp(&at)? <= Utc::now() => Err(EventRefused::Started),
        Some(_) => Ok(()),
    })
}

/// Lists a new ticket at version 0 with its `ticket:created`, for the event asked for (the
/// placeholder when none was) if that one is open.
pub fn list(
    tx: &mut Tx<'_>,
    new: &NewTicket,
    user_id: &str,
) -> anyhow::Result<Result<TicketRow, EventRefused>> {
    let event_id = new.event_id.as_deref().unwrap_or(PLACEHOLDER_EVENT);
    if let Err(refused) = open_event(tx, event_id)? {
        return Ok(Err(refused));
    }
    let [section, seat_row, seat] = new.seat();
    let row = TicketRow {
        id: uuid::Uuid::new_v4().to_string(),
        title: new.title.clone(),
        price_cents: new.price.cents(),
        user_id: user_id.to_owned(),
        version: 0,
        order_id: None,
        reserved_until: None,
        sold: false,
        withdrawn_at: None,
        // Microseconds, as PostgreSQL keeps them (see `store::insert`).
        created_at: Utc::now().trunc_subsecs(6),
        event_id: event_id.to_owned(),
        section,
        seat_row,
        seat,
    };
    tx.execute(
        "INSERT INTO tickets (id, title, price_cents, user_id, version, order_id, created_at, \
         event_id, section, seat_row, seat) VALUES (?1, ?2, ?3, ?4, 0, NULL, ?5, ?6, ?7, ?8, ?9)",
        (
            &row.id,
            &row.title,
            row.price_cents,
            &row.user_id,
            timestamp(row.created_at),
            &row.event_id,
            &row.section,
            &row.seat_row,
            &row.seat,
        ),
    )?;
    tx.enqueue(&TicketCreated {
        id: row.id.clone(),
        version: row.version,
        title: row.title.clone(),
        price: new.price,
        user_id: row.user_id.clone(),
    })?;
    Ok(Ok(row))
}

/// What an edit came to.
pub enum Edited {
    /// Boxed: a row is far larger than the refusals.
    Done(Box<TicketRow>),
    NotFound,
    Reserved,
    NotOwner,
    /// Off the market: only relisting changes it.
    Withdrawn,
    /// The event asked for is unknown or has started.
    Event(EventRefused),
}

/// The owner's edit of title, price, event and seat, never while the ticket is reserved or
/// withdrawn; checked in the order the API promises (reservation before ownership).
pub fn edit(tx: &mut Tx<'_>, id: &str, user_id: &str, new: &NewTicket) -> anyhow::Result<Edited> {
    let current = tx.query_opt(
        concat!("SELECT ", columns!(), " FROM tickets WHERE id = ?1"),
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
    if let Some(event_id) = new.event_id.as_deref().filter(|e| *e != current.event_id) {
        if let Err(refused) = open_event(tx, event_id)? {
            return Ok(Edited::Event(refused));
        }
    }
    let updated = edited(current, new);
    tx.execute(
        "UPDATE tickets SET title = ?2, price_cents = ?3, version = version + 1, \
         event_id = ?4, section = ?5, seat_row = ?6, seat = ?7 WHERE id = ?1",
        (
            id,
            &updated.title,
            updated.price_cents,
            &updated.event_id,
            &updated.section,
            &updated.seat_row,
            &updated.seat,
        ),
    )?;
    tx.enqueue(&updated.updated_event())?;
    Ok(Edited::Done(Box::new(updated)))
}

/// `current` as `new` edits it (version + 1): what is not given stays.
pub fn edited(current: TicketRow, new: &NewTicket) -> TicketRow {
    let [section, seat_row, seat] = new.seat.clone();
    TicketRow {
        title: new.title.clone(),
        price_cents: new.price.cents(),
        version: current.version + 1,
        event_id: new.event_id.clone().unwrap_or(current.event_id),
        section: section.unwrap_or(current.section),
        seat_row: seat_row.unwrap_or(current.seat_row),
        seat: seat.unwrap_or(current.seat),
        ..current
    }
}

/// Creates the event with its `event:created`, unless one with its name and venue (ignoring
/// case) and start exists: None then.
pub fn create_event(tx: &mut Tx<'_>, row: EventRow) -> anyhow::Result<Option<EventRow>> {
    let inserted = tx.execute(
        "INSERT INTO events (id, name, venue, city, starts_at, time_zone, description, \
         created_by, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT DO NOTHING",
        (
            &row.id,
            &row.name,
            &row.venue,
            &row.city,
            row.starts_at.map(timestamp),
            &row.time_zone,
            &row.description,
            &row.created_by,
            timestamp(row.created_at),
        ),
    )?;
    if inserted == 0 {
        return Ok(None);
    }
    tx.enqueue(&row.created_event())?;
    Ok(Some(row))
}

/// `user:banned`: withdraws the seller's unsold tickets still listed (held ones too: their
/// buyer may still pay), each with its `ticket:updated`. Nothing left to withdraw (a
/// redelivery) is a duplicate.
pub fn user_banned(tx: &mut Tx<'_>, event: &UserBanned) -> anyhow::Result<Applied> {
    let withdrawn = tx.query_all(
        concat!(
            "UPDATE tickets SET withdrawn_at = ?2, version = version + 1 \
         WHERE user_id = ?1 AND withdrawn_at IS NULL AND NOT sold \
         RETURNING ",
            columns!()
        ),
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
    /// Boxed: a row is far larger than the refusals.
    Done(Box<TicketRow>),
    NotFound,
    NotOwner,
    NotWithdrawn,
}

/// The seller puts a withdrawn ticket back on the market, with its `ticket:updated`.
pub fn relist(tx: &mut Tx<'_>, id: &str, user_id: &str) -> anyhow::Result<Relisted> {
    let current = tx.query_opt(
        concat!("SELECT ", columns!(), " FROM tickets WHERE id = ?1"),
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
    Ok(Relisted::Done(Box::new(relisted)))
}

/// A ticket row as the RETURNING lists give it; the inner error is a timestamp it can't be.
fn ticket_row(row: &Row<'_>) -> rusqlite::Result<anyhow::Result<TicketRow>> {
    let created_at: String = row.get(6)?;
    let reserved_until: Option<String> = row.get(7)?;
    let withdrawn_at: Option<String> = row.get(9)?;
    let ticket = TicketRow {
        event_id: row.get(10)?,
        section: row.get(11)?,
        seat_row: row.get(12)?,
        seat: row.get(13)?,
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
