//! Reservations arrive as order events: `order:created` reserves, `order:cancelled` releases.
//! Each step is one transaction (a savepoint of the listener's batch) that also writes the
//! resulting `ticket:updated`.
pub use common::bus::Applied;
use common::bus::{EventBus, Listeners, Txn};
use common::events::{OrderCancelled, OrderCreated};
use common::outbox;
use common::service::{Shutdown, Task};
use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::{store, TicketsState};

pub async fn order_created(
    state: &TicketsState,
    db: &(impl ConnectionTrait + TransactionTrait),
    event: &OrderCreated,
) -> anyhow::Result<Applied> {
    let Some(ticket) = store::find(db, &event.ticket.id).await? else {
        return Ok(Applied::Early);
    };
    match ticket.order_id.as_deref() {
        Some(current) if current == event.id => return Ok(Applied::Duplicate),
        // Still held by an earlier order whose cancellation hasn't arrived yet.
        Some(_) => return Ok(Applied::Early),
        None => {}
    }
    // Write first (see routes::update), then check inside the same transaction whether this
    // order's cancellation overtook it.
    let txn = db.begin().await?;
    let Some(reserved) = store::set_order(&txn, &ticket, Some(&event.id)).await? else {
        return Ok(Applied::Early);
    };
    if store::was_released(&txn, &event.id).await? {
        txn.rollback().await?;
        return Ok(Applied::Duplicate);
    }
    outbox::enqueue(&txn, &reserved.updated_event()).await?;
    txn.commit().await?;
    state.relay.poke();
    tracing::info!(ticket.id = %reserved.id, order.id = %event.id, "ticket reserved");
    Ok(Applied::Done)
}

pub async fn order_cancelled(
    state: &TicketsState,
    db: &(impl ConnectionTrait + TransactionTrait),
    event: &OrderCancelled,
) -> anyhow::Result<Applied> {
    let txn = db.begin().await?;
    store::mark_released(&txn, &event.id).await?;
    let ticket = store::find(&txn, &event.ticket.id).await?;
    let applied = match ticket {
        Some(ticket) if ticket.order_id.as_deref() == Some(event.id.as_str()) => {
            let Some(released) = store::set_order(&txn, &ticket, None).await? else {
                return Ok(Applied::Early);
            };
            outbox::enqueue(&txn, &released.updated_event()).await?;
            tracing::info!(ticket.id = %released.id, order.id = %event.id, "ticket released");
            Applied::Done
        }
        // Never reserved by this order (its `order:created` may still come: it will be skipped).
        _ => Applied::Duplicate,
    };
    txn.commit().await?;
    state.relay.poke();
    Ok(applied)
}

/// Subscribes to the order events this service needs; the task consumes them until
/// shutdown. Subscribing first means nothing published afterwards is missed.
pub async fn subscribe(
    state: TicketsState,
    bus: &EventBus,
    shutdown: Shutdown,
) -> anyhow::Result<Task> {
    let relay = state.relay.clone();
    Listeners::new("tickets-service", state.clone())
        .batching(state.db, move || relay.poke())
        .on_batched(
            |state: TicketsState, txn: Txn, event: OrderCreated| async move {
                order_created(&state, &*txn, &event).await
            },
        )
        .on_batched(
            |state: TicketsState, txn: Txn, event: OrderCancelled| async move {
                order_cancelled(&state, &*txn, &event).await
            },
        )
        .subscribe(bus, shutdown)
        .await
}
