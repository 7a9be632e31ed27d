//! The tickets service end to end: HTTP routes, the outbox relay on the real bus, and the
//! order listeners. Runs on SQLite + in-process bus by default, and on PostgreSQL + JetStream
//! when `DATABASE_URL` / `NATS_URL` point at them.
use std::time::Duration;

use common::auth::JwtKeys;
use common::bus::{decode, EventBus};
use common::events::{
    Event, OrderCancelled, OrderCreated, OrderStatus, OrderTicket, TicketCreated, TicketRef,
    TicketUpdated,
};
use common::money::Money;
use common::testing::{test_bus, TestEnv};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tickets::listeners::{self, Applied};
use tickets::TicketsState;

struct TestApp {
    address: String,
    client: reqwest::Client,
    keys: JwtKeys,
    state: TicketsState,
    bus: EventBus,
    _env: TestEnv,
}

impl TestApp {
    async fn spawn() -> Self {
        let env = TestEnv::new().await;
        let bus = test_bus().await;
        let state = TicketsState::build(&env.settings, bus.clone())
            .await
            .expect("the tickets state builds");
        let router = common::http::finish_api(tickets::router(state.clone()));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let address = format!("http://{}", listener.local_addr().expect("bound"));
        tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("the test server runs")
        });
        Self {
            address,
            client: reqwest::Client::new(),
            keys: JwtKeys::from_settings(&env.settings),
            state,
            bus,
            _env: env,
        }
    }

    /// A `Cookie` header for a signed-in user (tokens are verified locally, as in production).
    fn cookie(&self, user_id: &str) -> String {
        let token = self
            .keys
            .issue(user_id, &format!("{user_id}@example.com"))
            .expect("a token");
        format!("session={token}")
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        cookie: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address));
        if let Some(cookie) = cookie {
            request = request.header("cookie", cookie);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .expect("the request reaches the server");
        let status = response.status();
        let text = response.text().await.expect("a body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    async fn create(&self, user: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::POST,
            "/api/tickets",
            Some(&self.cookie(user)),
            Some(body),
        )
        .await
    }

    async fn created(&self, user: &str, title: &str, price: f64) -> Value {
        let (status, body) = self
            .create(user, json!({ "title": title, "price": price }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn update(&self, user: Option<&str>, id: &str, body: Value) -> (StatusCode, Value) {
        let cookie = user.map(|u| self.cookie(u));
        self.send(
            reqwest::Method::PUT,
            &format!("/api/tickets/{id}"),
            cookie.as_deref(),
            Some(body),
        )
        .await
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    async fn reserve(&self, ticket: &Value, order_id: &str) -> Applied {
        listeners::order_created(&self.state, &order_created(ticket, order_id))
            .await
            .expect("the step runs")
    }

    async fn pending(&self) -> u64 {
        self.state.relay.pending().await.expect("the outbox counts")
    }
}

fn order_created(ticket: &Value, order_id: &str) -> OrderCreated {
    OrderCreated {
        id: order_id.into(),
        version: 0,
        status: OrderStatus::Created,
        user_id: "buyer".into(),
        expires_at: "2030-01-01T00:00:00Z".into(),
        ticket: OrderTicket {
            id: ticket["id"].as_str().expect("an id").into(),
            price: Money::from_cents(1000),
        },
    }
}

fn order_cancelled(ticket: &Value, order_id: &str) -> OrderCancelled {
    OrderCancelled {
        id: order_id.into(),
        version: 1,
        ticket: TicketRef {
            id: ticket["id"].as_str().expect("an id").into(),
        },
    }
}

fn field_errors(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .expect("an error envelope")
        .iter()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn creating_a_ticket_requires_a_signed_in_user_before_validation() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .send(reqwest::Method::POST, "/api/tickets", None, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({ "errors": [{ "message": "Not authorized" }] }));
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            "/api/tickets",
            Some("session=garbage"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_invalid_title_or_price_is_a_field_error() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (json!({ "title": "", "price": 10 }), "title"),
        (json!({ "price": 10 }), "title"),
        (json!({ "title": "x".repeat(121), "price": 10 }), "title"),
        (json!({ "title": "concert", "price": -10 }), "price"),
        (json!({ "title": "concert", "price": 0 }), "price"),
        (json!({ "title": "concert" }), "price"),
        (json!({ "title": "concert", "price": "ten" }), "price"),
        (json!({ "title": "concert", "price": 10.555 }), "price"),
        (json!({ "title": "concert", "price": 1_000_000 }), "price"),
    ] {
        let (status, errors) = app.create("seller", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(field_errors(&errors), vec![field.to_owned()], "{body}");
    }
    let (status, errors) = app.create("seller", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_errors(&errors),
        vec!["title".to_owned(), "price".to_owned()]
    );
    assert_eq!(
        app.get("/api/tickets").await.1,
        json!([]),
        "nothing was written"
    );
    assert_eq!(app.pending().await, 0, "no event was written");
}

#[tokio::test]
async fn a_valid_ticket_is_created_at_version_0_and_owned_by_its_seller() {
    let app = TestApp::spawn().await;
    let ticket = app.created("seller", "concert", 20.5).await;
    assert_eq!(ticket["title"], "concert");
    assert_eq!(ticket["price"], json!(20.5));
    assert_eq!(ticket["userId"], "seller");
    assert_eq!(ticket["version"], 0);
    assert!(ticket.get("orderId").is_none());
    let (status, shown) = app
        .get(&format!(
            "/api/tickets/{}",
            ticket["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, ticket);
}

#[tokio::test]
async fn an_unknown_ticket_is_404() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/tickets/5f1e0a0a0a0a0a0a0a0a0a0a").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({ "errors": [{ "message": "Not Found" }] }));
}

#[tokio::test]
async fn the_list_shows_only_tickets_for_sale() {
    let app = TestApp::spawn().await;
    let first = app.created("a", "one", 20.0).await;
    app.created("b", "two", 20.0).await;
    app.created("c", "three", 20.0).await;
    assert_eq!(
        app.get("/api/tickets")
            .await
            .1
            .as_array()
            .expect("a list")
            .len(),
        3
    );
    assert_eq!(app.reserve(&first, "order-1").await, Applied::Done);
    let titles: Vec<Value> = app
        .get("/api/tickets")
        .await
        .1
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["title"].clone())
        .collect();
    assert_eq!(titles, vec![json!("two"), json!("three")]);
}

#[tokio::test]
async fn updating_checks_existence_auth_validity_reservation_and_ownership() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    let id = ticket["id"].as_str().expect("id");
    let valid = json!({ "title": "new title", "price": 100 });

    assert_eq!(
        app.update(Some("owner"), "no-such-ticket", valid.clone())
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.update(None, id, valid.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.update(Some("intruder"), id, valid.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.update(Some("owner"), id, json!({ "title": "", "price": 20 }))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.update(Some("owner"), id, json!({ "title": "x", "price": -10 }))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    let (status, updated) = app.update(Some("owner"), id, valid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            updated["title"].clone(),
            updated["price"].clone(),
            updated["version"].clone()
        ),
        (json!("new title"), json!(100), json!(1))
    );
    assert_eq!(app.get(&format!("/api/tickets/{id}")).await.1, updated);
}

#[tokio::test]
async fn a_reserved_ticket_cannot_be_edited_even_by_a_stranger() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    let id = ticket["id"].as_str().expect("id");
    app.reserve(&ticket, "order-1").await;
    for user in ["owner", "stranger"] {
        let (status, body) = app
            .update(Some(user), id, json!({ "title": "new", "price": 100 }))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({ "errors": [{ "message": "Cannot edit a reserved ticket" }] })
        );
    }
}

#[tokio::test]
async fn order_created_reserves_the_ticket_once_and_publishes_an_update() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 99.0).await;
    let before = app.pending().await;
    assert_eq!(app.reserve(&ticket, "order-1").await, Applied::Done);
    assert_eq!(
        app.reserve(&ticket, "order-1").await,
        Applied::Duplicate,
        "a redelivery changes nothing"
    );
    let shown = app
        .get(&format!(
            "/api/tickets/{}",
            ticket["id"].as_str().expect("id")
        ))
        .await
        .1;
    assert_eq!(shown["orderId"], "order-1");
    assert_eq!(shown["version"], 1);
    assert_eq!(
        app.pending().await,
        before + 1,
        "exactly one ticket:updated"
    );
}

#[tokio::test]
async fn order_cancelled_releases_the_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    app.reserve(&ticket, "order-1").await;
    let applied = listeners::order_cancelled(&app.state, &order_cancelled(&ticket, "order-1"))
        .await
        .expect("the step runs");
    assert_eq!(applied, Applied::Done);
    let shown = app
        .get(&format!(
            "/api/tickets/{}",
            ticket["id"].as_str().expect("id")
        ))
        .await
        .1;
    assert!(shown.get("orderId").is_none());
    assert_eq!(shown["version"], 2);
    assert_eq!(
        app.get("/api/tickets")
            .await
            .1
            .as_array()
            .expect("a list")
            .len(),
        1,
        "for sale again"
    );
}

#[tokio::test]
async fn a_cancellation_that_overtakes_its_order_keeps_the_ticket_free() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    let applied = listeners::order_cancelled(&app.state, &order_cancelled(&ticket, "order-1"))
        .await
        .expect("the step runs");
    assert_eq!(applied, Applied::Duplicate);
    assert_eq!(app.reserve(&ticket, "order-1").await, Applied::Duplicate);
    let shown = app
        .get(&format!(
            "/api/tickets/{}",
            ticket["id"].as_str().expect("id")
        ))
        .await
        .1;
    assert!(shown.get("orderId").is_none());
}

#[tokio::test]
async fn a_new_order_waits_for_the_previous_one_to_be_released() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    app.reserve(&ticket, "order-1").await;
    assert_eq!(app.reserve(&ticket, "order-2").await, Applied::Early);
    listeners::order_cancelled(&app.state, &order_cancelled(&ticket, "order-1"))
        .await
        .expect("the step runs");
    assert_eq!(app.reserve(&ticket, "order-2").await, Applied::Done);
}

#[tokio::test]
async fn events_written_while_the_relay_is_stopped_are_delivered_when_it_runs() {
    let app = TestApp::spawn().await;
    let mut sub = app
        .bus
        .subscribe(
            "orders-test",
            &[TicketCreated::SUBJECT, TicketUpdated::SUBJECT],
        )
        .await
        .expect("subscribe");
    let ticket = app.created("owner", "concert", 20.0).await;
    app.update(
        Some("owner"),
        ticket["id"].as_str().expect("id"),
        json!({ "title": "renamed", "price": 30 }),
    )
    .await;
    assert_eq!(app.pending().await, 2, "both events wait in the outbox");

    tokio::spawn(app.state.relay.clone().run());
    let first = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("delivered in time")
        .expect("a delivery");
    let created: TicketCreated = decode(&first.message).expect("a ticket:created");
    assert_eq!(
        (created.title.as_str(), created.version, created.price),
        ("concert", 0, Money::from_cents(2000))
    );
    first.settle.ack().await.expect("ack");
    let second = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("delivered in time")
        .expect("a delivery");
    let updated: TicketUpdated = decode(&second.message).expect("a ticket:updated");
    assert_eq!((updated.title.as_str(), updated.version), ("renamed", 1));
    second.settle.ack().await.expect("ack");
    for _ in 0..50 {
        if app.pending().await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox was not drained");
}
