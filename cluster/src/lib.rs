//! The distributed system on one machine: each part its own `ticketing <service>` process
//! (two replicas of orders and of payments), a PostgreSQL database per service, NATS
//! JetStream, Redis, and real nginx in front running `deploy/nginx.conf`.
//!
//! - `lib.rs` (here): [`Cluster`] starts the processes, kills and restarts any one of them,
//!   restarts a NATS server it owns, and stops everything with SIGTERM, reporting how each
//!   process exited.
//! - `main.rs`: `cluster up` (what `cargo xtask cluster` runs) and `cluster faults`.
//! - `faults.rs`: the fault-injection system test; `ledger.rs`: what it checks afterwards;
//!   `stripe.rs`: the stand-in for Stripe's servers it pays through.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

pub mod faults;
pub mod ledger;
pub mod stripe;

/// A process of the cluster: its name, the `ticketing` subcommand it runs, the port it
/// listens on (`deploy/nginx.conf`'s upstream when it is routed), and what it is.
#[derive(Debug, Clone, Copy)]
pub struct Part {
    pub name: &'static str,
    pub role: &'static str,
    pub port: u16,
    pub kind: Kind,
}

/// What a part is, which says whether the gateway routes to it and whether it owns a
/// database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A service with an API behind the gateway.
    Api,
    /// A service without an API (only `/healthz` and `/readyz`, not behind the gateway).
    Background,
    /// The web tier: behind the gateway, no database.
    Web,
}

impl Part {
    /// An upstream of deploy/nginx.conf.
    pub fn is_routed(&self) -> bool {
        self.kind != Kind::Background
    }
}

/// Every process, in start order: the one table a new service is added to (see
/// ARCHITECTURE.md, "Adding a service"); the ports are deploy/nginx.conf's upstreams.
pub const PARTS: [Part; 8] = [
    part("auth", "auth", 4001, Kind::Api),
    part("tickets", "tickets", 4002, Kind::Api),
    part("orders-1", "orders", 4003, Kind::Api),
    part("orders-2", "orders", 4013, Kind::Api),
    part("expiration", "expiration", 4004, Kind::Background),
    part("payments-1", "payments", 4005, Kind::Api),
    part("payments-2", "payments", 4015, Kind::Api),
    part("web", "web", 4006, Kind::Web),
];

const fn part(name: &'static str, role: &'static str, port: u16, kind: Kind) -> Part {
    Part {
        name,
        role,
        port,
        kind,
    }
}

/// Where deploy/nginx.conf listens.
pub const GATEWAY_PORT: u16 = 8080;

/// The services, each owning a database (replicas share their service's), in start order.
pub fn services() -> Vec<&'static str> {
    let mut services: Vec<&'static str> = Vec::new();
    for part in PARTS.iter().filter(|p| p.kind != Kind::Web) {
        if !services.contains(&part.role) {
            services.push(part.role);
        }
    }
    services
}

/// A process has this long to exit after SIGTERM (the services promise 10 s).
pub const STOP_WITHIN: Duration = Duration::from_secs(10);

pub enum Ports {
    /// deploy/nginx.conf's own ports (8080 and 4001–4015).
    Deploy,
    /// Free ports picked now, written into a copy of the config (tests and benchmarks).
    Free,
}

pub enum Databases {
    /// `ticketing_<service>` on the server at this URL, created when missing and kept.
    Kept(String),
    /// Fresh databases on `DATABASE_URL`'s server, for one run.
    Fresh,
}

pub enum Nats {
    /// A NATS server that is already running (the machine's).
    At(String),
    /// A `nats-server -js` of the cluster's own, on a free port with its store in the
    /// cluster's directory, so it can be restarted without touching the machine's.
    Own,
}

pub struct Options {
    /// The `ticketing` binary.
    pub binary: PathBuf,
    /// The workspace root: processes run there (Leptos.toml, target/site).
    pub root: PathBuf,
    /// Scratch space: nginx's prefix, logs, process data directories.
    pub dir: PathBuf,
    pub ports: Ports,
    pub databases: Databases,
    pub nats: Nats,
    pub redis_url: String,
    pub redis_prefix: String,
    pub jwt_key: String,
    /// Extra environment for every service process.
    pub env: Vec<(String, String)>,
    /// The nginx binary.
    pub nginx: PathBuf,
}

impl Options {
    /// A cluster for one run: free ports, fresh databases on `DATABASE_URL`'s server, a NATS
    /// server of its own, and `REDIS_URL` under a prefix of its own (`tag-…`).
    pub fn throwaway(
        binary: &Path,
        root: &Path,
        nginx: &Path,
        dir: &Path,
        tag: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            binary: binary.to_path_buf(),
            root: root.to_path_buf(),
            dir: dir.to_path_buf(),
            ports: Ports::Free,
            databases: Databases::Fresh,
            nats: Nats::Own,
            redis_url: std::env::var("REDIS_URL").context("a cluster needs REDIS_URL")?,
            redis_prefix: format!("{tag}-{}", uuid::Uuid::new_v4().simple()),
            jwt_key: random_key(),
            env: Vec::new(),
            nginx: nginx.to_path_buf(),
        })
    }
}

struct Process {
    part: Part,
    port: u16,
    child: Option<Child>,
}

/// How one process ended when the cluster stopped.
#[derive(Debug)]
pub struct Stopped {
    pub name: String,
    /// None when it had to be killed, or a signal ended it.
    pub code: Option<i32>,
    pub took: Duration,
    /// It had exited before it was asked to stop.
    pub already: bool,
}

impl Stopped {
    pub fn clean(&self) -> bool {
        !self.already && self.code == Some(0) && self.took <= STOP_WITHIN
    }
}

pub struct Cluster {
    options: Options,
    processes: Vec<Process>,
    nginx: Option<Child>,
    nats: Option<NatsServer>,
    nats_url: String,
    gateway: u16,
    databases: BTreeMap<&'static str, String>,
    _fresh: Vec<common::testing::TestDatabase>,
    http: reqwest::Client,
}

impl Cluster {
    /// Starts NATS (if its own), the databases, nginx and every process, and returns once
    /// each process answers `/readyz` and the gateway serves.
    pub async fn start(options: Options) -> anyhow::Result<Self> {
        for sub in ["logs", "nginx", "data"] {
            std::fs::create_dir_all(options.dir.join(sub))
                .with_context(|| format!("creating {}", options.dir.join(sub).display()))?;
        }
        let (gateway, ports): (u16, Vec<u16>) = match options.ports {
            Ports::Deploy => {
                for port in std::iter::once(GATEWAY_PORT).chain(PARTS.iter().map(|p| p.port)) {
                    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                        bail!("port {port} is taken (is a cluster already running?)");
                    }
                }
                (GATEWAY_PORT, PARTS.iter().map(|p| p.port).collect())
            }
            Ports::Free => (
                free_port()?,
                PARTS
                    .iter()
                    .map(|_| free_port())
                    .collect::<Result<_, _>>()?,
            ),
        };

        let mut fresh = Vec::new();
        let mut databases = BTreeMap::new();
        match &options.databases {
            Databases::Kept(admin) => {
                for service in services() {
                    let url = ensure_database(admin, &format!("ticketing_{service}")).await?;
                    databases.insert(service, url);
                }
            }
            Databases::Fresh => {
                for service in services() {
                    let db = common::testing::TestDatabase::new().await?;
                    anyhow::ensure!(
                        db.is_postgres(),
                        "the cluster needs DATABASE_URL=postgres://…"
                    );
                    databases.insert(service, db.url.clone());
                    fresh.push(db);
                }
            }
        }

        let (nats, nats_url) = match &options.nats {
            Nats::At(url) => (None, url.clone()),
            Nats::Own => {
                let server = NatsServer::start(&options.dir).await?;
                let url = server.url();
                (Some(server), url)
            }
        };

        let mut cluster = Self {
            processes: PARTS
                .iter()
                .zip(ports)
                .map(|(part, port)| Process {
                    part: *part,
                    port,
                    child: None,
                })
                .collect(),
            options,
            nginx: None,
            nats,
            nats_url,
            gateway,
            databases,
            _fresh: fresh,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        };
        cluster.start_nginx().await?;
        // Replicas of one service start together: migrations take a lock, so that is safe.
        let names: Vec<&'static str> = PARTS.iter().map(|p| p.name).collect();
        for name in &names {
            cluster.spawn(name)?;
        }
        for name in &names {
            cluster.wait_ready(name).await?;
        }
        Ok(cluster)
    }

    /// The gateway, as a browser would use it.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.gateway)
    }

    pub fn nats_url(&self) -> &str {
        &self.nats_url
    }

    /// A service's database URL.
    pub fn database_url(&self, service: &str) -> Option<&str> {
        self.databases.get(service).map(String::as_str)
    }

    pub fn log_dir(&self) -> PathBuf {
        self.options.dir.join("logs")
    }

    /// `kill -9` one process.
    pub async fn kill(&mut self, name: &str) -> anyhow::Result<()> {
        let process = self.process(name)?;
        if let Some(mut child) = process.child.take() {
            child
                .kill()
                .await
                .with_context(|| format!("killing {name}"))?;
        }
        Ok(())
    }

    /// The processes that have exited since the last look (they are no longer running), with
    /// how they ended.
    pub fn exited(&mut self) -> Vec<(&'static str, std::process::ExitStatus)> {
        let mut exited = Vec::new();
        for process in &mut self.processes {
            if let Some(child) = process.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    process.child = None;
                    exited.push((process.part.name, status));
                }
            }
        }
        exited
    }

    /// Starts a process that was killed, and waits until it is ready.
    pub async fn restart(&mut self, name: &str) -> anyhow::Result<Duration> {
        let began = Instant::now();
        self.spawn(name)?;
        self.wait_ready(name).await?;
        Ok(began.elapsed())
    }

    /// Starts several killed processes at once, and waits until every one is ready.
    pub async fn restart_all(&mut self, names: &[&str]) -> anyhow::Result<Duration> {
        let began = Instant::now();
        for name in names {
            self.spawn(name)?;
        }
        for name in names {
            self.wait_ready(name).await?;
        }
        Ok(began.elapsed())
    }

    /// Stops the cluster's own NATS server (SIGTERM, so it flushes its store), waits
    /// `down`, and starts it again on the same port and store.
    pub async fn restart_nats(&mut self, down: Duration) -> anyhow::Result<()> {
        let server = self
            .nats
            .as_mut()
            .context("only a NATS server the cluster started itself can be restarted")?;
        server.stop().await?;
        tokio::time::sleep(down).await;
        server.spawn()?;
        server.wait().await
    }

    /// SIGTERM to every service process at once, then nginx, then NATS (if its own); how
    /// each process exited and how long it took. A process still running after
    /// [`STOP_WITHIN`] and a grace second is killed.
    pub async fn stop(mut self) -> Vec<Stopped> {
        let mut stopping = Vec::new();
        for process in &mut self.processes {
            if let Some(child) = process.child.take() {
                stopping.push(terminate(
                    process.part.name.to_owned(),
                    child,
                    Signal::SIGTERM,
                ));
            }
        }
        let mut stopped = futures::future::join_all(stopping).await;
        if let Some(nginx) = self.nginx.take() {
            stopped.push(terminate("nginx".into(), nginx, Signal::SIGQUIT).await);
        }
        if let Some(mut nats) = self.nats.take() {
            let began = Instant::now();
            let code = nats.stop().await.ok().flatten();
            stopped.push(Stopped {
                name: "nats-server".into(),
                code,
                took: began.elapsed(),
                already: false,
            });
        }
        stopped
    }

    fn process(&mut self, name: &str) -> anyhow::Result<&mut Process> {
        self.processes
            .iter_mut()
            .find(|p| p.part.name == name)
            .with_context(|| format!("no process called {name}"))
    }

    fn spawn(&mut self, name: &str) -> anyhow::Result<()> {
        let gateway = self.url();
        let redis_url = self.options.redis_url.clone();
        let nats_url = self.nats_url.clone();
        let process = self
            .processes
            .iter()
            .find(|p| p.part.name == name)
            .with_context(|| format!("no process called {name}"))?;
        anyhow::ensure!(process.child.is_none(), "{name} is already running");
        let part = process.part;
        let port = process.port;
        let options = &self.options;
        let log = log_file(&options.dir, name)?;
        let mut command = Command::new(&options.binary);
        command
            .arg(part.role)
            .current_dir(&options.root)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("DATA_DIR", options.dir.join("data").join(name))
            .env("JWT_KEY", &options.jwt_key)
            .env("NATS_URL", nats_url)
            .env("REDIS_URL", redis_url)
            .env("REDIS_PREFIX", &options.redis_prefix)
            .env("INTERNAL_API_URL", gateway)
            // Every request comes through the cluster's nginx, which appends to X-Forwarded-For.
            .env("TRUST_PROXY", "true")
            .env_remove("DATABASE_URL")
            .envs(options.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .detached(log)?;
        if let Some(url) = self.databases.get(part.role) {
            command.env("DATABASE_URL", url);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {} {}", options.binary.display(), part.role))?;
        self.process(name)?.child = Some(child);
        Ok(())
    }

    async fn wait_ready(&mut self, name: &str) -> anyhow::Result<()> {
        let log = self.options.dir.join("logs").join(format!("{name}.log"));
        let http = self.http.clone();
        let process = self.process(name)?;
        let url = format!("http://127.0.0.1:{}/readyz", process.port);
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let child = process.child.as_mut().context("not running")?;
            if let Some(status) = child.try_wait()? {
                process.child = None;
                bail!("{name} exited while starting ({status}):\n{}", tail(&log));
            }
            if let Ok(response) = http.get(&url).send().await {
                if response.status() == 200 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                bail!("{name} was not ready within 90 s:\n{}", tail(&log));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn start_nginx(&mut self) -> anyhow::Result<()> {
        let prefix = self.options.dir.join("nginx");
        let template_path = self.options.root.join("deploy/nginx.conf");
        let template = std::fs::read_to_string(&template_path)
            .with_context(|| format!("reading {}", template_path.display()))?;
        let moves: Vec<(u16, u16)> = self
            .processes
            .iter()
            .filter(|p| p.part.is_routed())
            .map(|p| (p.part.port, p.port))
            .collect();
        let config = gateway_config(&template, &moves, self.gateway)?;
        let config_path = prefix.join("nginx.conf");
        std::fs::write(&config_path, config)?;
        // As root, workers would run as nobody, who may not reach the prefix.
        let mut globals = String::from("daemon off;");
        if nix::unistd::geteuid().is_root() {
            globals.push_str(" user root;");
        }
        let log = log_file(&self.options.dir, "nginx")?;
        let mut prefix_arg = prefix.display().to_string();
        prefix_arg.push('/');
        let child = Command::new(&self.options.nginx)
            .args(["-e", "stderr", "-p", &prefix_arg, "-c"])
            .arg(&config_path)
            .args(["-g", &globals])
            .detached(log)?
            .spawn()
            .with_context(|| format!("starting {}", self.options.nginx.display()))?;
        let nginx = self.nginx.insert(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", self.gateway))
            .await
            .is_err()
        {
            if let Some(status) = nginx.try_wait()? {
                bail!(
                    "nginx exited ({status}):\n{}",
                    tail(&self.options.dir.join("logs/nginx.log"))
                );
            }
            if Instant::now() > deadline {
                bail!("nginx did not listen on {} within 10 s", self.gateway);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }
}

/// deploy/nginx.conf with its upstream ports moved (`from` → `to`) and listening on
/// 127.0.0.1:`gateway`. Every port must be found, so the file and [`PARTS`] stay in step.
pub fn gateway_config(
    template: &str,
    moves: &[(u16, u16)],
    gateway: u16,
) -> anyhow::Result<String> {
    let mut config = template.to_owned();
    for (from, to) in moves {
        let old = format!("server 127.0.0.1:{from} ");
        anyhow::ensure!(
            config.contains(&old),
            "deploy/nginx.conf has no upstream on port {from}"
        );
        config = config.replace(&old, &format!("server 127.0.0.1:{to} "));
    }
    let listen = format!("listen {GATEWAY_PORT};");
    anyhow::ensure!(
        config.contains(&listen),
        "deploy/nginx.conf does not `{listen}`"
    );
    Ok(config.replace(&listen, &format!("listen 127.0.0.1:{gateway};")))
}

/// Sends `signal` and waits for the exit; kills it after [`STOP_WITHIN`] and a second.
async fn terminate(name: String, mut child: Child, signal: Signal) -> Stopped {
    let began = Instant::now();
    if let Ok(Some(status)) = child.try_wait() {
        return Stopped {
            name,
            code: status.code(),
            took: Duration::ZERO,
            already: true,
        };
    }
    if let Some(pid) = child.id() {
        let _ = signal::kill(Pid::from_raw(pid as i32), signal);
    }
    let code = match tokio::time::timeout(STOP_WITHIN + Duration::from_secs(1), child.wait()).await
    {
        Ok(Ok(status)) => status.code(),
        _ => {
            let _ = child.kill().await;
            None
        }
    };
    Stopped {
        name,
        code,
        took: began.elapsed(),
        already: false,
    }
}

/// A `nats-server -js` on its own port and store.
struct NatsServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    async fn start(cluster_dir: &Path) -> anyhow::Result<Self> {
        let mut server = Self {
            port: free_port()?,
            dir: cluster_dir.join("nats"),
            child: None,
        };
        std::fs::create_dir_all(&server.dir)?;
        server.spawn()?;
        server.wait().await?;
        Ok(server)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
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
        let log = log_file(self.dir.parent().unwrap_or(&self.dir), "nats-server")?;
        let child = Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.join("store"))
            .detached(log)?
            .spawn()
            .context("starting nats-server")?;
        self.child = Some(child);
        Ok(())
    }

    async fn wait(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if speaks_nats(&self.url()).await.is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "nats-server did not answer on port {} within 20 s",
                    self.port
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn stop(&mut self) -> anyhow::Result<Option<i32>> {
        match self.child.take() {
            // SIGINT: nats-server's graceful stop (it flushes the store; SIGTERM exits 1).
            Some(child) => Ok(terminate("nats-server".into(), child, Signal::SIGINT)
                .await
                .code),
            None => Ok(None),
        }
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

/// `name` on the server `admin` points at, created when missing; its URL.
async fn ensure_database(admin: &str, name: &str) -> anyhow::Result<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = common::db::connect(admin).await?;
    let exists = db
        .query_one(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await?
        .is_some();
    if !exists {
        db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("creating database {name}"))?;
    }
    db.close().await.ok();
    Ok(common::db::with_database(admin, name))
}

/// How the cluster runs every child: output to its log, no input, its own process group (a
/// Ctrl-C reaches only the cluster, which stops the parts in order), killed if dropped.
trait Detached {
    fn detached(&mut self, log: std::fs::File) -> anyhow::Result<&mut Self>;
}

impl Detached for Command {
    fn detached(&mut self, log: std::fs::File) -> anyhow::Result<&mut Self> {
        Ok(self
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .kill_on_drop(true))
    }
}

fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    let path = dir.join("logs").join(format!("{name}.log"));
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))
}

/// The last lines of a log, for start-up errors.
fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// A random shared key for the processes' `JWT_KEY`.
pub fn random_key() -> String {
    use rand::RngCore;
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy_config() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nginx.conf"))
            .expect("deploy/nginx.conf")
    }

    #[test]
    fn every_routed_part_is_an_upstream_of_the_deploy_config() {
        let moves: Vec<(u16, u16)> = PARTS
            .iter()
            .filter(|p| p.is_routed())
            .enumerate()
            .map(|(i, p)| (p.port, 20000 + i as u16))
            .collect();
        let config = gateway_config(&deploy_config(), &moves, 19999).expect("ports found");
        for (from, to) in &moves {
            assert!(
                !config.contains(&format!("127.0.0.1:{from} ")),
                "{from} left"
            );
            assert!(
                config.contains(&format!("server 127.0.0.1:{to} ")),
                "{to} missing"
            );
        }
        assert!(config.contains("listen 127.0.0.1:19999;"));
    }

    fn deploy_file(path: &str) -> String {
        let full = format!("{}/../deploy/{path}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("reading deploy/{path}: {e}"))
    }

    /// The routes of a gateway config, one `location … proxy_pass …` line each, spaces
    /// squeezed.
    fn routes(config: &str) -> Vec<String> {
        config
            .lines()
            .filter(|line| line.contains("location") && line.contains("proxy_pass"))
            .map(|line| line.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect()
    }

    /// What adding a service to deploy/ takes, checked: each place names every service of
    /// [`PARTS`], and the three gateway configs route alike.
    #[test]
    fn every_service_is_in_every_deploy_file() {
        let (compose, k8s_init, init) = (
            deploy_file("docker-compose.yml"),
            deploy_file("k8s/postgres.yaml"),
            deploy_file("postgres-init.sql"),
        );
        let secrets = deploy_file("k8s/secret.example.yaml");
        for service in services() {
            let create = format!("CREATE DATABASE {service};");
            assert!(init.contains(&create), "postgres-init.sql: {create}");
            assert!(k8s_init.contains(&create), "k8s/postgres.yaml: {create}");
            let url = format!("{}_DATABASE_URL:", service.to_uppercase());
            assert!(secrets.contains(&url), "k8s/secret.example.yaml: {url}");
            let command = format!("command: [\"{service}\"]");
            assert!(compose.contains(&command), "docker-compose.yml: {command}");
            let manifest = deploy_file(&format!("k8s/{service}.yaml"));
            assert!(
                manifest.contains(&format!("args: [\"{service}\"]")),
                "k8s/{service}.yaml"
            );
        }
        let gateways = [
            ("nginx.conf", deploy_file("nginx.conf")),
            ("nginx.compose.conf", deploy_file("nginx.compose.conf")),
            ("k8s/gateway.yaml", deploy_file("k8s/gateway.yaml")),
        ];
        let ingress = deploy_file("k8s/ingress.yaml");
        for part in PARTS.iter().filter(|p| p.kind == Kind::Api) {
            for (path, config) in &gateways {
                let upstream = format!("upstream {} {{", part.role);
                assert!(config.contains(&upstream), "{path}: {upstream}");
            }
            let backend = format!("name: {}", part.role);
            assert!(ingress.contains(&backend), "k8s/ingress.yaml: {backend}");
        }
        let first = routes(&gateways[0].1);
        assert!(!first.is_empty(), "nginx.conf has routes");
        for (path, config) in &gateways[1..] {
            assert_eq!(routes(config), first, "{path} routes as nginx.conf does");
        }
    }

    #[test]
    fn a_port_the_config_does_not_have_is_an_error() {
        let err = gateway_config(&deploy_config(), &[(4999, 5000)], 19999)
            .expect_err("port 4999 is not in the config");
        assert!(err.to_string().contains("4999"), "{err}");
    }
}
