//! The payments service: charges a buyer for a live order, once, and never keeps money for
//! an order that ends cancelled.
//!
//! * [`store`] — the replica of orders (filled from `order:*` events, version-ordered), the
//!   payments, and handled webhook event ids; [`migration`] — their schema, with the
//!   `payments_one_live_per_order` partial unique index.
//! * [`charge`] — the pay flow. A payment goes `authorizing` (a hold at the provider) →
//!   `capturing` (a transaction that re-checks the order is still payable and claims it) →
//!   `captured` (with `payment:created` in the outbox, same transaction). Off that path:
//!   `declined` (card refused, 402; the buyer may retry), `failed` (provider unusable or
//!   capture failed, nothing captured), `voided` (the order stopped being payable during
//!   the hold), and `captured` → `refunded` (with `payment:refunded`).
//! * [`listeners`] — `order:created`/`order:cancelled`/`order:completed`; a cancellation
//!   refunds captured money and waits (early) while a payment is in flight.
//! * [`sweeper`] — the backstop for payments left in flight by a process that died: every
//!   few seconds it settles those older than `PAYMENT_STALE_SECONDS` by asking the provider.
//! * [`provider`] — the seam: test mode (Stripe's test tokens, in memory; the default) or
//!   Stripe's PaymentIntents when `STRIPE_SECRET_KEY` is set.
//! * `routes` — `POST /api/payments`, `GET /api/payments?orderId=`, and
//!   [`routes::webhook`] (`POST /api/payments/webhook`, only with `STRIPE_WEBHOOK_SECRET`).
#![forbid(unsafe_code)]

pub mod charge;
mod domain;
pub mod listeners;
pub mod migration;
pub mod provider;
pub mod routes;
pub mod store;
pub mod sweeper;

use axum::extract::FromRef;
use common::auth::JwtKeys;
use common::outbox::Relay;
use common::service::{Builder, Running, Service};
use common::settings::Secret;
use common::sqlite::Writer;
use sea_orm::DatabaseConnection;

pub use routes::router;

pub const SERVICE: Service = Service::new("payments", |mut service| {
    Box::pin(async move {
        let state = PaymentsState::build(&mut service).await?;
        start_on(state, service).await
    })
})
.with_api(|| routes::api().into_openapi());

#[derive(Clone, FromRef)]
pub struct PaymentsState {
    pub db: DatabaseConnection,
    /// The SQLite writer thread, on SQLite: the order replica's inserts go through it.
    #[from_ref(skip)]
    pub writer: Option<Writer>,
    /// Listeners' connections, apart from the requests' (see `common::db::ServiceDb`).
    #[from_ref(skip)]
    pub background: DatabaseConnection,
    pub keys: JwtKeys,
    pub relay: Relay,
    pub provider: provider::Provider,
    /// `STRIPE_WEBHOOK_SECRET`; without it the webhook route answers 404.
    pub webhook_secret: Option<Secret>,
    /// `PAYMENT_STALE_SECONDS`: a payment in flight longer than this is abandoned.
    pub stale_after: std::time::Duration,
}

impl PaymentsState {
    /// Connects to (and migrates) the service's database, with its outbox relay and the
    /// provider the settings choose.
    pub async fn build(service: &mut Builder) -> anyhow::Result<Self> {
        let provider = provider::from_settings(service.settings())?;
        Self::build_with(service, provider).await
    }

    /// [`Self::build`] with a given provider (tests keep a handle on theirs).
    pub async fn build_with(
        service: &mut Builder,
        provider: provider::Provider,
    ) -> anyhow::Result<Self> {
        let db = service.database::<migration::Migrator>().await?;
        let relay = service.relay(&db);
        let keys = service.keys().await?;
        let common::db::ServiceDb {
            write: db,
            writer,
            background,
            ..
        } = db;
        let settings = service.settings();
        Ok(Self {
            background,
            relay,
            db,
            writer,
            keys,
            provider,
            webhook_secret: settings.stripe_webhook_secret.clone(),
            stale_after: settings.payment_stale_after,
        })
    }

    /// [`Self::stale_after`] for comparing timestamps.
    pub fn stale_after(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.stale_after).unwrap_or(chrono::Duration::MAX)
    }
}

/// The service on a state built already (tests keep it to drive listener steps): its API,
/// its listeners and the sweeper of abandoned payments.
pub async fn start_on(state: PaymentsState, mut service: Builder) -> anyhow::Result<Running> {
    service.listen(listeners::listeners(state.clone()));
    let swept = state.clone();
    service.task(|shutdown| sweeper::task(swept, shutdown));
    service.finish(router(state)).await
}
