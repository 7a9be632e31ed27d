//! The services together over the real bus: a ticket listed on the tickets service reaches
//! the orders service's replica, an order reserves it, a cancellation releases it.
use std::time::Duration;

use crate::helpers::{eventually, unique_email, TestServer};
use reqwest::Method;
use serde_json::{json, Value};

const EVENTS: Duration = Duration::from_secs(20);

async fn ticket(app: &TestServer, id: &str) -> Value {
    app.call(Method::GET, &format!("/api/tickets/{id}"), "", None)
        .await
        .1
}

#[tokio::test]
async fn a_ticket_is_reserved_by_an_order_and_released_by_its_cancellation() {
    let app = TestServer::spawn(|_| {}).await;
    let seller = app.sign_up(&unique_email("seller")).await;
    let buyer = app.sign_up(&unique_email("buyer")).await;
    let (status, listed) = app
        .call(
            Method::POST,
            "/api/tickets",
            &seller,
            Some(json!({ "title": "concert", "price": 20 })),
        )
        .await;
    assert_eq!(status, 201);
    let id = listed["id"].as_str().expect("an id").to_owned();

    let (status, order) = app.order_when_known(&buyer, &id).await;
    assert_eq!(status, 201, "{order}");
    assert_eq!(order["ticket"]["title"], "concert");
    let order_id = order["id"].as_str().expect("an order id").to_owned();

    let reserved = eventually(EVENTS, || async {
        let t = ticket(&app, &id).await;
        (t["orderId"] == json!(order_id)).then_some(t)
    })
    .await
    .expect("the ticket becomes reserved");
    assert_eq!(reserved["version"], 1);
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/tickets/{id}"),
            &seller,
            Some(json!({ "title": "x", "price": 5 })),
        )
        .await;
    assert_eq!(status, 400, "a reserved ticket can't be edited");
    let (status, _) = app
        .call(
            Method::POST,
            "/api/orders",
            &seller,
            Some(json!({ "ticketId": id })),
        )
        .await;
    assert_eq!(status, 400, "nobody else can order it");

    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/api/orders/{order_id}"),
            &buyer,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let released = eventually(EVENTS, || async {
        let t = ticket(&app, &id).await;
        t.get("orderId").is_none().then_some(t)
    })
    .await
    .expect("the ticket is released");
    assert_eq!(released["version"], 2);

    // The orders replica follows the ticket's versions, so an edit after release reaches it.
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/api/tickets/{id}"),
            &seller,
            Some(json!({ "title": "renamed", "price": 30 })),
        )
        .await;
    assert_eq!(status, 200);
    let second = eventually(EVENTS, || async {
        let (status, body) = app
            .call(
                Method::POST,
                "/api/orders",
                &buyer,
                Some(json!({ "ticketId": id })),
            )
            .await;
        if status == 201 && body["ticket"]["title"] != "renamed" {
            // Ordered before the edit arrived: give it back and try again.
            let path = format!("/api/orders/{}", body["id"].as_str().unwrap_or_default());
            app.call(Method::DELETE, &path, &buyer, None).await;
        }
        (status == 201 && body["ticket"]["title"] == "renamed").then_some(body)
    })
    .await
    .expect("the replica catches up with the edit and the ticket can be ordered again");
    assert!(second["ticket"]["version"].as_i64() >= Some(3), "{second}");
}

#[tokio::test]
async fn after_sign_out_the_old_access_token_is_refused_by_every_service() {
    let app = TestServer::spawn(|_| {}).await;
    let seller = app.sign_up(&unique_email("seller")).await;
    let ticket_id = app.list_ticket(&seller, "before sign-out").await;
    let (status, orders) = app.call(Method::GET, "/api/orders", &seller, None).await;
    assert_eq!(status, 200, "{orders}");

    let (status, body) = app
        .call(Method::POST, "/api/users/signout", &seller, Some(json!({})))
        .await;
    assert_eq!(status, 200, "{body}");

    // The same cookies replayed, as a copy taken before sign-out would be: the access token
    // has not expired, but it is over.
    let new_ticket = json!({ "title": "after sign-out", "price": 20 });
    let (status, body) = app
        .call(Method::POST, "/api/tickets", &seller, Some(new_ticket))
        .await;
    assert_eq!(
        (status, &body),
        (401, &json!({ "errors": [{ "message": "Not authorized" }] }))
    );
    let edit = json!({ "title": "changed", "price": 30 });
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/api/tickets/{ticket_id}"),
            &seller,
            Some(edit),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app.call(Method::GET, "/api/orders", &seller, None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            "/api/orders",
            &seller,
            Some(json!({ "ticketId": ticket_id })),
        )
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app
        .call(Method::GET, "/api/users/currentuser", &seller, None)
        .await;
    assert_eq!((status, &body), (200, &json!({ "currentUser": null })));
    // Nothing changed on the way.
    assert_eq!(ticket(&app, &ticket_id).await["title"], "before sign-out");
}
