//! The `ticketing` binary's library: every service's API and the web app in one process.
//!
//! # Layout
//!
//! * `lib.rs` starts the services in [`SERVICES`], merges their routers with the web tier's
//!   and runs their background tasks under one [`Supervisor`] (a task that dies stops the
//!   process; on shutdown listeners finish their message and relays flush).
//! * `web.rs` holds the web tier's routes and protections.
//! * `docs.rs` serves the browsable API docs (Swagger UI) at `/api-docs/`; every process
//!   serves its OpenAPI document (`common::openapi`), the web tier the merged one.
//! * `live.rs` is the web tier's live channel: the `/live` WebSocket and the hub that
//!   pushes bus events to it.
//!
//! A service is a crate under `services/` exporting a `common::service::Service` built with
//! `common::service::Builder`; this binary runs it once it is listed in [`SERVICES`] (see
//! ARCHITECTURE.md, "Adding a service", for the rest of the checklist).
#![forbid(unsafe_code)]

mod caching;
mod docs;
pub mod live;
mod web;

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use common::bus::EventBus;
use common::service::Service;
use common::settings::Settings;
use common::task::{Shutdown, Supervisor};
use leptos::prelude::*;
use tokio::net::TcpListener;
use tracing::Instrument as _;

/// Every service this binary runs, in start order.
pub const SERVICES: [Service; 5] = [
    auth::SERVICE,
    tickets::SERVICE,
    orders::SERVICE,
    expiration::SERVICE,
    payments::SERVICE,
];

/// A bound, ready-to-serve application: the listener exists before `run`, so callers
/// (and tests using port 0) know the address without waiting.
pub struct Server {
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    supervisor: Supervisor,
}

/// What one process runs: everything (the default), one service's API and tasks, or the
/// web tier alone (pages, server functions, `/pkg`), which calls the services through
/// `INTERNAL_API_URL`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    AllInOne,
    Service(Service),
    Web,
}

impl Role {
    /// `ticketing [auth|tickets|orders|expiration|payments|web]`; None for anything else.
    pub fn parse(arg: Option<&str>) -> Option<Self> {
        match arg {
            None => Some(Self::AllInOne),
            Some("web") => Some(Self::Web),
            Some(name) => SERVICES
                .into_iter()
                .find(|s| s.name == name)
                .map(Self::Service),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::AllInOne => "all-in-one",
            Self::Service(service) => service.name,
            Self::Web => "web",
        }
    }

    fn services(self) -> Vec<Service> {
        match self {
            Self::AllInOne => SERVICES.to_vec(),
            Self::Service(service) => vec![service],
            Self::Web => Vec::new(),
        }
    }

    fn serves_web(self) -> bool {
        matches!(self, Self::AllInOne | Self::Web)
    }

    /// The OpenAPI document this process serves: a service's own part, or (where the site
    /// is served, which is where clients look) every service's, merged.
    pub fn openapi(self) -> serde_json::Value {
        match self {
            Self::Service(service) => common::openapi::document(
                service.openapi(),
                &format!("Ticketing {} API", service.name),
            ),
            Self::AllInOne | Self::Web => common::openapi::document(
                SERVICES.iter().filter_map(Service::openapi),
                "Ticketing API",
            ),
        }
    }
}

/// The smallest `JWT_KEY` accepted when processes must share one (hex of 16 bytes).
const MIN_SHARED_KEY: usize = 32;

impl Server {
    /// All-in-one: every service's API and the web app in one process.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        Self::build_role(settings, Role::AllInOne).await
    }

    /// One process of the distributed system (or all-in-one). Outside all-in-one the
    /// processes must agree on `JWT_KEY`, so it has to be given; `web` needs
    /// `INTERNAL_API_URL` (its own address has no API behind it).
    pub async fn build_role(settings: Settings, role: Role) -> anyhow::Result<Self> {
        if role != Role::AllInOne {
            let given = std::env::var("JWT_KEY").unwrap_or_default();
            anyhow::ensure!(
                given.trim().len() >= MIN_SHARED_KEY,
                "JWT_KEY must be set to the same secret of at least {MIN_SHARED_KEY} characters \
                 in every process (e.g. `openssl rand -hex 32`) when running `ticketing {}`",
                role.name()
            );
        }
        if matches!(role, Role::Service(_)) && settings.nats_url.is_none() {
            tracing::warn!(
                "no NATS_URL: `ticketing {}` runs on an in-process bus, so its events never \
                 reach the other services' processes",
                role.name()
            );
        }
        if role == Role::Web && settings.nats_url.is_none() {
            tracing::warn!(
                "no NATS_URL: `ticketing web` watches an in-process bus, so its live pages \
                 never hear of the services' events"
            );
        }
        if role == Role::Web {
            anyhow::ensure!(
                settings.internal_api_url.is_some(),
                "INTERNAL_API_URL must point `ticketing web` at the services (e.g. the gateway)"
            );
        }
        let leptos_options = if role.serves_web() {
            Some(
                leptos_config::get_configuration(Some("Leptos.toml"))
                    .context("reading Leptos.toml (run from the workspace root)")?
                    .leptos_options,
            )
        } else {
            None
        };
        // The web tier watches the bus for its live channel, so it connects too.
        let bus = if role.services().is_empty() && !role.serves_web() {
            None
        } else {
            Some(
                common::bus::connect(&settings)
                    .await
                    .context("connecting to the event bus")?,
            )
        };
        Self::assemble(settings, role, leptos_options, bus).await
    }

    /// Like `build`, with the site options already loaded.
    pub async fn build_with(
        settings: Settings,
        leptos_options: LeptosOptions,
    ) -> anyhow::Result<Self> {
        let bus = common::bus::connect(&settings)
            .await
            .context("connecting to the event bus")?;
        Self::build_with_bus(settings, leptos_options, bus).await
    }

    /// All-in-one on a given event bus (tests use one of their own).
    pub async fn build_with_bus(
        settings: Settings,
        leptos_options: LeptosOptions,
        bus: EventBus,
    ) -> anyhow::Result<Self> {
        Self::assemble(settings, Role::AllInOne, Some(leptos_options), Some(bus)).await
    }

    async fn assemble(
        mut settings: Settings,
        role: Role,
        leptos_options: Option<LeptosOptions>,
        bus: Option<EventBus>,
    ) -> anyhow::Result<Self> {
        let listener = TcpListener::bind(settings.site_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.site_addr))?;
        // Port 0 becomes a real port only once bound; server-side calls must use it.
        let bound = listener.local_addr()?;
        // Unset, the API is this process's own: the web tier calls it, and the services ask
        // its auth to renew expired access tokens (common::renewal).
        let internal_api = settings
            .internal_api_url
            .get_or_insert_with(|| format!("http://{}", loopback_if_unspecified(bound)))
            .clone();

        // Every service subscribes in `start`, and nothing runs before all have started, so
        // no relay publishes an event before its listeners exist.
        let shutdown = Shutdown::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let mut api = Router::new();
        let mut ready = Vec::new();
        for service in role.services() {
            let bus = bus
                .clone()
                .context("a service process needs the event bus")?;
            let running = service.start(&settings, bus, shutdown.clone()).await?;
            api = api.merge(running.router);
            supervisor.add(running.tasks);
            ready.extend(running.ready);
        }
        api = api.merge(common::service::health_router(ready));
        let openapi = role.openapi();
        api = api.merge(common::openapi::router(&openapi));
        if role.serves_web() {
            api = api.merge(docs::router());
        }
        // Every service owns a database, with a pool of its own.
        let pools = role.services().len();
        if pools > 0 {
            let each = common::db::pool_size(&settings);
            tracing::info!(
                "database connections: at most {} ({pools} × {each}, DATABASE_MAX_CONNECTIONS)",
                pools as u32 * each
            );
        }

        if let Some(mut leptos_options) = leptos_options {
            let bus = bus
                .clone()
                .context("the web tier needs the event bus for its live channel")?;
            let keys = common::auth::JwtKeys::connect(&settings)
                .await
                .context("connecting the live channel's token checks")?;
            let hub = live::Hub::new(&settings, keys, live::Limits::from_settings(&settings));
            supervisor.add([hub.feed(&bus, shutdown.clone()).await?]);
            api = api.merge(live::router(hub));
            leptos_options.site_addr = settings.site_addr;
            api = api.merge(web::router(
                leptos_options,
                internal_api,
                settings.cookie_secure,
                app::FlashKey::derive(settings.jwt_key.expose().as_bytes()),
                settings.stripe_publishable_key.clone(),
                settings.expiration_window,
            ));
        }
        let router = common::http::observe(
            common::http::finish_api(api)
                .layer(axum::middleware::from_fn(common::http::security_headers))
                // Skips what is already compressed (`/pkg`'s brotli and gzip copies).
                .layer(tower_http::compression::CompressionLayer::new()),
            role.name(),
        );
        // Behind HTTPS only: over plain HTTP browsers ignore it, and a local run must not pin
        // its host to HTTPS.
        let router = if settings.cookie_secure {
            router.layer(axum::middleware::from_fn(
                common::http::strict_transport_security,
            ))
        } else {
            router
        };
        Ok(Self {
            listener,
            router,
            shutdown,
            supervisor,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// The signal that stops this server; `run` also triggers it on Ctrl-C or SIGTERM.
    pub fn shutdown(&self) -> Shutdown {
        self.shutdown.clone()
    }

    /// Serves until shutdown, then lets the background tasks finish. Fails when one of them
    /// died (the process should exit non-zero and be restarted).
    pub async fn run(self) -> anyhow::Result<()> {
        let Self {
            listener,
            router,
            shutdown,
            supervisor,
        } = self;
        tokio::spawn(common::task::trigger_on_signal(shutdown.clone()).in_current_span());
        let serve = async {
            let served = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<SocketAddr>(),
            )
            .with_graceful_shutdown(shutdown.signalled())
            .await
            .context("serving HTTP");
            shutdown.trigger();
            served
        };
        let (served, supervised) = tokio::join!(serve, supervisor.run());
        supervised?;
        served
    }
}

fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

#[cfg(test)]
mod tests {
    use super::SERVICES;

    /// deploy/ creates a database for each service this binary runs, in the same order (the
    /// cluster's tests check deploy/'s other files against the same services).
    #[test]
    fn every_service_has_its_database_in_deploy() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/postgres-init.sql");
        let init = std::fs::read_to_string(path).expect("deploy/postgres-init.sql");
        let created: Vec<&str> = init
            .lines()
            .filter_map(|line| line.strip_prefix("CREATE DATABASE "))
            .map(|name| name.trim_end_matches(';'))
            .collect();
        let services: Vec<&str> = SERVICES.iter().map(|s| s.name).collect();
        assert_eq!(created, services);
    }
}
