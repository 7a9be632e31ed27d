//! `ticketing`: runs the marketplace (all-in-one by default).
#![forbid(unsafe_code)]

use common::settings::Settings;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let settings = Settings::from_env()?;
    let server = server::Server::build(settings).await?;
    tracing::info!("Ticketing is ready at http://{}", server.local_addr());
    server.run().await
}
