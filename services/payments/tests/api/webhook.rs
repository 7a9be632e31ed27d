//! `POST /api/payments/webhook`: a signed Stripe event takes effect once; forged, stale,
//! malformed or unconfigured ones change nothing.

use chrono::Utc;
use common::dto::PaymentStatus;
use common::events::{PaymentCreated, PaymentRefunded};
use payments::routes::webhook::sign;
use payments::store::{self, Change};
use serde_json::json;

use crate::helpers::{Kind, Options, TestApp, WEBHOOK_SECRET};

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
