//! Cross-cutting HTTP behaviour of every process: body limit, 404/405 in the envelope, the
//! security headers on every response, and a request id on every request and its log span.
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::header::{
    HeaderName, HeaderValue, CONTENT_LENGTH, CONTENT_SECURITY_POLICY, CONTENT_TYPE,
    REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
};
use axum::http::{HeaderMap, StatusCode};
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
        .layer(middleware::from_fn(api_errors_in_envelope))
}

/// Whether `path` is under `/api`, as the routers see it (no dot-segment resolution: a
/// path that spells `/api/…` is answered as an API path whatever follows).
fn is_api_path(path: &str) -> bool {
    path == "/api" || path.starts_with("/api/")
}

/// The longest plain-text error body kept as the envelope's message.
const MAX_ERROR_TEXT: usize = 512;

/// The net under every `/api` route: an error response that isn't JSON already (a
/// framework rejection's plain text, the web tier's HTML page for a path no route took)
/// is answered in the envelope with the same status and headers. A short plain-text
/// message is kept; anything else becomes the status's own wording.
async fn api_errors_in_envelope(request: Request<Body>, next: Next) -> Response {
    let api = is_api_path(request.uri().path());
    let response = next.run(request).await;
    let status = response.status();
    if !api || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    if content_type.starts_with("application/json") {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let text = if content_type.starts_with("text/plain") {
        axum::body::to_bytes(body, MAX_ERROR_TEXT)
            .await
            .ok()
            .and_then(|bytes| String::from_utf8(bytes.to_vec()).ok())
            .map(|text| text.trim().to_owned())
            .filter(|text| !text.is_empty() && !text.chars().any(char::is_control))
    } else {
        None
    };
    // Only the envelope's body and headers are used: the status stays the original's.
    let envelope = match (text, status) {
        (Some(text), _) => ApiError::BadRequest(text),
        (None, StatusCode::NOT_FOUND) => ApiError::NotFound,
        (None, StatusCode::METHOD_NOT_ALLOWED) => ApiError::MethodNotAllowed,
        (None, other) => {
            ApiError::BadRequest(other.canonical_reason().unwrap_or("Request failed").into())
        }
    }
    .into_response();
    parts.headers.remove(CONTENT_LENGTH);
    parts.headers.remove(CONTENT_SECURITY_POLICY);
    let (envelope_parts, body) = envelope.into_parts();
    parts.headers.extend(envelope_parts.headers);
    Response::from_parts(parts, body)
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

/// `Strict-Transport-Security` for a site served over HTTPS (`COOKIE_SECURE`): a year,
/// subdomains included.
pub const HSTS: &str = "max-age=31536000; includeSubDomains";

/// Adds [`HSTS`] to every response, so a browser that has seen the site once never tries it
/// over plain HTTP again (where a network attacker could answer instead).
pub async fn strict_transport_security(request: Request<Body>, next: Next) -> Response {
    let mut response = next.run(request).await;
    response
        .headers_mut()
        .insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
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

    /// A new id (a UUID) for a request that came without a usable one.
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

    /// The id as it appears in the `x-request-id` header and the log span.
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

/// The client's address for throttling. With `trust_proxy`, the rightmost public address
/// in `X-Forwarded-For`: proxies we run append what they saw, and the hops inside our own
/// network (the web tier calling through the in-cluster gateway) have private addresses, so
/// the first public one from the right was appended by our edge; entries left of it are the
/// client's own say. Without it the header is ignored and the peer is the client, except on
/// loopback: that is the web tier calling for a visitor (or a local tool), and one key for
/// every visitor would let anyone lock everyone out.
pub fn client_address(
    peer: Option<std::net::SocketAddr>,
    headers: &HeaderMap,
    trust_proxy: bool,
) -> Option<std::net::IpAddr> {
    if !trust_proxy {
        let ip = peer?.ip().to_canonical();
        return (!ip.is_loopback() && !ip.is_unspecified()).then_some(ip);
    }
    headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .rev()
        .map(|entry| entry.trim().parse::<std::net::IpAddr>().ok())
        .map_while(|ip| ip.map(|ip| ip.to_canonical()))
        .find(|ip| !internal(*ip))
}

/// Addresses of our own network, never a client's on the internet: loopback, private,
/// link-local, unique-local, unspecified.
fn internal(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()
        }
        std::net::IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
        }
    }
}

/// The header a proxy we run (and the web tier, calling the services for a visitor)
/// carries the client's address in.
pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// Longer than any id this system hands out (UUIDs).
const MAX_ID: usize = 64;

/// Whether `id` could name a resource at all. Ids that can't are answered 404 without a
/// query: PostgreSQL rejects some of them (a NUL byte) with an error, not a miss.
pub fn could_exist(id: &str) -> bool {
    !id.is_empty() && id.len() <= MAX_ID && !id.chars().any(char::is_control)
}

/// The handler for an unknown `/api/…` route: 404 in the error envelope.
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
    use super::{client_address, could_exist, RequestId, X_FORWARDED_FOR};
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn the_client_address_is_the_peer_unless_a_trusted_proxy_says_otherwise() {
        let peer = Some("198.51.100.7:4000".parse().expect("an address"));
        let mut spoofed = HeaderMap::new();
        spoofed.insert(X_FORWARDED_FOR, HeaderValue::from_static("203.0.113.1"));
        let ip = |s: &str| Some(s.parse().expect("an ip"));
        // Untrusted: the header is the client's say, ignored.
        assert_eq!(client_address(peer, &spoofed, false), ip("198.51.100.7"));
        assert_eq!(
            client_address(peer, &HeaderMap::new(), false),
            ip("198.51.100.7")
        );
        // Trusted: the last entry, the one our proxy appended.
        let mut forwarded = HeaderMap::new();
        forwarded.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_static("203.0.113.1, 192.0.2.44"),
        );
        assert_eq!(client_address(peer, &forwarded, true), ip("192.0.2.44"));
        // Our own hops (the web tier through the in-cluster gateway) are skipped.
        let mut hops = HeaderMap::new();
        hops.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_static("192.0.2.44, 10.1.2.3, fd00::7"),
        );
        assert_eq!(client_address(peer, &hops, true), ip("192.0.2.44"));
        assert_eq!(client_address(peer, &HeaderMap::new(), true), None);
        let mut junk = HeaderMap::new();
        junk.insert(
            X_FORWARDED_FOR,
            HeaderValue::from_static("<script>, not-an-ip"),
        );
        assert_eq!(client_address(peer, &junk, true), None);
        // Loopback is the web tier (or a local tool): no address to throttle by.
        let local = Some("127.0.0.1:4000".parse().expect("an address"));
        assert_eq!(client_address(local, &spoofed, false), None);
        let mapped = Some("[::ffff:198.51.100.7]:4000".parse().expect("an address"));
        assert_eq!(client_address(mapped, &spoofed, false), ip("198.51.100.7"));
    }

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
