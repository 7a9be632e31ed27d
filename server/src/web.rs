//! The web tier's own routes — pages, the server functions under `/_fn`, `/pkg`, the icon —
//! and what protects them: a per-response CSP nonce and a same-origin check on server
//! function posts; and a server function's error sent as the answer it is.
use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_SECURITY_POLICY, CONTENT_TYPE, HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::wire::header::SEC_FETCH_SITE;
use common::ApiError;
use leptos::nonce::use_nonce;
use leptos::prelude::*;
use leptos_axum::{generate_route_list, AxumRouteListing, LeptosRoutes, ResponseOptions};

const FAVICON: &str = include_str!("favicon.svg");
const STRIPE_PAY: &str = include_str!("stripe-pay.js");

/// The pages and server functions; server-side calls go to `internal_api`. With a Stripe
/// publishable key, the pay form is Stripe's Payment Element (and the CSP lets it in).
pub fn router(
    leptos_options: LeptosOptions,
    internal_api: String,
    secure_cookies: bool,
    flash_key: app::FlashKey,
    stripe_publishable_key: Option<String>,
    reservation_window: std::time::Duration,
) -> Router {
    let client = app::api::client();
    let stripe = stripe_publishable_key.is_some();
    let context = move || {
        provide_context(app::api::SsrApi::new(
            &internal_api,
            secure_cookies,
            client.clone(),
        ));
        provide_context(flash_key.clone());
        provide_context(app::StripeMode(stripe_publishable_key.clone()));
        provide_context(app::ReservationWindow(reservation_window.as_secs()));
        content_security_policy(stripe);
    };
    let leptos_options = crate::caching::with_hashed_files(leptos_options);
    Router::new()
        .route("/favicon.svg", get(favicon))
        .route("/favicon.ico", get(favicon))
        .route("/stripe-pay.js", get(stripe_pay))
        .nest_service("/pkg", crate::caching::pkg_files(&leptos_options))
        .leptos_routes_with_context(&leptos_options, routes(), context.clone(), {
            let options = leptos_options.clone();
            move || app::shell(options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context(
            context,
            app::shell,
        ))
        .with_state(leptos_options)
        .layer(middleware::from_fn(crate::caching::cache_control))
        .layer(middleware::from_fn(errors_as_answers))
        .layer(middleware::from_fn(move |request, next| {
            same_origin_server_functions(secure_cookies, request, next)
        }))
}

/// The app's routes, generated once per process: generating them switches resource loading
/// off process-wide for a moment (leptos_server's global flag), and a page another server in
/// the same process (tests) starts rendering then would wait forever.
fn routes() -> Vec<AxumRouteListing> {
    static ROUTES: OnceLock<Vec<AxumRouteListing>> = OnceLock::new();
    ROUTES.get_or_init(|| generate_route_list(app::App)).clone()
}

/// A page's policy: scripts only with this response's nonce (and what they load), the
/// wasm module, and nothing from elsewhere. Leptos puts the nonce on its own scripts. In
/// Stripe mode, Stripe's frames and API too (its script comes in with the nonce).
/// `connect-src 'self'` also admits the live socket: CSP 3 matches `ws:`/`wss:` on the
/// page's own host and port to `'self'` (Chrome 71+, Firefox, Safari 16+).
fn content_security_policy(stripe: bool) {
    let (Some(nonce), Some(response)) = (use_nonce(), use_context::<ResponseOptions>()) else {
        return; // not a page: a server function call, or a static file
    };
    let (frames, connect) = if stripe {
        (
            "frame-src https://js.stripe.com https://hooks.stripe.com; ",
            " https://api.stripe.com",
        )
    } else {
        ("", "")
    };
    let policy = format!(
        "default-src 'self'; script-src 'nonce-{nonce}' 'strict-dynamic' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self'; connect-src 'self'{connect}; {frames}\
         form-action 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    );
    if let Ok(value) = HeaderValue::from_str(&policy) {
        response.insert_header(CONTENT_SECURITY_POLICY, value);
    }
}

/// Server functions change state as the visitor, so a post from another site is refused:
/// the browser's `Origin` (or, without one, `Sec-Fetch-Site`) must name this site. Clients
/// that send neither (curl, tests) are not browsers carrying someone's cookies.
async fn same_origin_server_functions(https: bool, request: Request<Body>, next: Next) -> Response {
    if is_server_function_call(&request) && !same_origin(request.headers(), https) {
        return ApiError::Forbidden("Cross-site request refused".into()).into_response();
    }
    next.run(request).await
}

/// A server function's error — mostly a service's refusal: a field error, a ticket someone
/// else reserved — is an answer for the page, not a failed request. It goes out with status
/// 200, so the browser logs no failed request, and keeps server_fn's error header, by which
/// the app's client (`app::transport`) reads it back as the error. A plain form post's
/// redirect is left as it is.
async fn errors_as_answers(request: Request<Body>, next: Next) -> Response {
    let call = is_server_function_call(&request);
    let mut response = next.run(request).await;
    if call
        && response.status() == StatusCode::INTERNAL_SERVER_ERROR
        && response
            .headers()
            .contains_key(app::transport::ERROR_HEADER)
    {
        *response.status_mut() = StatusCode::OK;
    }
    response
}

fn is_server_function_call(request: &Request<Body>) -> bool {
    request.method() != Method::GET
        && request
            .uri()
            .path()
            .starts_with(&format!("{}/", app::functions::PREFIX))
}

/// Whether `Origin` is this site: scheme, host and port. The scheme is `https` exactly when
/// `COOKIE_SECURE` is set, the setting that says the site is served over HTTPS; the request
/// itself can't tell, since TLS ends at the ingress and our gateway's `X-Forwarded-Proto`
/// names its own plain-HTTP hop. Host and port are the `Host` header's (the gateway passes
/// the browser's on); an absent port is the scheme's default.
pub(crate) fn same_origin(headers: &HeaderMap, https: bool) -> bool {
    let header = |name: HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    let (scheme, default_port) = if https { ("https", 443) } else { ("http", 80) };
    match header(ORIGIN) {
        Some(origin) => {
            let site = |authority: &str| host_and_port(authority, default_port);
            origin
                .strip_prefix(scheme)
                .and_then(|rest| rest.strip_prefix("://"))
                .and_then(site)
                .is_some_and(|origin| header(HOST).and_then(site) == Some(origin))
        }
        None => !matches!(
            header(HeaderName::from_static(SEC_FETCH_SITE)),
            Some("cross-site" | "same-site")
        ),
    }
}

/// `host[:port]` as a lowercase host and a port; None for anything else (a path, userinfo).
fn host_and_port(authority: &str, default_port: u16) -> Option<(String, u16)> {
    let parsed: axum::http::uri::Authority = authority.parse().ok()?;
    if parsed.as_str().contains('@') || authority.ends_with(':') {
        return None;
    }
    let port = parsed.port_u16().unwrap_or(default_port);
    Some((parsed.host().to_ascii_lowercase(), port))
}

async fn stripe_pay() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (CACHE_CONTROL, "public, max-age=3600"),
        ],
        STRIPE_PAY,
    )
}

async fn favicon() -> impl IntoResponse {
    (
        [
            (CONTENT_TYPE, "image/svg+xml"),
            (CACHE_CONTROL, "public, max-age=86400"),
        ],
        FAVICON,
    )
}

#[cfg(test)]
mod tests {
    use super::same_origin;
    use axum::http::{HeaderMap, HeaderValue};

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| {
                (
                    axum::http::HeaderName::from_static(k),
                    HeaderValue::from_static(v),
                )
            })
            .collect()
    }

    #[test]
    fn a_post_from_this_site_is_same_origin() {
        assert!(same_origin(
            &headers(&[
                ("host", "tickets.example:3000"),
                ("origin", "http://tickets.example:3000"),
            ]),
            false
        ));
        assert!(same_origin(
            &headers(&[("sec-fetch-site", "same-origin")]),
            false
        ));
        assert!(same_origin(&headers(&[]), false));
    }

    #[test]
    fn a_default_port_is_the_same_as_none() {
        for (https, host, origin) in [
            (false, "tickets.example", "http://tickets.example:80"),
            (false, "tickets.example:80", "http://tickets.example"),
            (true, "tickets.example", "https://tickets.example:443"),
            (true, "tickets.example:443", "https://Tickets.Example"),
            (true, "[::1]:8443", "https://[::1]:8443"),
        ] {
            let mut h = headers(&[]);
            h.insert("host", HeaderValue::from_static(host));
            h.insert("origin", HeaderValue::from_static(origin));
            assert!(same_origin(&h, https), "{host} {origin}");
        }
    }

    #[test]
    fn a_post_from_elsewhere_is_not() {
        for (https, origin) in [
            (false, "https://evil.example"),
            (false, "null"),
            (false, "http://tickets.example:3001"),
            (false, "https://tickets.example:3000"),
            (true, "http://tickets.example:3000"),
            (false, "http://tickets.example:3000/"),
            (false, "http://user@tickets.example:3000"),
            (false, "ws://tickets.example:3000"),
            (false, "http://tickets.example:3000:"),
        ] {
            let mut h = headers(&[("host", "tickets.example:3000")]);
            h.insert("origin", HeaderValue::from_static(origin));
            assert!(!same_origin(&h, https), "{origin}");
        }
        // The default port of one scheme is not the other's.
        let mut h = headers(&[("host", "tickets.example")]);
        h.insert(
            "origin",
            HeaderValue::from_static("https://tickets.example:80"),
        );
        assert!(!same_origin(&h, true));
        assert!(!same_origin(
            &headers(&[("sec-fetch-site", "cross-site")]),
            false
        ));
    }
}
