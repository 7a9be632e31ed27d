//! A payment racing its order's end: refunded, or the hold voided, never charged for a
//! cancelled or expired order.

use std::time::Duration;

use chrono::Utc;
use common::dto::PaymentStatus;
use common::events::{OrderStatus, PaymentCreated, PaymentRefunded};
use payments::charge::{CANCELLED, EXPIRED};
use payments::listeners::Applied;
use serde_json::json;

use crate::helpers::{cancel_hook, Kind, Options, TestApp};

on_both_providers!(
    an_order_cancelled_after_it_was_paid_is_refunded,
    a_hold_that_loses_the_race_with_cancellation_is_voided,
    a_cancellation_during_capture_waits_then_refunds,
    an_order_that_expires_during_authorization_is_not_charged,
);

/// The buyer paid just as the order expired: `order:cancelled` refunds it.
async fn an_order_cancelled_after_it_was_paid_is_refunded(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    let id = app.pay(&buyer, &order, "tok_visa").await.json()["id"].clone();
    assert_eq!(app.cancel(&order, 1).await, Applied::Done);

    assert_eq!(
        app.payments(&order).await[0].status,
        PaymentStatus::Refunded
    );
    assert_eq!(app.captured(&order), 0);
    assert_eq!(app.charges(&order)[0].status, "refunded");
    let stripe_id = app.charges(&order)[0].id.clone();
    assert_eq!(
        app.outbox::<PaymentRefunded>().await,
        [json!({"id": id, "orderId": order, "stripeId": stripe_id, "amount": 20})]
    );
    // A redelivery changes nothing.
    assert_eq!(app.cancel(&order, 1).await, Applied::Duplicate);
    assert_eq!(app.outbox::<PaymentRefunded>().await.len(), 1);
}

/// `order:cancelled` lands while the card is being authorized: the conditional step
/// refuses the capture and the hold is voided.
async fn a_hold_that_loses_the_race_with_cancellation_is_voided(kind: Kind) {
    let app = TestApp::spawn_with(
        kind,
        Options {
            after_authorize: Some(cancel_hook()),
            ..Options::default()
        },
    )
    .await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    app.pay(&buyer, &order, "tok_visa")
        .await
        .assert_error(400, CANCELLED);
    assert_eq!(app.payments(&order).await[0].status, PaymentStatus::Voided);
    let charges = app.charges(&order);
    assert_eq!(charges.len(), 1);
    assert_eq!(charges[0].status, "voided");
    // The redelivered cancellation finds nothing in flight any more.
    assert_eq!(app.cancel(&order, 1).await, Applied::Duplicate);
    assert!(app.outbox::<PaymentCreated>().await.is_empty());
}

/// `order:cancelled` lands after the claim, before the capture: the capture goes
/// through, and the redelivered cancellation refunds it.
async fn a_cancellation_during_capture_waits_then_refunds(kind: Kind) {
    let app = TestApp::spawn_with(
        kind,
        Options {
            before_capture: Some(cancel_hook()),
            ..Options::default()
        },
    )
    .await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    assert_eq!(app.pay(&buyer, &order, "tok_visa").await.status, 201);
    assert_eq!(app.order_status(&order).await, Some(OrderStatus::Cancelled));
    assert_eq!(app.cancel(&order, 1).await, Applied::Done);
    assert_eq!(
        app.payments(&order).await[0].status,
        PaymentStatus::Refunded
    );
    assert_eq!(app.captured(&order), 0);
    assert_eq!(app.outbox::<PaymentRefunded>().await.len(), 1);
}

/// The expiry timestamp passes while the card is being authorized (no `order:cancelled`
/// yet): the conditional step refuses, and the hold is voided.
async fn an_order_that_expires_during_authorization_is_not_charged(kind: Kind) {
    let app = TestApp::spawn_with(
        kind,
        Options {
            after_authorize: Some(wait_past_expiry()),
            ..Options::default()
        },
    )
    .await;
    let buyer = app.buyer();
    let order = app
        .seed_order_expiring(&buyer, 2000, Utc::now() + chrono::Duration::seconds(1))
        .await;
    app.pay(&buyer, &order, "tok_visa")
        .await
        .assert_error(400, EXPIRED);
    assert_eq!(app.payments(&order).await[0].status, PaymentStatus::Voided);
    assert_eq!(app.charges(&order)[0].status, "voided");
    assert!(app.outbox::<PaymentCreated>().await.is_empty());
}

/// Waits out the order's expiry while the card is being authorized.
fn wait_past_expiry() -> crate::helpers::Hook {
    std::sync::Arc::new(|_state, _order| Box::pin(tokio::time::sleep(Duration::from_millis(1500))))
}
