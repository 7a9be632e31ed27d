//! `POST /api/users/signup`: validation, cookies, and one user per email.

use common::dto::ErrorItem;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    assert_cookie_attributes, is_removal, keys_of, TestApp, TestResponse, EMAIL, EMAIL_IN_USE,
    INVALID_EMAIL, INVALID_PASSWORD, PASSWORD,
};

#[tokio::test]
async fn signup_with_valid_credentials_returns_201_and_the_user() {
    let app = TestApp::spawn().await;

    let reply = app.sign_up(EMAIL, PASSWORD).await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    let body = reply.json();
    assert_eq!(keys_of(&body), ["email", "id"], "{body}");
    assert_eq!(body["email"], EMAIL);
    assert!(
        body["id"].as_str().is_some_and(|id| !id.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn signup_sets_an_httponly_lax_session_cookie_and_a_refresh_cookie() {
    let app = TestApp::spawn().await;

    let reply = app.sign_up(EMAIL, PASSWORD).await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    let access = reply.access_cookie();
    assert_cookie_attributes(access, false);
    assert!(
        !access.value().is_empty() && !is_removal(access),
        "{access}"
    );
    assert_eq!(
        access.value().split('.').count(),
        3,
        "the access token is a JWT: {access}"
    );
    let refresh = reply.refresh_cookie();
    assert_cookie_attributes(refresh, false);
    assert!(
        !refresh.value().is_empty() && !is_removal(refresh),
        "{refresh}"
    );
}

#[tokio::test]
async fn with_cookie_secure_both_cookies_are_marked_secure() {
    let app = TestApp::spawn_with(|s| s.cookie_secure = true).await;

    let reply = app.sign_up(EMAIL, PASSWORD).await;

    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_cookie_attributes(reply.access_cookie(), true);
    assert_cookie_attributes(reply.refresh_cookie(), true);
}

#[tokio::test]
async fn signup_with_an_invalid_email_is_rejected_with_a_field_error() {
    let app = TestApp::spawn().await;

    for bad in [
        "alskdflaskjfd",
        "a@b",
        "@test.com",
        "test@",
        "a b@test.com",
        "",
    ] {
        let reply = app.sign_up(bad, PASSWORD).await;
        reply.assert_errors(400, &[ErrorItem::field("email", INVALID_EMAIL)]);
        assert!(
            reply.set_cookies.is_empty(),
            "{bad:?} set cookies: {:?}",
            reply.raw_set_cookies
        );
    }
}

#[tokio::test]
async fn signup_with_an_invalid_password_is_rejected_with_a_field_error() {
    let app = TestApp::spawn().await;

    for bad in [
        "p".to_owned(),
        "abc".to_owned(),
        "   abc   ".to_owned(),
        "x".repeat(21),
    ] {
        let reply = app.sign_up(EMAIL, &bad).await;
        reply.assert_errors(400, &[ErrorItem::field("password", INVALID_PASSWORD)]);
        assert!(
            reply.set_cookies.is_empty(),
            "{bad:?} set cookies: {:?}",
            reply.raw_set_cookies
        );
    }
    // The bounds themselves are accepted.
    assert_eq!(app.sign_up("four@test.com", "abcd").await.status, 201);
    assert_eq!(
        app.sign_up("twenty@test.com", &"x".repeat(20)).await.status,
        201
    );
}

#[tokio::test]
async fn signup_with_a_missing_email_or_password_is_rejected() {
    let app = TestApp::spawn().await;

    let reply = app
        .post_json("/api/users/signup", &json!({ "email": EMAIL }))
        .await;
    reply.assert_errors(400, &[ErrorItem::field("password", INVALID_PASSWORD)]);

    let reply = app
        .post_json("/api/users/signup", &json!({ "password": "alskjdf" }))
        .await;
    reply.assert_errors(400, &[ErrorItem::field("email", INVALID_EMAIL)]);

    let reply = app.post_json("/api/users/signup", &json!({})).await;
    reply.assert_errors(
        400,
        &[
            ErrorItem::field("email", INVALID_EMAIL),
            ErrorItem::field("password", INVALID_PASSWORD),
        ],
    );
}

#[tokio::test]
async fn signup_with_both_fields_invalid_reports_both_field_errors() {
    let app = TestApp::spawn().await;

    let reply = app.sign_up("alskdflaskjfd", "p").await;

    reply.assert_errors(
        400,
        &[
            ErrorItem::field("email", INVALID_EMAIL),
            ErrorItem::field("password", INVALID_PASSWORD),
        ],
    );
}

#[tokio::test]
async fn signup_with_an_email_in_use_is_rejected() {
    let app = TestApp::spawn().await;
    assert_eq!(app.sign_up(EMAIL, PASSWORD).await.status, 201);

    let reply = app.sign_up(EMAIL, PASSWORD).await;

    reply.assert_error(400, EMAIL_IN_USE);
    assert!(reply.set_cookies.is_empty(), "{:?}", reply.raw_set_cookies);
}

#[tokio::test]
async fn signup_with_an_email_in_use_differing_only_in_case_is_rejected() {
    let app = TestApp::spawn().await;
    assert_eq!(app.sign_up(EMAIL, PASSWORD).await.status, 201);

    app.sign_up("Test@TEST.com", "another")
        .await
        .assert_error(400, EMAIL_IN_USE);
    app.sign_up("  TEST@test.COM ", "another")
        .await
        .assert_error(400, EMAIL_IN_USE);
}

#[tokio::test]
async fn concurrent_signups_for_one_email_create_exactly_one_user() {
    let app = TestApp::spawn().await;
    let emails = [
        "race@test.com",
        "Race@test.com",
        "RACE@test.com",
        "race@TEST.com",
        "rAcE@test.com",
    ];

    let mut requests = tokio::task::JoinSet::new();
    for email in emails {
        let request = app
            .request(Method::POST, "/api/users/signup")
            .json(&json!({ "email": email, "password": PASSWORD }));
        requests.spawn(async move {
            TestResponse::read(
                request
                    .send()
                    .await
                    .expect("the request reaches the server"),
            )
            .await
        });
    }
    let replies = requests.join_all().await;

    let created = replies.iter().filter(|r| r.status == 201).count();
    assert_eq!(
        created,
        1,
        "statuses: {:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    for reply in replies.iter().filter(|r| r.status != 201) {
        reply.assert_error(400, EMAIL_IN_USE);
    }
}
