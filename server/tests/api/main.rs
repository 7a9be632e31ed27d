//! The `ticketing` binary's own suite, in one test binary: the services and the web tier
//! together in one process, driven over HTTP as a browser or another process would.
//!
//! * `ssr`: pages render on the server as the visitor, through the API.
//! * `web`: server functions, forms without JavaScript, hostile text kept inert.
//! * `contract`: the OpenAPI document against the routers and the README's tables.
//! * `caching`: what a browser or a cache between may keep, and how `/pkg` travels.
//! * `flow`: a ticket reaches the orders replica over the bus; orders reserve and release it.
//! * `purchase`: a reservation ends paid or expired, also in races and across a restart.
//! * `bans`: a banned user's tokens are refused by every service; an unban restores sign-in.
//! * `live`: the `/live` WebSocket pushes ticket and order events to the pages that care.
//! * `renewal`: an expired access token with a live refresh session is renewed in place.
//! * `roles`: `ticketing <service>` serves only its part and needs a shared `JWT_KEY`.
//!
//! `helpers` starts the whole system on port 0 with a database and a bus of its own per test.
//! The same cases run on both backend sets: SQLite, in-process bus and stores by default;
//! PostgreSQL, JetStream and Redis with `DATABASE_URL=postgres://…`, `NATS_URL=nats://…` and
//! `REDIS_URL=redis://…`.
//!
//! Named `api` like every crate's suite (`cargo test -p <crate> --test api`), not "system":
//! that word names the fault test of the distributed cluster (`cargo xtask test`). One
//! process now runs what were six: only `roles` sets an environment variable (`JWT_KEY`),
//! which only a non-all-in-one role reads, so the other modules never see it change.

mod bans;
mod caching;
mod contract;
mod flow;
mod helpers;
mod live;
mod purchase;
mod renewal;
mod roles;
mod ssr;
mod web;
