//! Reservations arrive as order events: `order:created` reserves, `order:cancelled` releases.
//! Each step is one transaction that also writes the resulting `ticket:updated`.
pub use common::bus::Applied;
use common::bus::{run_listener, Outcome};
use common::bus::{EventBus, Message};
use common::events::{Event, OrderCancelled, OrderCreated, Subject};
use common::outbox;
use sea_orm::TransactionTrait;

use crate::{store, TicketsState};

pub async fn order_created(state: &TicketsState, event: &OrderCreated) -> anyhow::Result<Applied> {
    let Some(ticket) = store::find(&state.db, &event.ticket.id).await? else {
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
    let txn = state.db.begin().await?;
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
    event: &OrderCancelled,
) -> anyhow::Result<Applied> {
    let txn = state.db.begin().await?;
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

/// Subscribes to the order events this service needs, then consumes them in the background
/// until the bus shuts down. Subscribing first means nothing published afterwards is missed.
pub async fn start(
    state: TicketsState,
    bus: EventBus,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    const GROUP: &str = "tickets-service";
    let sub = bus
        .subscribe(GROUP, &[OrderCreated::SUBJECT, OrderCancelled::SUBJECT])
        .await?;
    Ok(tokio::spawn(run_listener(
        sub,
        bus,
        GROUP,
        move |message: Message| {
            let state = state.clone();
            async move {
                match message.subject {
                    Subject::OrderCreated => {
                        let step = |e: OrderCreated| async move { order_created(&state, &e).await };
                        Outcome::of_event(&message, step).await
                    }
                    Subject::OrderCancelled => {
                        let step =
                            |e: OrderCancelled| async move { order_cancelled(&state, &e).await };
                        Outcome::of_event(&message, step).await
                    }
                    _ => Outcome::Done,
                }
            }
        },
    )))
}
