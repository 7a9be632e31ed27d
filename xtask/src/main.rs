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
  setup   only install what is missing (wasm32 target, wasm-bindgen CLI, ...)
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let release = args.iter().any(|a| a == "--release");
    let result = match args.first().map(String::as_str) {
        Some("run") => build::run(release),
        Some("build") => build::build(release).map(|_| ()),
        Some("test") => test::run(release),
        Some("setup") => setup::ensure_tools(release),
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
