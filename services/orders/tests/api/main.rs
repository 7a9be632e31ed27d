//! The orders service end to end, in one test binary: a module per route (`create`, `list`,
//! `show`, `cancel`, as in `src/routes/`), `replica` for the `ticket:*` listeners that keep
//! the tickets replica, `lifecycle` for the expiry and payment events that end an order,
//! `bans` for what `user:banned` and withdrawn tickets do, and `contention` for many buyers
//! at once. Cases follow the course app's orders suite, plus
//! versions, idempotency and contention. `helpers` starts a real service on port 0 with a
//! database of its own per test.
//!
//! The same cases run on both backend sets: SQLite and the in-process bus by default;
//! PostgreSQL and JetStream with `DATABASE_URL=postgres://…` and `NATS_URL=nats://…`.

mod bans;
mod cancel;
mod contention;
mod create;
mod helpers;
mod lifecycle;
mod list;
mod replica;
mod show;
