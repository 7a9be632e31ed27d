//! Starting and stopping the `ticketing` binary for a benchmark run.
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context};

/// Which infrastructure the started system uses.
pub enum Backend {
    /// SQLite files in a temporary `DATA_DIR`, the in-process bus, embedded stores.
    Embedded,
    /// A fresh PostgreSQL database (from `DATABASE_URL`) and JetStream at `nats`.
    External { nats: String },
}

/// A running `ticketing` process on a free local port; killed when dropped, before its
/// data directory and database go.
pub struct System {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    _data: tempfile::TempDir,
    _database: Option<common::testing::TestDatabase>,
}

impl System {
    /// Starts the binary (from the current directory, which must be the workspace root so
    /// it finds Leptos.toml and the site) with `extra_env` set, and waits until it serves.
    pub async fn start(
        binary: &Path,
        backend: Backend,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let data = tempfile::tempdir()?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mut command = Command::new(binary);
        command
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("DATA_DIR", data.path())
            .env("RUST_LOG", "warn")
            .env_remove("INTERNAL_API_URL")
            .envs(extra_env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let database = match backend {
            Backend::Embedded => {
                command
                    .env_remove("DATABASE_URL")
                    .env_remove("NATS_URL")
                    .env_remove("REDIS_URL");
                None
            }
            Backend::External { nats } => {
                let database = common::testing::TestDatabase::new().await?;
                command
                    .env("DATABASE_URL", &database.url)
                    .env("NATS_URL", nats);
                Some(database)
            }
        };
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let system = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            _data: data,
            _database: database,
        };
        system.wait_ready().await?;
        Ok(system)
    }

    /// The server process's id (to read its CPU time and context switches from /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The PostgreSQL database the system runs on, if it runs on PostgreSQL.
    pub fn database_url(&self) -> Option<&str> {
        self._database.as_ref().map(|d| d.url.as_str())
    }

    /// A URL to read `service`'s tables at, and the table name `table` goes by there.
    pub fn table(&self, service: &str, table: &str) -> (String, String) {
        match &self._database {
            Some(database) => (database.url.clone(), format!("\"{service}\".{table}")),
            None => (
                format!(
                    "sqlite://{}?mode=rw",
                    self._data.path().join(format!("{service}.db")).display()
                ),
                table.to_owned(),
            ),
        }
    }

    async fn wait_ready(&self) -> anyhow::Result<()> {
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if let Ok(r) = client
                .get(format!("{}/api/tickets", self.base))
                .send()
                .await
            {
                if r.status().is_success() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the server did not start")
    }
}

impl Drop for System {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
