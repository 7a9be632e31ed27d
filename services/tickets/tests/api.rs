//! The tickets service end to end: HTTP routes, the outbox relay on the real bus, and the
//! order listeners. Runs on SQLite + in-process bus by default, and on PostgreSQL + JetStream
//! when `DATABASE_URL` / `NATS_URL` point at them.
use std::time::Duration;

use common::auth::JwtKeys;
use common::bus::{decode, EventBus};
use common::events::{
    Event, OrderCancelled, OrderCompleted, OrderCreated, OrderStatus, OrderTicket, TicketCreated,
    TicketRef, TicketUpdated,
};
use common::money::Money;
use common::task::Shutdown;
use common::testing::{test_bus, Served, TestEnv};
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
    _served: Served,
    _env: TestEnv,
}

impl TestApp {
    async fn spawn() -> Self {
        let env = TestEnv::new().await;
        let bus = test_bus().await;
        let mut service = tickets::SERVICE.builder(&env.settings, bus.clone(), Shutdown::new());
        let state = TicketsState::build(&mut service)
            .await
            .expect("the tickets state builds");
        let served = Served::router(tickets::router(state.clone())).await;
        Self {
            address: served.address.clone(),
            _served: served,
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

    async fn release(&self, ticket: &Value, order_id: &str) -> Applied {
        listeners::release(&self.state, order_cancelled(ticket, order_id))
            .await
            .expect("the step runs")
    }

    async fn reserve(&self, ticket: &Value, order_id: &str) -> Applied {
        listeners::reserve(&self.state, order_created(ticket, order_id))
            .await
            .expect("the step runs")
    }

    async fn complete(&self, ticket: &Value, order_id: &str) -> Applied {
        let event = OrderCompleted {
            id: order_id.into(),
            version: 1,
            ticket: TicketRef {
                id: ticket["id"].as_str().expect("an id").into(),
            },
        };
        listeners::complete(&self.state, event)
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

/// One page of `GET /api/tickets…`, read in full.
struct Page {
    status: StatusCode,
    content_type: Option<String>,
    link: Option<String>,
    body: String,
}

impl Page {
    fn tickets(&self) -> Vec<Value> {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        serde_json::from_str::<Value>(&self.body)
            .expect("a JSON body")
            .as_array()
            .expect("a list")
            .clone()
    }

    fn ids(&self) -> Vec<String> {
        ids(&self.tickets())
    }

    /// The path of the next page, from `Link: <path>; rel="next"`.
    fn next(&self) -> Option<String> {
        let link = self.link.as_deref()?;
        let path = link
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("a Link to the next page, got {link:?}"));
        assert!(path.starts_with("/api/tickets?"), "{link}");
        Some(path.to_owned())
    }

    /// Asserts 400 with exactly one error, against `field`, in the strict envelope.
    fn assert_field_error(&self, field: &str) {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "{}", self.body);
        let errors = common::testing::error_envelope(self.content_type.as_deref(), &self.body);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field.as_deref(), Some(field), "{errors:?}");
    }
}

fn ids(tickets: &[Value]) -> Vec<String> {
    tickets
        .iter()
        .map(|t| t["id"].as_str().expect("an id").to_owned())
        .collect()
}

impl TestApp {
    async fn page(&self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .expect("the request reaches the server");
        let header = |name| {
            response
                .headers()
                .get(name)
                .map(|v| v.to_str().expect("an ASCII header").to_owned())
        };
        let (content_type, link) = (header("content-type"), header("link"));
        Page {
            status: response.status(),
            content_type,
            link,
            body: response.text().await.expect("a body"),
        }
    }

    /// Follows `next` links from `path` to the last page; returns every page's ids.
    async fn walk(&self, path: &str) -> Vec<Vec<String>> {
        let mut pages = Vec::new();
        let mut next = Some(path.to_owned());
        while let Some(path) = next {
            let page = self.page(&path).await;
            pages.push(page.ids());
            next = page.next();
            assert!(pages.len() <= 1000, "the links never end");
        }
        pages
    }

    /// Lists `n` tickets straight through the store (quicker than HTTP for many).
    async fn seed(&self, n: usize) {
        for i in 0..n {
            tickets::store::insert(
                &self.state.db,
                &format!("ticket {i}"),
                Money::from_cents(100),
                "seller",
            )
            .await
            .expect("a ticket is stored");
        }
    }

    /// Ids of every ticket for sale, newest first by (created_at, id), read from the database.
    async fn for_sale_newest_first(&self) -> Vec<String> {
        use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
        use tickets::store::ticket;
        let mut rows = ticket::Entity::find()
            .filter(ticket::Column::OrderId.is_null())
            .all(&self.state.db)
            .await
            .expect("the tickets load");
        rows.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        rows.into_iter().map(|r| r.id).collect()
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

/// Text that displays differently from what is stored (bidi overrides, zero-width and other
/// invisible format characters) is refused on `title`, when listing and when editing.
#[tokio::test]
async fn titles_with_invisible_or_bidi_characters_are_a_field_error() {
    let app = TestApp::spawn().await;
    let ticket = app.created("seller", "concert", 20.0).await;
    let id = ticket["id"].as_str().expect("id");
    for title in [
        "abc\u{202E}fdp.exe",
        "con\u{200B}cert",
        "\u{FEFF}concert",
        "con\u{2066}cert\u{2069}",
        "con\u{00AD}cert",
        "con\u{200D}cert",
        "con\u{0085}cert",
    ] {
        let body = json!({ "title": title, "price": 10 });
        let (status, errors) = app.create("seller", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(field_errors(&errors), ["title"], "{body}");
        let (status, errors) = app.update(Some("seller"), id, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(field_errors(&errors), ["title"], "{body}");
    }
    assert_eq!(
        app.get(&format!("/api/tickets/{id}")).await.1["title"],
        "concert"
    );
    // Visible non-ASCII text is still a title.
    app.created("seller", "Café 🎉 العربية", 10.0).await;
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
    assert_eq!(titles, vec![json!("three"), json!("two")], "newest first");
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
    let applied = app.release(&ticket, "order-1").await;
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
async fn a_ticket_shows_for_sale_then_reserved_until_the_hold_ends_then_sold() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    let path = format!("/api/tickets/{}", ticket["id"].as_str().expect("id"));
    let shown = app.get(&path).await.1;
    assert_eq!(shown["status"], "available");
    assert!(shown.get("reservedUntil").is_none());

    assert_eq!(
        app.complete(&ticket, "order-1").await,
        Applied::Early,
        "completed before its order:created arrived: waits for it"
    );
    app.reserve(&ticket, "order-1").await;
    let shown = app.get(&path).await.1;
    assert_eq!(shown["status"], "reserved");
    assert_eq!(shown["reservedUntil"], "2030-01-01T00:00:00.000Z");

    let pending = app.pending().await;
    assert_eq!(app.complete(&ticket, "order-1").await, Applied::Done);
    assert_eq!(
        app.complete(&ticket, "order-1").await,
        Applied::Duplicate,
        "a redelivery changes nothing"
    );
    let shown = app.get(&path).await.1;
    assert_eq!(shown["status"], "sold");
    assert_eq!(shown["orderId"], "order-1");
    assert!(shown.get("reservedUntil").is_none());
    assert_eq!(shown["version"], 1, "a sale changes nothing replicated");
    assert_eq!(app.pending().await, pending, "and publishes nothing");
    assert!(app
        .get("/api/tickets")
        .await
        .1
        .as_array()
        .expect("a list")
        .is_empty());
    assert_eq!(
        app.complete(&ticket, "order-2").await,
        Applied::Early,
        "another order's completion can't sell it"
    );
    assert_eq!(app.get(&path).await.1["orderId"], "order-1");
}

#[tokio::test]
async fn a_released_order_never_sells_the_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    app.reserve(&ticket, "order-1").await;
    app.release(&ticket, "order-1").await;
    assert_eq!(app.complete(&ticket, "order-1").await, Applied::Duplicate);
    let shown = app
        .get(&format!(
            "/api/tickets/{}",
            ticket["id"].as_str().expect("id")
        ))
        .await
        .1;
    assert_eq!(shown["status"], "available");
}

#[tokio::test]
async fn a_cancellation_that_overtakes_its_order_keeps_the_ticket_free() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    let applied = app.release(&ticket, "order-1").await;
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
    listeners::release(&app.state, order_cancelled(&ticket, "order-1"))
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

    tokio::spawn(app.state.relay.clone().run(Shutdown::new()));
    // On JetStream each subject has its own consumer, so the two may arrive either way round
    // (the orders replica orders them by version); each arrives once, as written.
    let mut deliveries = Vec::new();
    for _ in 0..2 {
        let delivery = tokio::time::timeout(Duration::from_secs(10), sub.next())
            .await
            .expect("delivered in time")
            .expect("a delivery");
        deliveries.push(delivery);
    }
    deliveries.sort_by_key(|d| d.message.subject != TicketCreated::SUBJECT);
    let created: TicketCreated = decode(&deliveries[0].message).expect("a ticket:created");
    assert_eq!(
        (created.title.as_str(), created.version, created.price),
        ("concert", 0, Money::from_cents(2000))
    );
    let updated: TicketUpdated = decode(&deliveries[1].message).expect("a ticket:updated");
    assert_eq!((updated.title.as_str(), updated.version), ("renamed", 1));
    for delivery in deliveries {
        delivery.settle.ack().await.expect("ack");
    }
    for _ in 0..50 {
        if app.pending().await == 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox was not drained");
}

// ---------------------------------------------------------------------------------------
// Listing: pages, cursors, search

#[tokio::test]
async fn the_list_is_newest_first_50_by_default_and_at_most_200_a_page() {
    let app = TestApp::spawn().await;
    app.seed(201).await;
    let all = app.for_sale_newest_first().await;

    let first = app.page("/api/tickets").await;
    assert_eq!(first.ids(), all[..50], "the 50 newest");
    assert!(
        first.next().is_some_and(|n| n.contains("limit=50&")),
        "{:?}",
        first.link
    );
    let most = app.page("/api/tickets?limit=200").await;
    assert_eq!(most.ids(), all[..200]);
    let rest = app.page(&most.next().expect("a next page")).await;
    assert_eq!(rest.ids(), all[200..]);
    assert_eq!(rest.link, None, "the last page has no Link");
    assert_eq!(app.page("/api/tickets?limit=7").await.ids(), all[..7]);
}

#[tokio::test]
async fn following_next_links_walks_every_ticket_once_newest_first() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for i in 0..23 {
        created.push(app.created("seller", &format!("show {i}"), 10.0).await);
    }
    let newest_first: Vec<String> = ids(&created).into_iter().rev().collect();
    assert_eq!(app.for_sale_newest_first().await, newest_first);

    let pages = app.walk("/api/tickets?limit=5").await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [5, 5, 5, 5, 3]
    );
    assert_eq!(pages.concat(), newest_first, "no gaps, no repeats");

    // A page that happens to end the list exactly has no Link either.
    let pages = app.walk("/api/tickets?limit=23").await;
    assert_eq!((pages.len(), &pages[0]), (1, &newest_first));
    let pages = app.walk("/api/tickets?limit=22").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [22, 1]);
    // Unknown parameters are ignored.
    assert_eq!(
        app.page("/api/tickets?page=9&sort=asc").await.ids(),
        newest_first
    );
}

#[tokio::test]
async fn pages_neither_skip_nor_repeat_while_tickets_are_listed_and_reserved() {
    let app = TestApp::spawn().await;
    let mut tickets = Vec::new();
    for i in 1..=9 {
        tickets.push(app.created("seller", &format!("t{i}"), 10.0).await);
    }
    let title = |id: &String| {
        tickets.iter().find(|t| t["id"] == id.as_str()).map_or_else(
            || "new".to_owned(),
            |t| t["title"].as_str().expect("a title").to_owned(),
        )
    };

    let first = app.page("/api/tickets?limit=3").await;
    assert_eq!(
        first.ids().iter().map(title).collect::<Vec<_>>(),
        ["t9", "t8", "t7"]
    );
    // Between pages: new tickets land at the head, one already shown and one not yet shown
    // are reserved through the order listener.
    app.created("seller", "t10", 10.0).await;
    app.created("seller", "t11", 10.0).await;
    assert_eq!(app.reserve(&tickets[7], "order-t8").await, Applied::Done);
    assert_eq!(app.reserve(&tickets[5], "order-t6").await, Applied::Done);

    let second = app.page(&first.next().expect("a second page")).await;
    assert_eq!(
        second.ids().iter().map(title).collect::<Vec<_>>(),
        ["t5", "t4", "t3"]
    );
    app.created("seller", "t12", 10.0).await;
    assert_eq!(app.reserve(&tickets[0], "order-t1").await, Applied::Done);

    let third = app.page(&second.next().expect("a third page")).await;
    assert_eq!(third.ids().iter().map(title).collect::<Vec<_>>(), ["t2"]);
    assert_eq!(third.link, None);
}

#[tokio::test]
async fn q_matches_titles_ignoring_case_with_wildcards_taken_literally() {
    let app = TestApp::spawn().await;
    for title in [
        "Jazz Night",
        "late JAZZ brunch",
        "Rock",
        "50% off",
        "500 off",
        "a_b",
        "axb",
        "back\\slash",
        "backslash",
    ] {
        app.created("seller", title, 10.0).await;
    }
    let titles = |page: &Page| -> Vec<String> {
        page.tickets()
            .iter()
            .map(|t| t["title"].as_str().expect("a title").to_owned())
            .collect()
    };

    assert_eq!(
        titles(&app.page("/api/tickets?q=jazz").await),
        ["late JAZZ brunch", "Jazz Night"]
    );
    assert_eq!(
        titles(&app.page("/api/tickets?q=%20%20jAzZ%20N%20").await),
        ["Jazz Night"],
        "trimmed"
    );
    assert_eq!(titles(&app.page("/api/tickets?q=50%25").await), ["50% off"]);
    assert_eq!(titles(&app.page("/api/tickets?q=A_B").await), ["a_b"]);
    assert_eq!(
        titles(&app.page("/api/tickets?q=%5C").await),
        ["back\\slash"]
    );
    assert_eq!(titles(&app.page("/api/tickets?q=%25").await), ["50% off"]);
    assert!(titles(&app.page("/api/tickets?q=nothing").await).is_empty());
    assert_eq!(
        app.page("/api/tickets?q=").await.tickets().len(),
        9,
        "no filter"
    );
    assert_eq!(
        app.page("/api/tickets?q=+").await.tickets().len(),
        9,
        "no filter"
    );

    // The next page keeps the search.
    let first = app.page("/api/tickets?q=%20OFF&limit=1").await;
    assert_eq!(titles(&first), ["500 off"]);
    let next = first.next().expect("a next page");
    assert!(next.ends_with("&q=OFF"), "{next}");
    let second = app.page(&next).await;
    assert_eq!(second.link, None);
    assert_eq!(titles(&second), ["50% off"]);

    let first = app.page("/api/tickets?q=b%C3%A0%20%26%2F&limit=1").await;
    assert_eq!(first.link, None, "nothing matches");
}

#[tokio::test]
async fn encoded_searches_survive_the_next_link() {
    let app = TestApp::spawn().await;
    for title in ["rock & roll/é 1", "rock & roll/é 2", "rock & roll 3"] {
        app.created("seller", title, 10.0).await;
    }
    let first = app
        .page("/api/tickets?limit=1&q=ROCK%20%26%20ROLL%2F%C3%A9")
        .await;
    let next = first.next().expect("a next page");
    assert!(next.ends_with("&q=ROCK%20%26%20ROLL%2F%C3%A9"), "{next}");
    let pages = app
        .walk("/api/tickets?limit=1&q=ROCK%20%26%20ROLL%2F%C3%A9")
        .await;
    assert_eq!(pages.len(), 2, "{pages:?}");
}

#[tokio::test]
async fn bad_list_parameters_are_400_against_their_field() {
    let app = TestApp::spawn().await;
    app.seed(3).await;
    let valid_cursor = {
        let page = app.page("/api/tickets?limit=1").await;
        let next = page.next().expect("a next page");
        next.split("cursor=").nth(1).expect("a cursor").to_owned()
    };
    assert_eq!(
        app.page(&format!("/api/tickets?cursor={valid_cursor}"))
            .await
            .status,
        StatusCode::OK
    );

    let long = "x".repeat(121);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("limit=%2B5", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("limit=5&limit=6", "limit"),
        ("cursor=", "cursor"),
        ("cursor=garbage", "cursor"),
        ("cursor=zz", "cursor"),
        ("cursor=00", "cursor"),
        ("cursor=%00", "cursor"),
        ("cursor=ffffffffffffffff0000000078", "cursor"),
        (&format!("cursor={valid_cursor}0"), "cursor"),
        (&format!("cursor={valid_cursor}00"), "cursor"),
        ("q=a%00b", "q"),
        ("q=a%0Ab", "q"),
        ("q=a%7Fb", "q"),
        (&format!("q={long}"), "q"),
    ] {
        let page = app.page(&format!("/api/tickets?{query}")).await;
        page.assert_field_error(field);
        assert_eq!(page.link, None, "{query}");
    }
    // All at once: one error per field.
    let page = app.page("/api/tickets?limit=0&cursor=x&q=%01").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let fields: Vec<Option<String>> =
        common::testing::error_envelope(page.content_type.as_deref(), &page.body)
            .into_iter()
            .map(|e| e.field)
            .collect();
    assert_eq!(
        fields,
        [
            Some("limit".into()),
            Some("cursor".into()),
            Some("q".into())
        ]
    );
    // 120 characters is fine, and so are invalid escapes and bad UTF-8 in a search.
    for query in [
        format!("q={}", "x".repeat(120)),
        "q=%ZZ".into(),
        "q=%FF".into(),
    ] {
        let page = app.page(&format!("/api/tickets?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
    }
}

/// The set step a batch of `order:created` goes through: the free tickets are reserved in one
/// statement with one `ticket:updated` each; an order released before it arrived is a
/// duplicate, a ticket held by another order or not listed yet is early, and a repeat within
/// the batch reserves nothing twice.
#[tokio::test]
async fn a_batch_of_order_created_reserves_each_free_ticket_once() {
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn().await;
    let free = app.created("owner", "free", 10.0).await;
    let gone = app.created("owner", "gone", 10.0).await;
    let held = app.created("owner", "held", 10.0).await;
    let unknown = json!({ "id": uuid::Uuid::new_v4().to_string() });
    assert_eq!(app.reserve(&held, "holder").await, Applied::Done);
    assert_eq!(
        app.release(&gone, "cancelled-first").await,
        Applied::Duplicate
    );
    let before = app.pending().await;

    let txn = std::sync::Arc::new(app.state.background.begin().await.expect("a transaction"));
    let set = listeners::orders_created(
        &txn,
        vec![
            order_created(&free, "order-1"),
            order_created(&gone, "cancelled-first"),
            order_created(&held, "order-3"),
            order_created(&free, "order-1"),
            order_created(&unknown, "order-4"),
        ],
    )
    .await
    .expect("the set applies");
    let applied: Vec<Applied> = set
        .applied
        .into_iter()
        .map(|a| a.expect("each event is classified"))
        .collect();
    assert_eq!(
        applied,
        [
            Applied::Done,
            Applied::Duplicate,
            Applied::Early,
            Applied::Duplicate,
            Applied::Early
        ]
    );
    std::sync::Arc::try_unwrap(txn)
        .unwrap_or_else(|_| panic!("the step kept the transaction"))
        .commit()
        .await
        .expect("commits");

    assert_eq!(
        app.pending().await,
        before + 1,
        "one ticket:updated, for the free ticket"
    );
    for (ticket, holder) in [(&free, json!("order-1")), (&held, json!("holder"))] {
        let id = ticket["id"].as_str().expect("id");
        let shown = app.get(&format!("/api/tickets/{id}")).await.1;
        assert_eq!(shown["orderId"], holder);
    }
    let id = gone["id"].as_str().expect("id");
    assert!(app
        .get(&format!("/api/tickets/{id}"))
        .await
        .1
        .get("orderId")
        .is_none());
}
