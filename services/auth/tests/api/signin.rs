//! `POST /api/users/signin`: credentials, the refresh session, and the failed-sign-in throttle.

use common::dto::ErrorItem;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    assert_cookie_attributes, assert_sets_no_cookie, unique_email, TestApp, TestResponse, EMAIL,
    INVALID_CREDENTIALS, INVALID_EMAIL, MISSING_PASSWORD, PASSWORD, SESSION_EXPIRED,
};

#[tokio::test]
async fn signin_with_an_unknown_email_is_rejected_without_a_cookie() {
    let app = TestApp::spawn().await;
    let email = unique_email();

    let reply = app.sign_in(&email, PASSWORD).await;

    reply.assert_error(400, INVALID_CREDENTIALS);
    assert_sets_no_cookie(&reply);
}

#[tokio::test]
async fn signin_with_a_wrong_password_is_rejected_without_a_cookie() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    assert_eq!(app.sign_up(&email, PASSWORD).await.status, 201);

    let reply = app.sign_in(&email, "aslkdfjalskdfj").await;

    reply.assert_error(400, INVALID_CREDENTIALS);
    assert_sets_no_cookie(&reply);
}

#[tokio::test]
async fn signin_with_valid_credentials_returns_200_and_sets_both_cookies() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let signed_up = app.sign_up(&email, PASSWORD).await.json();

    let reply = app.sign_in(&email, PASSWORD).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json(),
        signed_up,
        "sign-in answers the same {{id,email}} as sign-up"
    );
    assert_cookie_attributes(reply.access_cookie(), false);
    assert_cookie_attributes(reply.refresh_cookie(), false);
    let me = app.current_user(&reply.cookie_header()).await.json();
    assert_eq!(me["currentUser"]["id"], signed_up["id"]);
}

#[tokio::test]
async fn signin_ignores_the_case_of_the_email() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    assert_eq!(app.sign_up(&email, PASSWORD).await.status, 201);

    let reply = app.sign_in(&email.to_uppercase(), PASSWORD).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.json()["email"],
        email.as_str(),
        "the stored spelling is answered"
    );
}

#[tokio::test]
async fn signin_validates_its_fields() {
    let app = TestApp::spawn().await;

    let reply = app
        .post_json("/api/users/signin", &json!({ "email": EMAIL }))
        .await;
    reply.assert_errors(400, &[ErrorItem::field("password", MISSING_PASSWORD)]);

    app.sign_in(EMAIL, "   ")
        .await
        .assert_errors(400, &[ErrorItem::field("password", MISSING_PASSWORD)]);

    let reply = app
        .post_json("/api/users/signin", &json!({ "password": PASSWORD }))
        .await;
    reply.assert_errors(400, &[ErrorItem::field("email", INVALID_EMAIL)]);

    app.sign_in("not-an-email", "").await.assert_errors(
        400,
        &[
            ErrorItem::field("email", INVALID_EMAIL),
            ErrorItem::field("password", MISSING_PASSWORD),
        ],
    );
}

#[tokio::test]
async fn signing_in_again_replaces_the_refresh_session() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let first = app.sign_up(&email, PASSWORD).await;
    let old_cookies = first.cookie_header();

    // The browser sends its existing cookies along with the new sign-in.
    let reply = app
        .post_json_with(
            "/api/users/signin",
            &json!({ "email": email, "password": PASSWORD }),
            &old_cookies,
        )
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_ne!(
        reply.refresh_cookie().value(),
        first.refresh_cookie().value(),
        "a new session id"
    );
    assert_eq!(
        app.refresh(&format!("refresh={}", first.refresh_cookie().value()))
            .await
            .status,
        SESSION_EXPIRED
    );
    assert_eq!(
        app.refresh(&format!("refresh={}", reply.refresh_cookie().value()))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn ten_failed_signins_block_the_eleventh_attempt_even_with_the_right_password() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let other = unique_email();
    assert_eq!(app.sign_up(&email, PASSWORD).await.status, 201);
    assert_eq!(app.sign_up(&other, PASSWORD).await.status, 201);

    for attempt in 1..=10 {
        let reply = app.sign_in(&email, "wrong-password").await;
        assert_eq!(reply.status, 400, "attempt {attempt}: {}", reply.body);
    }
    let reply = app.sign_in(&email, PASSWORD).await;

    let messages = reply.assert_enveloped(429);
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_retry_after(&reply);
    assert!(
        reply.cookie("session").is_none(),
        "{:?}",
        reply.raw_set_cookies
    );
    // Another spelling of the same email is the same account, hence blocked too …
    assert_eq!(
        app.sign_in(&email.to_uppercase(), PASSWORD).await.status,
        429
    );
    // … while other accounts are unaffected.
    assert_eq!(app.sign_in(&other, PASSWORD).await.status, 200);
}

/// A 429's `Retry-After`: whole seconds, within the throttle's one-minute window.
fn assert_retry_after(reply: &TestResponse) {
    let seconds: u64 = reply
        .retry_after
        .as_deref()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("a 429 says when to retry: {:?}", reply.retry_after));
    assert!((1..=60).contains(&seconds), "Retry-After: {seconds}");
}

/// The count is taken before the password check, atomically (a locked map embedded, one
/// Lua script on Redis): fifty guesses at once get at most ten password checks.
#[tokio::test]
async fn fifty_concurrent_wrong_signins_get_at_most_ten_password_checks() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    assert_eq!(app.sign_up(&email, PASSWORD).await.status, 201);

    let guesses = (0..50).map(|n| {
        let (app, email) = (&app, &email);
        async move { app.sign_in(email, &format!("wrong-password-{n}")).await }
    });
    let replies = futures::future::join_all(guesses).await;
    let checked = replies.iter().filter(|r| r.status == 400).count();
    let throttled: Vec<&TestResponse> = replies.iter().filter(|r| r.status == 429).collect();
    assert!(
        checked <= 10,
        "{checked} guesses reached the password check"
    );
    assert_eq!(
        checked + throttled.len(),
        50,
        "every guess is a 400 or a 429"
    );
    for reply in throttled {
        reply.assert_enveloped(429);
        assert_retry_after(reply);
    }
    assert_eq!(app.sign_in(&email, PASSWORD).await.status, 429);
}

/// Behind a proxy we trust, one address trying many emails is throttled too, by the address
/// the proxy appended (the client's own entries before it don't count); other addresses and
/// the emails themselves are unaffected.
#[tokio::test]
async fn behind_a_trusted_proxy_failures_also_count_per_client_address() {
    let app = TestApp::spawn_with(|s| s.trust_proxy = true).await;
    let from = |forwarded: &str, email: &str| {
        app.request(Method::POST, "/api/users/signin")
            .header("x-forwarded-for", forwarded)
            .json(&json!({ "email": email, "password": "wrong-password" }))
    };
    let guesses = (0..50).map(|_| {
        let request = from("10.9.9.9, 198.51.100.7", &unique_email());
        app.send(request)
    });
    for reply in futures::future::join_all(guesses).await {
        assert_eq!(reply.status, 400, "{}", reply.body);
    }
    let email = unique_email();
    let reply = app.send(from("198.51.100.7", &email)).await;
    reply.assert_enveloped(429);
    assert_retry_after(&reply);
    // The client's own spoofed entry doesn't buy it a fresh allowance …
    let reply = app
        .send(from("203.0.113.1, 198.51.100.7", &unique_email()))
        .await;
    assert_eq!(reply.status, 429, "{}", reply.body);
    // … while another address, even for the same email, goes on to the password check.
    assert_eq!(app.send(from("198.51.100.8", &email)).await.status, 400);
}

#[tokio::test]
async fn a_successful_signin_resets_the_failure_count() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    assert_eq!(app.sign_up(&email, PASSWORD).await.status, 201);

    for _ in 0..9 {
        assert_eq!(app.sign_in(&email, "wrong-password").await.status, 400);
    }
    assert_eq!(app.sign_in(&email, PASSWORD).await.status, 200);
    assert_eq!(app.sign_in(&email, "wrong-password").await.status, 400);

    assert_eq!(
        app.sign_in(&email, PASSWORD).await.status,
        200,
        "the earlier failures were forgotten"
    );
}
