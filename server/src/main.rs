//! `ticketing`: runs the marketplace — all-in-one by default, or one process of the
//! distributed system (`ticketing <service>`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use common::settings::Settings;
use server::Role;
use tracing::Instrument as _;
use tracing_subscriber::EnvFilter;

const USAGE: &str = "\
usage: ticketing [auth | tickets | orders | expiration | payments | web]

With no argument, every service and the web app run in one process (SQLite under DATA_DIR,
an in-process bus, embedded stores unless DATABASE_URL / NATS_URL / REDIS_URL say otherwise).
With one, this process runs only that part of the distributed system:
  auth, tickets, orders, payments   the service's API (/api/...) and background tasks
  expiration                        the expiry scheduler (no API)
  web                               pages, server functions (/_fn) and /pkg
Every process also serves GET /healthz (alive) and GET /readyz (its dependencies answer).

Environment:
  LEPTOS_SITE_ADDR   listen address (default 127.0.0.1:3000)
  DATABASE_URL       postgres://... for the service (one database, or schema, per service)
  DATABASE_MAX_CONNECTIONS  pool size per service (default 6 on PostgreSQL, 8 on SQLite)
  NATS_URL           JetStream server (required when services run as separate processes)
  REDIS_URL          refresh sessions, sign-in throttling, the expiration queue
  REDIS_PREFIX       start of this deployment's Redis keys (default ticketing)
  JWT_KEY            access-token key; required outside all-in-one (same in every process)
  INTERNAL_API_URL   where `web` calls the services (required for `web`)
  EXPIRATION_WINDOW_SECONDS, ACCESS_TOKEN_SECONDS, REFRESH_SESSION_SECONDS, COOKIE_SECURE,
  STRIPE_SECRET_KEY, STRIPE_API_BASE, STRIPE_WEBHOOK_SECRET, STRIPE_PUBLISHABLE_KEY,
  PAYMENT_STALE_SECONDS,
  DATA_DIR, RUST_LOG   (see README.md)
  LOG_FORMAT         json for one JSON object per log line (default: text)
";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let role = match (args.len(), Role::parse(args.first().map(String::as_str))) {
        (0 | 1, Some(role)) => role,
        _ => {
            eprint!("ticketing: unknown arguments {args:?}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt().with_env_filter(filter);
    match std::env::var("LOG_FORMAT").as_deref() {
        // One JSON object a line, for log collectors.
        Ok("json") => logs
            .json()
            .with_current_span(true)
            .with_span_list(true)
            .init(),
        _ => logs.init(),
    }
    if let Err(error) = common::task::dedicate_event_thread() {
        eprintln!("ticketing: cannot start the event thread: {error:#}");
        return ExitCode::FAILURE;
    }
    // Every line names the process's role: this span wraps start-up and the background tasks
    // (the supervisor runs them in it); each request's span names it itself.
    let process = tracing::info_span!("ticketing", service = role.name());
    async {
        match run(role).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                tracing::error!(error = format!("{error:#}"), "ticketing stopped");
                eprintln!("ticketing: {error:#}");
                ExitCode::FAILURE
            }
        }
    }
    .instrument(process)
    .await
}

async fn run(role: Role) -> anyhow::Result<()> {
    let settings = Settings::from_env()?;
    let server = server::Server::build_role(settings, role).await?;
    tracing::info!(
        role = role.name(),
        "Ticketing is ready at http://{}",
        server.local_addr()
    );
    server.run().await
}
