//! What the Stripe adapter sends (key, idempotency key per attempt, amount) and how it
//! answers when Stripe is down or unreachable.

use common::dto::PaymentStatus;

use crate::helpers::{Kind, TestApp};

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
