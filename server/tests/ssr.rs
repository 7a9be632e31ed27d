//! The all-in-one server: pages render on the server as the visitor, through the API.
use std::time::Duration;

use common::settings::Settings;
use common::testing::{TestDatabase, TestEnv};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::json;

struct TestServer {
    address: String,
    client: reqwest::Client,
    _db: TestDatabase,
    _dir: tempfile::TempDir,
}

impl TestServer {
    async fn spawn(configure: impl FnOnce(&mut Settings)) -> Self {
        let TestEnv {
            mut settings,
            db,
            dir,
        } = TestEnv::new().await;
        configure(&mut settings);
        let options = leptos_config::get_configuration(Some(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../Leptos.toml"
        )))
        .expect("Leptos.toml parses")
        .leptos_options;
        let server = server::Server::build_with(settings, options)
            .await
            .expect("the server builds");
        let address = format!("http://{}", server.local_addr());
        tokio::spawn(server.run());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("a reqwest client");
        Self {
            address,
            client,
            _db: db,
            _dir: dir,
        }
    }

    /// Signs up and returns the `Cookie` header a browser would send afterwards.
    async fn sign_up(&self, email: &str) -> String {
        let response = self
            .client
            .post(format!("{}/api/users/signup", self.address))
            .json(&json!({ "email": email, "password": "secret1" }))
            .send()
            .await
            .expect("signup reaches the server");
        assert_eq!(response.status(), 201);
        cookie_header(&response)
    }

    async fn get_page(&self, path: &str, cookies: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header(COOKIE, cookies)
            .send()
            .await
            .expect("the page request reaches the server")
    }
}

fn cookie_header(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

fn unique_email() -> String {
    format!("ssr-{}@example.com", uuid_like())
}

fn uuid_like() -> String {
    format!(
        "{:x}{:x}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    )
}

#[tokio::test]
async fn the_header_is_rendered_on_the_server_with_the_signed_in_user() {
    let app = TestServer::spawn(|_| {}).await;
    let email = unique_email();
    let cookies = app.sign_up(&email).await;

    let page = app.get_page("/", &cookies).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.expect("a page body");
    assert!(
        html.contains(&format!(r#"data-testid="user-email" title="{email}""#)),
        "{html}"
    );
    assert!(html.contains(r#"href="/auth/signout""#));

    let anonymous = app
        .get_page("/", "")
        .await
        .text()
        .await
        .expect("a page body");
    assert!(!anonymous.contains("user-email"));
    assert!(anonymous.contains(r#"href="/auth/signin""#));
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_during_server_rendering() {
    let app = TestServer::spawn(|s| s.access_token_ttl = Duration::from_secs(1)).await;
    let email = unique_email();
    let cookies = app.sign_up(&email).await;
    tokio::time::sleep(Duration::from_millis(2100)).await;

    let page = app.get_page("/how-it-works", &cookies).await;
    assert_eq!(page.status(), 200);
    let refreshed = cookie_header(&page);
    assert!(
        refreshed.starts_with("session=") && refreshed.len() > "session=".len(),
        "new access cookie: {refreshed:?}"
    );
    let html = page.text().await.expect("a page body");
    assert!(
        html.contains(&format!(r#"title="{email}""#)),
        "the page still shows the user"
    );
}

#[tokio::test]
async fn unknown_pages_are_404_and_unknown_api_routes_answer_in_the_envelope() {
    let app = TestServer::spawn(|_| {}).await;
    let page = app.get_page("/no/such/page", "").await;
    assert_eq!(page.status(), 404);
    assert!(page
        .text()
        .await
        .expect("a body")
        .contains("Page not found"));

    let api = app.get_page("/api/nothing-here", "").await;
    assert_eq!(api.status(), 404);
    let body: serde_json::Value = api.json().await.expect("a JSON body");
    assert_eq!(body, json!({ "errors": [{ "message": "Not Found" }] }));
}
