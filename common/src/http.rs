//! Cross-cutting HTTP behaviour of every process: body limit, 404/405 in the envelope, the
//! security headers on every response, and a request id on every request and its log span.
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{
    HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::HeaderMap;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use tower_http::trace::TraceLayer;

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

/// The header a request's id travels in: from the gateway to the web tier, from the web tier
/// to the services it calls, and back in every response.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest caller-given request id kept.
const MAX_REQUEST_ID: usize = 128;

/// The id of the request being served: the caller's `x-request-id` when well-formed, else a
/// fresh UUID. [`observe`] puts it in the request's extensions (and rewrites the header to it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// The caller's id when it is [`well_formed`](Self::well_formed), else a fresh one:
    /// anything else is client text that must not reach the logs.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        headers
            .get(REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .filter(|id| Self::well_formed(id))
            .map_or_else(Self::fresh, |id| Self(id.to_owned()))
    }

    pub fn fresh() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// 1–128 ASCII letters, digits, `-`, `_` and `.`.
    pub fn well_formed(id: &str) -> bool {
        !id.is_empty()
            && id.len() <= MAX_REQUEST_ID
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn header_value(&self) -> HeaderValue {
        HeaderValue::from_str(&self.0).expect("a well-formed request id is a valid header value")
    }
}

/// Gives every request an id and serves it inside a `request` span naming `service` (the
/// process's role), the method, the path and the id; the response carries the id back.
/// Applied outermost, so even a 404 or 413 has one.
pub fn observe(router: Router, service: &'static str) -> Router {
    router
        .layer(
            TraceLayer::new_for_http().make_span_with(move |request: &Request<Body>| {
                let id = request
                    .extensions()
                    .get::<RequestId>()
                    .map_or("", RequestId::as_str);
                tracing::info_span!(
                    "request",
                    service,
                    method = %request.method(),
                    path = %request.uri().path(),
                    request_id = id,
                )
            }),
        )
        .layer(middleware::from_fn(request_id))
}

/// Settles the request's id before anything reads it: downstream code (the web tier
/// forwarding it to the services) sees only the checked id, in the header and as
/// [`RequestId`].
async fn request_id(mut request: Request<Body>, next: Next) -> Response {
    let id = RequestId::from_headers(request.headers());
    let value = id.header_value();
    request.headers_mut().insert(REQUEST_ID, value.clone());
    request.extensions_mut().insert(id);
    let mut response = next.run(request).await;
    response.headers_mut().insert(REQUEST_ID, value);
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
    use super::{could_exist, RequestId};

    #[test]
    fn ids_that_could_not_have_been_issued_are_recognised() {
        assert!(could_exist("0b0c7f5e-8a43-4f5e-9a53-1d2b3c4d5e6f"));
        for id in ["", "a\u{0}b", "line\nbreak", &"x".repeat(65)] {
            assert!(!could_exist(id), "{id:?}");
        }
    }

    #[test]
    fn only_plain_request_ids_are_kept() {
        for id in ["abc-123", "A.b_C-9", &"x".repeat(128)] {
            assert!(RequestId::well_formed(id), "{id:?}");
        }
        for id in [
            "",
            "a b",
            "<script>",
            "x\r\ny",
            "é",
            "a/b",
            &"x".repeat(129),
        ] {
            assert!(!RequestId::well_formed(id), "{id:?}");
        }
        assert!(RequestId::well_formed(RequestId::fresh().as_str()));
    }
}
