//! The harness: a real orders server on a random port with a database of its own (SQLite, or
//! PostgreSQL when `DATABASE_URL` says so). Its replica is seeded the way production fills it,
//! through the listener steps; events are read back from the outbox table.
#![allow(dead_code)]

use std::time::Duration;

use common::auth::JwtKeys;
use common::bus::EventBus;
use common::events::{
    Event, ExpirationComplete, OrderStatus, PaymentCreated, TicketCreated, TicketUpdated,
};
use common::money::Money;
use common::outbox::entity as outbox;
use common::task::Shutdown;
use common::testing::{Served, TestEnv};
use orders::listeners::{self, Applied};
use orders::{store, OrdersState};
use reqwest::header::COOKIE;
use reqwest::{Method, RequestBuilder};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde_json::{json, Value};

/// A running orders service, its state (for listener steps) and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub state: OrdersState,
    pub keys: JwtKeys,
    pub bus: EventBus,
    _served: Served,
    _env: TestEnv,
}

/// A signed-in buyer: their id and the `Cookie` header carrying a forged access token.
#[derive(Debug, Clone)]
pub struct Buyer {
    pub id: String,
    pub cookie: String,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with_window(Duration::from_secs(900)).await
    }

    /// Orders whose window has closed by the time the test looks (expiry steps apply).
    pub async fn spawn_lapsing() -> Self {
        Self::spawn_with_window(Duration::from_millis(1)).await
    }

    pub async fn spawn_with_window(window: Duration) -> Self {
        let mut env = TestEnv::new().await;
        env.settings.expiration_window = window;
        // JetStream (a stream of its own) when NATS_URL is set, else the in-process bus.
        let bus = common::testing::test_bus().await;
        let mut service = orders::SERVICE.builder(&env.settings, bus.clone(), Shutdown::new());
        let state = OrdersState::build(&mut service)
            .await
            .expect("the orders state builds");
        let served = Served::router(orders::router(state.clone())).await;
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

    pub fn is_postgres(&self) -> bool {
        self._env.db.is_postgres()
    }

    /// Runs the outbox relay in the background, as the binary does, until the test ends.
    pub fn run_relay(&self) {
        tokio::spawn(self.state.relay.clone().run(Shutdown::new()));
    }

    /// Waits until the relay has published every outbox row; false after `limit`.
    pub async fn outbox_drained(&self, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if self
                .state
                .relay
                .pending()
                .await
                .expect("the outbox is readable")
                == 0
            {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// A new buyer with a valid access token, as `global.signin()` forges one.
    pub fn buyer(&self) -> Buyer {
        self.signed_in_as(&uuid::Uuid::new_v4().to_string())
    }

    /// The user `id` signed in (a ticket's seller, say).
    pub fn signed_in_as(&self, id: &str) -> Buyer {
        let id = id.to_owned();
        let token = self
            .keys
            .issue(&id, "test@test.com")
            .expect("a token is issued");
        Buyer {
            id,
            cookie: format!("session={token}"),
        }
    }

    /// A ticket in the replica, put there by the `ticket:created` step.
    pub async fn ticket(&self, title: &str, price_cents: i64) -> TicketCreated {
        let event = TicketCreated {
            id: uuid::Uuid::new_v4().to_string(),
            version: 0,
            title: title.to_owned(),
            price: Money::from_cents(price_cents),
            user_id: uuid::Uuid::new_v4().to_string(),
        };
        let applied = listeners::ticket_created(&self.state.db, event.clone())
            .await
            .expect("ticket:created applies");
        assert_eq!(applied, Applied::Done);
        event
    }

    pub fn request(&self, method: Method, path: &str, cookie: Option<&str>) -> RequestBuilder {
        let request = self
            .client
            .request(method, format!("{}{}", self.address, path));
        match cookie {
            Some(cookie) => request.header(COOKIE, cookie),
            None => request,
        }
    }

    pub async fn send(&self, request: RequestBuilder) -> TestResponse {
        TestResponse::of(request).await
    }

    pub async fn create_order(&self, buyer: &Buyer, ticket_id: &str) -> TestResponse {
        self.post_order(Some(&buyer.cookie), &json!({ "ticketId": ticket_id }))
            .await
    }

    pub async fn post_order(&self, cookie: Option<&str>, body: &Value) -> TestResponse {
        self.send(self.request(Method::POST, "/api/orders", cookie).json(body))
            .await
    }

    /// Orders `ticket_id` as `buyer`, expecting 201; returns the order.
    pub async fn ordered(&self, buyer: &Buyer, ticket_id: &str) -> Value {
        let reply = self.create_order(buyer, ticket_id).await;
        assert_eq!(reply.status, 201, "ordering failed: {}", reply.body);
        // A lapsing app's window is a millisecond: make sure it has closed, as promised,
        // however fast the reservation was.
        if self.state.expiration_window < Duration::from_millis(10) {
            tokio::time::sleep(self.state.expiration_window * 2).await;
        }
        reply.json()
    }

    pub async fn list_orders(&self, buyer: &Buyer) -> TestResponse {
        self.send(self.request(Method::GET, "/api/orders", Some(&buyer.cookie)))
            .await
    }

    pub async fn show_order(&self, buyer: &Buyer, id: &str) -> TestResponse {
        self.send(self.request(
            Method::GET,
            &format!("/api/orders/{id}"),
            Some(&buyer.cookie),
        ))
        .await
    }

    pub async fn cancel_order(&self, buyer: &Buyer, id: &str) -> TestResponse {
        self.send(self.request(
            Method::DELETE,
            &format!("/api/orders/{id}"),
            Some(&buyer.cookie),
        ))
        .await
    }

    /// Every outbox row, oldest first.
    pub async fn outbox(&self) -> Vec<outbox::Model> {
        outbox::Entity::find()
            .order_by_asc(outbox::Column::Seq)
            .all(&self.state.db)
            .await
            .expect("the outbox is readable")
    }

    /// The payloads of the outbox rows of one event type, oldest first.
    pub async fn events<E: Event>(&self) -> Vec<E> {
        self.outbox()
            .await
            .into_iter()
            .filter(|row| row.subject == E::SUBJECT.as_str())
            .map(|row| serde_json::from_str(&row.payload).expect("an outbox payload parses"))
            .collect()
    }

    /// A concert ticket and a new buyer's order of it (the order's id): where each case
    /// about ending an order starts.
    pub async fn ordered_ticket(&self) -> (TicketCreated, String) {
        let ticket = self.ticket("concert", 2000).await;
        let order = self.ordered(&self.buyer(), &ticket.id).await;
        (ticket, id_of(&order))
    }

    /// The `expiration:complete` step for `order_id`, called directly.
    pub async fn expiration_complete(&self, order_id: &str) -> Applied {
        listeners::expiration_complete(&self.state, expire(order_id))
            .await
            .expect("expiration:complete runs")
    }

    /// The `payment:created` step, called directly.
    pub async fn payment_created(&self, event: PaymentCreated) -> Applied {
        listeners::payment_created(&self.state, event)
            .await
            .expect("payment:created runs")
    }

    /// The sea-orm `ticket:updated` step, called directly.
    pub async fn ticket_updated(&self, event: TicketUpdated) -> Applied {
        listeners::ticket_updated(&self.state.db, event)
            .await
            .expect("ticket:updated runs")
    }

    /// A replicated ticket as the database holds it.
    pub async fn stored_ticket(&self, id: &str) -> store::TicketRow {
        store::find_ticket(&self.state.db, id)
            .await
            .expect("the replica is readable")
            .expect("the ticket is replicated")
    }

    /// An order as the database holds it.
    pub async fn stored_order(&self, id: &str) -> orders::store::OrderRecord {
        orders::store::find_order(&self.state.db, id)
            .await
            .expect("orders are readable")
            .expect("the order exists")
    }
}

pub use common::testing::TestResponse;

pub const ALREADY_RESERVED: &str = "Ticket is already reserved";
pub const COMPLETED: &str = "Cannot cancel a completed order";
pub const OWN_TICKET: &str = "You cannot buy your own ticket";
pub const WITHDRAWN: &str = "Ticket has been withdrawn from sale";

pub use common::testing::harness::keys_of;

pub fn id_of(value: &Value) -> String {
    value["id"].as_str().expect("an id").to_owned()
}

pub fn expire(order_id: &str) -> ExpirationComplete {
    ExpirationComplete {
        order_id: order_id.to_owned(),
    }
}

pub fn payment(order_id: &str) -> PaymentCreated {
    PaymentCreated {
        id: uuid::Uuid::new_v4().to_string(),
        order_id: order_id.to_owned(),
        stripe_id: "ch_test".into(),
    }
}

pub fn update(
    ticket: &TicketCreated,
    version: i64,
    title: &str,
    price_cents: i64,
) -> TicketUpdated {
    TicketUpdated {
        id: ticket.id.clone(),
        version,
        title: title.to_owned(),
        price: Money::from_cents(price_cents),
        user_id: ticket.user_id.clone(),
        order_id: None,
        withdrawn: false,
    }
}

/// `ticket:created` applied the way the service applies it on this backend: the writer
/// thread's step on SQLite, the sea-orm listener on PostgreSQL.
pub async fn replicate_created(app: &TestApp, event: TicketCreated) -> Applied {
    match &app.state.writer {
        Some(writer) => writer
            .write(move |tx| orders::written::ticket_created(tx, event))
            .await
            .expect("ticket:created applies"),
        None => listeners::ticket_created(&app.state.db, event)
            .await
            .expect("ticket:created applies"),
    }
}

/// `ticket:updated`, as [`replicate_created`] applies `ticket:created`.
pub async fn replicate_updated(app: &TestApp, event: TicketUpdated) -> Applied {
    match &app.state.writer {
        Some(writer) => writer
            .write(move |tx| orders::written::ticket_updated(tx, event))
            .await
            .expect("ticket:updated applies"),
        None => listeners::ticket_updated(&app.state.db, event)
            .await
            .expect("ticket:updated applies"),
    }
}

/// Makes a replica row look as if it was replicated before sellers were kept.
pub async fn forget_seller(app: &TestApp, ticket_id: &str) {
    store::ticket::Entity::update_many()
        .col_expr(
            store::ticket::Column::SellerId,
            Expr::value(Option::<String>::None),
        )
        .filter(store::ticket::Column::Id.eq(ticket_id))
        .exec(&app.state.db)
        .await
        .expect("the replica is writable");
}

pub async fn live_orders_of_ticket(app: &TestApp, ticket_id: &str) -> u64 {
    store::order::Entity::find()
        .filter(store::order::Column::TicketId.eq(ticket_id))
        .filter(store::order::Column::Status.ne(OrderStatus::Cancelled.as_str()))
        .count(&app.state.db)
        .await
        .expect("orders are countable")
}
