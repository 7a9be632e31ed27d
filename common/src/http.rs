//! Cross-cutting HTTP behaviour of every process: body limit, 404/405 in the envelope, and
//! the security headers on every response.
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{
    HeaderValue, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;

use crate::ApiError;

/// Largest request body any endpoint accepts.
pub const BODY_LIMIT: usize = 1024 * 1024;

/// Adds what every API process needs around its routers: the body limit and answers in the
/// envelope for unknown `/api/…` routes and wrong methods.
pub fn finish_api(router: Router) -> Router {
    router
        .route("/api", any(not_found))
        .route("/api/{*rest}", any(not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(reject_large_bodies))
}

/// The policy for an HTML response that didn't set its own (pages set one with a nonce):
/// nothing may run, load or frame it.
const LOCKED_DOWN_CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// Adds `nosniff` and the referrer policy to every response, and a locked-down CSP to any
/// HTML response that has none.
pub async fn security_headers(request: Request<Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    let html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html && !headers.contains_key(CONTENT_SECURITY_POLICY) {
        headers.insert(
            CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(LOCKED_DOWN_CSP),
        );
    }
    response
}

/// Longer than any id this system hands out (UUIDs).
const MAX_ID: usize = 64;

/// Whether `id` could name a resource at all. Ids that can't are answered 404 without a
/// query: PostgreSQL rejects some of them (a NUL byte) with an error, not a miss.
pub fn could_exist(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID && !id.chars().any(char::is_control)
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// Refuses a declared oversized body before any handler reads it; chunked bodies are
/// caught by `DefaultBodyLimit` when the `Json` extractor buffers them.
async fn reject_large_bodies(request: Request<Body>, next: Next) -> Response {
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    match declared {
        Some(len) if len > BODY_LIMIT as u64 => ApiError::PayloadTooLarge.into_response(),
        _ => next.run(request).await,
    }
}

#[cfg(test)]
mod tests {
    use super::could_exist;

    #[test]
    fn ids_that_could_not_have_been_issued_are_recognised() {
        assert!(could_exist("0b0c7f5e-8a43-4f5e-9a53-1d2b3c4d5e6f"));
        for id in ["", "a\u{0}b", "line\nbreak", &"x".repeat(65)] {
            assert!(!could_exist(id), "{id:?}");
        }
    }
}
