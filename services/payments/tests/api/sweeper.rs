//! The sweeper settles payments whose process died part-way, by how far each got, and
//! leaves young ones alone.

use std::time::Duration;

use chrono::Utc;
use common::dto::PaymentStatus;
use common::events::{PaymentCreated, PaymentRefunded};
use common::testing::eventually;
use payments::charge::ALREADY_PAID;
use payments::listeners::Applied;
use payments::store::{self};
use serde_json::json;

use crate::helpers::{abandoned, sweep_now, Died, Kind, Options, TestApp};

on_both_providers!(
    sweeper_voids_a_hold_abandoned_before_its_id_was_recorded,
    sweeper_completes_a_hold_abandoned_while_its_order_is_payable,
    sweeper_refunds_a_capture_abandoned_for_a_cancelled_order,
    sweeper_voids_a_claimed_hold_whose_order_expired,
    sweeper_fails_a_payment_the_provider_never_saw,
    sweeper_leaves_payments_younger_than_the_bound_alone,
    the_services_own_sweeper_settles_an_abandoned_payment,
);

/// Killed between the provider's hold and recording its id, and the order was cancelled
/// meanwhile: the sweeper finds the hold by the payment id and voids it.
async fn sweeper_voids_a_hold_abandoned_before_its_id_was_recorded(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    let payment = abandoned(&app, &order, Died::AfterAuthorizing).await;
    assert_eq!(payment.stripe_id, None);
    assert_eq!(app.cancel(&order, 1).await, Applied::Early, "it waits");
    assert_eq!(sweep_now(&app).await, 1);
    let settled = &app.payments(&order).await[0];
    assert_eq!(settled.status, PaymentStatus::Voided);
    assert_eq!(
        settled.stripe_id.as_deref(),
        Some(app.charges(&order)[0].id.as_str())
    );
    assert_eq!(app.charges(&order)[0].status, "voided");
    assert!(app.outbox::<PaymentCreated>().await.is_empty());
    assert_eq!(
        app.cancel(&order, 1).await,
        Applied::Duplicate,
        "nothing waits now"
    );
    assert_eq!(sweep_now(&app).await, 0, "settled once");
}

/// Killed after the hold while the order is still payable: the sweeper finishes the pay
/// flow (claim, capture), so the buyer's order completes.
async fn sweeper_completes_a_hold_abandoned_while_its_order_is_payable(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    let payment = abandoned(&app, &order, Died::AfterAuthorizing).await;
    assert_eq!(sweep_now(&app).await, 1);
    assert_eq!(
        app.payments(&order).await[0].status,
        PaymentStatus::Captured
    );
    assert_eq!(app.captured(&order), 1);
    assert_eq!(
        app.outbox::<PaymentCreated>().await,
        [json!({"id": payment.id, "orderId": order, "stripeId": app.charges(&order)[0].id})]
    );
    // A second click now sees the order paid.
    app.pay(&buyer, &order, "tok_visa")
        .await
        .assert_error(400, ALREADY_PAID);
}

/// Killed after capturing, before recording it, and the order was cancelled (it lapsed):
/// the capture is recorded and refunded — nobody keeps money for a cancelled order.
async fn sweeper_refunds_a_capture_abandoned_for_a_cancelled_order(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    let payment = abandoned(&app, &order, Died::AfterCapturing).await;
    assert_eq!(app.cancel(&order, 1).await, Applied::Early);
    assert_eq!(sweep_now(&app).await, 1);
    assert_eq!(
        app.payments(&order).await[0].status,
        PaymentStatus::Refunded
    );
    assert_eq!(app.captured(&order), 0);
    assert_eq!(app.charges(&order)[0].status, "refunded");
    assert_eq!(app.outbox::<PaymentCreated>().await.len(), 1);
    let stripe_id = app.charges(&order)[0].id.clone();
    assert_eq!(
        app.outbox::<PaymentRefunded>().await,
        [json!({"id": payment.id, "orderId": order, "stripeId": stripe_id, "amount": 20})]
    );
    assert_eq!(app.cancel(&order, 1).await, Applied::Duplicate);
    assert_eq!(app.outbox::<PaymentRefunded>().await.len(), 1);
}

/// Claimed, then killed before the capture; the order's window closed since (no
/// `order:cancelled` yet): the hold is voided, not captured.
async fn sweeper_voids_a_claimed_hold_whose_order_expired(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let buyer = app.buyer();
    let order = app
        .seed_order_expiring(&buyer, 2000, Utc::now() + chrono::Duration::seconds(1))
        .await;
    let payment = abandoned(&app, &order, Died::AfterClaiming).await;
    assert_eq!(payment.status, PaymentStatus::Capturing);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(sweep_now(&app).await, 1);
    assert_eq!(app.payments(&order).await[0].status, PaymentStatus::Voided);
    assert_eq!(app.charges(&order)[0].status, "voided");
    assert!(app.outbox::<PaymentCreated>().await.is_empty());
}

/// Killed before the provider was asked: nothing is held, the payment fails and the
/// buyer may pay again.
async fn sweeper_fails_a_payment_the_provider_never_saw(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    abandoned(&app, &order, Died::BeforeAuthorizing).await;
    app.pay(&buyer, &order, "tok_visa")
        .await
        .assert_error(400, payments::charge::IN_PROGRESS);
    assert_eq!(sweep_now(&app).await, 1);
    assert_eq!(app.payments(&order).await[0].status, PaymentStatus::Failed);
    assert!(app.charges(&order).is_empty());
    assert_eq!(app.pay(&buyer, &order, "tok_visa").await.status, 201);
    assert_eq!(app.captured(&order), 1);
}

/// A payment in flight for less than `PAYMENT_STALE_SECONDS` may be a live request: the
/// sweeper leaves it alone.
async fn sweeper_leaves_payments_younger_than_the_bound_alone(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    abandoned(&app, &order, Died::AfterClaiming).await;
    assert_eq!(
        payments::sweeper::sweep(&app.state).await.expect("a sweep"),
        0
    );
    assert_eq!(
        app.payments(&order).await[0].status,
        PaymentStatus::Capturing
    );
    assert_eq!(app.charges(&order)[0].status, "authorized");
}

/// The sweeper is one of the service's own tasks: with a one-second bound, an abandoned
/// capture for a cancelled order is refunded with nobody calling it.
async fn the_services_own_sweeper_settles_an_abandoned_payment(kind: Kind) {
    let app = TestApp::spawn_with(
        kind,
        Options {
            stale_after: Some(Duration::from_secs(1)),
            ..Options::default()
        },
    )
    .await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    abandoned(&app, &order, Died::AfterCapturing).await;
    assert_eq!(app.cancel(&order, 1).await, Applied::Early);
    let db = app.state.db.clone();
    let settled = eventually(Duration::from_secs(15), || {
        let (db, order) = (db.clone(), order.clone());
        async move {
            let payments = store::payments_for(&db, &order).await.ok()?;
            (payments[0].status == PaymentStatus::Refunded).then_some(())
        }
    })
    .await;
    assert!(settled.is_some(), "refunded by the service's own sweeper");
    assert_eq!(app.charges(&order)[0].status, "refunded");
}
