//! What browsers (and caches between) may keep: `/pkg` forever under its content-hashed
//! names, precompressed; pages and server-function answers never when they may be personal.
use std::path::Path;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, COOKIE, SET_COOKIE, VARY};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use common::dto::{ACCESS_COOKIE, REFRESH_COOKIE};
use leptos::prelude::LeptosOptions;
use tower_http::services::ServeDir;

/// A `/pkg` file under a content-hashed name never changes.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Pages for a signed-in visitor (and anything setting a cookie): Back after signing out
/// must fetch again, not show the previous user's page from the browser's store.
pub const PRIVATE: &str = "no-store";
/// Pages for anyone else: each carries a fresh CSP nonce and live ticket states, so no
/// shared cache keeps them and the browser asks again each time.
pub const REVALIDATE: &str = "private, no-cache";

/// Links `/pkg`'s hashed files when `cargo xtask build` wrote its hash file. Leptos looks for
/// the file beside the binary unless the path is absolute, so it is made absolute here.
pub fn with_hashed_files(mut options: LeptosOptions) -> LeptosOptions {
    let hash_file = Path::new(&*options.site_root)
        .join(&*options.site_pkg_dir)
        .join("hash.txt");
    if let Ok(absolute) = std::path::absolute(&hash_file) {
        if absolute.is_file() {
            options.hash_files = true;
            options.hash_file = absolute.to_string_lossy().into();
        }
    }
    options
}

/// `/pkg` from disk, the build's brotli or gzip copy when the browser takes it.
pub fn pkg_files(options: &LeptosOptions) -> ServeDir {
    ServeDir::new(Path::new(&*options.site_root).join(&*options.site_pkg_dir))
        .precompressed_br()
        .precompressed_gzip()
}

/// Sets `Cache-Control` by kind of response (ARCHITECTURE.md, "Caching and compression").
pub async fn cache_control(request: Request<Body>, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let signed_in = has_session(request.headers());
    let mut response = next.run(request).await;
    let ok = response.status().is_success() || response.status().as_u16() == 304;
    let headers = response.headers_mut();
    let html = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let value = if path.starts_with(&format!("{}/", app::functions::PREFIX)) {
        PRIVATE
    } else if html {
        headers.append(VARY, HeaderValue::from_static("cookie"));
        if signed_in || headers.contains_key(SET_COOKIE) {
            PRIVATE
        } else {
            REVALIDATE
        }
    } else if path.starts_with("/pkg/") && !headers.contains_key(CACHE_CONTROL) {
        // The build's brotli or gzip copy, or the raw file: caches between must tell them apart.
        if !headers.contains_key(VARY) {
            headers.insert(VARY, HeaderValue::from_static("accept-encoding"));
        }
        if ok && is_hashed(&path) {
            IMMUTABLE
        } else {
            "no-cache"
        }
    } else {
        return response;
    };
    headers.insert(CACHE_CONTROL, HeaderValue::from_static(value));
    response
}

/// Whether the request carries a session (or the cookie that renews one).
fn has_session(headers: &HeaderMap) -> bool {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .any(|(name, value)| {
            let name = name.trim();
            (name == ACCESS_COOKIE || name == REFRESH_COOKIE) && !value.trim().is_empty()
        })
}

/// `name.<16 hex digits>.ext`, as `cargo xtask build` names `/pkg`'s files.
fn is_hashed(path: &str) -> bool {
    let file = path.rsplit('/').next().unwrap_or_default();
    let parts: Vec<&str> = file.split('.').collect();
    parts.len() >= 3
        && parts[1..parts.len() - 1]
            .iter()
            .any(|p| p.len() >= 16 && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

#[cfg(test)]
mod tests {
    use super::{has_session, is_hashed};
    use axum::http::{HeaderMap, HeaderValue};

    #[test]
    fn only_content_hashed_names_count_as_hashed() {
        assert!(is_hashed("/pkg/ticketing.0123456789abcdef.wasm"));
        assert!(is_hashed("/pkg/ticketing.0123456789abcdef.css"));
        assert!(!is_hashed("/pkg/ticketing_bg.wasm"));
        assert!(!is_hashed("/pkg/ticketing.css"));
        assert!(!is_hashed("/pkg/0123456789abcdef0123.js"));
    }

    #[test]
    fn a_session_or_refresh_cookie_means_signed_in() {
        let cookies = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert("cookie", HeaderValue::from_static(value));
            headers
        };
        assert!(has_session(&cookies("a=1; session=abc")));
        assert!(has_session(&cookies("refresh=xyz")));
        assert!(!has_session(&cookies("session=; form_flash=1")));
        assert!(!has_session(&HeaderMap::new()));
    }
}
