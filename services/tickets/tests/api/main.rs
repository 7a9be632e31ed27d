//! The tickets service end to end, in one test binary: a module per route (`create`,
//! `show`, `list`, `update`, as in `src/routes/`; `events` for the events routes, their
//! tickets and the placeholder migration), `listeners` for the order events that
//! reserve and release tickets, `bans` for what `user:banned` withdraws and relisting, and
//! `relay` for the outbox reaching the real bus.
//! `helpers` starts a real service on port 0 with a database of its own per test.
//!
//! The same cases run on both backend sets: SQLite and the in-process bus by default;
//! PostgreSQL and JetStream with `DATABASE_URL=postgres://…` and `NATS_URL=nats://…`.

mod bans;
mod create;
mod events;
mod helpers;
mod list;
mod listeners;
mod relay;
mod show;
mod update;
