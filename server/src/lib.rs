//! The `ticketing` binary's library: every service's API and the web app in one process.
//!
//! # Layout
//!
//! * `lib.rs` starts the services in [`SERVICES`], merges their routers with the web tier's
//!   and runs their background tasks under one [`Supervisor`] (a task that dies stops the
//!   process; on shutdown listeners finish their message and relays flush).
//! * `web.rs` holds the web tier's routes and protections.
//!
//! Adding a service is one step: a crate under `services/` exporting a
//! `common::service::Service` (its `start` connects its store, subscribes its listeners
//! through `common::bus::Listeners` and returns its router and tasks), listed in [`SERVICES`].
#![forbid(unsafe_code)]

mod web;

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use common::bus::EventBus;
use common::service::{Service, Shutdown, Supervisor};
use common::settings::Settings;
use leptos::prelude::*;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

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

impl Server {
    /// All-in-one: every service's API and the web app in one process.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let leptos_options = leptos_config::get_configuration(Some("Leptos.toml"))
            .context("reading Leptos.toml (run from the workspace root)")?
            .leptos_options;
        Self::build_with(settings, leptos_options).await
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

    /// Like `build_with`, on a given event bus (tests use one of their own).
    pub async fn build_with_bus(
        settings: Settings,
        mut leptos_options: LeptosOptions,
        bus: EventBus,
    ) -> anyhow::Result<Self> {
        leptos_options.site_addr = settings.site_addr;
        let listener = TcpListener::bind(settings.site_addr)
            .await
            .with_context(|| format!("cannot listen on {}", settings.site_addr))?;
        // Port 0 becomes a real port only once bound; server-side calls must use it.
        let bound = listener.local_addr()?;
        let internal_api = settings
            .internal_api_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", loopback_if_unspecified(bound)));

        // Every service subscribes in `start`, and nothing runs before all have started, so
        // no relay publishes an event before its listeners exist.
        let shutdown = Shutdown::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let mut api = Router::new();
        for service in SERVICES {
            let running = service
                .start(&settings, bus.clone(), shutdown.clone())
                .await?;
            api = api.merge(running.router);
            supervisor.add(running.tasks);
        }

        let web = web::router(
            leptos_options,
            internal_api,
            settings.cookie_secure,
            settings.stripe_publishable_key.clone(),
        );
        let router = common::http::finish_api(api.merge(web))
            .layer(axum::middleware::from_fn(common::http::security_headers))
            .layer(TraceLayer::new_for_http());
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
        tokio::spawn(common::service::trigger_on_signal(shutdown.clone()));
        let serve = async {
            let served = axum::serve(listener, router)
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
