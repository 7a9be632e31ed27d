//! Reservations arrive as order events: `order:created` reserves, `order:cancelled` releases,
//! `order:completed` marks the ticket sold; `user:banned` withdraws the seller's tickets.
//! Each step is a savepoint of the listener's batch transaction that also writes the
//! resulting `ticket:updated` (on SQLite the batch is one writer-thread job, see `written`).
pub use common::bus::Applied;
use std::collections::HashSet;

use chrono::SubsecRound;
use common::bus::{Listeners, SetOutcome, Txn};
use common::events::{OrderCancelled, OrderCompleted, OrderCreated, UserBanned};
use common::outbox;
use common::sqlite::Tx;
use futures::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseTransaction, TransactionTrait};

use crate::{store, written, TicketsState};

/// `order:created` through sea-orm (PostgreSQL): one guarded `UPDATE … RETURNING` that
/// reserves the ticket unless it is held or the order was released first, and its outbox row.
pub async fn order_created(
    db: &impl ConnectionTrait,
    event: &OrderCreated,
) -> anyhow::Result<Applied> {
    let until = store::hold_end(event.expires_at);
    let reserved = store::reserve_for(db, &event.ticket.id, &event.id, until).await?;
    if let Some(reserved) = reserved {
        outbox::enqueue(db, &reserved.updated_event()).await?;
        tracing::info!(ticket.id = %reserved.id, order.id = %event.id, "ticket reserved");
        return Ok(Applied::Done);
    }
    not_reserved(db, event).await
}

/// `order:created` for a batch of orders (PostgreSQL): the reservations in one `UPDATE … FROM`
/// and their `ticket:updated` rows in one insert; each order it didn't reserve is classified
/// as [`order_created`] would (a duplicate, or early).
pub async fn orders_created(db: &Txn, events: Vec<OrderCreated>) -> anyhow::Result<SetOutcome> {
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        let mut applied = Vec::with_capacity(events.len());
        for event in &events {
            applied.push(order_created(&**db, event).await);
        }
        return Ok(SetOutcome {
            applied,
            staged: Vec::new(),
        });
    }
    let reservations: Vec<store::Reservation> = events
        .iter()
        .map(|event| store::Reservation {
            ticket_id: event.ticket.id.clone(),
            order_id: event.id.clone(),
            until: store::hold_end(event.expires_at),
        })
        .collect();
    let reserved = store::reserve_all(&**db, &reservations).await?;
    let updates: Vec<_> = reserved
        .iter()
        .map(store::TicketRow::updated_event)
        .collect();
    let staged = outbox::stage_all(&**db, &updates).await?;
    let mut by_order: HashSet<&str> = reserved
        .iter()
        .filter_map(|row| row.order_id.as_deref())
        .collect();
    let mut applied = Vec::with_capacity(events.len());
    for event in &events {
        // Taken out once counted: a repeat of the order within the batch is a duplicate.
        if by_order.remove(event.id.as_str()) {
            applied.push(Ok(Applied::Done));
            continue;
        }
        applied.push(not_reserved(&**db, event).await);
    }
    tracing::debug!(
        reserved = reserved.len(),
        of = events.len(),
        "tickets reserved"
    );
    Ok(SetOutcome { applied, staged })
}

/// Why `event` reserved nothing (see [`order_created`]).
async fn not_reserved(db: &impl ConnectionTrait, event: &OrderCreated) -> anyhow::Result<Applied> {
    Ok(match store::find(db, &event.ticket.id).await? {
        // Unknown ticket: its listing's event is still on the way.
        None => Applied::Early,
        Some(ticket) => match ticket.order_id {
            Some(holder) if holder == event.id => Applied::Duplicate,
            // Still held by an earlier order whose cancellation hasn't arrived yet.
            Some(_) => Applied::Early,
            // Free, so the order was released before it arrived: nothing to reserve.
            None => Applied::Duplicate,
        },
    })
}

/// `order:cancelled` through sea-orm: remembers the release, frees the ticket if this order
/// holds it.
pub async fn order_cancelled(
    db: &impl ConnectionTrait,
    event: &OrderCancelled,
) -> anyhow::Result<Applied> {
    store::mark_released(db, &event.id).await?;
    let Some(released) = store::release_from(db, &event.ticket.id, &event.id).await? else {
        // Never reserved by this order (its `order:created` may still come: it will be skipped).
        return Ok(Applied::Duplicate);
    };
    outbox::enqueue(db, &released.updated_event()).await?;
    tracing::info!(ticket.id = %released.id, order.id = %event.id, "ticket released");
    Ok(Applied::Done)
}

/// `order:completed` through sea-orm: marks the ticket sold to the order.
pub async fn order_completed(
    db: &impl ConnectionTrait,
    event: &OrderCompleted,
) -> anyhow::Result<Applied> {
    if store::mark_sold(db, &event.ticket.id, &event.id).await? {
        tracing::info!(ticket.id = %event.ticket.id, order.id = %event.id, "ticket sold");
        return Ok(Applied::Done);
    }
    Ok(match store::find(db, &event.ticket.id).await? {
        None => Applied::Early,
        Some(ticket) => written::sold_or_not(
            &event.id,
            ticket.order_id,
            ticket.sold,
            store::was_released(db, &event.id).await?,
        ),
    })
}

/// `user:banned` through sea-orm: withdraws the seller's unsold tickets (see
/// [`written::user_banned`]) and writes their `ticket:updated`.
pub async fn user_banned(db: &impl ConnectionTrait, event: &UserBanned) -> anyhow::Result<Applied> {
    let now = chrono::Utc::now().trunc_subsecs(6);
    let withdrawn = store::withdraw_all(db, &[event.user_id.as_str()], now).await?;
    if withdrawn.is_empty() {
        return Ok(Applied::Duplicate);
    }
    let updates: Vec<_> = withdrawn
        .iter()
        .map(store::TicketRow::updated_event)
        .collect();
    outbox::stage_all(db, &updates).await?;
    tracing::info!(user.id = %event.user_id, tickets = withdrawn.len(), "a banned seller's tickets withdrawn");
    Ok(Applied::Done)
}

/// `user:banned` for a batch of bans (PostgreSQL): every banned seller's tickets withdrawn in
/// one statement and their `ticket:updated` rows in one insert. A ban with nothing left to
/// withdraw (a redelivery, or a repeat within the batch) is a duplicate.
pub async fn users_banned(db: &Txn, events: Vec<UserBanned>) -> anyhow::Result<SetOutcome> {
    let users: Vec<&str> = events.iter().map(|e| e.user_id.as_str()).collect();
    let now = chrono::Utc::now().trunc_subsecs(6);
    let withdrawn = store::withdraw_all(&**db, &users, now).await?;
    let updates: Vec<_> = withdrawn
        .iter()
        .map(store::TicketRow::updated_event)
        .collect();
    let staged = outbox::stage_all(&**db, &updates).await?;
    let mut sellers: HashSet<&str> = withdrawn.iter().map(|row| row.user_id.as_str()).collect();
    let applied = events
        .iter()
        .map(|event| {
            Ok(if sellers.remove(event.user_id.as_str()) {
                Applied::Done
            } else {
                Applied::Duplicate
            })
        })
        .collect();
    tracing::info!(
        bans = events.len(),
        tickets = withdrawn.len(),
        "banned sellers' tickets withdrawn"
    );
    Ok(SetOutcome { applied, staged })
}

/// The `user:banned` step alone (see [`reserve`]).
pub async fn withdraw(state: &TicketsState, event: UserBanned) -> anyhow::Result<Applied> {
    alone(state, event, written::user_banned, |db, event| {
        Box::pin(async move { user_banned(db, &event).await })
    })
    .await
}

/// The `order:created` step alone, as the listener runs it (on the writer thread, or in a
/// transaction of its own); for tests and tools.
pub async fn reserve(state: &TicketsState, event: OrderCreated) -> anyhow::Result<Applied> {
    alone(state, event, written::order_created, |db, event| {
        Box::pin(async move { order_created(db, &event).await })
    })
    .await
}

/// The `order:cancelled` step alone (see [`reserve`]).
pub async fn release(state: &TicketsState, event: OrderCancelled) -> anyhow::Result<Applied> {
    alone(state, event, written::order_cancelled, |db, event| {
        Box::pin(async move { order_cancelled(db, &event).await })
    })
    .await
}

/// The `order:completed` step alone (see [`reserve`]).
pub async fn complete(state: &TicketsState, event: OrderCompleted) -> anyhow::Result<Applied> {
    alone(state, event, written::order_completed, |db, event| {
        Box::pin(async move { order_completed(db, &event).await })
    })
    .await
}

async fn alone<E: Send + 'static>(
    state: &TicketsState,
    event: E,
    on_writer: fn(&mut Tx<'_>, &E) -> anyhow::Result<Applied>,
    in_transaction: for<'a> fn(
        &'a DatabaseTransaction,
        E,
    ) -> BoxFuture<'a, anyhow::Result<Applied>>,
) -> anyhow::Result<Applied> {
    if let Some(writer) = &state.writer {
        return writer.write(move |tx| on_writer(tx, &event)).await;
    }
    let txn = state.db.begin().await?;
    let applied = in_transaction(&txn, event).await?;
    state.relay.commit(txn).await?;
    Ok(applied)
}

/// The durable subscription every replica of the service shares.
pub const GROUP: &str = "tickets-service";

/// The service's listeners. On SQLite the steps run on the writer thread, whose commits hand
/// their events on; on PostgreSQL in the listener's transaction, which commits through the
/// relay.
pub fn listeners(state: TicketsState) -> Listeners<TicketsState> {
    let listeners = Listeners::new(GROUP, state.clone());
    match &state.writer {
        Some(writer) => listeners
            .writing(writer.clone(), || {})
            .on_written(|_, tx, event: OrderCreated| written::order_created(tx, &event))
            .on_written(|_, tx, event: OrderCancelled| written::order_cancelled(tx, &event))
            .on_written(|_, tx, event: OrderCompleted| written::order_completed(tx, &event))
            .on_written(|_, tx, event: UserBanned| written::user_banned(tx, &event)),
        None => listeners
            .batching(state.background.clone(), || {})
            .relaying(state.relay.clone())
            .on_set(|_, txn: Txn, events: Vec<OrderCreated>| async move {
                orders_created(&txn, events).await
            })
            .on_batched(|_, txn: Txn, event: OrderCancelled| async move {
                order_cancelled(&*txn, &event).await
            })
            .on_batched(|_, txn: Txn, event: OrderCompleted| async move {
                order_completed(&*txn, &event).await
            })
            .on_set(|_, txn: Txn, events: Vec<UserBanned>| async move {
                users_banned(&txn, events).await
            }),
    }
}
