//! The all-in-one server: pages render on the server as the visitor, through the API.
use std::time::Duration;

use crate::helpers::{cookie_header, TestServer};
use serde_json::json;

fn unique_email() -> String {
    crate::helpers::unique_email("ssr")
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

/// `?next=` brings a visitor back to the page that asked them to sign in: only a path of
/// this site is followed, and whatever it holds is text on the form.
#[tokio::test]
async fn signing_in_returns_only_to_a_page_of_this_site() {
    let app = TestServer::spawn(|_| {}).await;
    let email = unique_email();
    app.sign_up(&email).await;
    let sign_in = |next: &'static str| {
        let app = &app;
        let email = email.clone();
        async move {
            let fields = [
                ("email", email.as_str()),
                ("password", "secret1"),
                ("next", next),
            ];
            crate::helpers::location(&app.post_form("sign_in", "", &fields, false).await)
        }
    };
    assert_eq!(sign_in("/tickets/abc").await, "/tickets/abc");
    assert_eq!(sign_in("/?q=jazz&after=x").await, "/?q=jazz&after=x");
    for elsewhere in [
        "https://evil.example/",
        "//evil.example",
        "/\\evil.example",
        "javascript:alert(1)",
        "/x\r\nSet-Cookie: a=b",
        "",
    ] {
        assert_eq!(sign_in(elsewhere).await, "/", "{elsewhere:?}");
    }

    // A failed sign-in goes back to the form with the return path; the page shows it only
    // as an attribute value.
    let hostile = "/\"><svg/onload=alert(1)>";
    let fields = [
        ("email", email.as_str()),
        ("password", "wrong-one"),
        ("next", hostile),
    ];
    let rejected = app.post_form("sign_in", "", &fields, false).await;
    let back = crate::helpers::location(&rejected);
    assert!(back.starts_with("/auth/signin?next=%2F%22%3E"), "{back}");
    let form = app
        .get_page(&back, &cookie_header(&rejected))
        .await
        .text()
        .await
        .expect("a page body");
    assert!(!form.contains("<svg/onload"), "{form}");
    assert!(
        form.contains(r#"name="next" value="/&quot;&gt;&lt;svg/onload=alert(1)&gt;""#),
        "{form}"
    );
}
