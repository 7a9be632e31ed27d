//! Single-step handlers for the events the orders service consumes. The bus loop calls one
//! per delivery and settles the message by the result: `Done` and `Duplicate` are acked,
//! `Early` is delivered again later, an error is retried with backoff.
use common::bus::{EventBus, Listeners, Txn};
use common::events::{
    ExpirationComplete, OrderStatus, PaymentCreated, TicketCreated, TicketUpdated,
};
use common::service::{Shutdown, Task};
use sea_orm::ConnectionTrait;

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
    Ok(match store::find_ticket(db, &event.id).await? {
        Some(stored) if event.version <= stored.version => Applied::Duplicate,
        // Unknown ticket (its `ticket:created` is still on the way) or a skipped version.
        _ => Applied::Early,
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
    if order.expires_at > chrono::Utc::now() && store::LIVE.contains(&order.status) {
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

/// Subscribes to the events this service needs; the task consumes them until shutdown.
/// Subscribing first means nothing published afterwards is missed.
pub async fn subscribe(
    state: OrdersState,
    bus: &EventBus,
    shutdown: Shutdown,
) -> anyhow::Result<Task> {
    // Replica updates write no events: nothing to wake after a commit.
    let listeners = Listeners::new("orders-service", state.clone());
    let listeners = match &state.writer {
        Some(writer) => listeners
            .writing(writer.clone(), || {})
            .on_written(|_, tx, event: TicketCreated| written::ticket_created(tx, event))
            .on_written(|_, tx, event: TicketUpdated| written::ticket_updated(tx, event)),
        None => listeners
            .batching(state.db.clone(), || {})
            .on_batched(|_, txn: Txn, event: TicketCreated| async move {
                ticket_created(&*txn, event).await
            })
            .on_batched(|_, txn: Txn, event: TicketUpdated| async move {
                ticket_updated(&*txn, event).await
            }),
    };
    listeners
        .on(|state: OrdersState, event: ExpirationComplete| async move {
            expiration_complete(&state, event).await
        })
        .on(|state: OrdersState, event: PaymentCreated| async move {
            payment_created(&state, event).await
        })
        .subscribe(bus, shutdown)
        .await
}
