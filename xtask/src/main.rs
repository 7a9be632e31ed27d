//! `cargo xtask`: installs what the build needs, builds the site, runs it, and runs every test.
#![forbid(unsafe_code)]

mod build;
mod cluster;
mod deploy;
mod fuzz;
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
          schemathesis against the API's OpenAPI document, and the
          Playwright end-to-end tests in a real Chromium
  e2e [--cluster] [<playwright argument>...]
          build, then only the Playwright tests, against the all-in-one
          servers or, with --cluster, through nginx against a fresh
          distributed cluster (needs REDIS_URL; the web tier runs two
          replicas), e.g. `cargo xtask e2e --cluster live-replicas`
  fuzz [--base-url URL] [--max-examples N]
          check that the OpenAPI document at /api-docs/openapi.json is
          valid OpenAPI 3.1, then fuzz every operation against it with
          schemathesis (pinned, installed into a virtualenv in the target
          dir; settings in xtask/fuzz/schemathesis.toml): no 5xx, only
          declared statuses, content types and bodies, links followed,
          signed in as a seller, a buyer and an admin; against a fresh
          all-in-one server, or with --base-url against a running system
          (e.g. the cluster's nginx; FUZZ_ADMIN_EMAIL and
          FUZZ_ADMIN_PASSWORD name an admin there, else the admin routes
          answer 403); --max-examples N per operation and phase (default 100)
  bench reserve [--buyers N] [--cluster]
          start the system and have N buyers (default 200) each order a
          distinct ticket at once; prints orders/s and p50/p99 latency for
          the embedded default and, with DATABASE_URL + NATS_URL set, for
          PostgreSQL + JetStream; --cluster adds the distributed system
          through nginx (needs REDIS_URL too; use --release for
          representative figures)
  bench reserve --connections N [--seconds S] [--preload P] [--cluster]
          sustained instead: N closed-loop clients reserving distinct
          tickets for S seconds (default 10), measured after a warm-up
          (the first second; 10 % of runs under 10 s): orders/s, p50/p99,
          the event lag of every order (order:created -> ticket:updated,
          read from the outboxes after the run) over the run and per
          second of it (with the first seconds' p99 against the last),
          what was pending when the load stopped (each JetStream consumer
          group's unread + unacknowledged messages, each outbox's unsent
          rows), statements and commits per order, CPU ms and context
          switches per order of the server, the bench, postgres and
          nats-server, and pgbench -b simple-update at the same concurrency
          on the same PostgreSQL with the ratio; --preload P first writes P
          sold tickets and complete orders straight into the databases
          (does the rate depend on size?); --cluster adds the distributed
          system through nginx, its lag read from each service's database
  bench pages [--tickets N] [--seconds N]
          build the site too, list 100 tickets and then N (default 30000),
          and at each size load the landing page, a ticket page and
          GET /api/tickets?limit=50 with 16 closed-loop clients for N
          seconds (default 5); prints req/s and p50/p99, the slowdown from
          100 to N tickets, and the site's wasm size gzipped (use --release
          for representative figures)
  bench expiry [--orders N]
          run the expiration service in-process and have N orders (default
          1000) expire a few seconds after they are created; prints how late
          each expiration:complete fired (p50/p99/max) for the embedded
          default and, with DATABASE_URL + NATS_URL + REDIS_URL set, for
          PostgreSQL + JetStream + the Redis queue
  bench live [--sockets N] [--orders N]
          start the all-in-one system, open N WebSockets on /live (default
          5000; some signed in as the buyers) watching the listing, then
          have N buyers (default 200) reserve at once; prints the time from
          each order's response to its reservation reaching every socket
          (p50/p99), memory per idle socket (RSS delta / N) and server CPU
          per delivered message (use --release for representative figures)
  cluster start the distributed system on this machine: nginx (installed
          with apt if missing) on http://127.0.0.1:8080 in front of one
          process per service (two of orders, payments and web), a database
          per service on PostgreSQL (DATABASE_URL, default the local server),
          NATS JetStream (NATS_URL) and Redis (REDIS_URL); Ctrl-C stops it
  setup   only install what is missing (wasm32 target, wasm-bindgen CLI, ...)
  lint-deploy
          check deploy/ offline: nginx -t on the gateway configs, the k8s
          manifests and the compose file against their schemas, yamllint
";

const BENCH_USAGE: &str = "usage: cargo xtask bench reserve [--buyers N] [--cluster] [--release]
       cargo xtask bench reserve --connections N [--seconds S] [--preload P] [--cluster] [--release]
       cargo xtask bench pages [--tickets N] [--seconds N] [--release]
       cargo xtask bench expiry [--orders N] [--release]
       cargo xtask bench live [--sockets N] [--orders N] [--release]";

fn bench(args: &[String], release: bool) -> util::Result {
    // The value after `name`, if the flag is given.
    let flag = |name: &str| -> util::Result<Option<String>> {
        match args.iter().position(|a| a == name) {
            Some(i) => match args.get(i + 1) {
                Some(value) if value.parse::<u64>().is_ok() => Ok(Some(value.clone())),
                _ => Err(format!("{name} needs a number")),
            },
            None => Ok(None),
        }
    };
    let mut bench_args: Vec<String> = Vec::new();
    match args.first().map(String::as_str) {
        Some("reserve") => {
            let buyers = flag("--buyers")?.unwrap_or_else(|| "200".into());
            let server = build::build_server(release)?;
            util::step(&match flag("--connections")? {
                Some(n) => format!("Benchmark: {n} closed-loop clients reserving distinct tickets"),
                None => format!("Benchmark: {buyers} concurrent buyers reserving distinct tickets"),
            });
            bench_args.extend(["reserve".into(), server.display().to_string(), buyers]);
            if args.iter().any(|a| a == "--cluster") {
                bench_args.extend(["--cluster".into(), setup::nginx()?.display().to_string()]);
            }
            for name in ["--connections", "--seconds", "--preload"] {
                if let Some(value) = flag(name)? {
                    bench_args.extend([name.into(), value]);
                }
            }
        }
        Some("pages") => {
            // The pages load /pkg, so the site is built too.
            let server = build::build(release)?;
            util::step("Benchmark: pages with 100 and with many tickets listed");
            bench_args.extend([
                "pages".into(),
                server.display().to_string(),
                build::site_pkg().display().to_string(),
            ]);
            for name in ["--tickets", "--seconds"] {
                if let Some(value) = flag(name)? {
                    bench_args.extend([name.into(), value]);
                }
            }
            if release {
                bench_args.push("--release".into());
            }
        }
        Some("expiry") => {
            // The service runs inside the bench binary: nothing else to build.
            util::step("Benchmark: how late reservations expire");
            bench_args.push("expiry".into());
            if let Some(orders) = flag("--orders")? {
                bench_args.extend(["--orders".into(), orders]);
            }
        }
        Some("live") => {
            let server = build::build_server(release)?;
            util::step("Benchmark: live updates to many open sockets");
            bench_args.extend(["live".into(), server.display().to_string()]);
            for name in ["--sockets", "--orders"] {
                if let Some(value) = flag(name)? {
                    bench_args.extend([name.into(), value]);
                }
            }
        }
        _ => return Err(BENCH_USAGE.into()),
    }
    let mut cargo = util::cargo();
    cargo.args(["run", "--quiet", "--package", "bench"]);
    if release {
        cargo.arg("--release");
    }
    cargo.arg("--").args(&bench_args);
    util::run(&mut cargo)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let release = args.iter().any(|a| a == "--release");
    let result = match args.first().map(String::as_str) {
        Some("run") => build::run(release),
        Some("build") => build::build(release).map(|_| ()),
        Some("test") => test::run(release),
        Some("e2e") => test::e2e(&args[1..], release),
        Some("fuzz") => fuzz::command(&args[1..], release),
        Some("cluster") => cluster::up(release),
        Some("setup") => setup::ensure_tools(release),
        Some("lint-deploy") => deploy::validate(),
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
