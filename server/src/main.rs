//! `ticketing`: runs the marketplace — all-in-one by default, or one process of the
//! distributed system (`ticketing <service>`).
#![forbid(unsafe_code)]

use std::process::ExitCode;

use common::settings::Settings;
use server::Role;
use tracing::Instrument as _;
use tracing_subscriber::EnvFilter;

/// `ticketing --help`: the roles, then the environment as `common::settings::VARIABLES`
/// lists it (the README's configuration table, checked by a test in `common`).
fn usage() -> String {
    format!("{USAGE_ROLES}\n{}", common::settings::usage())
}

const USAGE_ROLES: &str = "\
usage: ticketing [auth | tickets | orders | expiration | payments | web]

With no argument, every service and the web app run in one process (SQLite under DATA_DIR,
an in-process bus, embedded stores unless DATABASE_URL / NATS_URL / REDIS_URL say otherwise).
With one, this process runs only that part of the distributed system:
  auth, tickets, orders, payments   the service's API (/api/...) and background tasks
  expiration                        the expiry scheduler (no API)
  web                               pages, server functions (/_fn) and /pkg
Every process also serves GET /healthz (alive) and GET /readyz (its dependencies answer).
";

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--help" || a == "-h") {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let role = match (args.len(), Role::parse(args.first().map(String::as_str))) {
        (0 | 1, Some(role)) => role,
        _ => {
            eprint!("ticketing: unknown arguments {args:?}\n\n{}", usage());
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
    if let Err(error) = common::service::dedicate_event_thread() {
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
