//! The harness: a real tickets service on port 0 with a database of its own (SQLite, or
//! PostgreSQL when `DATABASE_URL` says so) on the suite's bus (in-process, or JetStream when
//! `NATS_URL` is set), plus the events and page walks the tests share.
use common::auth::JwtKeys;
use common::bus::EventBus;
use common::events::{
    OrderCancelled, OrderCompleted, OrderCreated, OrderStatus, OrderTicket, TicketRef,
};
use common::money::Money;
use common::task::Shutdown;
use common::testing::{test_bus, Served, TestEnv};
use reqwest::StatusCode;
use serde_json::{json, Value};
use tickets::listeners::{self, Applied};
use tickets::TicketsState;

pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub keys: JwtKeys,
    pub state: TicketsState,
    pub bus: EventBus,
    _served: Served,
    _env: TestEnv,
}

impl TestApp {
    pub async fn spawn() -> Self {
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
    pub fn cookie(&self, user_id: &str) -> String {
        let token = self
            .keys
            .issue(user_id, &format!("{user_id}@example.com"))
            .expect("a token");
        format!("session={token}")
    }

    pub async fn send(
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
        common::testing::harness::send_for_json(request).await
    }

    pub async fn create(&self, user: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::POST,
            "/api/tickets",
            Some(&self.cookie(user)),
            Some(body),
        )
        .await
    }

    pub async fn created(&self, user: &str, title: &str, price: f64) -> Value {
        let (status, body) = self
            .create(user, json!({ "title": title, "price": price }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    pub async fn update(&self, user: Option<&str>, id: &str, body: Value) -> (StatusCode, Value) {
        let cookie = user.map(|u| self.cookie(u));
        self.send(
            reqwest::Method::PUT,
            &format!("/api/tickets/{id}"),
            cookie.as_deref(),
            Some(body),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, None, None).await
    }

    /// How many tickets the listing's first page shows (all of them, in the small cases).
    pub async fn listed(&self) -> usize {
        self.get("/api/tickets")
            .await
            .1
            .as_array()
            .expect("a list")
            .len()
    }

    /// `GET /api/tickets/:id` for a ticket the harness created.
    pub async fn show(&self, ticket: &Value) -> (StatusCode, Value) {
        let id = ticket["id"].as_str().expect("a ticket id");
        self.get(&format!("/api/tickets/{id}")).await
    }

    pub async fn release(&self, ticket: &Value, order_id: &str) -> Applied {
        listeners::release(&self.state, order_cancelled(ticket, order_id))
            .await
            .expect("the step runs")
    }

    pub async fn reserve(&self, ticket: &Value, order_id: &str) -> Applied {
        listeners::reserve(&self.state, order_created(ticket, order_id))
            .await
            .expect("the step runs")
    }

    pub async fn complete(&self, ticket: &Value, order_id: &str) -> Applied {
        let event = OrderCompleted {
            id: order_id.into(),
            version: 1,
            ticket: TicketRef {
                id: ticket["id"].as_str().expect("an id").into(),
            },
            user_id: String::new(),
        };
        listeners::complete(&self.state, event)
            .await
            .expect("the step runs")
    }

    pub async fn pending(&self) -> u64 {
        self.state.relay.pending().await.expect("the outbox counts")
    }
}

pub fn order_created(ticket: &Value, order_id: &str) -> OrderCreated {
    OrderCreated {
        id: order_id.into(),
        version: 0,
        status: OrderStatus::Created,
        user_id: "buyer".into(),
        expires_at: chrono::DateTime::from_timestamp(1_893_456_000, 0).expect("in range"),
        ticket: OrderTicket {
            id: ticket["id"].as_str().expect("an id").into(),
            price: Money::from_cents(1000),
        },
    }
}

pub fn order_cancelled(ticket: &Value, order_id: &str) -> OrderCancelled {
    OrderCancelled {
        id: order_id.into(),
        version: 1,
        ticket: TicketRef {
            id: ticket["id"].as_str().expect("an id").into(),
        },
        user_id: String::new(),
    }
}

/// One page of `GET /api/tickets…`, read in full.
pub struct Page {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub link: Option<String>,
    pub body: String,
}

impl Page {
    pub fn tickets(&self) -> Vec<Value> {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        serde_json::from_str::<Value>(&self.body)
            .expect("a JSON body")
            .as_array()
            .expect("a list")
            .clone()
    }

    pub fn ids(&self) -> Vec<String> {
        ids(&self.tickets())
    }

    /// The path of the next page, from `Link: <path>; rel="next"`.
    pub fn next(&self) -> Option<String> {
        let link = self.link.as_deref()?;
        let path = link
            .strip_prefix('<')
            .and_then(|l| l.strip_suffix(">; rel=\"next\""))
            .unwrap_or_else(|| panic!("a Link to the next page, got {link:?}"));
        assert!(path.starts_with("/api/tickets?"), "{link}");
        Some(path.to_owned())
    }

    /// Asserts 400 with exactly one error, against `field`, in the strict envelope.
    pub fn assert_field_error(&self, field: &str) {
        assert_eq!(self.status, StatusCode::BAD_REQUEST, "{}", self.body);
        let errors = common::testing::error_envelope(self.content_type.as_deref(), &self.body);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].field.as_deref(), Some(field), "{errors:?}");
    }
}

pub fn ids(tickets: &[Value]) -> Vec<String> {
    tickets
        .iter()
        .map(|t| t["id"].as_str().expect("an id").to_owned())
        .collect()
}

impl TestApp {
    pub async fn page(&self, path: &str) -> Page {
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
    pub async fn walk(&self, path: &str) -> Vec<Vec<String>> {
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
    pub async fn seed(&self, n: usize) {
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
    pub async fn for_sale_newest_first(&self) -> Vec<String> {
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

pub fn field_errors(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .expect("an error envelope")
        .iter()
        .filter_map(|e| e["field"].as_str().map(str::to_owned))
        .collect()
}
