//! `ServiceError`: what a server function fails with — a service's refusal (its HTTP status
//! and error envelope, so forms can show each message next to its field), or no answer at
//! all. Named apart from `common::ApiError`, which is what a service's handler answers *with*;
//! this is that answer as the web app received it.
use common::dto::ErrorItem;
use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// A failed call: the HTTP status (0 when the service, or the web process, could not be
/// reached) and the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceError {
    pub status: u16,
    pub errors: Vec<ErrorItem>,
}

impl ServiceError {
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

    pub fn is_forbidden(&self) -> bool {
        self.status == 403
    }
}

impl std::fmt::Display for ServiceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.messages().join("; "))
    }
}

impl std::error::Error for ServiceError {}

/// A server function that could not run (the web process unreachable, an answer that
/// doesn't decode) fails like a service that could not be reached.
impl FromServerFnError for ServiceError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(error: ServerFnErrorErr) -> Self {
        Self::unreachable(error)
    }
}
