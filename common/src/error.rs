//! `ApiError`: every failure a handler can answer with, serialized as the one error envelope.
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::dto::{ErrorBody, ErrorItem, STATUS_SESSION_EXPIRED, STATUS_TOKEN_EXPIRED};

/// Every failure a handler answers with: a status, and the one error envelope as the body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// One or more fields failed validation (400, one entry per field).
    #[error("validation failed")]
    Validation(Vec<ErrorItem>),
    /// The request makes no sense as a whole; the message says why (400).
    #[error("{0}")]
    BadRequest(String),
    /// No usable access token, or the user may not touch what they asked for (401).
    #[error("not authorized")]
    NotAuthorized,
    /// Refused whoever asks (e.g. a cross-site form post), 403.
    #[error("{0}")]
    Forbidden(String),
    /// No such path or resource (404).
    #[error("not found")]
    NotFound,
    /// The path exists, but not with this method (405).
    #[error("method not allowed")]
    MethodNotAllowed,
    /// The body is over the size limit (413).
    #[error("request body too large")]
    PayloadTooLarge,
    /// The body's `Content-Type` is not one the route reads; the message says what is (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Throttled: try again after this long (sent as `Retry-After`, whole seconds).
    #[error("too many requests")]
    TooManyRequests(std::time::Duration),
    /// The access token has expired: refresh and retry (498).
    #[error("access token expired")]
    AccessTokenExpired,
    /// A refresh found no live refresh session (expired, ended, or never started): sign in
    /// again (499).
    #[error("refresh session ended")]
    RefreshSessionEnded,
    /// The card was declined; the message is the provider's, for the buyer (402).
    #[error("{0}")]
    PaymentDeclined(String),
    /// A service we depend on (e.g. the payment provider) did not answer usefully (503).
    #[error("{0}")]
    Unavailable(String),
    /// Anything unexpected: logged in full, answered as an opaque 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A validation error for one field, with the message shown next to it.
    pub fn field(field: &str, message: &str) -> Self {
        Self::Validation(vec![ErrorItem::field(field, message)])
    }

    /// A 400 whose message says what is wrong with the request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::BadRequest(message.into())
    }

    /// The HTTP status this error is answered with.
    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::Validation(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::NotAuthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::AccessTokenExpired => custom_status(STATUS_TOKEN_EXPIRED),
            Self::RefreshSessionEnded => custom_status(STATUS_SESSION_EXPIRED),
            Self::PaymentDeclined(_) => StatusCode::PAYMENT_REQUIRED,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn items(&self) -> Vec<ErrorItem> {
        match self {
            Self::Validation(items) => items.clone(),
            Self::BadRequest(message)
            | Self::Forbidden(message)
            | Self::UnsupportedMediaType(message)
            | Self::PaymentDeclined(message)
            | Self::Unavailable(message) => {
                vec![ErrorItem::new(message.clone())]
            }
            Self::NotAuthorized => vec![ErrorItem::new("Not authorized")],
            Self::NotFound => vec![ErrorItem::new("Not Found")],
            Self::MethodNotAllowed => vec![ErrorItem::new("Method not allowed")],
            Self::PayloadTooLarge => vec![ErrorItem::new("Request body is too large")],
            Self::TooManyRequests(wait) => vec![ErrorItem::new(format!(
                "Too many attempts; try again in {} s",
                retry_after_seconds(*wait)
            ))],
            Self::AccessTokenExpired => vec![ErrorItem::new("Access token expired")],
            Self::RefreshSessionEnded => {
                vec![ErrorItem::new("Sign-in expired; please sign in again")]
            }
            Self::Internal(_) => vec![ErrorItem::new("Something went wrong")],
        }
    }
}

/// Whole seconds, rounded up, at least one: a client waiting that long is not refused again
/// for the same window.
fn retry_after_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

fn custom_status(code: u16) -> StatusCode {
    StatusCode::from_u16(code).expect("498 and 499 are within the valid status range")
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(err) = &self {
            tracing::error!(error = ?err, "request failed");
        }
        let status = self.status_code();
        let mut response = (
            status,
            axum::Json(ErrorBody {
                errors: self.items(),
            }),
        )
            .into_response();
        if let Self::TooManyRequests(wait) = self {
            response.headers_mut().insert(
                axum::http::header::RETRY_AFTER,
                axum::http::HeaderValue::from(retry_after_seconds(wait)),
            );
        }
        response
    }
}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        Self::Internal(err.into())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::Internal(err.into())
    }
}
