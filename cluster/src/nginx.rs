//! The gateway: real nginx running a copy of `deploy/nginx.conf` whose ports are the
//! cluster's, with its prefix and log in the cluster's directory.
use std::time::Duration;

use anyhow::Context;
use tokio::process::{Child, Command};

use crate::options::Options;
use crate::process::{self, Detached};
use crate::services::GATEWAY_PORT;

/// Starts nginx on 127.0.0.1:`gateway` with the upstream ports moved as `moves` says
/// (`from` → `to`), and returns once it listens.
pub(crate) async fn start(
    options: &Options,
    moves: &[(u16, u16)],
    gateway: u16,
) -> anyhow::Result<Child> {
    let prefix = options.dir.join("nginx");
    let template_path = options.root.join("deploy/nginx.conf");
    let template = std::fs::read_to_string(&template_path)
        .with_context(|| format!("reading {}", template_path.display()))?;
    let config_path = prefix.join("nginx.conf");
    std::fs::write(&config_path, gateway_config(&template, moves, gateway)?)?;
    // As root, workers would run as nobody, who may not reach the prefix.
    let mut globals = String::from("daemon off;");
    if nix::unistd::geteuid().is_root() {
        globals.push_str(" user root;");
    }
    let log = process::log_file(&options.dir, "nginx")?;
    let mut prefix_arg = prefix.display().to_string();
    prefix_arg.push('/');
    let child = Command::new(&options.nginx)
        .args(["-e", "stderr", "-p", &prefix_arg, "-c"])
        .arg(&config_path)
        .args(["-g", &globals])
        .detached(log)?
        .spawn()
        .with_context(|| format!("starting {}", options.nginx.display()))?;
    let mut child = Some(child);
    process::wait_ready(
        "nginx",
        &mut child,
        &process::log_path(&options.dir, "nginx"),
        Duration::from_secs(10),
        Duration::from_millis(50),
        || async {
            tokio::net::TcpStream::connect(("127.0.0.1", gateway))
                .await
                .is_ok()
        },
    )
    .await?;
    child.context("nginx is not running")
}

/// The response header naming the replica (`127.0.0.1:<port>`) that answered through the
/// cluster's gateway, WebSocket upgrades included: how a test knows which web replica
/// served a page or holds a socket. Only in the cluster's copy: a real gateway does not
/// tell clients its upstream addresses.
pub const UPSTREAM_HEADER: &str = "X-Upstream";

/// deploy/nginx.conf with its upstream ports moved (`from` → `to`), listening on
/// 127.0.0.1:`gateway`, and answering [`UPSTREAM_HEADER`]. Every port must be found, so
/// the file and [`crate::services::SERVICES`] stay in step.
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
    // Beside the server's other add_header (no location has its own, which would drop it).
    let request_id = "add_header X-Request-Id $req_id always;";
    anyhow::ensure!(
        config.matches(request_id).count() == 1,
        "deploy/nginx.conf does not `{request_id}` once"
    );
    let config = config.replace(
        request_id,
        &format!("{request_id}\n        add_header {UPSTREAM_HEADER} $upstream_addr always;"),
    );
    // One worker: every connection shares one round-robin turn per upstream, so a test can
    // move a page's socket to the other web replica by sending requests in between (with a
    // worker per core, the upgrade and the requests may land on different workers' turns).
    let workers = "worker_processes auto;";
    anyhow::ensure!(
        config.matches(workers).count() == 1,
        "deploy/nginx.conf does not `{workers}` once"
    );
    let config = config.replace(workers, "worker_processes 1;");
    Ok(config.replace(&listen, &format!("listen 127.0.0.1:{gateway};")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::services::parts;

    fn deploy_config() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/nginx.conf"))
            .expect("deploy/nginx.conf")
    }

    #[test]
    fn every_routed_part_is_an_upstream_of_the_deploy_config() {
        let moves: Vec<(u16, u16)> = parts()
            .iter()
            .filter(|p| p.service.routed)
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
        assert!(config.contains("add_header X-Upstream $upstream_addr always;"));
        assert!(config.contains("worker_processes 1;"));
    }

    #[test]
    fn a_port_the_config_does_not_have_is_an_error() {
        let err = gateway_config(&deploy_config(), &[(4999, 5000)], 19999)
            .expect_err("port 4999 is not in the config");
        assert!(err.to_string().contains("4999"), "{err}");
    }
}
