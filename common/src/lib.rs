//! What every Ticketing service and the web app share.
#![forbid(unsafe_code)]

pub mod dto;
pub mod events;
pub mod money;
pub mod wire;

#[cfg(feature = "server")]
pub mod auth;
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
pub mod outbox;
#[cfg(feature = "server")]
pub mod redis;
#[cfg(feature = "server")]
pub mod service;
#[cfg(feature = "server")]
pub mod settings;
#[cfg(feature = "server")]
pub mod sqlite;
#[cfg(feature = "testing")]
pub mod testing;

#[cfg(feature = "server")]
pub use error::ApiError;
#[cfg(feature = "server")]
pub use json::Json;
