//! Single-step handlers for the order events that keep the replica current, and the refund
//! of a payment whose order ended cancelled. Steps apply order changes only on top of the
//! version before them: older or equal is a duplicate, newer (or an unknown order) is early.
use std::time::Duration;

use chrono::Utc;
use common::bus::{ListenerOptions, Listeners, SetOutcome, Txn};
use common::dto::PaymentStatus;
use common::events::{OrderCancelled, OrderCompleted, OrderCreated, OrderStatus};
use sea_orm::ConnectionTrait;

use crate::{charge, store, PaymentsState};

pub use common::bus::Applied;

/// The durable subscription every replica of the service shares.
pub const GROUP: &str = "payments-service";

/// The service's listeners. A cancellation waits (redelivered as early) while a payment of
/// its order is in flight. Its redeliveries need not outlast the payment: a payment in flight
/// longer than [`PaymentsState::stale_after`] is settled by [`crate::sweeper`] whatever became
/// of the event, and the event's last attempt is parked as a dead letter, never dropped
/// (`bounded` keeps the attempts under the broker's own limit).
pub fn listeners(state: PaymentsState) -> Listeners<PaymentsState> {
    let listeners = Listeners::new(GROUP, state.clone()).with_options(
        ListenerOptions {
            max_backoff: Duration::from_secs(10),
            ..ListenerOptions::default()
        }
        .bounded(),
    );
    // The replica's inserts share a commit with the other events at hand (a duplicate is
    // `ON CONFLICT DO NOTHING`, never an error that would abort the batch on PostgreSQL).
    let listeners =
        match &state.writer {
            Some(writer) => {
                listeners
                    .writing(writer.clone(), || {})
                    .on_written(|_, tx, event: OrderCreated| {
                        Ok(applied(store::insert_order_written(tx, &event)?))
                    })
            }
            None => listeners.batching(state.background.clone(), || {}).on_set(
                |_, txn: Txn, events: Vec<OrderCreated>| async move {
                    orders_created(&txn, events).await
                },
            ),
        };
    listeners
        .on::<OrderCancelled, _, _>(|state, e| async move { order_cancelled(&state, e).await })
        .on::<OrderCompleted, _, _>(|state, e| async move { order_completed(&state, e).await })
}

/// `order:created`: adds the order to the replica.
#[tracing::instrument(name = "payments.order_created", skip_all, fields(order.id = %event.id))]
pub async fn order_created(
    db: &impl ConnectionTrait,
    event: OrderCreated,
) -> anyhow::Result<Applied> {
    Ok(applied(store::insert_order(db, &event).await?))
}

/// `order:created` for a batch of orders: the replica's rows in one insert.
pub async fn orders_created(db: &Txn, events: Vec<OrderCreated>) -> anyhow::Result<SetOutcome> {
    let rows: Vec<&OrderCreated> = events.iter().collect();
    let inserted = store::insert_orders(&**db, &rows).await?;
    let applied = events
        .iter()
        .map(|event| Ok(applied(inserted.contains(&event.id))))
        .collect();
    Ok(SetOutcome {
        applied,
        staged: Vec::new(),
    })
}

fn applied(inserted: bool) -> Applied {
    if inserted {
        Applied::Done
    } else {
        Applied::Duplicate
    }
}

/// `order:completed`: the order was paid.
#[tracing::instrument(name = "payments.order_completed", skip_all, fields(order.id = %event.id, order.version = event.version))]
pub async fn order_completed(
    state: &PaymentsState,
    event: OrderCompleted,
) -> anyhow::Result<Applied> {
    if store::apply_order_change(&state.db, &event.id, event.version, OrderStatus::Complete).await?
    {
        return Ok(Applied::Done);
    }
    Ok(match store::find_order(&state.db, &event.id).await? {
        Some(stored) if event.version <= stored.version => Applied::Duplicate,
        _ => Applied::Early,
    })
}

/// `order:cancelled`: the order is cancelled (by its buyer, or it expired). Once it is, no
/// new hold on it can be captured; money already captured for it is refunded. Redeliveries
/// of the event settle again, so a refund that failed or waited is never lost.
#[tracing::instrument(name = "payments.order_cancelled", skip_all, fields(order.id = %event.id, order.version = event.version))]
pub async fn order_cancelled(
    state: &PaymentsState,
    event: OrderCancelled,
) -> anyhow::Result<Applied> {
    let applied =
        if store::apply_order_change(&state.db, &event.id, event.version, OrderStatus::Cancelled)
            .await?
        {
            Applied::Done
        } else {
            match store::find_order(&state.db, &event.id).await? {
                None => return Ok(Applied::Early),
                Some(stored) if event.version > stored.version => return Ok(Applied::Early),
                Some(stored) if stored.status != OrderStatus::Cancelled => {
                    return Ok(Applied::Duplicate)
                }
                Some(_) => Applied::Duplicate,
            }
        };
    let mut refunded = false;
    for payment in store::payments_for(&state.db, &event.id).await? {
        match payment.status {
            status if store::IN_FLIGHT.contains(&status) => {
                if Utc::now() - payment.updated_at >= state.stale_after() {
                    // Abandoned: settle it now rather than at the next sweep; a capture is
                    // refunded by the redelivery (or by the sweep, if this was the last).
                    charge::settle_abandoned(state, &payment).await?;
                }
                return Ok(Applied::Early);
            }
            PaymentStatus::Captured => {
                tracing::warn!(payment.id = %payment.id, "the order was cancelled after it was paid; refunding");
                refunded |= charge::refund(state, &payment).await?;
            }
            _ => {}
        }
    }
    Ok(if refunded { Applied::Done } else { applied })
}
