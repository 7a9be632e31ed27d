//! Starting and stopping the system for a benchmark run: the all-in-one `ticketing` binary,
//! or the distributed system through nginx.
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
    /// JetStream's URL and the run's subject prefix when it runs on it.
    nats: Option<(String, String)>,
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
        let (database, nats) = match backend {
            Backend::Embedded => {
                command
                    .env_remove("DATABASE_URL")
                    .env_remove("NATS_URL")
                    .env_remove("REDIS_URL");
                (None, None)
            }
            Backend::External { nats } => {
                let database = common::testing::TestDatabase::new().await?;
                // A stream of the run's own: a dev system (or another run) on the same NATS
                // server never shares its consumers, and no earlier run's leftovers are
                // delivered into this one.
                let prefix = format!("bench{}", uuid::Uuid::new_v4().simple());
                drop_bench_streams(&nats).await;
                command
                    .env("DATABASE_URL", &database.url)
                    .env("NATS_URL", &nats)
                    .env("NATS_PREFIX", &prefix);
                (Some(database), Some((nats, prefix)))
            }
        };
        let child = command
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let system = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            nats,
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

    /// The NATS server the system's JetStream bus is on and its subject prefix (the stream
    /// is the prefix uppercased), if it runs on JetStream.
    pub fn nats(&self) -> Option<(&str, &str)> {
        self.nats
            .as_ref()
            .map(|(url, prefix)| (url.as_str(), prefix.as_str()))
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

/// The distributed system (`cargo xtask cluster`'s shape, on fresh databases and a NATS
/// server of its own), reached through nginx; stopped with [`Distributed::stop`].
pub struct Distributed {
    cluster: cluster::Cluster,
    _dir: tempfile::TempDir,
}

impl Distributed {
    pub const LABEL: &'static str = "cluster: nginx → 2× orders, PostgreSQL + JetStream + Redis";

    pub async fn start(binary: &Path, nginx: &Path) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let mut options = cluster::Options::throwaway(
            binary,
            &std::env::current_dir()?,
            nginx,
            dir.path(),
            "bench",
        )?;
        options.env = vec![("RUST_LOG".into(), "warn".into())];
        let cluster = cluster::Cluster::start(options).await?;
        Ok(Self { cluster, _dir: dir })
    }

    /// nginx's address.
    pub fn base(&self) -> String {
        self.cluster.url()
    }

    /// The cluster's own NATS server (its stream is `common::settings::DEFAULT_PREFIX`'s).
    pub fn nats_url(&self) -> &str {
        self.cluster.nats_url()
    }

    /// The database of `service` (its tables are in a schema named after it, as on one).
    pub fn database_url(&self, service: &str) -> anyhow::Result<&str> {
        self.cluster
            .database_url(service)
            .with_context(|| format!("the cluster has no {service} database"))
    }

    /// Stops every process before the databases and the directory go.
    pub async fn stop(self) {
        self.cluster.stop().await;
    }
}

/// Deletes the streams earlier benchmark runs left on `nats` (each run has its own, named
/// `BENCH…`): their messages would only fill the server's store.
async fn drop_bench_streams(nats: &str) {
    use futures::StreamExt;
    let Ok(client) = async_nats::connect(nats).await else {
        return;
    };
    let context = async_nats::jetstream::new(client);
    let names: Vec<String> = context
        .stream_names()
        .filter_map(|name| async move { name.ok() })
        .collect()
        .await;
    for name in names.iter().filter(|n| n.starts_with("BENCH")) {
        if let Err(err) = context.delete_stream(name).await {
            eprintln!("(could not delete the old benchmark stream {name}: {err})");
        }
    }
}
