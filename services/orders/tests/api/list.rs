//! `GET /api/orders`: the caller's orders only, whatever their status.

use orders::listeners;
use reqwest::Method;

use serde_json::json;

use crate::helpers::{id_of, payment, TestApp};

#[tokio::test]
async fn listing_returns_only_the_callers_orders_in_insertion_order_with_their_tickets() {
    let app = TestApp::spawn().await;
    let (one, two, three) = (
        app.ticket("one", 100).await,
        app.ticket("two", 200).await,
        app.ticket("three", 300).await,
    );
    let (user_one, user_two) = (app.buyer(), app.buyer());
    app.ordered(&user_one, &one.id).await;
    let first = app.ordered(&user_two, &two.id).await;
    let second = app.ordered(&user_two, &three.id).await;

    let reply = app.list_orders(&user_two).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    let orders = body.as_array().expect("an array");
    assert_eq!(orders.len(), 2, "{body}");
    assert_eq!((&orders[0], &orders[1]), (&first, &second));
    assert_eq!(orders[0]["ticket"]["id"], two.id.as_str());
    assert_eq!(orders[1]["ticket"]["id"], three.id.as_str());
}

#[tokio::test]
async fn listing_includes_cancelled_and_completed_orders() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    let (one, two) = (app.ticket("one", 100).await, app.ticket("two", 200).await);
    let cancelled = app.ordered(&buyer, &one.id).await;
    assert_eq!(
        app.cancel_order(&buyer, &id_of(&cancelled)).await.status,
        204
    );
    let paid = app.ordered(&buyer, &two.id).await;
    listeners::payment_created(&app.state, payment(&id_of(&paid)))
        .await
        .expect("applies");

    let body = app.list_orders(&buyer).await.json();

    let statuses: Vec<_> = body
        .as_array()
        .expect("an array")
        .iter()
        .map(|o| (o["status"].clone(), o["version"].clone()))
        .collect();
    assert_eq!(
        statuses,
        [
            (json!("cancelled"), json!(1)),
            (json!("complete"), json!(1))
        ]
    );
}

#[tokio::test]
async fn listing_orders_without_signing_in_is_401() {
    let app = TestApp::spawn().await;
    app.send(app.request(Method::GET, "/api/orders", None))
        .await
        .assert_error(401, "Not authorized");
}

#[tokio::test]
async fn a_buyer_without_orders_gets_an_empty_list() {
    let app = TestApp::spawn().await;
    let reply = app.list_orders(&app.buyer()).await;
    assert_eq!((reply.status, reply.json()), (200, json!([])));
}
