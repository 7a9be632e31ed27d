//! A NATS server of the cluster's own (`nats-server -js` on a free port, its store in the
//! cluster's directory), which the fault test can stop and start again.
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use nix::sys::signal::Signal;
use tokio::process::{Child, Command};

use crate::process::{self, free_port, which, Detached, Stopped};

pub(crate) struct NatsServer {
    port: u16,
    /// The cluster's directory: the store is under `nats/`, the log under `logs/`.
    dir: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    pub(crate) async fn start(cluster_dir: &Path) -> anyhow::Result<Self> {
        let mut server = Self {
            port: free_port()?,
            dir: cluster_dir.to_path_buf(),
            child: None,
        };
        std::fs::create_dir_all(server.dir.join("nats"))?;
        server.spawn()?;
        server.wait().await?;
        Ok(server)
    }

    pub(crate) fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port and store.
    pub(crate) async fn restart(&mut self) -> anyhow::Result<()> {
        self.spawn()?;
        self.wait().await
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let binary = [
            "nats-server",
            "/usr/sbin/nats-server",
            "/usr/local/bin/nats-server",
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_absolute() && p.exists())
        .or_else(|| which("nats-server"))
        .context("nats-server not found (apt-get install nats-server)")?;
        let log = process::log_file(&self.dir, "nats-server")?;
        let child = Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.join("nats/store"))
            .detached(log)?
            .spawn()
            .context("starting nats-server")?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait(&mut self) -> anyhow::Result<()> {
        let url = self.url();
        process::wait_ready(
            "nats-server",
            &mut self.child,
            &process::log_path(&self.dir, "nats-server"),
            Duration::from_secs(20),
            Duration::from_millis(50),
            || async { speaks_nats(&url).await.is_ok() },
        )
        .await
    }

    /// Stops it gracefully; None when it was not running.
    pub(crate) async fn stop(&mut self) -> Option<Stopped> {
        let child = self.child.take()?;
        // SIGINT: nats-server's graceful stop (it flushes the store; SIGTERM exits 1).
        Some(process::terminate("nats-server".into(), child, Signal::SIGINT).await)
    }
}

/// A bare TCP check that the server speaks NATS (its greeting starts with `INFO`).
async fn speaks_nats(url: &str) -> anyhow::Result<()> {
    use tokio::io::AsyncReadExt;
    let address = url.trim_start_matches("nats://");
    let mut stream = tokio::net::TcpStream::connect(address).await?;
    let mut greeting = [0_u8; 4];
    tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut greeting)).await??;
    anyhow::ensure!(&greeting == b"INFO", "not a NATS server");
    Ok(())
}
