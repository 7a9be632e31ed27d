//! What every service's HTTP tests share: a service served on a free port with its tasks
//! supervised, a fully read response, cookie handling, and polling for eventual effects.
use std::future::Future;
use std::time::Duration;

use axum_extra::extract::cookie::{Cookie, SameSite};
use reqwest::header::{CONTENT_TYPE, COOKIE, RETRY_AFTER, SET_COOKIE};
use reqwest::RequestBuilder;
use serde_json::Value;

use crate::dto::ErrorItem;
use crate::service::Running;
use crate::task::{Shutdown, Supervisor};
use crate::wire::cookie;

/// A started service serving on `127.0.0.1:<free port>`, its tasks under a supervisor —
/// as the binary runs it. Dropping it shuts it down.
pub struct Served {
    /// Where it serves: `http://127.0.0.1:<port>`.
    pub address: String,
    /// Its stop signal, to stop it mid-test or share with what runs beside it.
    pub shutdown: Shutdown,
    supervisor: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Served {
    /// Serves `running` until `shutdown` (or the returned value's drop).
    pub async fn start(running: Running, shutdown: Shutdown) -> Self {
        let router = crate::http::finish_api(running.router);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let port = listener.local_addr().expect("the bound address").port();
        let stop = shutdown.signalled();
        tokio::spawn(async move {
            let _ = axum::serve(
                listener,
                router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
            )
            .with_graceful_shutdown(stop)
            .await;
        });
        let mut supervisor = Supervisor::new(shutdown.clone());
        supervisor.add(running.tasks);
        Self {
            address: format!("http://127.0.0.1:{port}"),
            shutdown,
            supervisor: Some(tokio::spawn(supervisor.run())),
        }
    }

    /// Serves only an API router (no background tasks): for tests that drive a service's
    /// listener steps and relay themselves.
    pub async fn router(router: axum::Router) -> Self {
        Self::start(
            Running {
                router,
                tasks: Vec::new(),
                ready: Vec::new(),
            },
            Shutdown::new(),
        )
        .await
    }

    /// The full URL of `path` on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Shuts down and waits until every task has finished (a listener its message, a relay
    /// its flush) — what a process does on SIGTERM.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.trigger();
        match self.supervisor.take() {
            Some(handle) => handle.await?,
            None => Ok(()),
        }
    }
}

impl Served {
    /// Stops it the way `kill -9` would: every task is dropped wherever it is (mid-message,
    /// mid-batch), nothing is flushed.
    pub fn kill(mut self) {
        if let Some(handle) = self.supervisor.take() {
            // Aborting the supervisor drops its JoinSet, which aborts every task.
            handle.abort();
        }
        self.shutdown.trigger();
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

/// Everything a test looks at in a response, read in full.
#[derive(Debug)]
pub struct TestResponse {
    /// The status code, as a number to compare with.
    pub status: u16,
    /// `Content-Type`, when the response has one.
    pub content_type: Option<String>,
    /// Every `Set-Cookie`, parsed.
    pub set_cookies: Vec<Cookie<'static>>,
    /// Every `Set-Cookie` as sent, for attribute checks and failure messages.
    pub raw_set_cookies: Vec<String>,
    /// `Retry-After`, when the response has one.
    pub retry_after: Option<String>,
    /// The body as text (see [`json`](Self::json)).
    pub body: String,
}

impl TestResponse {
    /// Reads `response` in full.
    pub async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let raw_set_cookies: Vec<String> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().expect("Set-Cookie is ASCII").to_owned())
            .collect();
        let set_cookies = raw_set_cookies
            .iter()
            .map(|raw| Cookie::parse(raw.clone()).expect("Set-Cookie parses as a cookie"))
            .collect();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.expect("the body is readable text");
        Self {
            status,
            content_type,
            set_cookies,
            raw_set_cookies,
            retry_after,
            body,
        }
    }

    /// Sends `request` and reads the response; panics if the server can't be reached.
    pub async fn of(request: RequestBuilder) -> Self {
        Self::read(
            request
                .send()
                .await
                .expect("the request reaches the server"),
        )
        .await
    }

    /// The body parsed as JSON; panics if it is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    /// The cookie called `name` that this response set, if any.
    pub fn cookie(&self, name: &str) -> Option<&Cookie<'static>> {
        self.set_cookies.iter().find(|c| c.name() == name)
    }

    /// The access token's cookie this response set; panics if there is none.
    pub fn access_cookie(&self) -> &Cookie<'static> {
        self.cookie(cookie::ACCESS_TOKEN)
            .unwrap_or_else(|| panic!("no `session` cookie in {:?}", self.raw_set_cookies))
    }

    /// The refresh cookie this response set; panics if there is none.
    pub fn refresh_cookie(&self) -> &Cookie<'static> {
        self.cookie(cookie::REFRESH_SESSION)
            .unwrap_or_else(|| panic!("no `refresh` cookie in {:?}", self.raw_set_cookies))
    }

    /// A `Cookie` header carrying every cookie this response set (and did not remove),
    /// as a browser would send it next.
    pub fn cookie_header(&self) -> String {
        self.set_cookies
            .iter()
            .filter(|c| !is_removal(c))
            .map(|c| format!("{}={}", c.name(), c.value()))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// The error envelope, checked precisely (see [`super::error_envelope`]).
    pub fn errors(&self) -> Vec<ErrorItem> {
        super::error_envelope(self.content_type.as_deref(), &self.body)
    }

    /// Asserts the status and that the body is the envelope with exactly `expected`.
    pub fn assert_errors(&self, status: u16, expected: &[ErrorItem]) {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(self.errors(), expected, "unexpected errors");
    }

    /// Asserts the status and an envelope holding one message without a field.
    pub fn assert_error(&self, status: u16, message: &str) {
        self.assert_errors(status, &[ErrorItem::new(message)]);
    }

    /// Asserts the status and a well-formed envelope; returns its messages.
    pub fn assert_enveloped(&self, status: u16) -> Vec<String> {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        self.errors().into_iter().map(|e| e.message).collect()
    }
}

/// Adds a `Cookie` header unless `cookies` is empty.
pub fn with_cookies(request: RequestBuilder, cookies: &str) -> RequestBuilder {
    if cookies.is_empty() {
        request
    } else {
        request.header(COOKIE, cookies)
    }
}

/// The `Cookie` header a browser holding `cookies` sends after `set_cookies` arrive.
pub fn apply_set_cookies<'a>(
    cookies: &str,
    set_cookies: impl IntoIterator<Item = &'a str>,
) -> String {
    let mut jar: Vec<(String, String)> = cookies
        .split(';')
        .filter_map(|p| p.trim().split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    for raw in set_cookies {
        let Ok(cookie) = Cookie::parse(raw.to_owned()) else {
            continue;
        };
        jar.retain(|(n, _)| n != cookie.name());
        if !is_removal(&cookie) {
            jar.push((cookie.name().to_owned(), cookie.value().to_owned()));
        }
    }
    jar.iter()
        .map(|(n, v)| format!("{n}={v}"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// True when a `Set-Cookie` tells the browser to drop the cookie now.
pub fn is_removal(cookie: &Cookie<'_>) -> bool {
    cookie
        .max_age()
        .is_some_and(|age| age <= time::Duration::ZERO)
        || cookie
            .expires_datetime()
            .is_some_and(|at| at <= time::OffsetDateTime::now_utc())
}

/// Asserts the attributes both auth cookies share.
pub fn assert_cookie_attributes(cookie: &Cookie<'_>, secure: bool) {
    assert_eq!(
        cookie.http_only(),
        Some(true),
        "{} must be HttpOnly: {cookie}",
        cookie.name()
    );
    assert_eq!(
        cookie.same_site(),
        Some(SameSite::Lax),
        "{} must be SameSite=Lax: {cookie}",
        cookie.name()
    );
    assert_eq!(
        cookie.path(),
        Some("/"),
        "{} must have Path=/: {cookie}",
        cookie.name()
    );
    assert_eq!(
        cookie.secure().unwrap_or(false),
        secure,
        "{} Secure flag: {cookie}",
        cookie.name()
    );
}

/// An email no other test (or earlier run sharing Redis) uses; `tag` says whose it is.
pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@test.com", uuid::Uuid::new_v4().simple())
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `limit`: events take a
/// moment to travel. A check returning bool can use `.then_some(())`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return Some(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
