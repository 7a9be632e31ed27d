//! Taking a buyer's money, safely against expiry: authorize a hold, then — in one transaction
//! that re-checks the order — claim it, and only then capture. A hold that loses the race is
//! voided; captured money for an order that ends cancelled is refunded.
use chrono::{DateTime, Utc};
use common::dto::PaymentStatus;
use common::events::{OrderStatus, PaymentCreated, PaymentRefunded};
use common::{outbox, ApiError};
use sea_orm::{ConnectionTrait, DbErr, TransactionTrait};

use crate::domain::{could_exist, PayRequest};
use crate::provider::{key_for, ChargeRequest, ChargeState, ProviderError};
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
        _ if order.is_expired(now) => Err(ApiError::bad_request(EXPIRED)),
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

/// Settles a payment left in flight by a process that died mid-way (or a capture whose answer
/// was lost), by what the provider says became of it:
/// * nothing held (never authorized; in test mode, the ledger went with its process), or an
///   intent still open → voided at the provider if there is anything to void, `failed`/`voided`;
/// * a hold: an unclaimed payment goes through the pay flow's own claim (captured if its order
///   is still payable, else voided); a claimed one is captured if its order is still payable,
///   else voided — money is kept only for an order that can still be completed;
/// * captured → `captured` with `payment:created`, refunded at once if the order is already
///   cancelled (else a later `order:cancelled` refunds it, as for any paid order);
/// * voided → `voided`; refunded (from the provider's dashboard) → `refunded`, with both events.
///
/// Every status change is conditional and every provider call idempotent (the pay flow's own
/// keys), so replicas settling at once, or a live attempt finishing late, settle it once. An
/// error (provider or database) leaves the payment in flight for the next try.
pub async fn settle_abandoned(
    state: &PaymentsState,
    payment: &PaymentRecord,
) -> anyhow::Result<()> {
    let found = state
        .provider
        .lookup(&payment.id, payment.stripe_id.as_deref())
        .await
        .map_err(|err| anyhow::anyhow!("looking up payment {}: {err}", payment.id))?;
    let from = payment.status;
    let Some(found) = found else {
        let why = "abandoned in flight; the provider holds nothing for it";
        store::transition(
            &state.db,
            &payment.id,
            from,
            PaymentStatus::Failed,
            reason(why),
        )
        .await?;
        tracing::warn!(payment.id = %payment.id, "settled an abandoned payment: nothing was held");
        return Ok(());
    };
    if payment.stripe_id.is_none() {
        store::set_stripe_id(&state.db, &payment.id, &found.id).await?;
    }
    let order = store::find_order(&state.db, &payment.order_id).await?;
    let live = order
        .as_ref()
        .is_some_and(|order| payable(order, Utc::now()).is_ok());
    let outcome = match found.state {
        ChargeState::Voided => {
            let why = "abandoned in flight; the hold was voided";
            store::transition(
                &state.db,
                &payment.id,
                from,
                PaymentStatus::Voided,
                reason(why),
            )
            .await?;
            "voided"
        }
        ChargeState::Open => {
            let why = "abandoned in flight before anything was held";
            release(state, &payment.id, &found.id, from, why).await?;
            "voided"
        }
        ChargeState::Held if from == PaymentStatus::Authorizing => {
            match claim(state, payment).await? {
                Ok(()) => captured_or_released(capture(state, payment, &found.id).await),
                Err(_) => {
                    let why = "abandoned in flight; the order stopped being payable";
                    release(state, &payment.id, &found.id, from, why).await?;
                    "voided"
                }
            }
        }
        ChargeState::Held if live => captured_or_released(capture(state, payment, &found.id).await),
        ChargeState::Held => {
            let why = "abandoned in flight; the order stopped being payable";
            release(state, &payment.id, &found.id, from, why).await?;
            "voided"
        }
        ChargeState::Captured | ChargeState::Refunded => {
            let txn = state.db.begin().await?;
            if from == PaymentStatus::Authorizing {
                store::transition(
                    &txn,
                    &payment.id,
                    from,
                    PaymentStatus::Capturing,
                    Change::default(),
                )
                .await?;
            }
            finish_capture(&txn, &payment.id).await?;
            let recorded = store::find_payment(&txn, &payment.id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("payment {} vanished", payment.id))?;
            if found.state == ChargeState::Refunded {
                mark_refunded(&txn, &recorded).await?;
            }
            txn.commit().await?;
            state.relay.poke();
            let cancelled = order.is_some_and(|o| o.status == OrderStatus::Cancelled);
            if found.state == ChargeState::Captured && cancelled {
                refund(state, &recorded).await?;
                "captured, then refunded (its order was cancelled)"
            } else if found.state == ChargeState::Refunded {
                "refunded"
            } else {
                "captured"
            }
        }
    };
    tracing::warn!(payment.id = %payment.id, order.id = %payment.order_id, outcome, "settled an abandoned payment");
    Ok(())
}

fn reason(why: &str) -> Change<'_> {
    Change {
        failure: Some(why),
        ..Change::default()
    }
}

/// What [`capture`] did, in words; a capture that could neither complete nor release its hold
/// stays `capturing` for the next try.
fn captured_or_released(result: Result<PaymentRecord, ApiError>) -> &'static str {
    match result {
        Ok(_) => "captured",
        Err(ApiError::Unavailable(message)) if message == NOT_CHARGED => "failed (hold released)",
        Err(_) => "still capturing",
    }
}
