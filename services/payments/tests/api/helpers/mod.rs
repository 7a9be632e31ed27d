//! The harness: a real payments service on a random port with a database of its own
//! (SQLite, or PostgreSQL when `DATABASE_URL` says so) and a bus of its own, paying through
//! either the test-mode provider or the Stripe adapter pointed at a local stand-in. Its
//! replica is seeded the way production fills it, through the listener steps.
#![allow(dead_code)]

pub mod stripe;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use common::auth::JwtKeys;
use common::bus::EventBus;
use common::dto::PaymentStatus;
use common::events::{
    Event, OrderCancelled, OrderCompleted, OrderCreated, OrderStatus, OrderTicket, TicketRef,
};
use common::money::Money;
use common::outbox::entity as outbox;
use common::task::Shutdown;
use common::testing::{Served, TestEnv, TestResponse};
use payments::listeners::{self, Applied};
use payments::provider::{
    ChargeRequest, Found, PaymentProvider, Provider, ProviderError, TestChargeStatus,
    TestModeProvider,
};
use payments::store::{self, Change, PaymentRecord};
use payments::PaymentsState;
use sea_orm::{EntityTrait, QueryOrder};
use serde_json::{json, Value};

pub use stripe::StandIn;

pub const WEBHOOK_SECRET: &str = "whsec_test_secret";

/// Which provider a suite pays through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TestMode,
    Stripe,
}

/// Called around provider calls, to let a test change the world mid-payment.
pub type Hook =
    Arc<dyn Fn(PaymentsState, String) -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

#[derive(Clone, Default)]
pub struct Slot(Arc<Mutex<Option<PaymentsState>>>);

impl Slot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<PaymentsState>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
    pub fn get(&self) -> Option<PaymentsState> {
        self.lock().clone()
    }
    fn set(&self, state: PaymentsState) {
        *self.lock() = Some(state);
    }
}

/// A provider that runs hooks after authorizing and before capturing.
pub struct Hooked {
    pub inner: Provider,
    /// The state the hooks get; emptied when the app is dropped, since the state holds this
    /// provider (otherwise the pair keeps each other, and the database pool, alive).
    pub state: Slot,
    pub after_authorize: Option<Hook>,
    pub before_capture: Option<Hook>,
}

#[async_trait]
impl PaymentProvider for Hooked {
    async fn authorize(&self, charge: &ChargeRequest) -> Result<String, ProviderError> {
        let id = self.inner.authorize(charge).await?;
        if let (Some(hook), Some(state)) = (&self.after_authorize, self.state.get()) {
            hook(state.clone(), charge.order_id.clone()).await;
        }
        Ok(id)
    }
    async fn capture(&self, id: &str, key: &str) -> Result<(), ProviderError> {
        if let (Some(hook), Some(state)) = (&self.before_capture, self.state.get()) {
            let order = store::find_by_stripe_id(&state.db, id)
                .await
                .ok()
                .flatten()
                .map(|p| p.order_id)
                .unwrap_or_default();
            hook(state.clone(), order).await;
        }
        self.inner.capture(id, key).await
    }
    async fn void(&self, id: &str, key: &str) -> Result<(), ProviderError> {
        self.inner.void(id, key).await
    }
    async fn refund(&self, id: &str, key: &str) -> Result<(), ProviderError> {
        self.inner.refund(id, key).await
    }
    async fn lookup(
        &self,
        payment_id: &str,
        provider_id: Option<&str>,
    ) -> Result<Option<Found>, ProviderError> {
        self.inner.lookup(payment_id, provider_id).await
    }
}

pub struct TestApp {
    pub kind: Kind,
    pub served: Served,
    pub client: reqwest::Client,
    pub state: PaymentsState,
    pub keys: JwtKeys,
    pub bus: EventBus,
    pub test_mode: TestModeProvider,
    pub standin: Option<StandIn>,
    pub env: TestEnv,
    slot: Slot,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        // Breaks the state ↔ provider cycle, so the test's connections close with it.
        self.slot.lock().take();
    }
}

/// A signed-in buyer: their id and the `Cookie` header carrying a forged access token.
#[derive(Debug, Clone)]
pub struct Buyer {
    pub id: String,
    pub cookie: String,
}

/// What tests compare across providers: one charge at the provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub id: String,
    pub amount_cents: i64,
    pub currency: String,
    /// authorized, captured, voided or refunded.
    pub status: &'static str,
}

#[derive(Default)]
pub struct Options {
    pub webhook_secret: Option<&'static str>,
    pub after_authorize: Option<Hook>,
    pub before_capture: Option<Hook>,
    /// `PAYMENT_STALE_SECONDS`, when not the default.
    pub stale_after: Option<Duration>,
}

impl TestApp {
    pub async fn spawn(kind: Kind) -> Self {
        Self::spawn_with(
            kind,
            Options {
                webhook_secret: Some(WEBHOOK_SECRET),
                ..Options::default()
            },
        )
        .await
    }

    pub async fn spawn_with(kind: Kind, options: Options) -> Self {
        let mut env = TestEnv::new().await;
        env.settings.stripe_webhook_secret =
            options.webhook_secret.map(common::settings::Secret::new);
        if let Some(stale_after) = options.stale_after {
            env.settings.payment_stale_after = stale_after;
        }
        let test_mode = TestModeProvider::new();
        let standin = match kind {
            Kind::TestMode => None,
            Kind::Stripe => {
                let standin = StandIn::start().await;
                env.settings.stripe_secret_key =
                    Some(common::settings::Secret::new(stripe::SECRET_KEY));
                env.settings.stripe_api_base = standin.base.clone();
                Some(standin)
            }
        };
        let inner: Provider = match kind {
            Kind::TestMode => Arc::new(test_mode.clone()),
            // The production choice: STRIPE_SECRET_KEY set means the Stripe adapter.
            Kind::Stripe => payments::provider::from_settings(&env.settings).expect("a provider"),
        };
        let slot = Slot::default();
        let provider: Provider = Arc::new(Hooked {
            inner,
            state: slot.clone(),
            after_authorize: options.after_authorize,
            before_capture: options.before_capture,
        });
        // JetStream (a stream of its own) when NATS_URL is set, else the in-process bus.
        let bus = common::testing::test_bus().await;
        let shutdown = Shutdown::new();
        let mut service = payments::SERVICE.builder(&env.settings, bus.clone(), shutdown.clone());
        let state = PaymentsState::build_with(&mut service, provider)
            .await
            .expect("the payments state builds");
        slot.set(state.clone());
        let running = payments::start_on(state.clone(), service)
            .await
            .expect("the payments service starts");
        let served = Served::start(running, shutdown).await;
        Self {
            kind,
            served,
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .expect("a client"),
            keys: JwtKeys::from_settings(&env.settings),
            state,
            bus,
            test_mode,
            standin,
            env,
            slot,
        }
    }

    pub fn url(&self, path: &str) -> String {
        self.served.url(path)
    }

    pub fn buyer(&self) -> Buyer {
        let id = uuid::Uuid::new_v4().to_string();
        let token = self.keys.issue(&id, "x@test.com").expect("a token");
        Buyer {
            cookie: format!("session={token}"),
            id,
        }
    }

    /// Puts an order in the replica through `order:created`, as production does.
    pub async fn seed_order_expiring(
        &self,
        buyer: &Buyer,
        cents: i64,
        expires_at: chrono::DateTime<Utc>,
    ) -> String {
        let event = order_created(&buyer.id, cents, expires_at);
        let id = event.id.clone();
        assert_eq!(
            listeners::order_created(&self.state.db, event)
                .await
                .expect("replicated"),
            Applied::Done
        );
        id
    }

    pub async fn seed_order(&self, buyer: &Buyer, cents: i64) -> String {
        self.seed_order_expiring(buyer, cents, Utc::now() + chrono::Duration::minutes(15))
            .await
    }

    /// `order_id`'s replica row and a new payment for it, as the pay flow first records one
    /// (`authorizing`, nothing asked of the provider yet).
    pub async fn started_payment(&self, order_id: &str) -> (store::OrderRecord, PaymentRecord) {
        let order = store::find_order(&self.state.db, order_id)
            .await
            .expect("the replica is readable")
            .expect("the order is replicated");
        let payment = store::insert_payment(&self.state.db, &order)
            .await
            .expect("the payment is inserted");
        (order, payment)
    }

    /// A payment as the database holds it.
    pub async fn stored_payment(&self, payment_id: &str) -> PaymentRecord {
        store::find_payment(&self.state.db, payment_id)
            .await
            .expect("payments are readable")
            .expect("the payment exists")
    }

    /// Moves a payment from `authorizing` to `capturing` with the provider's id, as the pay
    /// flow's claim does.
    pub async fn mark_capturing(&self, payment_id: &str, provider_id: &str) {
        store::transition(
            &self.state.db,
            payment_id,
            PaymentStatus::Authorizing,
            PaymentStatus::Capturing,
            Change {
                stripe_id: Some(provider_id),
                ..Change::default()
            },
        )
        .await
        .expect("the payment moves to capturing");
    }

    pub async fn cancel(&self, order_id: &str, version: i64) -> Applied {
        listeners::order_cancelled(&self.state, cancelled(order_id, version))
            .await
            .expect("the cancellation step runs")
    }

    pub async fn complete(&self, order_id: &str, version: i64) -> Applied {
        listeners::order_completed(
            &self.state,
            OrderCompleted {
                id: order_id.into(),
                version,
                ticket: TicketRef { id: "t".into() },
                user_id: String::new(),
            },
        )
        .await
        .expect("the completion step runs")
    }

    pub async fn pay_with(&self, buyer: &Buyer, body: Value) -> TestResponse {
        TestResponse::of(
            self.client
                .post(self.url("/api/payments"))
                .header("cookie", &buyer.cookie)
                .json(&body),
        )
        .await
    }

    pub async fn pay(&self, buyer: &Buyer, order_id: &str, token: &str) -> TestResponse {
        self.pay_with(buyer, json!({"orderId": order_id, "token": token}))
            .await
    }

    pub async fn receipt(&self, buyer: &Buyer, order_id: &str) -> TestResponse {
        TestResponse::of(
            self.client
                .get(self.url("/api/payments"))
                .query(&[("orderId", order_id)])
                .header("cookie", &buyer.cookie),
        )
        .await
    }

    pub async fn payments(&self, order_id: &str) -> Vec<PaymentRecord> {
        store::payments_for(&self.state.db, order_id)
            .await
            .expect("payments read")
    }

    pub async fn order_status(&self, order_id: &str) -> Option<OrderStatus> {
        store::find_order(&self.state.db, order_id)
            .await
            .expect("order read")
            .map(|o| o.status)
    }

    /// Payloads of the outbox rows with `E`'s subject, oldest first.
    pub async fn outbox<E: Event>(&self) -> Vec<Value> {
        outbox::Entity::find()
            .order_by_asc(outbox::Column::Seq)
            .all(&self.state.db)
            .await
            .expect("outbox read")
            .into_iter()
            .filter(|row| row.subject == E::SUBJECT.as_str())
            .map(|row| serde_json::from_str(&row.payload).expect("outbox payload is JSON"))
            .collect()
    }

    /// The charges the provider holds for an order.
    pub fn charges(&self, order_id: &str) -> Vec<Charge> {
        match &self.standin {
            None => self
                .test_mode
                .charges_for(order_id)
                .into_iter()
                .map(|c| Charge {
                    id: c.id,
                    amount_cents: c.amount.cents(),
                    currency: c.currency,
                    status: match c.status {
                        TestChargeStatus::Authorized => "authorized",
                        TestChargeStatus::Captured => "captured",
                        TestChargeStatus::Voided => "voided",
                        TestChargeStatus::Refunded => "refunded",
                    },
                })
                .collect(),
            Some(standin) => standin
                .intents_for(order_id)
                .into_iter()
                .map(|i| Charge {
                    status: match (i.status.as_str(), i.refunded) {
                        ("succeeded", true) => "refunded",
                        ("succeeded", false) => "captured",
                        ("canceled", _) => "voided",
                        _ => "authorized",
                    },
                    id: i.id,
                    amount_cents: i.amount,
                    currency: i.currency,
                })
                .collect(),
        }
    }

    pub fn captured(&self, order_id: &str) -> usize {
        self.charges(order_id)
            .iter()
            .filter(|c| c.status == "captured")
            .count()
    }

    /// Posts a webhook body with the given `Stripe-Signature` (none when `None`).
    pub async fn webhook(&self, body: &str, signature: Option<String>) -> TestResponse {
        let mut request = self
            .client
            .post(self.url("/api/payments/webhook"))
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        TestResponse::of(request).await
    }
}

pub fn order_created(user_id: &str, cents: i64, expires_at: chrono::DateTime<Utc>) -> OrderCreated {
    OrderCreated {
        id: uuid::Uuid::new_v4().to_string(),
        version: 0,
        status: OrderStatus::Created,
        user_id: user_id.into(),
        expires_at,
        ticket: OrderTicket {
            id: uuid::Uuid::new_v4().to_string(),
            price: Money::from_cents(cents),
        },
    }
}

pub fn cancelled(order_id: &str, version: i64) -> OrderCancelled {
    OrderCancelled {
        id: order_id.into(),
        version,
        ticket: TicketRef { id: "t".into() },
        user_id: String::new(),
    }
}

/// A hook that cancels the order (version 1) through the listener step, as if
/// `order:cancelled` arrived right then.
pub fn cancel_hook() -> Hook {
    Arc::new(|state: PaymentsState, order_id: String| {
        Box::pin(async move {
            let applied = listeners::order_cancelled(&state, cancelled(&order_id, 1))
                .await
                .expect("the cancellation step runs");
            // A payment is in flight, so the cancellation waits for it.
            assert_eq!(applied, Applied::Early);
        })
    })
}

/// One sweep that counts every payment in flight as abandoned.
pub async fn sweep_now(app: &TestApp) -> usize {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut state = app.state.clone();
    state.stale_after = Duration::ZERO;
    payments::sweeper::sweep(&state).await.expect("a sweep")
}

/// How far a payment got before its process died.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Died {
    /// Inserted, the provider never asked.
    BeforeAuthorizing,
    /// The provider holds the money; its id was never recorded.
    AfterAuthorizing,
    /// Claimed (`capturing`, the id recorded), the hold not captured yet.
    AfterClaiming,
    /// Captured at the provider; the answer never recorded.
    AfterCapturing,
}

/// A payment for `order_id` whose process was killed at `died` (the provider is asked as the
/// pay flow asks it, with the same idempotency keys).
pub async fn abandoned(app: &TestApp, order_id: &str, died: Died) -> store::PaymentRecord {
    use payments::provider::{key_for, ChargeRequest};
    let (order, payment) = app.started_payment(order_id).await;
    if died != Died::BeforeAuthorizing {
        let charge = ChargeRequest {
            amount: payment.amount,
            currency: payment.currency.clone(),
            token: "tok_visa".into(),
            order_id: order.id.clone(),
            payment_id: payment.id.clone(),
            idempotency_key: payment.id.clone(),
        };
        let provider_id = app.state.provider.authorize(&charge).await.expect("held");
        if died != Died::AfterAuthorizing {
            app.mark_capturing(&payment.id, &provider_id).await;
            assert!(store::claim_order(&app.state.db, &order, &payment.id)
                .await
                .expect("claim"));
        }
        if died == Died::AfterCapturing {
            app.state
                .provider
                .capture(&provider_id, &key_for(&payment.id, "capture"))
                .await
                .expect("captured");
        }
    }
    app.stored_payment(&payment.id).await
}
