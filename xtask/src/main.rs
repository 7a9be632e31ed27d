//! `cargo xtask`: installs what the build needs, builds the site, runs it, and runs every test.
#![forbid(unsafe_code)]

mod build;
mod setup;
mod test;
mod util;

use std::process::ExitCode;

const USAGE: &str = "\
usage: cargo xtask <command> [--release]

commands:
  run     install what is missing, build, and serve the all-in-one site
          (http://127.0.0.1:3000; LEPTOS_SITE_ADDR and DATA_DIR override)
  build   install what is missing and build the site and the `ticketing` binary
  test    run every test: unit, integration on SQLite, the same suite on
          PostgreSQL + Redis when DATABASE_URL / REDIS_URL point at them,
          and the Playwright end-to-end tests in a real Chromium
  bench reserve [--buyers N]
          start the system and have N buyers (default 200) each order a
          distinct ticket at once; prints orders/s and p50/p99 latency for
          the embedded default and, with DATABASE_URL + NATS_URL set, for
          PostgreSQL + JetStream (use --release for representative figures)
  setup   only install what is missing (wasm32 target, wasm-bindgen CLI, ...)
";

fn bench(args: &[String], release: bool) -> util::Result {
    if args.first().map(String::as_str) != Some("reserve") {
        return Err("usage: cargo xtask bench reserve [--buyers N] [--release]".into());
    }
    let buyers = match args.iter().position(|a| a == "--buyers") {
        Some(i) => args.get(i + 1).ok_or("--buyers needs a number")?.clone(),
        None => "200".into(),
    };
    let server = build::build_server(release)?;
    util::step(&format!(
        "Benchmark: {buyers} concurrent buyers reserving distinct tickets"
    ));
    let mut cargo = util::cargo();
    cargo.args(["run", "--quiet", "--package", "bench"]);
    if release {
        cargo.arg("--release");
    }
    cargo.arg("--").arg("reserve").arg(&server).arg(&buyers);
    util::run(&mut cargo)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let release = args.iter().any(|a| a == "--release");
    let result = match args.first().map(String::as_str) {
        Some("run") => build::run(release),
        Some("build") => build::build(release).map(|_| ()),
        Some("test") => test::run(release),
        Some("setup") => setup::ensure_tools(release),
        Some("bench") => bench(&args[1..], release),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => {
            eprint!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("\nxtask: {err}");
            ExitCode::FAILURE
        }
    }
}
