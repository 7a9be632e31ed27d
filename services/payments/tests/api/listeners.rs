//! The order events keep the replica in version order (cases 57–60), and the service runs
//! from settings alone.

use std::time::Duration;

use chrono::Utc;
use common::bus::encode;
use common::dto::PaymentStatus;
use common::events::OrderStatus;
use common::testing::{eventually, TestResponse};
use payments::listeners::Applied;
use payments::store::{self, Change};
use serde_json::json;

use crate::helpers::{abandoned, sweep_now, Died, Kind, TestApp};

/// Cases 57 and 58.
#[tokio::test]
async fn order_created_replicates_the_order_and_is_acked() {
    let app = TestApp::spawn(Kind::TestMode).await;
    let event = crate::helpers::order_created("u1", 1000, Utc::now());
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
    let event = crate::helpers::order_created("u1", 1000, Utc::now());
    let mut payload = serde_json::to_value(&event).expect("serializes");
    payload["expiresAt"] = "alskdjf".into();
    let message = common::bus::Message {
        id: uuid::Uuid::new_v4().to_string(),
        subject: common::events::Subject::OrderCreated,
        payload: serde_json::to_vec(&payload).expect("serializes"),
    };
    let outcome =
        common::bus::Outcome::of_event::<common::events::OrderCreated, _, _>(&message, |event| {
            payments::listeners::order_created(&app.state.db, event)
        })
        .await;
    assert!(
        matches!(&outcome, common::bus::Outcome::Reject(reason) if reason.contains("alskdjf")),
        "{outcome:?}"
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
    let (_, payment) = app.started_payment(&order_id).await;
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
    let event =
        crate::helpers::order_created("u1", 1000, Utc::now() + chrono::Duration::minutes(5));
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
    let reply = TestResponse::of(
        reqwest::Client::new()
            .post(served.url("/api/payments"))
            .json(&json!({})),
    )
    .await;
    reply.assert_error(401, "Not authorized");
    served.stop().await.expect("a clean shutdown");
}
