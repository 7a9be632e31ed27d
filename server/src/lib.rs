//! Wires the services' routers and the web app into one server; `web` holds the web
//! tier's routes and protections.
#![forbid(unsafe_code)]

mod web;

use std::net::SocketAddr;

use anyhow::Context;
use axum::Router;
use common::bus::EventBus;
use common::settings::Settings;
use leptos::prelude::*;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

/// A bound, ready-to-serve application: the listener exists before `run`, so callers
/// (and tests using port 0) know the address without waiting.
pub struct Server {
    listener: TcpListener,
    router: Router,
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

        let auth = auth::AuthState::build(&settings)
            .await
            .context("starting the auth service")?;
        let tickets = tickets::TicketsState::build(&settings, bus.clone())
            .await
            .context("starting the tickets service")?;
        let orders = orders::OrdersState::build(&settings, bus.clone())
            .await
            .context("starting the orders service")?;

        // Every listener subscribes before any relay publishes, so no event is missed.
        tickets::listeners::start(tickets.clone(), bus.clone()).await?;
        orders::listeners::start(orders.clone(), bus.clone()).await?;
        tokio::spawn(tickets.relay.clone().run());
        tokio::spawn(orders.relay.clone().run());

        let api = Router::new()
            .merge(auth::router(auth))
            .merge(tickets::router(tickets))
            .merge(orders::router(orders));

        let web = web::router(leptos_options, internal_api, settings.cookie_secure);
        let router = common::http::finish_api(api.merge(web))
            .layer(axum::middleware::from_fn(common::http::security_headers))
            .layer(TraceLayer::new_for_http());
        Ok(Self { listener, router })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub async fn run(self) -> anyhow::Result<()> {
        axum::serve(self.listener, self.router)
            .with_graceful_shutdown(shutdown_signal())
            .await?;
        Ok(())
    }
}

fn loopback_if_unspecified(addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], addr.port()))
    } else {
        addr
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
