//! `common`'s machinery against real backends, in one test binary: `bus` is one suite for
//! both buses (consumers, acknowledgement, redelivery, the listener registry), and
//! `sqlite_writer` the SQLite writer thread on a real database file with the outbox relay.
//!
//! The same cases run on both backend sets: the in-process bus and SQLite by default;
//! JetStream with `NATS_URL=nats://…` (each test on a stream of its own, deleted at the
//! end) and PostgreSQL with `DATABASE_URL=postgres://…` where a case uses the database.

mod bus;
mod sqlite_writer;
