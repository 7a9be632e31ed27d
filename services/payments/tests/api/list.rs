//! `GET /api/payments?orderId=…`: the receipt, to the order's owner only.

use common::dto::ErrorItem;
use common::testing::TestResponse;
use serde_json::json;

use crate::helpers::{Kind, TestApp};

on_both_providers!(the_receipt_lists_an_orders_payments_to_its_owner_only,);

async fn the_receipt_lists_an_orders_payments_to_its_owner_only(kind: Kind) {
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
    assert!(
        chrono::DateTime::parse_from_rfc3339(receipt["createdAt"].as_str().expect("a time"))
            .is_ok()
    );
    assert_eq!(list[0]["status"], "declined");

    app.receipt(&app.buyer(), &order)
        .await
        .assert_error(401, "Not authorized");
    app.receipt(&buyer, &uuid::Uuid::new_v4().to_string())
        .await
        .assert_error(404, "Not Found");
    TestResponse::of(
        app.client
            .get(app.url("/api/payments"))
            .header("cookie", &buyer.cookie),
    )
    .await
    .assert_errors(
        400,
        &[ErrorItem::field("orderId", "OrderId must be provided once")],
    );
    TestResponse::of(
        app.client
            .get(app.url(&format!("/api/payments?orderId={order}"))),
    )
    .await
    .assert_error(401, "Not authorized");
}
