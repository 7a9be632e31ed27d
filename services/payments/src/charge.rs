//! Taking a buyer's money, safely against expiry: authorize a hold, then — in one transaction
//! that re-checks the order — claim it, and only then capture. A hold that loses the race is
//! voided; captured money for an order that ends cancelled is refunded.
use chrono::{DateTime, Utc};
use common::dto::PaymentStatus;
use common::events::{OrderStatus, PaymentCreated, PaymentRefunded};
use common::{outbox, ApiError};
use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};

use crate::domain::{could_exist, PayRequest};
use crate::provider::{key_for, ChargeRequest, ProviderError};
use crate::store::{self, Change, PaymentRecord, ONE_LIVE_PER_ORDER};
use crate::PaymentsState;

pub const CANCELLED: &str = "Cannot pay for a cancelled order";
pub const ALREADY_PAID: &str = "Order is already paid";
pub const EXPIRED: &str = "Order has expired";
pub const IN_PROGRESS: &str = "A payment for this order is in progress";
pub const NOT_CHARGED: &str =
    "The payment could not be completed and you have not been charged; please try again";
pub const NOT_SETTLED: &str =
    "The payment could not be completed right now; it will be settled shortly";

impl From<ProviderError> for ApiError {
    fn from(err: ProviderError) -> Self {
        match err {
            ProviderError::Declined(message) => ApiError::PaymentDeclined(message),
            ProviderError::Invalid(message) => ApiError::BadRequest(message),
            ProviderError::Unavailable(message) => ApiError::Unavailable(message),
        }
    }
}

/// Why `order` can't be paid at `now`, if it can't. The expiry timestamp is the truth even
/// before `order:cancelled` arrives.
fn payable(order: &store::OrderRecord, now: DateTime<Utc>) -> Result<(), ApiError> {
    match order.status {
        OrderStatus::Cancelled => Err(ApiError::bad_request(CANCELLED)),
        OrderStatus::Complete => Err(ApiError::bad_request(ALREADY_PAID)),
        _ if order.expires_at <= now => Err(ApiError::bad_request(EXPIRED)),
        _ => Ok(()),
    }
}

/// `POST /api/payments`: charges `user_id` for their order, once. Returns the captured payment.
pub async fn pay(
    state: &PaymentsState,
    user_id: &str,
    request: PayRequest,
) -> Result<PaymentRecord, ApiError> {
    if !could_exist(&request.order_id) {
        return Err(ApiError::NotFound);
    }
    let order = store::find_order(&state.db, &request.order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if order.user_id != user_id {
        return Err(ApiError::NotAuthorized);
    }
    payable(&order, Utc::now())?;
    if already_paid(&state.db, &order.id).await? {
        return Err(ApiError::bad_request(ALREADY_PAID));
    }
    // The live-payment index decides a double click: exactly one insert succeeds.
    let payment = match store::insert_payment(&state.db, &order).await {
        Ok(payment) => payment,
        Err(err) if common::db::violates(&err, ONE_LIVE_PER_ORDER) => {
            return Err(ApiError::bad_request(
                if already_paid(&state.db, &order.id).await? {
                    ALREADY_PAID
                } else {
                    IN_PROGRESS
                },
            ));
        }
        Err(err) => return Err(err.into()),
    };
    tracing::info!(payment.id = %payment.id, order.id = %order.id, "payment started");

    let charge = ChargeRequest {
        amount: payment.amount,
        currency: payment.currency.clone(),
        token: request.token,
        order_id: order.id.clone(),
        payment_id: payment.id.clone(),
        idempotency_key: payment.id.clone(),
    };
    let provider_id = match state.provider.authorize(&charge).await {
        Ok(id) => id,
        Err(err) => {
            let to = match err {
                ProviderError::Declined(_) => PaymentStatus::Declined,
                _ => PaymentStatus::Failed,
            };
            let failure = err.to_string();
            store::transition(
                &state.db,
                &payment.id,
                PaymentStatus::Authorizing,
                to,
                Change {
                    failure: Some(&failure),
                    ..Change::default()
                },
            )
            .await?;
            tracing::info!(payment.id = %payment.id, status = to.as_str(), reason = %failure, "payment not authorized");
            return Err(err.into());
        }
    };
    store::set_stripe_id(&state.db, &payment.id, &provider_id).await?;

    if let Err(refusal) = claim(state, &payment).await? {
        release(
            state,
            &payment.id,
            &provider_id,
            PaymentStatus::Authorizing,
            "the order stopped being payable",
        )
        .await?;
        tracing::info!(payment.id = %payment.id, "order stopped being payable during authorization; hold voided");
        return Err(refusal);
    }
    capture(state, &payment, &provider_id).await
}

async fn already_paid(db: &impl ConnectionTrait, order_id: &str) -> Result<bool, DbErr> {
    Ok(store::payments_for(db, order_id)
        .await?
        .iter()
        .any(|p| p.status == PaymentStatus::Captured))
}

/// The conditional step: moves the payment to `capturing` only if its order is still payable
/// now, in one transaction. The inner error says why the order can't be paid any more.
async fn claim(
    state: &PaymentsState,
    payment: &PaymentRecord,
) -> Result<Result<(), ApiError>, DbErr> {
    let txn = state.db.begin().await?;
    // Writing first means that on SQLite the transaction holds the write lock before it
    // reads, so nothing can change the order between the check and the commit.
    let moved = store::transition(
        &txn,
        &payment.id,
        PaymentStatus::Authorizing,
        PaymentStatus::Capturing,
        Change::default(),
    )
    .await?;
    let order = store::find_order(&txn, &payment.order_id).await?;
    let verdict = match order {
        _ if !moved => Err(ApiError::Internal(anyhow::anyhow!(
            "payment {} left authorizing while it was being authorized",
            payment.id
        ))),
        None => Err(ApiError::NotFound),
        Some(order) => match payable(&order, Utc::now()) {
            // On PostgreSQL a cancellation can commit between the read and this update; the
            // update's conditions then miss.
            Ok(()) if store::claim_order(&txn, &order, &payment.id).await? => Ok(()),
            Ok(()) => Err(ApiError::bad_request(CANCELLED)),
            Err(refusal) => Err(refusal),
        },
    };
    if verdict.is_ok() {
        txn.commit().await?;
    } else {
        txn.rollback().await?;
    }
    Ok(verdict)
}

/// Captures a claimed payment. If the capture fails the hold is released, so the buyer can
/// try again; if even that fails the payment stays `capturing` for the webhook or the
/// cancellation listener to settle.
async fn capture(
    state: &PaymentsState,
    payment: &PaymentRecord,
    provider_id: &str,
) -> Result<PaymentRecord, ApiError> {
    match state
        .provider
        .capture(provider_id, &key_for(&payment.id, "capture"))
        .await
    {
        Ok(()) => {
            let txn = state.db.begin().await?;
            finish_capture(&txn, &payment.id).await?;
            txn.commit().await?;
            state.relay.poke();
            tracing::info!(payment.id = %payment.id, "payment captured");
            store::find_payment(&state.db, &payment.id)
                .await?
                .ok_or_else(|| {
                    ApiError::Internal(anyhow::anyhow!("payment {} vanished", payment.id))
                })
        }
        Err(err) => {
            tracing::warn!(payment.id = %payment.id, error = %err, "capture failed; releasing the hold");
            let reason = format!("capture failed: {err}");
            match state
                .provider
                .void(provider_id, &key_for(&payment.id, "void"))
                .await
            {
                Ok(()) => {
                    store::transition(
                        &state.db,
                        &payment.id,
                        PaymentStatus::Capturing,
                        PaymentStatus::Failed,
                        Change {
                            failure: Some(&reason),
                            ..Change::default()
                        },
                    )
                    .await?;
                    Err(ApiError::Unavailable(NOT_CHARGED.into()))
                }
                Err(void_err) => {
                    tracing::error!(payment.id = %payment.id, error = %void_err, "cannot release the hold either; the payment stays capturing");
                    Err(ApiError::Unavailable(NOT_SETTLED.into()))
                }
            }
        }
    }
}

/// `capturing` → `captured` with `payment:created` in the caller's transaction. False (and no
/// event) when the payment was not capturing: someone settled it first.
pub async fn finish_capture(db: &impl ConnectionTrait, payment_id: &str) -> Result<bool, DbErr> {
    let moved = store::transition(
        db,
        payment_id,
        PaymentStatus::Capturing,
        PaymentStatus::Captured,
        Change::default(),
    )
    .await?;
    if moved {
        let payment = store::find_payment(db, payment_id)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound(payment_id.to_owned()))?;
        outbox::enqueue(
            db,
            &PaymentCreated {
                id: payment.id.clone(),
                order_id: payment.order_id.clone(),
                stripe_id: payment.stripe_id.clone().unwrap_or_default(),
            },
        )
        .await?;
    }
    Ok(moved)
}

/// Voids a hold that will never be captured and marks the payment `voided` (from `from`). A
/// failed void is logged and the payment still counts as voided: it is never captured, and
/// an uncaptured hold lapses at the provider.
async fn release(
    state: &PaymentsState,
    payment_id: &str,
    provider_id: &str,
    from: PaymentStatus,
    why: &str,
) -> Result<bool, DbErr> {
    let failure = match state
        .provider
        .void(provider_id, &key_for(payment_id, "void"))
        .await
    {
        Ok(()) => why.to_owned(),
        Err(err) => {
            tracing::warn!(payment.id = %payment_id, error = %err, "cannot void a hold; it will lapse at the provider");
            format!("{why}; the void failed: {err}")
        }
    };
    store::transition(
        &state.db,
        payment_id,
        from,
        PaymentStatus::Voided,
        Change {
            failure: Some(&failure),
            ..Change::default()
        },
    )
    .await
}

/// `captured` → `refunded` with `payment:refunded`, in the caller's transaction.
pub async fn mark_refunded(
    db: &impl ConnectionTrait,
    payment: &PaymentRecord,
) -> Result<bool, DbErr> {
    let moved = store::transition(
        db,
        &payment.id,
        PaymentStatus::Captured,
        PaymentStatus::Refunded,
        Change::default(),
    )
    .await?;
    if moved {
        outbox::enqueue(
            db,
            &PaymentRefunded {
                id: payment.id.clone(),
                order_id: payment.order_id.clone(),
                stripe_id: payment.stripe_id.clone().unwrap_or_default(),
                amount: payment.amount,
            },
        )
        .await?;
    }
    Ok(moved)
}

/// Gives a captured payment back through the provider, then records it.
pub async fn refund(state: &PaymentsState, payment: &PaymentRecord) -> anyhow::Result<bool> {
    let provider_id = payment
        .stripe_id
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("captured payment {} has no provider id", payment.id))?;
    state
        .provider
        .refund(provider_id, &key_for(&payment.id, "refund"))
        .await
        .map_err(|err| anyhow::anyhow!("refunding payment {}: {err}", payment.id))?;
    let txn = state.db.begin().await?;
    let moved = mark_refunded(&txn, payment).await?;
    txn.commit().await?;
    state.relay.poke();
    tracing::info!(payment.id = %payment.id, order.id = %payment.order_id, "payment refunded: its order was cancelled");
    Ok(moved)
}

/// How long a payment may sit in flight before it counts as abandoned (its process died
/// mid-way). Longer than any live attempt keeps it untouched (provider calls time out at 30 s).
pub const STALE: chrono::Duration = chrono::Duration::seconds(90);

/// Settles an abandoned in-flight payment of a cancelled order: a hold is voided; a claimed
/// payment is captured (the same idempotency key, so at most once) and then refunded by the
/// caller, or voided if the capture fails.
pub async fn recover(state: &PaymentsState, payment: &PaymentRecord) -> anyhow::Result<()> {
    let why = "abandoned in flight; its order was cancelled";
    let Some(provider_id) = payment.stripe_id.as_deref() else {
        // Never authorized as far as we know; nothing to release.
        store::transition(
            &state.db,
            &payment.id,
            payment.status,
            PaymentStatus::Failed,
            Change {
                failure: Some(why),
                ..Change::default()
            },
        )
        .await?;
        return Ok(());
    };
    match payment.status {
        PaymentStatus::Authorizing => {
            release(
                state,
                &payment.id,
                provider_id,
                PaymentStatus::Authorizing,
                why,
            )
            .await?;
        }
        PaymentStatus::Capturing => {
            let captured = state
                .provider
                .capture(provider_id, &key_for(&payment.id, "capture"))
                .await;
            if captured.is_ok() {
                let txn = state.db.begin().await?;
                finish_capture(&txn, &payment.id).await?;
                txn.commit().await?;
                state.relay.poke();
            } else {
                release(
                    state,
                    &payment.id,
                    provider_id,
                    PaymentStatus::Capturing,
                    why,
                )
                .await?;
            }
        }
        _ => {}
    }
    tracing::warn!(payment.id = %payment.id, "settled an abandoned payment");
    Ok(())
}
