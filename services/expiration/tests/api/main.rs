//! The expiration service, in one test binary: `queue` is the contract of the queue seam
//! (each implementation must pass it), `listeners` the `order:created` step end to end
//! through the bus, `scheduler` the task that fires what falls due, across restarts and
//! instances. `helpers` builds the service and a probe that records what it publishes.
//!
//! The same cases run on both backend sets: SQLite, the in-process bus and the SQL queue by
//! default; PostgreSQL, JetStream and the Redis queue with `DATABASE_URL=postgres://…`,
//! `NATS_URL=nats://…` and `REDIS_URL=redis://…`.

mod helpers;
mod listeners;
mod queue;
mod scheduler;
