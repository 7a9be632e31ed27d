//! `POST /api/orders`: sign-in and body checks, what may be ordered, the reservation, and
//! the `order:created` event through the outbox.

use std::time::Duration;

use common::dto::ErrorItem;
use common::events::{OrderCreated, OrderStatus, Subject, TicketCreated};
use common::money::Money;
use orders::listeners::Applied;
use reqwest::Method;

use serde_json::{json, Value};

use crate::helpers::{
    forget_seller, id_of, keys_of, live_orders_of_ticket, replicate_created, replicate_updated,
    update, TestApp, ALREADY_RESERVED, OWN_TICKET,
};

#[tokio::test]
async fn ordering_without_signing_in_is_401_even_with_an_invalid_body() {
    let app = TestApp::spawn().await;
    app.post_order(None, &json!({}))
        .await
        .assert_error(401, "Not authorized");
    app.post_order(Some("session=not-a-jwt"), &json!({ "ticketId": "" }))
        .await
        .assert_error(401, "Not authorized");
}

#[tokio::test]
async fn ordering_without_a_ticket_id_is_a_field_error() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    for body in [
        json!({}),
        json!({ "ticketId": "" }),
        json!({ "ticketId": "  " }),
        json!({ "ticketId": 42 }),
        json!({ "ticketId": null }),
    ] {
        let reply = app.post_order(Some(&buyer.cookie), &body).await;
        reply.assert_errors(
            400,
            &[ErrorItem::field("ticketId", "TicketId must be provided")],
        );
    }
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn a_malformed_order_body_is_400_in_the_envelope() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    let request = app
        .request(Method::POST, "/api/orders", Some(&buyer.cookie))
        .header("content-type", "application/json")
        .body("{\"ticketId\":");
    let reply = app.send(request).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    reply.errors();
}

#[tokio::test]
async fn ordering_a_ticket_that_does_not_exist_is_404() {
    let app = TestApp::spawn().await;
    let reply = app
        .create_order(&app.buyer(), &uuid::Uuid::new_v4().to_string())
        .await;
    reply.assert_error(404, "Not Found");
    assert!(app.outbox().await.is_empty());
}

#[tokio::test]
async fn ids_that_could_never_exist_are_404_rather_than_server_errors() {
    let app = TestApp::spawn().await;
    let buyer = app.buyer();
    for id in ["a\u{0}b", "tab\there", &"x".repeat(65)] {
        app.create_order(&buyer, id)
            .await
            .assert_error(404, "Not Found");
    }
    for path in ["/api/orders/a%00b", "/api/orders/line%0Abreak"] {
        let reply = app
            .send(app.request(Method::GET, path, Some(&buyer.cookie)))
            .await;
        reply.assert_error(404, "Not Found");
        let reply = app
            .send(app.request(Method::DELETE, path, Some(&buyer.cookie)))
            .await;
        reply.assert_error(404, "Not Found");
    }
}

#[tokio::test]
async fn ordering_a_ticket_that_is_already_reserved_is_rejected() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    app.ordered(&app.buyer(), &ticket.id).await;

    let reply = app.create_order(&app.buyer(), &ticket.id).await;

    reply.assert_error(400, ALREADY_RESERVED);
    assert_eq!(live_orders_of_ticket(&app, &ticket.id).await, 1);
    assert_eq!(app.events::<OrderCreated>().await.len(), 1);
}

#[tokio::test]
async fn a_seller_cannot_order_their_own_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let seller = app.signed_in_as(&ticket.user_id);

    let reply = app.create_order(&seller, &ticket.id).await;

    reply.assert_error(400, OWN_TICKET);
    assert_eq!(live_orders_of_ticket(&app, &ticket.id).await, 0);
    assert!(app.events::<OrderCreated>().await.is_empty());
    app.ordered(&app.buyer(), &ticket.id).await;
}

#[tokio::test]
async fn the_replica_learns_the_seller_from_ticket_created_and_ticket_updated() {
    let app = TestApp::spawn().await;
    let seller = app.buyer();
    let created = TicketCreated {
        id: uuid::Uuid::new_v4().to_string(),
        version: 0,
        title: "concert".into(),
        price: Money::from_cents(2000),
        user_id: seller.id.clone(),
    };
    assert_eq!(
        replicate_created(&app, created.clone()).await,
        Applied::Done
    );
    app.create_order(&seller, &created.id)
        .await
        .assert_error(400, OWN_TICKET);

    // A row from before the seller was kept gets it from the ticket's next update.
    forget_seller(&app, &created.id).await;
    let updated = update(&created, 1, "concert", 2500);
    assert_eq!(replicate_updated(&app, updated).await, Applied::Done);
    app.create_order(&seller, &created.id)
        .await
        .assert_error(400, OWN_TICKET);
    assert_eq!(live_orders_of_ticket(&app, &created.id).await, 0);
}

#[tokio::test]
async fn a_ticket_replicated_before_sellers_were_kept_can_be_ordered_by_anyone() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    forget_seller(&app, &ticket.id).await;

    app.ordered(&app.signed_in_as(&ticket.user_id), &ticket.id)
        .await;
}

#[tokio::test]
async fn ordering_a_ticket_reserves_it_and_returns_the_order() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2050).await;
    let buyer = app.buyer();
    let before = chrono::Utc::now();

    let reply = app.create_order(&buyer, &ticket.id).await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    let order = reply.json();
    assert_eq!(
        keys_of(&order),
        ["expiresAt", "id", "status", "ticket", "userId", "version"],
        "{order}"
    );
    assert_eq!(order["status"], "created");
    assert_eq!(order["userId"], buyer.id.as_str());
    assert_eq!(order["version"], 0);
    assert_eq!(
        order["ticket"],
        json!({ "id": ticket.id, "title": "concert", "price": 20.5, "version": 0 })
    );
    let expires_at = order["expiresAt"].as_str().expect("expiresAt is a string");
    assert!(expires_at.ends_with('Z'), "{expires_at}");
    let expires_at =
        chrono::DateTime::parse_from_rfc3339(expires_at).expect("expiresAt is RFC 3339");
    let window = expires_at.signed_duration_since(before).num_seconds();
    assert!(
        (899..=901).contains(&window),
        "expires {window}s after ordering"
    );
    assert_eq!(
        app.stored_order(&id_of(&order)).await.status,
        OrderStatus::Created
    );
}

#[tokio::test]
async fn an_order_expires_after_the_configured_window() {
    let app = TestApp::spawn_with_window(Duration::from_secs(60)).await;
    let ticket = app.ticket("concert", 2000).await;
    let before = chrono::Utc::now();

    let order = app.ordered(&app.buyer(), &ticket.id).await;

    let expires_at =
        chrono::DateTime::parse_from_rfc3339(order["expiresAt"].as_str().expect("a string"))
            .expect("RFC 3339");
    let window = expires_at.signed_duration_since(before).num_seconds();
    assert!(
        (59..=61).contains(&window),
        "expires {window}s after ordering"
    );
}

#[tokio::test]
async fn ordering_a_ticket_writes_one_order_created_event_to_the_outbox() {
    let app = TestApp::spawn().await;
    let ticket = app.ticket("concert", 2000).await;
    let buyer = app.buyer();

    let order = app.ordered(&buyer, &ticket.id).await;

    let rows = app.outbox().await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0].subject, "order:created");
    let payload: Value = serde_json::from_str(&rows[0].payload).expect("JSON payload");
    assert_eq!(
        payload,
        json!({
            "id": order["id"],
            "version": 0,
            "status": "created",
            "userId": buyer.id,
            "expiresAt": order["expiresAt"],
            "ticket": { "id": ticket.id, "price": 20 },
        })
    );
}

#[tokio::test]
async fn an_order_created_event_reaches_the_bus_through_the_relay() {
    let app = TestApp::spawn().await;
    let mut subscription = app
        .bus
        .subscribe("test-service", &[Subject::OrderCreated])
        .await
        .expect("subscribes");
    let ticket = app.ticket("concert", 2000).await;
    let order = app.ordered(&app.buyer(), &ticket.id).await;

    assert_eq!(
        app.state.relay.publish_pending().await.expect("publishes"),
        1
    );

    let delivery = tokio::time::timeout(Duration::from_secs(5), subscription.next())
        .await
        .expect("delivered in time")
        .expect("the bus is up");
    assert_eq!(delivery.message.subject, Subject::OrderCreated);
    let event: OrderCreated =
        serde_json::from_slice(&delivery.message.payload).expect("an order:created payload");
    assert_eq!(event.id, id_of(&order));
    assert_eq!(app.state.relay.pending().await.expect("countable"), 0);
}
