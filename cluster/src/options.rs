//! How a cluster is set up ([`Options`]): which binaries, which ports, which databases and
//! NATS server, and what every service process is told.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};

use crate::process::free_port;
use crate::services::{Part, GATEWAY_PORT};

/// Which ports the processes and the gateway listen on.
pub enum Ports {
    /// deploy/nginx.conf's own ports (8080 and 4001–4015).
    Deploy,
    /// Free ports picked now, written into a copy of the config (tests and benchmarks).
    Free,
}

impl Ports {
    /// The gateway's port, and one port per part.
    pub(crate) fn pick(&self, parts: &[Part]) -> anyhow::Result<(u16, Vec<u16>)> {
        match self {
            Self::Deploy => {
                for port in std::iter::once(GATEWAY_PORT).chain(parts.iter().map(|p| p.port)) {
                    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
                        bail!("port {port} is taken (is a cluster already running?)");
                    }
                }
                Ok((GATEWAY_PORT, parts.iter().map(|p| p.port).collect()))
            }
            Self::Free => Ok((
                free_port()?,
                parts
                    .iter()
                    .map(|_| free_port())
                    .collect::<Result<_, _>>()?,
            )),
        }
    }
}

/// Where the services' databases are.
pub enum Databases {
    /// `ticketing_<service>` on the server at this URL, created when missing and kept.
    Kept(String),
    /// Fresh databases on `DATABASE_URL`'s server, for one run.
    Fresh,
}

/// Which NATS server the services use.
pub enum Nats {
    /// A NATS server that is already running (the machine's).
    At(String),
    /// A `nats-server -js` of the cluster's own, on a free port with its store in the
    /// cluster's directory, so it can be restarted without touching the machine's.
    Own,
}

/// How to set up a cluster.
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

/// A random shared key for the processes' `JWT_KEY`.
pub fn random_key() -> String {
    use rand::RngCore;
    let mut bytes = [0_u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}
