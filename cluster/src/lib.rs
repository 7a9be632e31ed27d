//! The distributed system on one machine: each part its own `ticketing <service>` process
//! (two replicas of orders, of payments and of web), a PostgreSQL database per service, NATS
//! JetStream, Redis, and real nginx in front running `deploy/nginx.conf`.
//!
//! - `lib.rs` (here): [`Cluster`] starts the processes, kills and restarts any one of them,
//!   restarts a NATS server it owns, and stops everything with SIGTERM, reporting how each
//!   process exited.
//! - `services.rs`: [`SERVICES`], the one table of services, replicas and ports (adding a
//!   service to the cluster starts there), and the [`Part`]s (processes) it makes.
//! - `options.rs`: [`Options`], how a cluster is set up (ports, databases, NATS, keys).
//! - `process.rs`: running any child: detached with a log, waited for, stopped ([`Stopped`]).
//! - `nginx.rs`: the gateway and its copy of `deploy/nginx.conf`; `nats.rs`: a NATS server
//!   of the cluster's own; `postgres.rs`: the services' databases.
//! - `main.rs`: `cluster up` (what `cargo xtask cluster` runs), `cluster serve` (for the
//!   browser tests) and `cluster faults`.
//! - `faults.rs` and `faults/`: the fault-injection system test.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use nix::sys::signal::Signal;
use tokio::process::{Child, Command};

pub mod faults;
mod nats;
mod nginx;
mod options;
mod postgres;
mod process;
mod services;

pub use nginx::{gateway_config, UPSTREAM_HEADER};
pub use options::{random_key, Databases, Nats, Options, Ports};
pub use process::{free_port, which, Stopped, STOP_WITHIN};
pub use services::{parts, Part, Service, GATEWAY_PORT, SERVICES};

use nats::NatsServer;
use postgres::ServiceDatabases;
use process::Detached;

/// A part, the port the cluster gave it, and its process while it runs.
struct Process {
    part: Part,
    port: u16,
    child: Option<Child>,
}

/// A running cluster. Dropping it kills every process; [`Cluster::stop`] stops them in order.
pub struct Cluster {
    options: Options,
    processes: Vec<Process>,
    nginx: Option<Child>,
    nats: Option<NatsServer>,
    nats_url: String,
    gateway: u16,
    databases: ServiceDatabases,
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
        let parts = parts();
        let (gateway, ports) = options.ports.pick(&parts)?;
        let databases = ServiceDatabases::set_up(&options.databases).await?;
        let (nats, nats_url) = match &options.nats {
            Nats::At(url) => (None, url.clone()),
            Nats::Own => {
                let server = NatsServer::start(&options.dir).await?;
                let url = server.url();
                (Some(server), url)
            }
        };

        let mut cluster = Self {
            processes: parts
                .into_iter()
                .zip(ports)
                .map(|(part, port)| Process {
                    part,
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
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()?,
        };
        let moves: Vec<(u16, u16)> = cluster
            .processes
            .iter()
            .filter(|p| p.part.service.routed)
            .map(|p| (p.part.port, p.port))
            .collect();
        cluster.nginx = Some(nginx::start(&cluster.options, &moves, gateway).await?);
        // Replicas of one service start together: migrations take a lock, so that is safe.
        let names: Vec<String> = cluster
            .processes
            .iter()
            .map(|p| p.part.name.clone())
            .collect();
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

    /// The NATS server the services use.
    pub fn nats_url(&self) -> &str {
        &self.nats_url
    }

    /// A service's database URL.
    pub fn database_url(&self, service: &str) -> Option<&str> {
        self.databases.url(service)
    }

    /// Where every process's log is (`<name>.log`).
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
    pub fn exited(&mut self) -> Vec<(String, std::process::ExitStatus)> {
        let mut exited = Vec::new();
        for process in &mut self.processes {
            if let Some(child) = process.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    process.child = None;
                    exited.push((process.part.name.clone(), status));
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
        server.stop().await;
        tokio::time::sleep(down).await;
        server.restart().await
    }

    /// SIGTERM to every service process at once, then nginx, then NATS (if its own); how
    /// each process exited and how long it took. A process still running after
    /// [`STOP_WITHIN`] and a grace second is killed.
    pub async fn stop(mut self) -> Vec<Stopped> {
        let mut stopping = Vec::new();
        for running in &mut self.processes {
            if let Some(child) = running.child.take() {
                stopping.push(process::terminate(
                    running.part.name.clone(),
                    child,
                    Signal::SIGTERM,
                ));
            }
        }
        let mut stopped = futures::future::join_all(stopping).await;
        if let Some(nginx) = self.nginx.take() {
            stopped.push(process::terminate("nginx".into(), nginx, Signal::SIGQUIT).await);
        }
        if let Some(nats) = self.nats.as_mut() {
            stopped.extend(nats.stop().await);
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
        let starting = self
            .processes
            .iter()
            .find(|p| p.part.name == name)
            .with_context(|| format!("no process called {name}"))?;
        anyhow::ensure!(starting.child.is_none(), "{name} is already running");
        let service = starting.part.service;
        let port = starting.port;
        let options = &self.options;
        let log = process::log_file(&options.dir, name)?;
        let mut command = Command::new(&options.binary);
        command
            .arg(service.name)
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
        if let Some(url) = self.databases.url(service.name) {
            command.env("DATABASE_URL", url);
        }
        let child = command
            .spawn()
            .with_context(|| format!("starting {} {}", options.binary.display(), service.name))?;
        self.process(name)?.child = Some(child);
        Ok(())
    }

    async fn wait_ready(&mut self, name: &str) -> anyhow::Result<()> {
        let log = process::log_path(&self.options.dir, name);
        let http = self.http.clone();
        let starting = self.process(name)?;
        let url = format!("http://127.0.0.1:{}/readyz", starting.port);
        process::wait_ready(
            name,
            &mut starting.child,
            &log,
            Duration::from_secs(90),
            Duration::from_millis(100),
            || async { matches!(http.get(&url).send().await, Ok(r) if r.status() == 200) },
        )
        .await
    }
}
