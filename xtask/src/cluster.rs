//! `cargo xtask cluster`: the distributed system on this machine, and its fault test.
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::util::{self, Result};
use crate::{build, setup};

/// Builds everything, then becomes `cluster up` (exec), so Ctrl-C goes straight to it and it
/// stops the processes in order.
pub fn up(release: bool) -> Result {
    let server = build::build(release)?;
    let nginx = setup::nginx()?;
    let cluster = build_cluster(release)?;
    util::step("Starting the distributed system (nginx, PostgreSQL, NATS, Redis; Ctrl-C stops it)");
    let mut command = Command::new(&cluster);
    command
        .arg("up")
        .arg(&server)
        .arg(&nginx)
        .current_dir(util::root());
    exec(command)
}

/// The fault-injection system test against a cluster of `server` processes.
pub fn faults(server: &Path, release: bool) -> Result {
    let nginx = setup::nginx()?;
    let cluster = build_cluster(release)?;
    util::step("System test: purchase flows through nginx while faults hit the cluster");
    util::run(
        Command::new(&cluster)
            .arg("faults")
            .arg(server)
            .arg(&nginx)
            .current_dir(util::root()),
    )
}

/// A cluster on free ports for the browser tests (`cluster serve`); it stops when
/// [`Served::stop`] closes its standard input.
pub struct Served {
    child: Child,
    pub url: String,
}

pub fn serve(server: &Path, release: bool, kill: &[&str]) -> Result<Served> {
    let nginx = setup::nginx()?;
    let cluster = build_cluster(release)?;
    let mut command = Command::new(&cluster);
    command
        .arg("serve")
        .arg(server)
        .arg(&nginx)
        .current_dir(util::root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    for name in kill {
        command.args(["--kill", name]);
    }
    let mut child = command
        .spawn()
        .map_err(|e| format!("starting {}: {e}", util::describe(&command)))?;
    let stdout = child.stdout.take().ok_or("no stdout from cluster serve")?;
    let mut first = String::new();
    BufReader::new(stdout)
        .read_line(&mut first)
        .map_err(|e| format!("reading from cluster serve: {e}"))?;
    match first.trim().strip_prefix("ready ") {
        Some(url) => Ok(Served {
            url: url.to_owned(),
            child,
        }),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            Err("the cluster did not start (its error is above)".into())
        }
    }
}

impl Served {
    /// Closes its input, so it stops every process; fails unless each exited cleanly.
    pub fn stop(mut self) -> Result {
        drop(self.child.stdin.take());
        let status = self
            .child
            .wait()
            .map_err(|e| format!("waiting for the cluster: {e}"))?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("the cluster did not stop cleanly ({status})"))
        }
    }
}

fn build_cluster(release: bool) -> Result<PathBuf> {
    let mut cargo = util::cargo();
    cargo.args([
        "build",
        "--quiet",
        "--package",
        "cluster",
        "--bin",
        "cluster",
    ]);
    if release {
        cargo.arg("--release");
    }
    util::run(&mut cargo)?;
    Ok(util::target_dir()
        .join(if release { "release" } else { "debug" })
        .join("cluster"))
}

#[cfg(unix)]
fn exec(mut command: Command) -> Result {
    use std::os::unix::process::CommandExt;
    Err(format!(
        "starting {}: {}",
        util::describe(&command),
        command.exec()
    ))
}

#[cfg(not(unix))]
fn exec(mut command: Command) -> Result {
    util::run(&mut command)
}
