//! The harness: a real auth server on a random port, with a database of its own (SQLite, or
//! PostgreSQL when `DATABASE_URL` says so) and Redis when `REDIS_URL` is set.
#![allow(dead_code)]

use std::time::Duration;

use common::auth::{JwtKeys, TokenState};
use common::settings::Settings;
use common::task::Shutdown;
use common::testing::{Served, TestDatabase, TestEnv};
use reqwest::{Method, RequestBuilder};
use serde_json::{json, Value};

pub const PASSWORD: &str = "password";

/// A running auth service and a client for it.
pub struct TestApp {
    pub address: String,
    pub client: reqwest::Client,
    pub settings: Settings,
    /// The service's own keys: they ask the deny-list it uses.
    pub keys: common::auth::JwtKeys,
    _served: Served,
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

        let mut service =
            auth::SERVICE.builder(&settings, common::bus::InProcessBus::new(), Shutdown::new());
        let state = auth::AuthState::build(&mut service)
            .await
            .expect("the auth state builds");
        let keys = state.keys.clone();
        let served = Served::router(auth::router(state)).await;

        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client");
        Self {
            address: served.address.clone(),
            client,
            settings,
            keys,
            _served: served,
            _db: db,
            _dir: dir,
        }
    }

    pub fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, format!("{}{}", self.address, path))
    }

    pub async fn send(&self, request: RequestBuilder) -> TestResponse {
        TestResponse::of(request).await
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> TestResponse {
        self.send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn post_json_with(&self, path: &str, body: &Value, cookies: &str) -> TestResponse {
        self.send(with_cookies(
            self.request(Method::POST, path).json(body),
            cookies,
        ))
        .await
    }

    pub async fn get_with(&self, path: &str, cookies: &str) -> TestResponse {
        self.send(with_cookies(self.request(Method::GET, path), cookies))
            .await
    }

    pub async fn sign_up(&self, email: &str, password: &str) -> TestResponse {
        self.post_json(
            "/api/users/signup",
            &json!({ "email": email, "password": password }),
        )
        .await
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> TestResponse {
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

    pub async fn sign_out(&self, cookies: &str) -> TestResponse {
        self.post_json_with("/api/users/signout", &json!({}), cookies)
            .await
    }

    pub async fn current_user(&self, cookies: &str) -> TestResponse {
        self.get_with("/api/users/currentuser", cookies).await
    }

    pub async fn refresh(&self, cookies: &str) -> TestResponse {
        self.post_json_with("/api/users/refresh", &json!({}), cookies)
            .await
    }
}

pub use common::testing::{
    assert_cookie_attributes, eventually, is_removal, with_cookies, TestResponse,
};

/// A unique email, for state that may be shared between tests (Redis).
pub fn unique_email() -> String {
    common::testing::unique_email("auth")
}

/// Tests that sign in use `unique_email()` instead: on Redis the failed-sign-in throttle is
/// shared by every test (and every run) for a minute.
pub const EMAIL: &str = "test@test.com";
pub const INVALID_EMAIL: &str = "Email must be valid";
pub const INVALID_PASSWORD: &str = "Password must be between 4 and 20 characters";
pub const MISSING_PASSWORD: &str = "You must supply a password";
pub const EMAIL_IN_USE: &str = "Email in use";
pub const INVALID_CREDENTIALS: &str = "Invalid credentials";
pub const SESSION_EXPIRED: u16 = 499;

pub use common::testing::harness::keys_of;

/// `Cookie` header carrying only the given access token.
pub fn session(token: &str) -> String {
    format!("session={token}")
}

/// Waits until `token` has expired, checked locally as every service checks it.
pub async fn wait_until_expired(app: &TestApp, token: &str) {
    let keys = JwtKeys::from_settings(&app.settings);
    // A 1 s token is refused once its `exp` second has passed (no leeway).
    let expired = eventually(Duration::from_secs(5), || async {
        (keys.verify(token) == TokenState::Expired).then_some(())
    })
    .await;
    assert!(expired.is_some(), "the access token never expired");
}

/// Asserts a 200 `{"currentUser": null}` that clears the `session` cookie.
pub fn assert_anonymous_and_cleared(reply: &TestResponse) {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({ "currentUser": null }));
    let access = reply.access_cookie();
    assert!(
        is_removal(access),
        "the session cookie must be cleared: {access}"
    );
    assert_eq!(access.path(), Some("/"), "{access}");
}

/// Asserts `reply` sets neither cookie a sign-in sets (the access token, the refresh session).
pub fn assert_sets_no_cookie(reply: &TestResponse) {
    for name in ["session", "refresh"] {
        assert!(
            reply.cookie(name).is_none(),
            "{name} was set: {:?}",
            reply.raw_set_cookies
        );
    }
}
