//! `GET /api/orders/:id`: one's own order only.

use reqwest::Method;

use crate::helpers::{id_of, TestApp};

#[tokio::test]
async fn fetching_your_order_returns_it_with_its_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let buyer = app.buyer();
    let order = app.ordered(&buyer, &ticket.id).await;

    let reply = app.show_order(&buyer, &id_of(&order)).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), order);
}

#[tokio::test]
async fn fetching_another_users_order_is_401() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;

    app.show_order(&app.buyer(), &id_of(&order))
        .await
        .assert_error(401, "Not authorized");
}

#[tokio::test]
async fn fetching_an_unknown_order_is_404() {
    let app = TestApp::spawn().await;
    app.show_order(&app.buyer(), "no-such-order")
        .await
        .assert_error(404, "Not Found");
}

#[tokio::test]
async fn fetching_an_order_without_signing_in_is_401() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;
    let request = app.request(Method::GET, &format!("/api/orders/{}", id_of(&order)), None);
    app.send(request).await.assert_error(401, "Not authorized");
}
