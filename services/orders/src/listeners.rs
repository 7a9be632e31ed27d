//! Single-step handlers for the events the orders service consumes. The bus loop calls one
//! per delivery and settles the message by the result: `Done` and `Duplicate` are acked,
//! `Early` is delivered again later, an error is retried with backoff.
use std::collections::HashSet;

use common::bus::{Listeners, SetOutcome, Txn};
use common::events::{
    ExpirationComplete, OrderStatus, PaymentCreated, TicketCreated, TicketUpdated, UserBanned,
};
use common::outbox;
use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::lifecycle::{self, Ended};
use crate::{store, written, OrdersState};

pub use common::bus::Applied;

/// `ticket:created`: adds the ticket to the replica at the event's version.
#[tracing::instrument(name = "orders.ticket_created", skip_all, fields(ticket.id = %event.id))]
pub async fn ticket_created(
    db: &impl ConnectionTrait,
    event: TicketCreated,
) -> anyhow::Result<Applied> {
    Ok(if store::insert_ticket(db, &event).await? {
        Applied::Done
    } else {
        Applied::Duplicate
    })
}

/// `ticket:updated`: applies title, price and version only on top of the version before it.
#[tracing::instrument(name = "orders.ticket_updated", skip_all, fields(ticket.id = %event.id, ticket.version = event.version))]
pub async fn ticket_updated(
    db: &impl ConnectionTrait,
    event: TicketUpdated,
) -> anyhow::Result<Applied> {
    if store::apply_ticket_update(db, &event).await? {
        return Ok(Applied::Done);
    }
    not_applied(db, &event).await
}

/// Why a `ticket:updated` didn't apply: the replica has it already, or it comes too early.
async fn not_applied(db: &impl ConnectionTrait, event: &TicketUpdated) -> anyhow::Result<Applied> {
    Ok(match store::find_ticket(db, &event.id).await? {
        Some(stored) if event.version <= stored.version => Applied::Duplicate,
        // Unknown ticket (its `ticket:created` is still on the way) or a skipped version.
        _ => Applied::Early,
    })
}

/// `ticket:updated` for a batch of events (PostgreSQL): applied in rounds of at most one
/// event per ticket, in version order, one statement a round (one round unless a ticket
/// changed twice within the batch); what didn't apply is classified as [`ticket_updated`]
/// would.
pub async fn tickets_updated(db: &Txn, events: Vec<TicketUpdated>) -> anyhow::Result<SetOutcome> {
    let mut order: Vec<usize> = (0..events.len()).collect();
    order.sort_by(|&a, &b| {
        (events[a].id.as_str(), events[a].version).cmp(&(events[b].id.as_str(), events[b].version))
    });
    let mut applied: Vec<Option<anyhow::Result<Applied>>> = events.iter().map(|_| None).collect();
    if db.get_database_backend() != sea_orm::DbBackend::Postgres {
        // One statement each, in the same (ticket, version) order.
        for i in order {
            applied[i] = Some(ticket_updated(&**db, events[i].clone()).await);
        }
    } else {
        // Round k holds each ticket's k-th event by version.
        let mut rounds: Vec<Vec<&TicketUpdated>> = Vec::new();
        let mut k = 0;
        for (n, &i) in order.iter().enumerate() {
            k = match n {
                0 => 0,
                _ if events[order[n - 1]].id == events[i].id => k + 1,
                _ => 0,
            };
            if rounds.len() <= k {
                rounds.push(Vec::new());
            }
            rounds[k].push(&events[i]);
        }
        let mut done = HashSet::new();
        for round in &rounds {
            done.extend(store::apply_ticket_updates(&**db, round).await?);
        }
        for (i, event) in events.iter().enumerate() {
            // Taken out once counted: a repeat of the event within the batch is a duplicate.
            applied[i] = Some(if done.remove(&(event.id.clone(), event.version)) {
                Ok(Applied::Done)
            } else {
                not_applied(&**db, event).await
            });
        }
    }
    Ok(SetOutcome {
        applied: applied
            .into_iter()
            .map(|a| a.unwrap_or_else(|| Err(anyhow::anyhow!("no outcome"))))
            .collect(),
        staged: Vec::new(),
    })
}

/// `expiration:complete`: a reservation ran out; cancels the order unless it was paid.
#[tracing::instrument(name = "orders.expiration_complete", skip_all, fields(order.id = %event.order_id))]
pub async fn expiration_complete(
    state: &OrdersState,
    event: ExpirationComplete,
) -> anyhow::Result<Applied> {
    let Some(order) = store::find_order(&state.db, &event.order_id).await? else {
        return Ok(Applied::Early);
    };
    if !order.is_expired(chrono::Utc::now()) && store::LIVE.contains(&order.status) {
        // Fired before the window closed (a clock ahead of ours): the timestamp decides.
        tracing::warn!(expires_at = %order.expires_at, "expiry arrived early; will look again");
        return Ok(Applied::Early);
    }
    Ok(match lifecycle::cancel(state, order).await? {
        Ended::Now(_) => Applied::Done,
        Ended::Already(_) => Applied::Duplicate,
        Ended::Unknown => Applied::Early,
    })
}

/// `payment:created`: the buyer paid; completes the order.
#[tracing::instrument(name = "orders.payment_created", skip_all, fields(order.id = %event.order_id, payment.id = %event.id))]
pub async fn payment_created(
    state: &OrdersState,
    event: PaymentCreated,
) -> anyhow::Result<Applied> {
    let Some(order) = store::find_order(&state.db, &event.order_id).await? else {
        return Ok(Applied::Early);
    };
    Ok(match lifecycle::complete(state, order).await? {
        Ended::Now(_) => Applied::Done,
        Ended::Already(order) => {
            if order.status == OrderStatus::Cancelled {
                // The payments service refunds a charge that lost the race with expiry.
                tracing::warn!(
                    "payment for an order that was already cancelled; leaving it cancelled"
                );
            }
            Applied::Duplicate
        }
        Ended::Unknown => Applied::Early,
    })
}

/// `user:banned` through sea-orm, in the given transaction: cancels each of the buyer's
/// live orders ([`store::transition`]) with its `order:cancelled`, as any cancellation
/// (tickets releases the ticket, payments voids or refunds). Completed orders stand. An
/// order that changes under it (paid, cancelled meanwhile) makes the whole step early: it
/// is undone and comes again, when that order is no longer live or can be cancelled.
#[tracing::instrument(name = "orders.user_banned", skip_all, fields(user.id = %event.user_id))]
pub async fn user_banned_in(
    db: &impl ConnectionTrait,
    event: &UserBanned,
) -> anyhow::Result<Applied> {
    let live = store::live_orders_of(db, &event.user_id).await?;
    if live.is_empty() {
        return Ok(Applied::Duplicate);
    }
    for order in &live {
        let Some(cancelled) = store::transition(db, order, OrderStatus::Cancelled).await? else {
            return Ok(Applied::Early);
        };
        outbox::enqueue(db, &cancelled.cancelled_event()).await?;
    }
    tracing::info!(
        orders = live.len(),
        "a banned buyer's live orders cancelled"
    );
    Ok(Applied::Done)
}

/// The `user:banned` step alone, as the listener runs it (on the writer thread, or in a
/// transaction of its own); for tests and tools.
pub async fn user_banned(state: &OrdersState, event: UserBanned) -> anyhow::Result<Applied> {
    if let Some(writer) = &state.writer {
        return writer
            .write(move |tx| written::user_banned(tx, &event))
            .await;
    }
    let txn = state.db.begin().await?;
    let applied = user_banned_in(&txn, &event).await?;
    match applied {
        Applied::Early => txn.rollback().await?,
        _ => state.relay.commit(txn).await?,
    }
    Ok(applied)
}

/// The durable subscription every replica of the service shares.
pub const GROUP: &str = "orders-service";

/// The service's listeners: the ticket replica's steps (on the writer thread on SQLite, else
/// in the listener's transaction), a ban's cancellations (on the writer thread, else in a
/// transaction of their own) and the order's expiry and payment.
pub fn listeners(state: OrdersState) -> Listeners<OrdersState> {
    // Replica updates write no events, and the writer thread hands its commits' events on
    // itself: nothing to wake after a commit.
    let listeners = Listeners::new(GROUP, state.clone());
    let listeners = match &state.writer {
        Some(writer) => listeners
            .writing(writer.clone(), || {})
            .on_written(|_, tx, event: TicketCreated| written::ticket_created(tx, event))
            .on_written(|_, tx, event: TicketUpdated| written::ticket_updated(tx, event))
            .on_written(|_, tx, event: UserBanned| written::user_banned(tx, &event)),
        None => listeners
            .batching(state.background.clone(), || {})
            .on_batched(|_, txn: Txn, event: TicketCreated| async move {
                ticket_created(&*txn, event).await
            })
            .on_set(|_, txn: Txn, events: Vec<TicketUpdated>| async move {
                tickets_updated(&txn, events).await
            }),
    };
    let listeners = match &state.writer {
        Some(_) => listeners,
        // Bans are rare: a transaction of their own, committed through the relay.
        None => listeners.on(|state: OrdersState, event: UserBanned| async move {
            user_banned(&state, event).await
        }),
    };
    listeners
        .on(|state: OrdersState, event: ExpirationComplete| async move {
            expiration_complete(&state, event).await
        })
        .on(|state: OrdersState, event: PaymentCreated| async move {
            payment_created(&state, event).await
        })
}
