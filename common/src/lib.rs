//! What every Ticketing service and the web app share: the words on the wire, and the
//! machinery every service runs on. It depends on no other crate of this workspace.
//!
//! # The wire vocabulary (also in the browser build)
//!
//! Built with `default-features = false` by the web app, so it compiles to wasm:
//!
//! * [`dto`] — request and response bodies of the HTTP API, shared by the services and the
//!   web app's client (with their OpenAPI schemas on the server);
//! * [`events`] — the events the services exchange, each knowing its subject;
//! * [`live`] — the messages of the web tier's WebSocket (live pages);
//! * [`money`] — money as whole cents, a number with at most two decimals in JSON;
//! * [`wire`] — header, cookie and media-type names, and URL percent-encoding.
//!
//! # The server machinery (feature `server`)
//!
//! * [`auth`] — access tokens: signing, local verification, the deny-list, the extractors;
//! * [`bans`] — banned users as every service records them (`user:banned`), for the extractors;
//! * [`bus`] — the event bus seam (in-process or JetStream) and the listener loop;
//! * [`db`] — connecting and migrating a service's database, SQLite or PostgreSQL by URL,
//!   and statuses as typed columns;
//! * [`error`] — [`ApiError`], every failure a handler answers with, as the error envelope;
//! * [`extract`] — a `Path` extractor that rejects in the envelope;
//! * [`http`] — what every process's HTTP stack does: limits, 404/405, headers, request ids;
//! * [`json`] — the [`Json`] extractor that rejects in the envelope;
//! * [`metrics`] — counters of database work, served as `GET /metrics`;
//! * [`openapi`] — the API's OpenAPI document: what routes share, links, merging, serving;
//! * [`outbox`] — the transactional outbox and its relay to the bus;
//! * [`redis`] — the Redis connection, when `REDIS_URL` is set;
//! * [`renewal`] — an expired access token renewed in place from the refresh session;
//! * [`service`] — the shape of a service: `Service`, its `Builder`, `Running`, readiness;
//! * [`settings`] — the configuration, read once from the environment;
//! * [`sqlite`] — the SQLite writer thread that runs a database file's hot writes;
//! * [`task`] — `Shutdown`, `Task` and the `Supervisor` that drains them; the event thread;
//! * `testing` (feature `testing`) — helpers the services' tests share.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod dto;
pub mod events;
pub mod live;
pub mod money;
pub mod wire;

#[cfg(feature = "server")]
pub mod auth;
#[cfg(feature = "server")]
pub mod bans;
#[cfg(feature = "server")]
pub mod bus;
#[cfg(feature = "server")]
pub mod db;
#[cfg(feature = "server")]
pub mod error;
#[cfg(feature = "server")]
pub mod extract;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod json;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod openapi;
#[cfg(feature = "server")]
pub mod outbox;
#[cfg(feature = "server")]
pub mod redis;
#[cfg(feature = "server")]
pub mod renewal;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod settings;
#[cfg(feature = "server")]
pub mod sqlite;
#[cfg(feature = "server")]
pub mod task;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "server")]
pub use error::ApiError;
#[cfg(feature = "server")]
pub use json::Json;
