//! The all-in-one server: pages render on the server as the visitor, through the API.
use std::time::Duration;

mod helpers;

use helpers::{cookie_header, TestServer};
use serde_json::json;

fn unique_email() -> String {
    helpers::unique_email("ssr")
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
    assert!(
        html.contains(r#"action="/_fn/sign_out" method="post""#),
        "signing out is a form post"
    );

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
