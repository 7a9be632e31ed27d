//! One way to build a service. A service crate exports a [`Service`] — its name, written once,
//! and its start: a function of a [`Builder`] that connects what the service owns through the
//! builder (database, outbox relay, token keys), registers what is its own (listeners, tasks,
//! readiness checks) and [`finishes`](Builder::finish) with its API router. The builder adds
//! the shared part by rule: a database answers `/readyz`; an outbox relay runs as a task and
//! the bus answers `/readyz`; keys whose deny-list is in Redis make Redis answer `/readyz`.
//!
//! What comes back is a [`Running`]: the router, the tasks, the checks. Nothing runs until a
//! [`Supervisor`](crate::task::Supervisor) spawns the tasks, so every service subscribes
//! before any relay publishes.
use std::future::Future;
use std::time::Duration;

use anyhow::Context as _;
use axum::Router;
use futures::future::BoxFuture;
use sea_orm_migration::MigratorTrait;

use crate::auth::JwtKeys;
use crate::bans::BannedUsers;
use crate::bus::{EventBus, Listeners};
use crate::db::ServiceDb;
use crate::outbox::Relay;
use crate::settings::Settings;
use crate::task::{Shutdown, Task};

/// A started service: what it serves, what must keep running for it, and what must answer
/// for it to be ready.
pub struct Running {
    /// The service's API routes, merged into the process's router.
    pub router: Router,
    /// What must keep running for it (listeners, relays, schedulers), for a supervisor.
    pub tasks: Vec<Task>,
    /// What `GET /readyz` asks before it calls the process ready.
    pub ready: Vec<Readiness>,
}

type CheckFn = dyn Fn() -> BoxFuture<'static, anyhow::Result<()>> + Send + Sync;

/// One dependency `GET /readyz` asks: its name (shown when it fails) and how to ask it.
#[derive(Clone)]
pub struct Readiness {
    /// What the check is called in a failing `/readyz` answer.
    pub name: String,
    check: std::sync::Arc<CheckFn>,
}

/// How long one readiness check may take before it counts as failed.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

impl Readiness {
    /// A check called `name` that passes when `check` answers `Ok` in time.
    pub fn new<F, Fut>(name: impl Into<String>, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        Self {
            name: name.into(),
            check: std::sync::Arc::new(move || Box::pin(check())),
        }
    }

    /// The service's database answers a ping.
    pub fn database(service: &str, db: sea_orm::DatabaseConnection) -> Self {
        Self::new(format!("{service} database"), move || {
            let db = db.clone();
            async move { Ok(db.ping().await?) }
        })
    }

    /// The service's Redis answers a PING, on the pool its stores use.
    pub fn redis(service: &str, pool: fred::prelude::Pool) -> Self {
        use fred::prelude::ClientLike as _;
        Self::new(format!("{service} redis"), move || {
            let pool = pool.clone();
            async move {
                pool.ping::<()>(None).await?;
                Ok(())
            }
        })
    }

    /// The event bus answers.
    pub fn bus(bus: EventBus) -> Self {
        Self::new("event bus", move || {
            let bus = bus.clone();
            async move { bus.ready().await }
        })
    }

    async fn ask(&self) -> Result<(), String> {
        match tokio::time::timeout(CHECK_TIMEOUT, (self.check)()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(format!("{}: {error:#}", self.name)),
            Err(_) => Err(format!("{}: no answer within {CHECK_TIMEOUT:?}", self.name)),
        }
    }
}

/// `GET /healthz` (the process is alive: always 200), `GET /readyz` (200 when every check
/// answers, else 503 in the error envelope naming what failed) and `GET /metrics` (the
/// process's database counters, see [`crate::metrics`]).
pub fn health_router(checks: Vec<Readiness>) -> Router {
    use axum::routing::get;
    let checks = std::sync::Arc::new(checks);
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({ "status": "ok" })) }),
        )
        .route(
            "/metrics",
            get(|| async {
                (
                    [(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")],
                    crate::metrics::render(),
                )
            }),
        )
        .route(
            "/readyz",
            get(move || {
                let checks = checks.clone();
                async move {
                    let results =
                        futures::future::join_all(checks.iter().map(Readiness::ask)).await;
                    let failed: Vec<String> = results.into_iter().filter_map(Result::err).collect();
                    if failed.is_empty() {
                        Ok(axum::Json(serde_json::json!({ "status": "ready" })))
                    } else {
                        Err(crate::ApiError::Unavailable(format!(
                            "not ready: {}",
                            failed.join("; ")
                        )))
                    }
                }
            }),
        )
}

type StartFn = fn(Builder) -> BoxFuture<'static, anyhow::Result<Running>>;

/// A service as the binary sees it: its name and how to start it.
#[derive(Clone, Copy)]
pub struct Service {
    /// What the binary's argument, the logs and the database file call it (`orders`…).
    pub name: &'static str,
    start: StartFn,
    api: Option<fn() -> utoipa::openapi::OpenApi>,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Services are told apart by name (there is one of each).
impl PartialEq for Service {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for Service {}

impl Service {
    /// A service called `name`, started by `start` (each service crate's `SERVICE`).
    pub const fn new(name: &'static str, start: StartFn) -> Self {
        Self {
            name,
            start,
            api: None,
        }
    }

    /// The service with an HTTP API, described by `api` (its routes' OpenAPI operations).
    pub const fn with_api(self, api: fn() -> utoipa::openapi::OpenApi) -> Self {
        Self {
            api: Some(api),
            ..self
        }
    }

    /// Its part of the OpenAPI document; None for a service without an HTTP API.
    pub fn openapi(&self) -> Option<utoipa::openapi::OpenApi> {
        self.api.map(|api| api())
    }

    /// A builder for this service, as its start gets one (tests build a state through it,
    /// then start the service on that state).
    pub fn builder(&self, settings: &Settings, bus: EventBus, shutdown: Shutdown) -> Builder {
        Builder {
            name: self.name,
            settings: settings.clone(),
            bus,
            shutdown,
            database: None,
            service_db: None,
            relay: None,
            keys: None,
            banned: None,
            listeners: Vec::new(),
            tasks: Vec::new(),
            ready: Vec::new(),
        }
    }

    /// Builds the service's [`Running`] on a fresh builder; nothing runs until its tasks spawn.
    pub async fn start(
        &self,
        settings: &Settings,
        bus: EventBus,
        shutdown: Shutdown,
    ) -> anyhow::Result<Running> {
        (self.start)(self.builder(settings, bus, shutdown))
            .await
            .with_context(|| format!("starting the {} service", self.name))
    }
}

type Subscribe =
    Box<dyn FnOnce(EventBus, Shutdown) -> BoxFuture<'static, anyhow::Result<Task>> + Send>;

/// The shared part of starting a service. It connects through its `&mut` methods and
/// remembers what it connected, so [`Builder::finish`] can add the relay task and the
/// readiness checks that go with it.
pub struct Builder {
    name: &'static str,
    settings: Settings,
    bus: EventBus,
    shutdown: Shutdown,
    database: Option<sea_orm::DatabaseConnection>,
    service_db: Option<ServiceDb>,
    relay: Option<Relay>,
    keys: Option<Readiness>,
    /// The bans the service's token keys consult, once it made keys.
    banned: Option<BannedUsers>,
    listeners: Vec<Subscribe>,
    tasks: Vec<Task>,
    ready: Vec<Readiness>,
}

impl Builder {
    /// The service's name, for naming its own tasks and checks.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The process's configuration, to read the service's own settings from.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The event bus, for what a service runs on it beyond its listeners and relay.
    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    /// The service's database, connected and migrated (see [`crate::db::connect_service`]);
    /// ready while it answers a ping.
    pub async fn database<M: MigratorTrait>(&mut self) -> anyhow::Result<ServiceDb> {
        let db = crate::db::connect_service::<M>(&self.settings, self.name).await?;
        self.database = Some(db.write.clone());
        self.service_db = Some(db.clone());
        Ok(db)
    }

    /// The outbox relay of `db` ([`Relay::for_service`]); it runs as a task, and the service
    /// is ready while the bus answers.
    pub fn relay(&mut self, db: &ServiceDb) -> Relay {
        self.adopt_relay(Relay::for_service(db, self.bus.clone()))
    }

    /// [`Builder::relay`] for a relay built otherwise.
    pub fn adopt_relay(&mut self, relay: Relay) -> Relay {
        self.relay = Some(relay.clone());
        relay
    }

    /// The access-token keys with the deny-list every service shares (in Redis when
    /// `REDIS_URL` is set, and then Redis must answer for the service to be ready).
    pub async fn keys(&mut self) -> anyhow::Result<JwtKeys> {
        let redis = crate::redis::connect_configured(&self.settings).await?;
        Ok(self.keys_on(redis))
    }

    /// [`Builder::keys`] on a Redis pool the service has already.
    pub fn keys_on(&mut self, redis: Option<fred::prelude::Pool>) -> JwtKeys {
        self.keys = redis
            .as_ref()
            .map(|pool| Readiness::redis(self.name, pool.clone()));
        let banned = self.banned.get_or_insert_with(BannedUsers::default).clone();
        JwtKeys::with_deny_list(&self.settings, redis).with_banned(banned)
    }

    /// Subscribes `listeners` when the service finishes starting; they run as a task.
    pub fn listen<S: Clone + Send + Sync + 'static>(&mut self, listeners: Listeners<S>) {
        self.listeners.push(Box::new(
            move |bus: EventBus, shutdown: Shutdown| -> BoxFuture<'static, anyhow::Result<Task>> {
                Box::pin(async move { listeners.subscribe(&bus, shutdown).await })
            },
        ));
    }

    /// Runs a task of the service's own, made with the process's shutdown signal.
    pub fn task(&mut self, task: impl FnOnce(Shutdown) -> Task) {
        self.tasks.push(task(self.shutdown.clone()));
    }

    /// Adds a readiness check of the service's own.
    pub fn ready(&mut self, checks: impl IntoIterator<Item = Readiness>) {
        self.ready.extend(checks);
    }

    /// Subscribes the listeners and hands back the service, serving `router` (an empty
    /// router for a service without an API) with expired access tokens renewed in place
    /// ([`crate::renewal`]).
    pub async fn finish(self, router: Router) -> anyhow::Result<Running> {
        let router = crate::renewal::layer(&self.settings, router);
        let Self {
            name,
            settings,
            bus,
            shutdown,
            database,
            service_db,
            relay,
            keys,
            banned,
            mut listeners,
            tasks: mut own_tasks,
            ready: own_ready,
        } = self;
        // A service that checks tokens records bans in its database (see `crate::bans`).
        if let (Some(banned), Some(db)) = (banned, service_db) {
            banned.load(&db.read).await.context("reading the bans")?;
            let bans = crate::bans::listeners(
                name,
                db.background.clone(),
                db.writer.clone(),
                banned.clone(),
            );
            listeners.push(Box::new(move |bus: EventBus, shutdown: Shutdown| {
                Box::pin(async move { bans.subscribe(&bus, shutdown).await })
                    as BoxFuture<'static, anyhow::Result<Task>>
            }));
            if settings.redis_url.is_none() {
                own_tasks.push(crate::bans::reload_task(
                    name,
                    db.read,
                    banned,
                    shutdown.clone(),
                ));
            }
        }
        let mut tasks = Vec::new();
        for subscribe in listeners {
            tasks.push(subscribe(bus.clone(), shutdown.clone()).await?);
        }
        let mut ready = Vec::new();
        ready.extend(database.map(|db| Readiness::database(name, db)));
        if let Some(relay) = relay {
            tasks.push(relay.task(name, shutdown.clone()));
            ready.push(Readiness::bus(bus));
        }
        ready.extend(keys);
        tasks.extend(own_tasks);
        ready.extend(own_ready);
        Ok(Running {
            router,
            tasks,
            ready,
        })
    }
}
