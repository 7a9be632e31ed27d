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
use common::bus::EventBus;
use common::outbox::Relay;
use common::service::{Running, Service, Shutdown};
use common::settings::{Secret, Settings};
use common::sqlite::Writer;
use sea_orm::DatabaseConnection;

pub use routes::router;

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
    /// Connects to (and migrates) the service's database, with the provider the settings
    /// choose; events leave through `bus`.
    pub async fn build(settings: &Settings, bus: EventBus) -> anyhow::Result<Self> {
        Self::build_with(settings, bus, provider::from_settings(settings)?).await
    }

    /// [`Self::build`] with a given provider (tests keep a handle on theirs).
    pub async fn build_with(
        settings: &Settings,
        bus: EventBus,
        provider: provider::Provider,
    ) -> anyhow::Result<Self> {
        let service_db =
            common::db::connect_service::<migration::Migrator>(settings, "payments").await?;
        let relay = Relay::for_service(&service_db, bus);
        let common::db::ServiceDb {
            write: db,
            writer,
            background,
            ..
        } = service_db;
        Ok(Self {
            background,
            relay,
            db,
            writer,
            keys: JwtKeys::connect(settings).await?,
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

/// Connects, subscribes, and hands back the router and the tasks (listener, outbox relay,
/// sweeper).
pub async fn start(
    settings: Settings,
    bus: EventBus,
    shutdown: Shutdown,
) -> anyhow::Result<Running> {
    let state = PaymentsState::build(&settings, bus.clone()).await?;
    start_with(state, bus, shutdown).await
}

/// [`start`] with a state already built.
pub async fn start_with(
    state: PaymentsState,
    bus: EventBus,
    shutdown: Shutdown,
) -> anyhow::Result<Running> {
    let listener = listeners::listeners(state.clone())
        .subscribe(&bus, shutdown.clone())
        .await?;
    let sweeper = sweeper::task(state.clone(), shutdown.clone());
    let mut running = Running::with_outbox(
        "payments",
        router(state.clone()),
        state.db,
        &state.relay,
        listener,
        bus,
        shutdown,
    );
    running.tasks.push(sweeper);
    // Every authenticated route asks the token deny-list.
    running.ready.extend(state.keys.readiness("payments"));
    Ok(running)
}

pub const SERVICE: Service = Service {
    name: "payments",
    start: |s, b, d| Box::pin(start(s, b, d)),
};
