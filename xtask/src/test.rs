//! `cargo xtask test`: every test, failing when any part fails.
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::build;
use crate::cluster;
use crate::deploy;
use crate::fuzz;
use crate::util::{self, Result};

/// Backend variables the embedded run must not see.
const BACKEND_VARS: [&str; 3] = ["DATABASE_URL", "REDIS_URL", "NATS_URL"];

pub fn run(release: bool) -> Result {
    // Seconds, not minutes: first, so a broken deploy file fails fast.
    deploy::validate()?;
    let mut summary =
        vec!["deploy files (nginx -t, Kubernetes schemas, compose schema): passed".to_owned()];
    let server = build::build(release)?;

    util::step("Unit and integration tests on the embedded backends (SQLite, in-process)");
    let mut embedded = cargo_test(release);
    for var in BACKEND_VARS {
        embedded.env_remove(var);
    }
    util::run(&mut embedded)?;
    summary.push("unit + integration (SQLite, embedded): passed".to_owned());

    fuzz::against_fresh_server(&server, None)?;
    summary.push(
        "fuzzing against the OpenAPI document (schemathesis, all-in-one, 4 checks, all phases): passed"
            .into(),
    );

    let external: Vec<String> = BACKEND_VARS
        .iter()
        .filter_map(|var| {
            std::env::var(var)
                .ok()
                .filter(|v| !v.is_empty())
                .map(|v| format!("{var}={v}"))
        })
        .collect();
    if external.is_empty() {
        summary.push(
            "integration on PostgreSQL/Redis: skipped (set DATABASE_URL and REDIS_URL to run it)"
                .into(),
        );
    } else {
        util::step(&format!(
            "The same integration suites against {}",
            external.join(" ")
        ));
        util::run(&mut cargo_test(release))?;
        summary.push(format!(
            "unit + integration ({}): passed",
            external.join(", ")
        ));
    }

    end_to_end(&server, &[])?;
    summary.push("end-to-end (Playwright, Chromium): passed".into());

    // The distributed system needs all three; CI has them.
    let configured = |var: &str| std::env::var(var).is_ok_and(|v| !v.trim().is_empty());
    let postgres = std::env::var("DATABASE_URL").is_ok_and(|v| v.starts_with("postgres"));
    if postgres && configured("NATS_URL") && configured("REDIS_URL") {
        cluster::faults(&server, release)?;
        summary.push("system test: faults in the distributed cluster (nginx, PostgreSQL, NATS, Redis): passed".into());
        end_to_end_distributed(&server, release, &[])?;
        summary.push("end-to-end through nginx, distributed, two web replicas, a replica of orders and of payments down: passed".into());
    } else {
        summary.push(
            "system test (faults in the distributed cluster): skipped (needs DATABASE_URL=postgres://…, NATS_URL and REDIS_URL)"
                .into(),
        );
    }

    util::step("All tests passed");
    let ran = summary
        .iter()
        .filter(|line| line.ends_with("passed"))
        .count();
    for line in summary {
        println!("  {line}");
    }
    println!("test suites: {ran} passed, 0 failed");
    Ok(())
}

fn cargo_test(release: bool) -> Command {
    let mut cargo = util::cargo();
    cargo.arg("test");
    if release {
        cargo.arg("--release");
    }
    cargo
}

/// `cargo xtask e2e [--cluster] [<playwright argument>…]`: only the browser tests, on the
/// all-in-one servers or through nginx against the cluster, with Playwright's own arguments
/// (a spec file's name, `-g <title>`) passed on.
pub fn e2e(args: &[String], release: bool) -> Result {
    let server = build::build(release)?;
    let passed: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !matches!(*a, "--cluster" | "--release"))
        .collect();
    if args.iter().any(|a| a == "--cluster") {
        end_to_end_distributed(&server, release, &passed)
    } else {
        end_to_end(&server, &passed)
    }
}

fn end_to_end(server_bin: &Path, args: &[&str]) -> Result {
    util::step("End-to-end tests (Playwright driving Chromium)");
    // Every page of every browser context the suite opens is a live socket from 127.0.0.1;
    // the per-address cap has its own tests (server), and a refused socket is a console error.
    let sockets = ("LIVE_SOCKETS_PER_ADDRESS", "1000");
    let (server, addr, log_path) = start_server(server_bin, "e2e", &[sockets])?;
    // Reservations that lapse in seconds, for watching one expire.
    let (short_server, short_addr, short_log) = start_server(
        server_bin,
        "e2e-short-window",
        &[("EXPIRATION_WINDOW_SECONDS", "6"), sockets],
    )?;
    let result = playwright(
        &[
            ("BASE_URL", format!("http://{addr}")),
            ("SHORT_WINDOW_URL", format!("http://{short_addr}")),
        ],
        args,
    );
    drop(server);
    drop(short_server);
    if result.is_err() {
        println!(
            "(server logs: {}, {})",
            log_path.display(),
            short_log.display()
        );
    }
    result
}

/// The same browser tests through nginx against the distributed cluster, with one orders
/// and one payments replica killed first: the site must keep working on the others. Both
/// web replicas run, and the cluster's nginx names the replica that answered in
/// `X-Upstream` (cluster::UPSTREAM_HEADER), so the live-replicas spec can put two pages'
/// sockets on different replicas.
fn end_to_end_distributed(server_bin: &Path, release: bool, args: &[&str]) -> Result {
    util::step("End-to-end tests through nginx, distributed, with orders-1 and payments-1 killed");
    let served = cluster::serve(server_bin, release, &["orders-1", "payments-1"])?;
    let result = playwright(
        &[
            ("BASE_URL", served.url.clone()),
            ("UPSTREAM_HEADER", "x-upstream".to_owned()),
        ],
        args,
    );
    served.stop()?;
    result
}

/// `npx playwright test [args]` in end2end/ with `env`, driving the system Chromium.
fn playwright(env: &[(&str, String)], args: &[&str]) -> Result {
    let chromium = chromium()?;
    let e2e = util::root().join("end2end");
    // Installed again when package-lock.json is newer than the last install (a package added).
    let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    let installed = modified(e2e.join("node_modules/.package-lock.json"));
    let locked = modified(e2e.join("package-lock.json"));
    if !e2e.join("node_modules/@playwright/test").is_dir() || installed < locked {
        util::run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund"])
                .current_dir(&e2e),
        )?;
    }
    util::run(
        Command::new("npx")
            .args(["playwright", "test"])
            .args(args)
            .current_dir(&e2e)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("CHROMIUM_PATH", &chromium),
    )
}

/// Starts the all-in-one server on a free port with a fresh `DATA_DIR` named after `name`
/// and the embedded backends; returns once it answers.
pub fn start_server(
    server_bin: &Path,
    name: &str,
    env: &[(&str, &str)],
) -> Result<(KillOnDrop, SocketAddr, PathBuf)> {
    let data_dir = util::target_dir().join(format!("{name}-data"));
    let _ = std::fs::remove_dir_all(&data_dir);
    let addr = free_local_addr()?;
    let log_path = util::target_dir().join(format!("{name}-server.log"));
    let log = std::fs::File::create(&log_path)
        .map_err(|e| format!("creating {}: {e}", log_path.display()))?;
    let mut command = Command::new(server_bin);
    command
        .current_dir(util::root())
        .env("LEPTOS_SITE_ADDR", addr.to_string())
        .env("DATA_DIR", &data_dir)
        .env_remove("JWT_KEY")
        .env_remove("INTERNAL_API_URL")
        .env_remove("EXPIRATION_WINDOW_SECONDS")
        .envs(env.iter().copied())
        .stdout(Stdio::from(log.try_clone().map_err(|e| e.to_string())?))
        .stderr(Stdio::from(log));
    for var in BACKEND_VARS {
        command.env_remove(var);
    }
    let child = command
        .spawn()
        .map_err(|e| format!("starting {}: {e}", server_bin.display()))?;
    let mut server = KillOnDrop(child);
    if let Err(err) = wait_until_serving(addr, &mut server.0) {
        return Err(format!(
            "{err}\n--- server log ---\n{}",
            std::fs::read_to_string(&log_path).unwrap_or_default()
        ));
    }
    Ok((server, addr, log_path))
}

pub struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// System Chromium: `CHROMIUM_PATH`, or on PATH, or installed with apt where possible.
fn chromium() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM_PATH").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(path));
    }
    let find = || {
        ["chromium", "chromium-browser"]
            .iter()
            .find_map(|name| util::which(name))
    };
    if let Some(found) = find() {
        return Ok(found);
    }
    if util::which("apt-get").is_none() {
        return Err("Chromium not found: install it or set CHROMIUM_PATH".into());
    }
    util::apt_install("chromium")?;
    find()
        .ok_or_else(|| "apt-get installed chromium but it is not on PATH; set CHROMIUM_PATH".into())
}

fn free_local_addr() -> Result<SocketAddr> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("finding a free port: {e}"))?;
    listener.local_addr().map_err(|e| e.to_string())
}

/// Polls the API until it answers, or the server exits, or a minute passes.
fn wait_until_serving(addr: SocketAddr, server: &mut Child) -> Result {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Ok(Some(status)) = server.try_wait() {
            return Err(format!("the server exited early ({status})"));
        }
        if answers(addr) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "the server did not answer on {addr} within a minute"
    ))
}

fn answers(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET /api/users/currentuser HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}
