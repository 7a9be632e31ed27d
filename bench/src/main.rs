//! Load benchmarks for Ticketing, run through `cargo xtask bench …`:
//!
//! - `bench reserve <ticketing binary> [buyers]`: starts the system, has N buyers each order a
//!   distinct ticket at once, and prints orders/second with p50/p99 latency — for the
//!   embedded default and, when `DATABASE_URL`/`NATS_URL` are set, for PostgreSQL + JetStream.
//!   With `--connections N --seconds S [--preload P]` it is a sustained run instead: N
//!   closed-loop clients reserving distinct tickets for S seconds, measured after a warm-up
//!   (the first second; 10 % of runs under 10 s): orders/s, p50/p99, the event lag of every
//!   order (its `order:created` outbox row → tickets' `ticket:updated`, read after the run so
//!   nothing polls during it), statements and commits per order, CPU time and context
//!   switches per order of the server, the bench, PostgreSQL and NATS (from /proc), and
//!   `pgbench -b simple-update` at the same concurrency beside it; the lag per second of the
//!   run, and what the consumers and outboxes still had pending when the load stopped.
//!   `--preload P` first puts P sold tickets and complete orders in the databases;
//!   `--cluster <nginx>` adds the distributed system through nginx.
//! - `bench pages <ticketing binary> <site wasm> [--tickets N] [--seconds N] [--release]`:
//!   measures the landing page, a ticket page and `GET /api/tickets?limit=50` with 100 and
//!   with N (default 30,000) tickets listed, and prints the site's wasm size gzipped.
//! - `bench expiry [--orders N]`: runs the expiration service in-process, has N (default
//!   1,000) orders expire a few seconds after they are created, and prints how late each
//!   `expiration:complete` fired (p50/p99/max) on the embedded backends and, when
//!   `DATABASE_URL`/`NATS_URL`/`REDIS_URL` are set, on PostgreSQL + JetStream + Redis.
//! - `bench live <ticketing binary> [--sockets N] [--orders N]`: N (default 5,000) sockets on
//!   the all-in-one process watch the listing, then N orders (default 200) reserve at once;
//!   prints each reservation's time from its order's response to its last socket (p50/p99),
//!   the server's memory per idle socket and CPU time per delivered message.
//!
//! `reserve`, `pages` and `live` run the binary from the current directory, which must be the
//! workspace root.
#![forbid(unsafe_code)]

mod api;
mod expiry;
mod live;
mod pages;
mod reserve;
mod stats;
mod sustained;
mod system;

use anyhow::bail;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("reserve") => reserve::main(&args[1..]).await,
        Some("pages") => pages::main(&args[1..]).await,
        Some("expiry") => expiry::main(&args[1..]).await,
        Some("live") => live::main(&args[1..]).await,
        _ => bail!(
            "usage: bench reserve <path to ticketing> [buyers] [--cluster <path to nginx>]\n       \
             bench reserve <path to ticketing> --connections N [--seconds S] [--preload P] \
             [--cluster <path to nginx>]\n       \
             bench pages <path to ticketing> <path to target/site/pkg> \
             [--tickets N] [--seconds N] [--release]\n       \
             bench expiry [--orders N]\n       \
             bench live <path to ticketing> [--sockets N] [--orders N]"
        ),
    }
}
