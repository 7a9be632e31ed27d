//! `cargo xtask cluster`: the distributed system on this machine, and its fault test.
use std::path::{Path, PathBuf};
use std::process::Command;

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
