//! The harness: a real auth server on a random port, with a database of its own (SQLite, or
//! PostgreSQL when `DATABASE_URL` says so) and Redis when `REDIS_URL` is set.
#![allow(dead_code)]

use std::time::Duration;

use axum_extra::extract::cookie::{Cookie, SameSite};
use common::dto::{ErrorItem, ACCESS_COOKIE, REFRESH_COOKIE};
use common::settings::Settings;
use common::testing::{TestDatabase, TestEnv};
use reqwest::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

pub const PASSWORD: &str = "password";

/// A running auth service and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    _db: TestDatabase,
    _dir: tempfile::TempDir,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// Starts the service after `configure` has adjusted the test settings.
    pub async fn spawn_with(configure: impl FnOnce(&mut Settings)) -> Self {
        let TestEnv {
            mut settings,
            db,
            dir,
        } = TestEnv::new().await;
        configure(&mut settings);

        let state = auth::AuthState::build(&settings)
            .await
            .expect("the auth state builds");
        let router = common::http::finish_api(auth::router(state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        let port = listener.local_addr().expect("the bound address").port();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .await
                .expect("the test server runs");
        });

        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client");
        Self {
            address: format!("http://127.0.0.1:{port}"),
            client,
            settings,
            _db: db,
            _dir: dir,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.address, path))
    }

    pub async fn send(&self, request: RequestBuilder) -> Reply {
        Reply::read(
            request
                .send()
                .await
                .expect("the request reaches the server"),
        )
        .await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn post_json_with(&self, path: &str, body: &Value, cookies: &str) -> Reply {
        self.send(with_cookies(
            self.request(Method::POST, path).json(body),
            cookies,
        ))
        .await
    }

    pub async fn get_with(&self, path: &str, cookies: &str) -> Reply {
        self.send(with_cookies(self.request(Method::GET, path), cookies))
            .await
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/api/users/signup",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Reply {
        self.post_json(
            "/api/users/signin",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Signs `email` up with [`PASSWORD`] and returns its `Cookie` header value.
    pub async fn signed_up(&self, email: &str) -> String {
        let reply = self.sign_up(email, PASSWORD).await;
        assert_eq!(
            reply.status, 201,
            "sign-up of {email} failed: {}",
            reply.body
        );
        reply.cookie_header()
    }

    pub async fn sign_out(&self, cookies: &str) -> Reply {
        self.post_json_with("/api/users/signout", &json!({}), cookies)
            .await
    }

    pub async fn current_user(&self, cookies: &str) -> Reply {
        self.get_with("/api/users/currentuser", cookies).await
    }

    pub async fn refresh(&self, cookies: &str) -> Reply {
        self.post_json_with("/api/users/refresh", &json!({}), cookies)
            .await
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

/// A unique email, for state that may be shared between tests (Redis).
pub fn unique_email() -> String {
    format!("{}@test.com", uuid::Uuid::new_v4().simple())
}

/// Everything a test looks at in a response, read in full.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub content_type: Option<String>,
    pub set_cookies: Vec<Cookie<'static>>,
    pub raw_set_cookies: Vec<String>,
    pub body: String,
}

impl Reply {
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
        let body = response.text().await.expect("the body is readable text");
        Self {
            status,
            content_type,
            set_cookies,
            raw_set_cookies,
            body,
        }
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body))
    }

    pub fn cookie(&self, name: &str) -> Option<&Cookie<'static>> {
        self.set_cookies.iter().find(|c| c.name() == name)
    }

    /// The access cookie this response set; panics if there is none.
    pub fn session_cookie(&self) -> &Cookie<'static> {
        self.cookie(ACCESS_COOKIE)
            .unwrap_or_else(|| panic!("no `session` cookie in {:?}", self.raw_set_cookies))
    }

    /// The refresh cookie this response set; panics if there is none.
    pub fn refresh_cookie(&self) -> &Cookie<'static> {
        self.cookie(REFRESH_COOKIE)
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

    /// The error envelope, checked precisely (see `common::testing::error_envelope`).
    pub fn errors(&self) -> Vec<ErrorItem> {
        common::testing::error_envelope(self.content_type.as_deref(), &self.body)
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

/// Polls `check` every 100 ms until it returns true or `limit` passes.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
