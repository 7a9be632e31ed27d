//! The typed API client. The same functions run during server rendering (through
//! `INTERNAL_API_URL`, forwarding the visitor's cookies and passing `Set-Cookie` back) and in
//! the browser (against the page's own origin, where the browser sends cookies itself).
//! An expired access token (498) is refreshed once and the call retried, on either side.
use common::dto::{
    CreateOrderBody, Credentials, CurrentUserResponse, ErrorBody, ErrorItem, Order, SessionUser,
    Ticket, TicketBody, User, STATUS_TOKEN_EXPIRED,
};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A failed call: the HTTP status (0 when the API could not be reached) and the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApiError {
    pub status: u16,
    pub errors: Vec<ErrorItem>,
}

impl ApiError {
    fn unreachable(detail: impl std::fmt::Display) -> Self {
        Self {
            status: 0,
            errors: vec![ErrorItem::new(format!(
                "Could not reach the server ({detail})"
            ))],
        }
    }

    /// The message for one form field, if the API reported one.
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

pub async fn current_user() -> Result<Option<SessionUser>, ApiError> {
    let response: CurrentUserResponse = call(Method::GET, "/api/users/currentuser", None).await?;
    Ok(response.current_user)
}

pub async fn sign_up(credentials: &Credentials) -> Result<User, ApiError> {
    call(
        Method::POST,
        "/api/users/signup",
        Some(to_json(credentials)),
    )
    .await
}

pub async fn sign_in(credentials: &Credentials) -> Result<User, ApiError> {
    call(
        Method::POST,
        "/api/users/signin",
        Some(to_json(credentials)),
    )
    .await
}

pub async fn sign_out() -> Result<(), ApiError> {
    let _: serde_json::Value = call(
        Method::POST,
        "/api/users/signout",
        Some(serde_json::json!({})),
    )
    .await?;
    Ok(())
}

pub async fn list_tickets() -> Result<Vec<Ticket>, ApiError> {
    call(Method::GET, "/api/tickets", None).await
}

pub async fn get_ticket(id: &str) -> Result<Ticket, ApiError> {
    call(Method::GET, &format!("/api/tickets/{}", segment(id)), None).await
}

pub async fn create_ticket(body: &TicketBody) -> Result<Ticket, ApiError> {
    call(Method::POST, "/api/tickets", Some(to_json(body))).await
}

pub async fn update_ticket(id: &str, body: &TicketBody) -> Result<Ticket, ApiError> {
    call(
        Method::PUT,
        &format!("/api/tickets/{}", segment(id)),
        Some(to_json(body)),
    )
    .await
}

pub async fn create_order(ticket_id: &str) -> Result<Order, ApiError> {
    let body = CreateOrderBody {
        ticket_id: serde_json::Value::String(ticket_id.to_owned()),
    };
    call(Method::POST, "/api/orders", Some(to_json(&body))).await
}

pub async fn list_orders() -> Result<Vec<Order>, ApiError> {
    call(Method::GET, "/api/orders", None).await
}

pub async fn get_order(id: &str) -> Result<Order, ApiError> {
    call(Method::GET, &format!("/api/orders/{}", segment(id)), None).await
}

/// Cancels an order; the API answers 204 with no body.
pub async fn cancel_order(id: &str) -> Result<(), ApiError> {
    let _: serde_json::Value = call(
        Method::DELETE,
        &format!("/api/orders/{}", segment(id)),
        None,
    )
    .await?;
    Ok(())
}

/// Percent-encodes an id taken from the address bar so it stays one path segment (a dot
/// segment would be resolved away by URL parsing even when encoded, so it is replaced).
fn segment(id: &str) -> String {
    if id.is_empty() || id.bytes().all(|b| b == b'.') {
        return "-".to_owned();
    }
    id.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn to_json(value: &impl Serialize) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

/// Sends a request, refreshing the access token once if it has expired.
async fn call<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<T, ApiError> {
    // Browser futures are not `Send`, but resources need `Send`; the browser has one thread.
    #[cfg(not(feature = "ssr"))]
    return send_wrapper::SendWrapper::new(call_once_refreshed(method, path, body)).await;
    #[cfg(feature = "ssr")]
    call_once_refreshed(method, path, body).await
}

async fn call_once_refreshed<T: DeserializeOwned>(
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> Result<T, ApiError> {
    let mut response = transport::send(method.clone(), path, body.clone()).await?;
    if response.status().as_u16() == STATUS_TOKEN_EXPIRED {
        let refreshed = transport::send(
            Method::POST,
            "/api/users/refresh",
            Some(serde_json::json!({})),
        )
        .await?;
        response = if refreshed.status().is_success() {
            transport::send(method, path, body).await?
        } else {
            refreshed
        };
    }
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(ApiError::unreachable)?;
    if (200..300).contains(&status) {
        let bytes: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
        serde_json::from_slice(bytes).map_err(|e| ApiError {
            status,
            errors: vec![ErrorItem::new(format!("Unexpected response: {e}"))],
        })
    } else {
        let errors = serde_json::from_slice::<ErrorBody>(&bytes)
            .map(|b| b.errors)
            .unwrap_or_else(|_| {
                vec![ErrorItem::new(format!(
                    "Request failed with status {status}"
                ))]
            });
        Err(ApiError { status, errors })
    }
}

#[cfg(feature = "ssr")]
mod transport {
    //! Server side: call the API over the internal network as the visitor.
    use std::sync::{Arc, Mutex, OnceLock};

    use http::header::{COOKIE, SET_COOKIE};
    use leptos::prelude::use_context;
    use reqwest::{Method, Response};

    use super::ApiError;

    /// Per-request context the server provides: where the API is and the visitor's cookies,
    /// updated as responses set new ones (so a refreshed token is used for the retry).
    #[derive(Clone)]
    pub struct SsrApi {
        base: String,
        cookies: Arc<Mutex<Option<String>>>,
    }

    impl SsrApi {
        pub fn new(base: impl Into<String>) -> Self {
            Self {
                base: base.into().trim_end_matches('/').to_owned(),
                cookies: Arc::default(),
            }
        }
    }

    fn client() -> &'static reqwest::Client {
        static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
        CLIENT.get_or_init(|| {
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(std::time::Duration::from_secs(15))
                .build()
                .expect("a client with default TLS settings always builds")
        })
    }

    pub async fn send(
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Response, ApiError> {
        let api = use_context::<SsrApi>().ok_or_else(|| ApiError::unreachable("no API context"))?;
        let cookie_header = {
            let mut jar = api.cookies.lock().unwrap_or_else(|p| p.into_inner());
            if jar.is_none() {
                let incoming = use_context::<http::request::Parts>().and_then(|parts| {
                    parts
                        .headers
                        .get(COOKIE)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned)
                });
                *jar = Some(incoming.unwrap_or_default());
            }
            jar.clone().unwrap_or_default()
        };
        let mut request = client().request(method, format!("{}{path}", api.base));
        if !cookie_header.is_empty() {
            request = request.header(COOKIE, cookie_header);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.map_err(ApiError::unreachable)?;
        let set_cookies: Vec<_> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .cloned()
            .collect();
        if !set_cookies.is_empty() {
            let options = use_context::<leptos_axum::ResponseOptions>();
            let mut jar = api.cookies.lock().unwrap_or_else(|p| p.into_inner());
            for value in set_cookies {
                if let Ok(text) = value.to_str() {
                    *jar = Some(super::merge_set_cookie(jar.as_deref().unwrap_or(""), text));
                }
                if let Some(options) = &options {
                    options.append_header(SET_COOKIE, value);
                }
            }
        }
        Ok(response)
    }
}

#[cfg(feature = "ssr")]
pub use transport::SsrApi;

#[cfg(not(feature = "ssr"))]
mod transport {
    //! Browser side: same-origin requests; the browser keeps and sends the cookies.
    use reqwest::{Method, Response};

    use super::ApiError;

    fn origin() -> String {
        #[cfg(feature = "hydrate")]
        if let Ok(origin) = leptos::prelude::window().location().origin() {
            return origin;
        }
        String::new()
    }

    pub async fn send(
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<Response, ApiError> {
        let mut request = reqwest::Client::new().request(method, format!("{}{path}", origin()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send().await.map_err(ApiError::unreachable)
    }
}

/// Applies one `Set-Cookie` header to a `Cookie` request header: replaces, adds, or (when
/// the cookie is being expired) removes that cookie.
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
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
    use super::{merge_set_cookie, segment};

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
}
