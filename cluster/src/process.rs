//! How the cluster runs a child process, whatever it is: detached with its output in a log
//! file, waited for until it is ready, stopped with a signal and reported as [`Stopped`];
//! and the small helpers that find binaries, ports and keys for it.
use std::fmt;
use std::fs::OpenOptions;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

/// A process has this long to exit after SIGTERM (the services promise 10 s).
pub const STOP_WITHIN: Duration = Duration::from_secs(10);

/// How the cluster runs every child: output to its log, no input, its own process group (a
/// Ctrl-C reaches only the cluster, which stops the parts in order), killed if dropped.
pub(crate) trait Detached {
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

/// `name`'s log in the cluster directory `dir`.
pub(crate) fn log_path(dir: &Path, name: &str) -> PathBuf {
    dir.join("logs").join(format!("{name}.log"))
}

/// `name`'s log, opened for appending (a restarted process continues it).
pub(crate) fn log_file(dir: &Path, name: &str) -> anyhow::Result<std::fs::File> {
    let path = log_path(dir, name);
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

/// Asks `ready` every `every` until it says yes. Fails with the end of the log at `log` if
/// the process exits first (it is then no longer `child`) or `within` passes.
pub(crate) async fn wait_ready<F, R>(
    name: &str,
    child: &mut Option<Child>,
    log: &Path,
    within: Duration,
    every: Duration,
    mut ready: F,
) -> anyhow::Result<()>
where
    F: FnMut() -> R,
    R: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    loop {
        let running = child
            .as_mut()
            .with_context(|| format!("{name} is not running"))?;
        if let Some(status) = running.try_wait()? {
            *child = None;
            bail!("{name} exited while starting ({status}):\n{}", tail(log));
        }
        if ready().await {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "{name} was not ready within {} s:\n{}",
                within.as_secs(),
                tail(log)
            );
        }
        tokio::time::sleep(every).await;
    }
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
    /// Asked to stop, it exited with 0 within [`STOP_WITHIN`].
    pub fn clean(&self) -> bool {
        !self.already && self.code == Some(0) && self.took <= STOP_WITHIN
    }

    /// The names of the processes in `stopped` that did not stop cleanly, but for those in
    /// `excused` and a NATS server the cluster started itself (it is not part of the product).
    pub fn unclean<'a>(stopped: &'a [Stopped], excused: &[String]) -> Vec<&'a str> {
        stopped
            .iter()
            .filter(|s| !s.clean() && s.name != "nats-server" && !excused.contains(&s.name))
            .map(|s| s.name.as_str())
            .collect()
    }
}

impl fmt::Display for Stopped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.already {
            write!(f, "{:<12} had already exited", self.name)
        } else {
            write!(
                f,
                "{:<12} exit {:?} in {:.2} s",
                self.name,
                self.code,
                self.took.as_secs_f64()
            )
        }
    }
}

/// Sends `signal` and waits for the exit; kills it after [`STOP_WITHIN`] and a second.
pub(crate) async fn terminate(name: String, mut child: Child, signal: Signal) -> Stopped {
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

/// A port that is free on 127.0.0.1 right now.
pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `name` on the `PATH`, if it is there.
pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}
