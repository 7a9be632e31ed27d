//! The payments service end to end: the course app's payments cases (§2, 53–60) adapted,
//! plus expiry, double clicks, declines, refunds and the Stripe webhook. The route suite runs
//! once per provider: test mode, and the Stripe adapter against a local stand-in.
mod helpers;

use std::time::Duration;

use chrono::Utc;
use common::bus::encode;
use common::dto::{ErrorItem, PaymentStatus};
use common::events::{OrderStatus, PaymentCreated, PaymentRefunded};
use common::testing::{eventually, Reply};
use helpers::{cancel_hook, Kind, Options, TestApp, WEBHOOK_SECRET};
use payments::charge::{ALREADY_PAID, CANCELLED, EXPIRED};
use payments::listeners::Applied;
use payments::routes::webhook::sign;
use payments::store::{self, Change};
use serde_json::json;

/// Runs each named case once with each provider: `case::test_mode` and `case::stripe`.
macro_rules! on_both_providers {
    ($($case:ident),* $(,)?) => {$(
        mod $case {
            #[tokio::test]
            async fn test_mode() {
                super::cases::$case(super::Kind::TestMode).await
            }
            #[tokio::test]
            async fn stripe() {
                super::cases::$case(super::Kind::Stripe).await
            }
        }
    )*};
}

on_both_providers!(
    paying_requires_a_signed_in_user_before_anything_else,
    missing_or_empty_fields_are_reported_per_field,
    paying_for_an_order_that_does_not_exist_is_404,
    paying_for_someone_elses_order_is_401,
    paying_for_a_cancelled_order_is_400,
    a_valid_payment_is_201_captured_stored_and_published,
    an_order_past_its_expiry_cannot_be_paid_even_before_it_is_cancelled,
    a_paid_order_cannot_be_paid_again,
    a_declined_card_is_402_and_the_buyer_can_retry_with_another_card,
    an_unknown_token_is_a_400_not_a_decline,
    a_double_click_makes_exactly_one_charge,
    hostile_input_never_causes_a_server_error,
    the_receipt_lists_an_orders_payments_to_its_owner_only,
    an_order_cancelled_after_it_was_paid_is_refunded,
    a_hold_that_loses_the_race_with_cancellation_is_voided,
    a_cancellation_during_capture_waits_then_refunds,
    an_order_that_expires_during_authorization_is_not_charged,
    sweeper_voids_a_hold_abandoned_before_its_id_was_recorded,
    sweeper_completes_a_hold_abandoned_while_its_order_is_payable,
    sweeper_refunds_a_capture_abandoned_for_a_cancelled_order,
    sweeper_voids_a_claimed_hold_whose_order_expired,
    sweeper_fails_a_payment_the_provider_never_saw,
    sweeper_leaves_payments_younger_than_the_bound_alone,
    the_services_own_sweeper_settles_an_abandoned_payment,
);

mod cases {
    use super::*;

    pub async fn paying_requires_a_signed_in_user_before_anything_else(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let reply = Reply::of(app.client.post(app.url("/api/payments")).json(&json!({}))).await;
        reply.assert_error(401, "Not authorized");
    }

    pub async fn missing_or_empty_fields_are_reported_per_field(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let buyer = app.buyer();
        let both = [
            ErrorItem::field("orderId", "OrderId must be provided"),
            ErrorItem::field("token", "Token must be provided"),
        ];
        app.pay_with(&buyer, json!({}))
            .await
            .assert_errors(400, &both);
        app.pay_with(&buyer, json!({"orderId": "", "token": ""}))
            .await
            .assert_errors(400, &both);
        app.pay_with(&buyer, json!({"orderId": "o1"}))
            .await
            .assert_errors(400, &both[1..]);
        app.pay_with(&buyer, json!({"token": "tok_visa"}))
            .await
            .assert_errors(400, &both[..1]);
    }

    /// Case 53.
    pub async fn paying_for_an_order_that_does_not_exist_is_404(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let buyer = app.buyer();
        let missing = uuid::Uuid::new_v4().to_string();
        app.pay(&buyer, &missing, "asldkfj")
            .await
            .assert_error(404, "Not Found");
    }

    /// Case 54.
    pub async fn paying_for_someone_elses_order_is_401(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let owner = app.buyer();
        let order = app.seed_order(&owner, 2000).await;
        app.pay(&app.buyer(), &order, "tok_visa")
            .await
            .assert_error(401, "Not authorized");
        assert!(app.payments(&order).await.is_empty());
    }

    /// Case 55.
    pub async fn paying_for_a_cancelled_order_is_400(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let buyer = app.buyer();
        let order = app.seed_order(&buyer, 2000).await;
        assert_eq!(app.cancel(&order, 1).await, Applied::Done);
        app.pay(&buyer, &order, "tok_visa")
            .await
            .assert_error(400, CANCELLED);
        assert!(app.charges(&order).is_empty());
    }

    /// Case 56: the charge is in the provider with the order's amount in cents and `usd`, and
    /// the stored payment names it.
    pub async fn a_valid_payment_is_201_captured_stored_and_published(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let buyer = app.buyer();
        let cents = 100 + rand_cents();
        let order = app.seed_order(&buyer, cents).await;
        let reply = app.pay(&buyer, &order, "tok_visa").await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let id = reply.json()["id"].as_str().expect("an id").to_owned();
        assert_eq!(reply.json(), json!({ "id": id }));

        let charges = app.charges(&order);
        assert_eq!(charges.len(), 1, "{charges:?}");
        assert_eq!(
            (
                charges[0].amount_cents,
                charges[0].currency.as_str(),
                charges[0].status
            ),
            (cents, "usd", "captured")
        );
        let payments = app.payments(&order).await;
        assert_eq!(payments.len(), 1);
        assert_eq!(payments[0].id, id);
        assert_eq!(payments[0].status, PaymentStatus::Captured);
        assert_eq!(
            payments[0].stripe_id.as_deref(),
            Some(charges[0].id.as_str())
        );
        assert_eq!(
            app.outbox::<PaymentCreated>().await,
            [json!({"id": id, "orderId": order, "stripeId": charges[0].id})]
        );
    }

    pub async fn an_order_past_its_expiry_cannot_be_paid_even_before_it_is_cancelled(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let buyer = app.buyer();
        let order = app
            .seed_order_expiring(&buyer, 2000, Utc::now() - chrono::Duration::seconds(1))
            .await;
        app.pay(&buyer, &order, "tok_visa")
            .await
            .assert_error(400, EXPIRED);
        assert!(app.charges(&order).is_empty());
    }

    pub async fn a_paid_order_cannot_be_paid_again(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let buyer = app.buyer();
        let order = app.seed_order(&buyer, 2000).await;
        assert_eq!(app.pay(&buyer, &order, "tok_visa").await.status, 201);
        app.pay(&buyer, &order, "tok_visa")
            .await
            .assert_error(400, ALREADY_PAID);
        // Once orders reports it complete, that alone refuses a payment too.
        assert_eq!(app.complete(&order, 1).await, Applied::Done);
        app.pay(&buyer, &order, "tok_visa")
            .await
            .assert_error(400, ALREADY_PAID);
        assert_eq!(app.captured(&order), 1);
    }

    pub async fn a_declined_card_is_402_and_the_buyer_can_retry_with_another_card(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let buyer = app.buyer();
        let order = app.seed_order(&buyer, 2000).await;
        app.pay(&buyer, &order, "tok_chargeDeclined")
            .await
            .assert_error(402, "Your card was declined.");
        let reply = app.pay(&buyer, &order, "tok_visa").await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        let statuses: Vec<_> = app
            .payments(&order)
            .await
            .iter()
            .map(|p| p.status)
            .collect();
        assert_eq!(statuses, [PaymentStatus::Declined, PaymentStatus::Captured]);
        assert_eq!(app.captured(&order), 1);
    }

    pub async fn an_unknown_token_is_a_400_not_a_decline(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let buyer = app.buyer();
        let order = app.seed_order(&buyer, 2000).await;
        let messages = app
            .pay(&buyer, &order, "asdlkfj")
            .await
            .assert_enveloped(400);
        assert!(messages[0].to_lowercase().contains("token"), "{messages:?}");
        assert_eq!(app.payments(&order).await[0].status, PaymentStatus::Failed);
        assert_eq!(app.pay(&buyer, &order, "tok_visa").await.status, 201);
    }

    pub async fn a_double_click_makes_exactly_one_charge(kind: Kind) {
        let app = std::sync::Arc::new(TestApp::spawn(kind).await);
        let buyer = app.buyer();
        let order = app.seed_order(&buyer, 2500).await;
        let mut clicks = tokio::task::JoinSet::new();
        for _ in 0..10 {
            let (app, buyer, order) = (app.clone(), buyer.clone(), order.clone());
            clicks.spawn(async move { app.pay(&buyer, &order, "tok_visa").await });
        }
        let mut created = 0;
        while let Some(reply) = clicks.join_next().await {
            let reply = reply.expect("a click completes");
            match reply.status {
                201 => created += 1,
                _ => {
                    let messages = reply.assert_enveloped(400);
                    assert!(
                        [ALREADY_PAID, payments::charge::IN_PROGRESS]
                            .contains(&messages[0].as_str()),
                        "{messages:?}"
                    );
                }
            }
        }
        assert_eq!(created, 1);
        assert_eq!(app.captured(&order), 1);
        assert_eq!(
            app.charges(&order).len(),
            1,
            "the losers never reached the provider"
        );
        assert_eq!(app.outbox::<PaymentCreated>().await.len(), 1);
    }

    pub async fn hostile_input_never_causes_a_server_error(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let buyer = app.buyer();
        let order = app.seed_order(&buyer, 2000).await;
        let long = "x".repeat(100_000);
        for body in [
            json!({"orderId": "a\u{0}b", "token": "tok_visa"}),
            json!({"orderId": long, "token": "tok_visa"}),
            json!({"orderId": order, "token": long}),
            json!({"orderId": order, "token": "tok_visa\u{0}"}),
            json!({"orderId": "'; DROP TABLE payments; --", "token": "tok_visa"}),
            json!({"orderId": "☃", "token": "☃"}),
            json!({"orderId": 12, "token": false}),
            json!({"orderId": {"$ne": null}, "token": ["tok_visa"]}),
            json!([1, 2, 3]),
            json!("text"),
        ] {
            let reply = app.pay_with(&buyer, body.clone()).await;
            assert!(
                (400..500).contains(&reply.status),
                "{body}: {} {}",
                reply.status,
                reply.body
            );
            reply.errors();
        }
        for raw in ["{", "", "null", "{\"orderId\": \"\\ud800\"}"] {
            let reply = Reply::of(
                app.client
                    .post(app.url("/api/payments"))
                    .header("cookie", &buyer.cookie)
                    .header("content-type", "application/json")
                    .body(raw),
            )
            .await;
            assert!(
                (400..500).contains(&reply.status),
                "{raw:?}: {} {}",
                reply.status,
                reply.body
            );
            reply.errors();
        }
        for query in [
            "orderId=a%00b",
            "orderId=%ff",
            "orderId=",
            "orderId=1&orderId=2",
            "x=%zz",
        ] {
            let reply = Reply::of(
                app.client
                    .get(app.url(&format!("/api/payments?{query}")))
                    .header("cookie", &buyer.cookie),
            )
            .await;
            assert!(
                (400..500).contains(&reply.status),
                "{query}: {} {}",
                reply.status,
                reply.body
            );
            reply.errors();
        }
        assert!(app.charges(&order).is_empty());
    }

    pub async fn the_receipt_lists_an_orders_payments_to_its_owner_only(kind: Kind) {
        let app = TestApp::spawn(kind).await;
        let buyer = app.buyer();
        let order = app.seed_order(&buyer, 1999).await;
        app.pay(&buyer, &order, "tok_chargeDeclined").await;
        let paid = app.pay(&buyer, &order, "tok_visa").await.json()["id"].clone();

        let reply = app.receipt(&buyer, &order).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let list = reply.json();
        let list = list.as_array().expect("an array");
        assert_eq!(list.len(), 2);
        let receipt = &list[1];
        assert_eq!(receipt["id"], paid);
        assert_eq!(receipt["orderId"], json!(order));
        assert_eq!(receipt["amount"], json!(19.99));
        assert_eq!(receipt["currency"], "usd");
        assert_eq!(receipt["status"], "captured");
        assert!(receipt["stripeId"]
            .as_str()
            .is_some_and(|s| s.starts_with("pi_")));
        assert!(chrono::DateTime::parse_from_rfc3339(
            receipt["createdAt"].as_str().expect("a time")
        )
        .is_ok());
        assert_eq!(list[0]["status"], "declined");

        app.receipt(&app.buyer(), &order)
            .await
            .assert_error(401, "Not authorized");
        app.receipt(&buyer, &uuid::Uuid::new_v4().to_string())
            .await
            .assert_error(404, "Not Found");
        Reply::of(
            app.client
                .get(app.url("/api/payments"))
                .header("cookie", &buyer.cookie),
        )
        .await
        .assert_errors(
            400,
            &[ErrorItem::field("orderId", "OrderId must be provided once")],
        );
        Reply::of(
            app.client
                .get(app.url(&format!("/api/payments?orderId={order}"))),
        )
        .await
        .assert_error(401, "Not authorized");
    }

    /// The buyer paid just as the order expired: `order:cancelled` refunds it.
    pub async fn an_order_cancelled_after_it_was_paid_is_refunded(kind: Kind) {
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
    pub async fn a_hold_that_loses_the_race_with_cancellation_is_voided(kind: Kind) {
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
    pub async fn a_cancellation_during_capture_waits_then_refunds(kind: Kind) {
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
    pub async fn an_order_that_expires_during_authorization_is_not_charged(kind: Kind) {
        let app = TestApp::spawn_with(
            kind,
            Options {
                after_authorize: Some(super::wait_past_expiry()),
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

    /// Killed between the provider's hold and recording its id, and the order was cancelled
    /// meanwhile: the sweeper finds the hold by the payment id and voids it.
    pub async fn sweeper_voids_a_hold_abandoned_before_its_id_was_recorded(kind: Kind) {
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
    pub async fn sweeper_completes_a_hold_abandoned_while_its_order_is_payable(kind: Kind) {
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
    pub async fn sweeper_refunds_a_capture_abandoned_for_a_cancelled_order(kind: Kind) {
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
    pub async fn sweeper_voids_a_claimed_hold_whose_order_expired(kind: Kind) {
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
    pub async fn sweeper_fails_a_payment_the_provider_never_saw(kind: Kind) {
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
    pub async fn sweeper_leaves_payments_younger_than_the_bound_alone(kind: Kind) {
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
    pub async fn the_services_own_sweeper_settles_an_abandoned_payment(kind: Kind) {
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
}

/// How far a payment got before its process died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Died {
    /// Inserted, the provider never asked.
    BeforeAuthorizing,
    /// The provider holds the money; its id was never recorded.
    AfterAuthorizing,
    /// Claimed (`capturing`, the id recorded), the hold not captured yet.
    AfterClaiming,
    /// Captured at the provider; the answer never recorded.
    AfterCapturing,
}

/// A payment for `order_id` whose process was killed at `died` (the provider is asked as the
/// pay flow asks it, with the same idempotency keys).
async fn abandoned(app: &TestApp, order_id: &str, died: Died) -> store::PaymentRecord {
    use payments::provider::{key_for, ChargeRequest};
    let order = store::find_order(&app.state.db, order_id)
        .await
        .expect("read")
        .expect("there");
    let payment = store::insert_payment(&app.state.db, &order)
        .await
        .expect("inserted");
    if died != Died::BeforeAuthorizing {
        let charge = ChargeRequest {
            amount: payment.amount,
            currency: payment.currency.clone(),
            token: "tok_visa".into(),
            order_id: order.id.clone(),
            payment_id: payment.id.clone(),
            idempotency_key: payment.id.clone(),
        };
        let provider_id = app.state.provider.authorize(&charge).await.expect("held");
        if died != Died::AfterAuthorizing {
            store::transition(
                &app.state.db,
                &payment.id,
                PaymentStatus::Authorizing,
                PaymentStatus::Capturing,
                Change {
                    stripe_id: Some(&provider_id),
                    ..Change::default()
                },
            )
            .await
            .expect("claimed");
            assert!(store::claim_order(&app.state.db, &order, &payment.id)
                .await
                .expect("claim"));
        }
        if died == Died::AfterCapturing {
            app.state
                .provider
                .capture(&provider_id, &key_for(&payment.id, "capture"))
                .await
                .expect("captured");
        }
    }
    store::find_payment(&app.state.db, &payment.id)
        .await
        .expect("read")
        .expect("there")
}

/// One sweep that counts every payment in flight as abandoned.
async fn sweep_now(app: &TestApp) -> usize {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut state = app.state.clone();
    state.stale_after = Duration::ZERO;
    payments::sweeper::sweep(&state).await.expect("a sweep")
}

/// 0 to 99 998.99 dollars' worth of cents, like the course's `random 0..99999` price.
/// Waits out the order's expiry while the card is being authorized.
fn wait_past_expiry() -> helpers::Hook {
    std::sync::Arc::new(|_state, _order| Box::pin(tokio::time::sleep(Duration::from_millis(1500))))
}

fn rand_cents() -> i64 {
    i64::try_from(uuid::Uuid::new_v4().as_u128() % 9_999_900).expect("fits")
}

// ---------------------------------------------------------------------------------------
// Stripe adapter specifics

#[tokio::test]
async fn stripe_requests_carry_the_key_an_idempotency_key_per_attempt_and_the_amount() {
    let app = TestApp::spawn(Kind::Stripe).await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 4250).await;
    app.pay(&buyer, &order, "tok_chargeDeclined")
        .await
        .assert_enveloped(402);
    assert_eq!(app.pay(&buyer, &order, "pm_card_visa").await.status, 201);
    let standin = app.standin.as_ref().expect("a stand-in");
    let requests = standin.requests();
    let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
    let intent = &app.charges(&order)[0].id;
    assert_eq!(
        paths,
        [
            "/v1/payment_intents".to_owned(),
            "/v1/payment_intents".to_owned(),
            format!("/v1/payment_intents/{intent}/capture"),
        ]
    );
    for request in &requests {
        assert_eq!(
            request.authorization.as_deref(),
            Some("Bearer sk_test_standin")
        );
    }
    let keys: Vec<_> = requests
        .iter()
        .map(|r| r.idempotency_key.clone().expect("a key"))
        .collect();
    let payments = app.payments(&order).await;
    assert_eq!(
        keys[0], payments[0].id,
        "the first attempt's key is its payment id"
    );
    assert_eq!(
        keys[1], payments[1].id,
        "a retry is a new attempt with a new key"
    );
    assert_ne!(keys[2], keys[1], "the capture has a key of its own");
    let create = &requests[1];
    assert_eq!(create.param("amount"), Some("4250"));
    assert_eq!(create.param("currency"), Some("usd"));
    assert_eq!(create.param("capture_method"), Some("manual"));
    assert_eq!(create.param("payment_method"), Some("pm_card_visa"));
    assert_eq!(
        requests[0].param("payment_method_data[card][token]"),
        Some("tok_chargeDeclined")
    );
}

#[tokio::test]
async fn stripe_being_down_is_503_and_nothing_is_captured() {
    let app = TestApp::spawn(Kind::Stripe).await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    app.standin.as_ref().expect("a stand-in").break_down();
    let messages = app
        .pay(&buyer, &order, "tok_visa")
        .await
        .assert_enveloped(503);
    assert!(messages[0].contains("unavailable"), "{messages:?}");
    assert_eq!(app.payments(&order).await[0].status, PaymentStatus::Failed);
    assert_eq!(app.captured(&order), 0);
}

#[tokio::test]
async fn an_unreachable_stripe_is_503() {
    let mut env = common::testing::TestEnv::new().await;
    env.settings.stripe_secret_key = Some(common::settings::Secret::new("sk_test_x"));
    env.settings.stripe_api_base = "http://127.0.0.1:9".into();
    let provider = payments::provider::from_settings(&env.settings).expect("a provider");
    let request = payments::provider::ChargeRequest {
        amount: common::money::Money::from_cents(100),
        currency: "usd".into(),
        token: "tok_visa".into(),
        order_id: "o".into(),
        payment_id: "p".into(),
        idempotency_key: "p".into(),
    };
    assert!(matches!(
        provider.authorize(&request).await,
        Err(payments::provider::ProviderError::Unavailable(_))
    ));
}

// ---------------------------------------------------------------------------------------
// Listeners (cases 57–60, and version ordering)

/// Cases 57 and 58.
#[tokio::test]
async fn order_created_replicates_the_order_and_is_acked() {
    let app = TestApp::spawn(Kind::TestMode).await;
    let event = helpers::order_created("u1", 1000, Utc::now());
    let applied = payments::listeners::order_created(&app.state.db, event.clone()).await;
    assert_eq!(applied.expect("handled"), Applied::Done);
    let order = store::find_order(&app.state.db, &event.id)
        .await
        .expect("read")
        .expect("replicated");
    assert_eq!(order.price, event.ticket.price);
    assert_eq!(
        (order.user_id.as_str(), order.status, order.version),
        ("u1", OrderStatus::Created, 0)
    );
    let again = payments::listeners::order_created(&app.state.db, event).await;
    assert_eq!(again.expect("handled"), Applied::Duplicate);
}

#[tokio::test]
async fn an_order_created_with_a_malformed_expiry_is_an_error_not_a_payable_order() {
    let app = TestApp::spawn(Kind::TestMode).await;
    let mut event = helpers::order_created("u1", 1000, Utc::now());
    event.expires_at = "alskdjf".into();
    assert!(
        payments::listeners::order_created(&app.state.db, event.clone())
            .await
            .is_err()
    );
    assert!(store::find_order(&app.state.db, &event.id)
        .await
        .expect("read")
        .is_none());
}

/// Cases 59 and 60.
#[tokio::test]
async fn order_cancelled_updates_the_status_and_is_acked() {
    let app = TestApp::spawn(Kind::TestMode).await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 1000).await;
    assert_eq!(app.cancel(&order, 1).await, Applied::Done);
    assert_eq!(app.order_status(&order).await, Some(OrderStatus::Cancelled));
}

#[tokio::test]
async fn order_events_apply_only_in_version_order() {
    let app = TestApp::spawn(Kind::TestMode).await;
    let buyer = app.buyer();
    assert_eq!(
        app.cancel(&uuid::Uuid::new_v4().to_string(), 1).await,
        Applied::Early,
        "unknown order"
    );
    let order = app.seed_order(&buyer, 1000).await;
    assert_eq!(
        app.cancel(&order, 2).await,
        Applied::Early,
        "a skipped version"
    );
    assert_eq!(app.complete(&order, 2).await, Applied::Early);
    assert_eq!(app.order_status(&order).await, Some(OrderStatus::Created));
    assert_eq!(app.complete(&order, 1).await, Applied::Done);
    assert_eq!(app.complete(&order, 1).await, Applied::Duplicate);
    assert_eq!(
        app.cancel(&order, 1).await,
        Applied::Duplicate,
        "older than the replica"
    );
    assert_eq!(app.order_status(&order).await, Some(OrderStatus::Complete));
}

#[tokio::test]
async fn a_cancellation_during_an_in_flight_payment_is_redelivered_later() {
    let app = TestApp::spawn(Kind::TestMode).await;
    let buyer = app.buyer();
    let order_id = app.seed_order(&buyer, 1000).await;
    let order = store::find_order(&app.state.db, &order_id)
        .await
        .expect("read")
        .expect("there");
    let payment = store::insert_payment(&app.state.db, &order)
        .await
        .expect("inserted");
    assert_eq!(app.cancel(&order_id, 1).await, Applied::Early);
    // The replica is cancelled already, so no new hold can be captured meanwhile.
    assert_eq!(
        app.order_status(&order_id).await,
        Some(OrderStatus::Cancelled)
    );
    store::transition(
        &app.state.db,
        &payment.id,
        PaymentStatus::Authorizing,
        PaymentStatus::Declined,
        Change::default(),
    )
    .await
    .expect("settled");
    assert_eq!(app.cancel(&order_id, 1).await, Applied::Duplicate);
}

#[tokio::test]
async fn a_sweep_that_cannot_reach_the_provider_leaves_the_payment_for_the_next() {
    let app = TestApp::spawn(Kind::Stripe).await;
    let buyer = app.buyer();
    let order = app.seed_order(&buyer, 2000).await;
    abandoned(&app, &order, Died::AfterClaiming).await;
    app.standin.as_ref().expect("the stand-in").break_down();
    assert_eq!(sweep_now(&app).await, 0);
    assert_eq!(
        app.payments(&order).await[0].status,
        PaymentStatus::Capturing
    );
}

#[tokio::test]
async fn order_events_on_the_bus_reach_the_replica() {
    let app = TestApp::spawn(Kind::TestMode).await;
    let event = helpers::order_created("u1", 1000, Utc::now() + chrono::Duration::minutes(5));
    let message = encode(uuid::Uuid::new_v4().to_string(), &event).expect("encodes");
    app.bus.publish(&message).await.expect("published");
    let db = app.state.db.clone();
    let id = event.id.clone();
    let found = eventually(Duration::from_secs(10), || {
        let (db, id) = (db.clone(), id.clone());
        async move { store::find_order(&db, &id).await.ok().flatten() }
    })
    .await;
    assert!(found.is_some(), "the listener replicated the order");
}

#[tokio::test]
async fn the_service_starts_from_settings_alone() {
    let env = common::testing::TestEnv::new().await;
    let bus = common::testing::test_bus().await;
    let shutdown = common::task::Shutdown::new();
    let running = payments::SERVICE
        .start(&env.settings, bus, shutdown.clone())
        .await
        .expect("starts");
    assert_eq!(payments::SERVICE.name, "payments");
    let served = common::testing::Served::start(running, shutdown).await;
    let reply = Reply::of(
        reqwest::Client::new()
            .post(served.url("/api/payments"))
            .json(&json!({})),
    )
    .await;
    reply.assert_error(401, "Not authorized");
    served.stop().await.expect("a clean shutdown");
}

// ---------------------------------------------------------------------------------------
// The webhook

/// A payment whose capture answer was lost: `capturing`, with a provider id.
async fn stuck_in_capturing(app: &TestApp) -> (String, String) {
    let buyer = app.buyer();
    let order_id = app.seed_order(&buyer, 3000).await;
    let order = store::find_order(&app.state.db, &order_id)
        .await
        .expect("read")
        .expect("there");
    let payment = store::insert_payment(&app.state.db, &order)
        .await
        .expect("inserted");
    let stripe_id = format!("pi_{}", uuid::Uuid::new_v4().simple());
    store::transition(
        &app.state.db,
        &payment.id,
        PaymentStatus::Authorizing,
        PaymentStatus::Capturing,
        Change {
            stripe_id: Some(&stripe_id),
            ..Change::default()
        },
    )
    .await
    .expect("moved");
    (payment.id, stripe_id)
}

fn event_body(id: &str, kind: &str, object: serde_json::Value) -> String {
    json!({"id": id, "object": "event", "type": kind, "data": {"object": object}}).to_string()
}

fn signed(body: &str) -> Option<String> {
    Some(sign(
        WEBHOOK_SECRET.as_bytes(),
        body.as_bytes(),
        Utc::now().timestamp(),
    ))
}

#[tokio::test]
async fn a_signed_webhook_event_takes_effect_once() {
    let app = TestApp::spawn(Kind::Stripe).await;
    let (payment_id, stripe_id) = stuck_in_capturing(&app).await;
    let body = event_body(
        "evt_1",
        "payment_intent.succeeded",
        json!({"id": stripe_id, "object": "payment_intent"}),
    );
    for _ in 0..2 {
        let reply = app.webhook(&body, signed(&body)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        assert_eq!(reply.json(), json!({"received": true}));
    }
    let payment = store::find_payment(&app.state.db, &payment_id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(payment.status, PaymentStatus::Captured);
    assert_eq!(app.outbox::<PaymentCreated>().await.len(), 1);

    // Refunded at the provider: recorded and published, once.
    let body = event_body(
        "evt_2",
        "charge.refunded",
        json!({"id": "ch_1", "object": "charge", "payment_intent": stripe_id}),
    );
    for _ in 0..2 {
        assert_eq!(app.webhook(&body, signed(&body)).await.status, 200);
    }
    let payment = store::find_payment(&app.state.db, &payment_id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(payment.status, PaymentStatus::Refunded);
    assert_eq!(app.outbox::<PaymentRefunded>().await.len(), 1);

    // Events it does not act on are acknowledged.
    let body = event_body("evt_3", "customer.created", json!({"id": "cus_1"}));
    assert_eq!(app.webhook(&body, signed(&body)).await.status, 200);
}

#[tokio::test]
async fn unsigned_forged_or_stale_webhooks_are_400_and_change_nothing() {
    let app = TestApp::spawn(Kind::Stripe).await;
    let (payment_id, stripe_id) = stuck_in_capturing(&app).await;
    let body = event_body(
        "evt_1",
        "payment_intent.succeeded",
        json!({"id": stripe_id}),
    );
    let now = Utc::now().timestamp();
    let cases = [
        (None, "Missing Stripe-Signature header"),
        (
            Some(sign(b"whsec_other", body.as_bytes(), now)),
            "Stripe-Signature does not match the payload",
        ),
        (
            Some(sign(WEBHOOK_SECRET.as_bytes(), b"{}", now)),
            "Stripe-Signature does not match the payload",
        ),
        (
            Some(sign(WEBHOOK_SECRET.as_bytes(), body.as_bytes(), now - 301)),
            "Stripe-Signature timestamp is outside the tolerance",
        ),
        (
            Some("t=abc,v1=00".to_owned()),
            "Malformed Stripe-Signature header",
        ),
    ];
    for (signature, message) in cases {
        app.webhook(&body, signature)
            .await
            .assert_error(400, message);
    }
    let payment = store::find_payment(&app.state.db, &payment_id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(payment.status, PaymentStatus::Capturing);
    assert!(app.outbox::<PaymentCreated>().await.is_empty());
    // None of them used up the event id: the genuine delivery still works.
    assert_eq!(app.webhook(&body, signed(&body)).await.status, 200);
    let payment = store::find_payment(&app.state.db, &payment_id)
        .await
        .expect("read")
        .expect("there");
    assert_eq!(payment.status, PaymentStatus::Captured);
}

#[tokio::test]
async fn a_signed_but_malformed_webhook_is_400() {
    let app = TestApp::spawn(Kind::Stripe).await;
    for body in [
        "not json",
        "{}",
        "{\"id\":\"\",\"type\":\"x\",\"data\":{\"object\":{}}}",
    ] {
        app.webhook(body, signed(body))
            .await
            .assert_error(400, "Malformed webhook event");
    }
}

#[tokio::test]
async fn without_a_webhook_secret_the_webhook_does_not_exist() {
    let app = TestApp::spawn_with(Kind::Stripe, Options::default()).await;
    let body = event_body("evt_1", "payment_intent.succeeded", json!({"id": "pi_1"}));
    app.webhook(&body, signed(&body))
        .await
        .assert_error(404, "Not Found");
}
