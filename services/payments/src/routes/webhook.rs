//! `POST /api/payments/webhook`: Stripe's events, verified by their `Stripe-Signature`
//! (HMAC-SHA256 of `"{t}.{raw body}"`, within five minutes) and handled at most once each.
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use common::dto::{ErrorBody, PaymentStatus};
use common::ApiError;
use common::Json;
use hmac::{Hmac, Mac};
use sea_orm::TransactionTrait;
use serde::Deserialize;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::store::{self, Change};
use crate::{charge, PaymentsState};

/// How far a signature's timestamp may be from now, as Stripe's libraries allow.
pub const TOLERANCE_SECONDS: i64 = 300;

pub const SIGNATURE_HEADER: &str = "stripe-signature";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Missing Stripe-Signature header")]
    Missing,
    #[error("Malformed Stripe-Signature header")]
    Malformed,
    #[error("Stripe-Signature timestamp is outside the tolerance")]
    Stale,
    #[error("Stripe-Signature does not match the payload")]
    Mismatch,
}

fn mac(secret: &[u8], timestamp: &str, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes a key of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// A `Stripe-Signature` header value for `payload` signed at `timestamp` (for tests and
/// tools; Stripe signs real deliveries).
pub fn sign(secret: &[u8], payload: &[u8], timestamp: i64) -> String {
    let digest = mac(secret, &timestamp.to_string(), payload)
        .finalize()
        .into_bytes();
    format!("t={timestamp},v1={}", hex::encode(digest))
}

/// Checks `header` against `payload`: some `v1` must be the HMAC (compared in constant
/// time) and `t` within [`TOLERANCE_SECONDS`] of `now`.
pub fn verify(secret: &[u8], header: &str, payload: &[u8], now: i64) -> Result<(), SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", t)) => timestamp = Some(t),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let text = timestamp.ok_or(SignatureError::Malformed)?;
    let t: i64 = text.parse().map_err(|_| SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now.abs_diff(t) > TOLERANCE_SECONDS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let expected = mac(secret, text, payload).finalize().into_bytes();
    let matches = signatures.iter().any(|candidate| {
        hex::decode(candidate)
            .is_ok_and(|given| bool::from(given.as_slice().ct_eq(expected.as_slice())))
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// An id fit for a query (PostgreSQL refuses a NUL byte with an error, not a miss).
fn plausible_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 255 && !id.chars().any(char::is_control)
}

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: EventData,
}

#[derive(Deserialize)]
struct EventData {
    object: serde_json::Value,
}

/// Receives one Stripe event. Answers 404 when no `STRIPE_WEBHOOK_SECRET` is configured (the
/// endpoint does not exist then), 400 for anything not signed by Stripe, 200 otherwise —
/// including for events it has seen before or does not act on.
#[utoipa::path(
    post,
    path = "/api/payments/webhook",
    operation_id = "stripeWebhook",
    tag = "payments",
    summary = "Stripe's events (only with `STRIPE_WEBHOOK_SECRET`)",
    params(("Stripe-Signature" = String, Header,
        description = "`t=<unix seconds>,v1=<HMAC-SHA256 of \"{t}.{body}\">`, within five minutes")),
    request_body(content = Object, content_type = "application/json", description = "A Stripe event"),
    responses(
        (status = OK, description = "Received (also an event seen before, or one not acted on)", body = Object),
        (status = BAD_REQUEST, description = "Missing, malformed, stale or wrong signature; a malformed event", body = ErrorBody),
        (status = NOT_FOUND, description = "No `STRIPE_WEBHOOK_SECRET` is configured: the endpoint does not exist", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "payments.webhook", skip_all)]
pub async fn receive(
    State(state): State<PaymentsState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Some(secret) = &state.webhook_secret else {
        return Err(ApiError::NotFound);
    };
    let header = headers
        .get(SIGNATURE_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or(SignatureError::Missing);
    header
        .and_then(|h| {
            verify(
                secret.expose().as_bytes(),
                h,
                &body,
                chrono::Utc::now().timestamp(),
            )
        })
        .map_err(|err| {
            tracing::warn!(error = %err, "webhook rejected");
            ApiError::bad_request(err.to_string())
        })?;
    let event: Event = serde_json::from_slice(&body)
        .map_err(|_| ApiError::bad_request("Malformed webhook event"))?;
    if !plausible_id(&event.id) {
        return Err(ApiError::bad_request("Malformed webhook event"));
    }
    tracing::info!(event.id = %event.id, event.kind = %event.kind, "webhook event");

    let txn = state.db.begin().await?;
    // Recording the id first, in the transaction of the effect, makes a redelivery a no-op.
    match store::record_webhook_event(&txn, &event.id, &event.kind).await {
        Ok(()) => {}
        Err(err) if common::db::is_unique_violation(&err) => {
            tracing::info!(event.id = %event.id, "webhook event seen before; ignored");
            return Ok(Json(serde_json::json!({ "received": true })));
        }
        Err(err) => return Err(err.into()),
    }
    let object = &event.data.object;
    let intent_id = match event.kind.as_str() {
        "charge.refunded" => object.get("payment_intent"),
        _ => object.get("id"),
    }
    .and_then(serde_json::Value::as_str)
    .filter(|id| plausible_id(id));
    let payment = match intent_id {
        Some(id) => store::find_by_stripe_id(&txn, id).await?,
        None => None,
    };
    let changed = match (event.kind.as_str(), payment) {
        // A capture whose answer we lost: the money is taken, so the order is paid.
        ("payment_intent.succeeded", Some(p)) if p.status == PaymentStatus::Capturing => {
            charge::finish_capture(&txn, &p.id).await?
        }
        // Refunded at the provider (e.g. from its dashboard).
        ("charge.refunded", Some(p)) if p.status == PaymentStatus::Captured => {
            charge::mark_refunded(&txn, &p).await?
        }
        ("payment_intent.canceled", Some(p)) if store::IN_FLIGHT.contains(&p.status) => {
            store::transition(
                &txn,
                &p.id,
                p.status,
                PaymentStatus::Voided,
                Change {
                    failure: Some("cancelled at the provider"),
                    ..Change::default()
                },
            )
            .await?
        }
        _ => false,
    };
    if changed {
        state.relay.commit(txn).await?;
    } else {
        txn.commit().await?;
    }
    Ok(Json(serde_json::json!({ "received": true })))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test";

    #[test]
    fn a_signature_made_with_the_secret_verifies() {
        let header = sign(SECRET, b"{}", 1_000);
        assert_eq!(
            verify(SECRET, &header, b"{}", 1_000 + TOLERANCE_SECONDS),
            Ok(())
        );
    }

    #[test]
    fn any_matching_v1_among_several_is_enough() {
        let good = sign(SECRET, b"{}", 1_000);
        let header = format!("t=1000,v1={},{}", "00".repeat(32), &good[7..]);
        assert_eq!(verify(SECRET, &header, b"{}", 1_000), Ok(()));
    }

    #[test]
    fn a_changed_body_other_secret_or_old_timestamp_is_refused() {
        let header = sign(SECRET, b"{}", 1_000);
        assert_eq!(
            verify(SECRET, &header, b"{ }", 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(b"other", &header, b"{}", 1_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, &header, b"{}", 1_301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, &header, b"{}", 699),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for header in ["", "t=abc,v1=00", "v1=00", "t=1000", "garbage"] {
            assert_eq!(
                verify(SECRET, header, b"{}", 1_000),
                Err(SignatureError::Malformed),
                "{header:?}"
            );
        }
        assert_eq!(
            verify(SECRET, "t=1000,v1=zz", b"{}", 1_000),
            Err(SignatureError::Mismatch)
        );
    }
}
