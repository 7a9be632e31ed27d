//! `common`'s machinery against real backends, in one test binary: `bus` is one suite for
//! both buses (consumers, acknowledgement, redelivery, the listener registry), and
//! `sqlite_writer` the SQLite writer thread on a real database file with the outbox relay,
//! and `service` the service builder on a stub service.
//!
//! The same cases run on both backend sets: the in-process bus and SQLite by default;
//! JetStream with `NATS_URL=nats://…` (each test on a stream of its own, deleted at the
//! end) and PostgreSQL with `DATABASE_URL=postgres://…` where a case uses the database.

mod bus;
mod service;
mod sqlite_writer;
