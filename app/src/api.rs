//! The services' HTTP API as the server functions call it (server only): through
//! `INTERNAL_API_URL`, as the visitor — their cookies forwarded, every `Set-Cookie` passed
//! back to the browser, the request's `x-request-id` sent along — refreshing an expired
//! access token (498) once and retrying. A service renews an expired token itself when the
//! visitor has a refresh session (its `Set-Cookie` reaches the browser like any other); the
//! calls of one render wait for the first such renewal rather than each making their own.
use std::sync::{Arc, Mutex};

use common::dto::{ErrorBody, STATUS_TOKEN_EXPIRED};
use common::wire::cookie::{ACCESS_TOKEN, REFRESH_SESSION};
use common::wire::header::{FORWARDED_FOR, REQUEST_ID};
use common::wire::{media, percent_decode};
use http::header::{COOKIE, LINK, SET_COOKIE};
use http::HeaderMap;
use leptos::prelude::use_context;
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::ServiceError;

/// Per-request context the server provides: where the API is, whether cookies the web
/// tier sets itself are `Secure`, and the visitor's cookies as they stand after any
/// `Set-Cookie` seen so far (so a refreshed token is used for the retry).
#[derive(Clone)]
pub struct SsrApi {
    base: Arc<str>,
    secure_cookies: bool,
    client: reqwest::Client,
    cookies: Arc<Mutex<Option<String>>>,
    /// Held by a call sent with an expired access token, so the calls a render makes
    /// alongside it wait for the token it renews instead of each renewing one.
    renewing: Arc<tokio::sync::Mutex<()>>,
}

impl SsrApi {
    /// `client` is the web process's one connection pool (see [`client`]).
    pub fn new(base: &str, secure_cookies: bool, client: reqwest::Client) -> Self {
        Self {
            base: base.trim_end_matches('/').into(),
            secure_cookies,
            client,
            cookies: Arc::default(),
            renewing: Arc::default(),
        }
    }

    pub fn secure_cookies(&self) -> bool {
        self.secure_cookies
    }

    fn cookie_header(&self) -> String {
        let mut jar = self.cookies.lock().unwrap_or_else(|p| p.into_inner());
        jar.get_or_insert_with(|| {
            use_context::<http::request::Parts>()
                .and_then(|parts| {
                    parts
                        .headers
                        .get(COOKIE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                })
                .unwrap_or_default()
        })
        .clone()
    }

    fn remember(&self, set_cookie: &str) {
        let mut jar = self.cookies.lock().unwrap_or_else(|p| p.into_inner());
        *jar = Some(merge_set_cookie(jar.as_deref().unwrap_or(""), set_cookie));
    }
}

/// A successful answer: the decoded body and the `rel="next"` link, if any.
pub struct Answer<T> {
    pub body: T,
    pub next: Option<String>,
}

pub async fn get<T: DeserializeOwned>(path: &str) -> Result<T, ServiceError> {
    call(Method::GET, path, None::<()>).await.map(|a| a.body)
}

pub async fn send<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: impl Serialize,
) -> Result<T, ServiceError> {
    call(method, path, Some(body)).await.map(|a| a.body)
}

/// Sends a request, refreshing the access token once if it has expired.
pub async fn call<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<impl Serialize>,
) -> Result<Answer<T>, ServiceError> {
    let body = body
        .map(|b| serde_json::to_vec(&b))
        .transpose()
        .map_err(|e| ServiceError::new(0, format!("Could not encode the request ({e})")))?;
    let mut response = send_once(method.clone(), path, body.clone()).await?;
    if response.status().as_u16() == STATUS_TOKEN_EXPIRED {
        let refreshed = send_once(Method::POST, "/api/users/refresh", Some(b"{}".to_vec())).await?;
        response = if refreshed.status().is_success() {
            send_once(method, path, body).await?
        } else {
            refreshed
        };
    }
    let status = response.status().as_u16();
    let next = next_link(response.headers());
    let bytes = response.bytes().await.map_err(ServiceError::unreachable)?;
    if (200..300).contains(&status) {
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        let body = serde_json::from_slice(bytes)
            .map_err(|e| ServiceError::new(status, format!("Unexpected response: {e}")))?;
        Ok(Answer { body, next })
    } else {
        Err(serde_json::from_slice::<ErrorBody>(&bytes).map_or_else(
            |_| ServiceError::new(status, format!("Request failed with status {status}")),
            |b| ServiceError {
                status,
                errors: b.errors,
            },
        ))
    }
}

/// The client server functions call the services with: one per server, made where the
/// server starts (its connections belong to that server's runtime, never to another's).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .expect("a client with default TLS settings always builds")
}

async fn send_once(
    method: Method,
    path: &str,
    body: Option<Vec<u8>>,
) -> Result<reqwest::Response, ServiceError> {
    let api = use_context::<SsrApi>().ok_or_else(|| ServiceError::unreachable("no API context"))?;
    let mut request = api.client.request(method, format!("{}{path}", api.base));
    let _renewing = if renews(&api.cookie_header(), now()) {
        Some(api.renewing.lock().await)
    } else {
        None
    };
    // Read again: the call that held the lock may have renewed the token meanwhile.
    let cookies = api.cookie_header();
    if !cookies.is_empty() {
        request = request.header(COOKIE, cookies);
    }
    if let Some(id) = request_id() {
        request = request.header(REQUEST_ID, id);
    }
    // The visitor's address as the proxy in front told it: the auth service throttles by
    // it (and believes it only under TRUST_PROXY, as it would from the proxy itself).
    for value in forwarded_for() {
        request = request.header(FORWARDED_FOR, value);
    }
    if let Some(body) = body {
        request = request
            .header(http::header::CONTENT_TYPE, media::JSON)
            .body(body);
    }
    let response = request.send().await.map_err(ServiceError::unreachable)?;
    let options = use_context::<leptos_axum::ResponseOptions>();
    for value in response.headers().get_all(SET_COOKIE) {
        if let Ok(text) = value.to_str() {
            api.remember(text);
        }
        if let Some(options) = &options {
            options.append_header(SET_COOKIE, value.clone());
        }
    }
    Ok(response)
}

fn forwarded_for() -> Vec<http::HeaderValue> {
    use_context::<http::request::Parts>()
        .map(|parts| {
            parts
                .headers
                .get_all(FORWARDED_FOR)
                .iter()
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

/// The id of the request being served, so the service logs the call under the same id.
/// The server's request-id middleware has already replaced a malformed one with its own.
fn request_id() -> Option<http::HeaderValue> {
    use_context::<http::request::Parts>().and_then(|parts| parts.headers.get(REQUEST_ID).cloned())
}

/// The `cursor` of a `Link: <…?cursor=…>; rel="next"` header.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find(|link| link.contains("rel=\"next\""))
        .and_then(|link| {
            let target = link.split_once('<')?.1.split_once('>')?.0;
            let query = target.split_once('?')?.1;
            query
                .split('&')
                .find_map(|pair| pair.strip_prefix("cursor="))
                .map(percent_decode)
        })
}

/// Percent-encodes an id taken from the address bar so it stays one path segment (a dot
/// segment would be resolved away by URL parsing even when encoded, so it is replaced).
pub fn segment(id: &str) -> String {
    if id.is_empty() || id.bytes().all(|b| b == b'.') {
        return "-".to_owned();
    }
    common::wire::percent_encode(id)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Whether a call with `cookie_header` would have its access token renewed by the service
/// (past its `exp` at `now`, with a `refresh` cookie). The token is read unverified: this
/// only decides whether the call goes alone; the services verify.
fn renews(cookie_header: &str, now: i64) -> bool {
    let cookie = |name: &str| {
        cookie_header
            .split(';')
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(n, v)| *n == name && !v.is_empty())
            .map(|(_, v)| v)
    };
    let (Some(token), Some(_)) = (cookie(ACCESS_TOKEN), cookie(REFRESH_SESSION)) else {
        return false;
    };
    token
        .split('.')
        .nth(1)
        .and_then(base64url)
        .and_then(|payload| serde_json::from_slice::<serde_json::Value>(&payload).ok())
        .and_then(|claims| claims["exp"].as_i64())
        .is_some_and(|exp| exp < now)
}

/// Decodes unpadded base64url (a JWT part); `None` for any other character.
fn base64url(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut bits, mut held) = (0u32, 0u32);
    for byte in text.bytes() {
        let value = match byte {
            b'A'..=b'Z' => byte - b'A',
            b'a'..=b'z' => byte - b'a' + 26,
            b'0'..=b'9' => byte - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        };
        bits = (bits << 6) | u32::from(value);
        held += 6;
        if held >= 8 {
            held -= 8;
            out.push(u8::try_from((bits >> held) & 0xff).ok()?);
            bits &= (1 << held) - 1;
        }
    }
    Some(out)
}

/// Applies one `Set-Cookie` header to a `Cookie` request header: replaces, adds, or (when
/// the cookie is being expired) removes that cookie.
fn merge_set_cookie(cookie_header: &str, set_cookie: &str) -> String {
    let mut attributes = set_cookie.split(';').map(str::trim);
    let Some((name, value)) = attributes.next().and_then(|pair| pair.split_once('=')) else {
        return cookie_header.to_owned();
    };
    let removed = attributes.any(|a| {
        let lower = a.to_ascii_lowercase();
        lower == "max-age=0" || lower.starts_with("expires=thu, 01 jan 1970")
    });
    let mut pairs: Vec<String> = cookie_header
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty() && p.split_once('=').map_or(p != &name, |(n, _)| n != name))
        .map(str::to_owned)
        .collect();
    if !removed {
        pairs.push(format!("{name}={value}"));
    }
    pairs.join("; ")
}

#[cfg(test)]
mod tests {
    use super::{base64url, merge_set_cookie, next_link, renews, segment};

    #[test]
    fn base64url_decodes_jwt_parts() {
        assert_eq!(
            base64url("eyJleHAiOjF9").as_deref(),
            Some(&b"{\"exp\":1}"[..])
        );
        assert_eq!(base64url("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64url("a+b/"), None);
    }

    #[test]
    fn only_an_expired_token_with_a_refresh_cookie_renews() {
        // {"exp":100}
        let token = "h.eyJleHAiOjEwMH0.s";
        assert!(renews(&format!("session={token}; refresh=r1"), 101));
        assert!(!renews(&format!("session={token}; refresh=r1"), 100));
        assert!(!renews(&format!("session={token}"), 101));
        assert!(!renews(&format!("session={token}; refresh="), 101));
        assert!(!renews("session=not-a-jwt; refresh=r1", 101));
        assert!(!renews("session=a.<script>.b; refresh=r1", 101));
        assert!(!renews("", 101));
    }
    use http::{HeaderMap, HeaderValue};

    #[test]
    fn an_id_stays_one_path_segment() {
        assert_eq!(segment("6f1c-ab_9"), "6f1c-ab_9");
        assert_eq!(segment("../users/x?y"), "..%2Fusers%2Fx%3Fy");
        assert_eq!(segment(".."), "-");
    }

    #[test]
    fn a_set_cookie_replaces_the_cookie_of_the_same_name() {
        let merged = merge_set_cookie("session=old; refresh=r1", "session=new; Path=/; HttpOnly");
        assert_eq!(merged, "refresh=r1; session=new");
    }

    #[test]
    fn an_expired_set_cookie_removes_the_cookie() {
        assert_eq!(
            merge_set_cookie("session=old; refresh=r1", "session=; Path=/; Max-Age=0"),
            "refresh=r1"
        );
    }

    #[test]
    fn a_new_cookie_is_added() {
        assert_eq!(merge_set_cookie("", "refresh=abc; Path=/"), "refresh=abc");
    }

    #[test]
    fn the_next_cursor_is_read_from_the_link_header() {
        let mut headers = HeaderMap::new();
        assert_eq!(next_link(&headers), None);
        headers.insert(
            http::header::LINK,
            HeaderValue::from_static(r#"</api/tickets?limit=50&cursor=ab%2Dc&q=x>; rel="next""#),
        );
        assert_eq!(next_link(&headers).as_deref(), Some("ab-c"));
    }
}
