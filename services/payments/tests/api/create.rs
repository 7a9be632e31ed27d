//! `POST /api/payments`: who may pay for what, the charge and its event, declines, double
//! clicks and hostile input (cases 53–56).

use chrono::Utc;
use common::dto::{ErrorItem, PaymentStatus};
use common::events::PaymentCreated;
use common::testing::TestResponse;
use payments::charge::{ALREADY_PAID, CANCELLED, EXPIRED};
use payments::listeners::Applied;
use serde_json::json;

use crate::helpers::{Kind, TestApp};

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
);

async fn paying_requires_a_signed_in_user_before_anything_else(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let reply = TestResponse::of(app.client.post(app.url("/api/payments")).json(&json!({}))).await;
    reply.assert_error(401, "Not authorized");
}

async fn missing_or_empty_fields_are_reported_per_field(kind: Kind) {
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
async fn paying_for_an_order_that_does_not_exist_is_404(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let buyer = app.buyer();
    let missing = uuid::Uuid::new_v4().to_string();
    app.pay(&buyer, &missing, "asldkfj")
        .await
        .assert_error(404, "Not Found");
}

/// Case 54.
async fn paying_for_someone_elses_order_is_401(kind: Kind) {
    let app = TestApp::spawn(kind).await;
    let owner = app.buyer();
    let order = app.seed_order(&owner, 2000).await;
    app.pay(&app.buyer(), &order, "tok_visa")
        .await
        .assert_error(401, "Not authorized");
    assert!(app.payments(&order).await.is_empty());
}

/// Case 55.
async fn paying_for_a_cancelled_order_is_400(kind: Kind) {
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
async fn a_valid_payment_is_201_captured_stored_and_published(kind: Kind) {
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

async fn an_order_past_its_expiry_cannot_be_paid_even_before_it_is_cancelled(kind: Kind) {
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

async fn a_paid_order_cannot_be_paid_again(kind: Kind) {
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

async fn a_declined_card_is_402_and_the_buyer_can_retry_with_another_card(kind: Kind) {
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

async fn an_unknown_token_is_a_400_not_a_decline(kind: Kind) {
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

async fn a_double_click_makes_exactly_one_charge(kind: Kind) {
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
                    [ALREADY_PAID, payments::charge::IN_PROGRESS].contains(&messages[0].as_str()),
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

async fn hostile_input_never_causes_a_server_error(kind: Kind) {
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
        let reply = TestResponse::of(
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
        let reply = TestResponse::of(
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

/// 0 to 99 998.99 dollars' worth of cents, like the course's `random 0..99999` price.
fn rand_cents() -> i64 {
    i64::try_from(uuid::Uuid::new_v4().as_u128() % 9_999_900).expect("fits")
}
