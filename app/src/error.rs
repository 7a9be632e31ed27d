//! What a failed call to a service looks like in the web app: its HTTP status and the
//! service's error envelope, so forms can show each message next to its field.
use common::dto::ErrorItem;
use leptos::prelude::ServerFnError;
use serde::{Deserialize, Serialize};

/// A service's answer to a server function: the value, or the service's errors. Expected
/// failures (a field error, a ticket someone else reserved) travel as data with status 200,
/// so the browser never logs them as failed requests.
pub type Reply<T> = Result<T, ApiError>;

/// A failed call: the HTTP status (0 when the service could not be reached) and the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub status: u16,
    pub errors: Vec<ErrorItem>,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> Self {
        Self {
            status,
            errors: vec![ErrorItem::new(message)],
        }
    }

    /// The service (or the web process) could not be reached: status 0.
    pub fn unreachable(detail: impl std::fmt::Display) -> Self {
        Self::new(0, format!("Could not reach the server ({detail})"))
    }

    /// The message for one form field, if the service reported one.
    pub fn field(&self, name: &str) -> Option<String> {
        self.errors
            .iter()
            .find(|e| e.field.as_deref() == Some(name))
            .map(|e| e.message.clone())
    }

    /// Messages not tied to a field.
    pub fn general(&self) -> Vec<String> {
        self.errors
            .iter()
            .filter(|e| e.field.is_none())
            .map(|e| e.message.clone())
            .collect()
    }

    /// Every message, for actions without form fields.
    pub fn messages(&self) -> Vec<String> {
        self.errors.iter().map(|e| e.message.clone()).collect()
    }

    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    pub fn is_unauthorized(&self) -> bool {
        self.status == 401
    }
}

/// One result from a server function call: a transport failure (the web process could
/// not be reached, or answered nonsense) reads like any other error.
pub fn flatten<T>(result: Result<Reply<T>, ServerFnError>) -> Reply<T> {
    result.unwrap_or_else(|err| Err(ApiError::unreachable(err)))
}
