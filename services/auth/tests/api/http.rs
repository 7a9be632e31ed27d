//! What every route shares: body limits, malformed bodies, unknown routes and methods in
//! the error envelope, and no password hash in any answer.

use std::time::Duration;

use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{unique_email, with_cookies, TestApp, EMAIL, PASSWORD};

#[tokio::test]
async fn a_body_over_the_size_limit_is_413_in_the_envelope() {
    let app = TestApp::spawn().await;
    let padding = "x".repeat(2 * 1024 * 1024);
    let body = serde_json::to_vec(&json!({ "email": EMAIL, "password": padding })).expect("json");

    let request = app
        .request(Method::POST, "/api/users/signup")
        .header(CONTENT_TYPE, "application/json")
        .body(body);
    let reply = app.send(request).await;

    reply.assert_enveloped(413);
}

#[tokio::test]
async fn malformed_json_is_400_in_the_envelope() {
    let app = TestApp::spawn().await;

    for (path, body) in [
        ("/api/users/signup", "{\"email\": \"test@test.com\", "),
        ("/api/users/signin", "not json at all"),
        (
            "/api/users/signup",
            "{\"email\": 5, \"password\": \"password\"}",
        ),
        ("/api/users/signup", "\"just a string\""),
    ] {
        let request = app
            .request(Method::POST, path)
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        let reply = app.send(request).await;
        let messages = reply.assert_enveloped(400);
        assert_eq!(messages.len(), 1, "{body}: {messages:?}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_declared_json_is_answered_in_the_envelope() {
    let app = TestApp::spawn().await;
    let body = json!({ "email": EMAIL, "password": PASSWORD }).to_string();

    let request = app
        .request(Method::POST, "/api/users/signup")
        .header(CONTENT_TYPE, "text/plain")
        .body(body);
    let reply = app.send(request).await;

    reply.assert_enveloped(415);
}

#[tokio::test]
async fn unknown_api_routes_are_404_in_the_envelope() {
    let app = TestApp::spawn().await;

    for (method, path) in [
        (Method::GET, "/api/nope"),
        (Method::POST, "/api/users/nope"),
        (Method::GET, "/api/users/ban"),
        (Method::DELETE, "/api/users/currentuser/extra"),
        (Method::GET, "/api"),
    ] {
        let reply = app
            .send(app.request(method.clone(), path).json(&json!({})))
            .await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
        reply.assert_error(404, "Not Found");
    }
}

#[tokio::test]
async fn a_wrong_method_on_a_known_route_is_answered_in_the_envelope() {
    let app = TestApp::spawn().await;

    for (method, path) in [
        (Method::GET, "/api/users/signup"),
        (Method::GET, "/api/users/signin"),
        (Method::PUT, "/api/users/signout"),
        (Method::DELETE, "/api/users/currentuser"),
        (Method::POST, "/api/users/currentuser"),
        (Method::GET, "/api/users/refresh"),
    ] {
        let reply = app.send(app.request(method.clone(), path)).await;
        assert!(
            reply.status < 500,
            "{method} {path} must not be a 5xx: {}",
            reply.status
        );
        assert_eq!(reply.status, 405, "{method} {path}: {}", reply.body);
        reply.errors();
    }
}

#[tokio::test]
async fn the_password_hash_never_appears_in_any_response() {
    let app = TestApp::spawn_with(|s| s.access_token_ttl = Duration::from_secs(1)).await;
    let email = unique_email();
    let secret = "hunter2secret";
    let mut replies = vec![app.sign_up(&email, secret).await];
    let cookies = replies[0].cookie_header();
    replies.push(app.sign_in(&email, secret).await);
    replies.push(app.sign_in(&email, "wrong-password").await);
    replies.push(app.sign_up(&email, secret).await);
    replies.push(app.current_user(&cookies).await);
    replies.push(app.refresh(&cookies).await);
    replies.push(app.sign_out(&cookies).await);

    for reply in &replies {
        let everything = format!("{} {:?}", reply.body, reply.raw_set_cookies);
        for needle in ["argon2", "$v=19$", "password_hash", "passwordHash", secret] {
            assert!(
                !everything.contains(needle),
                "{needle:?} leaked in {everything}"
            );
        }
        if reply.status < 300 {
            let body = reply.json();
            assert!(
                body.as_object()
                    .is_some_and(|o| !o.contains_key("password")),
                "a password field in {body}"
            );
        }
    }
}

#[tokio::test]
async fn currentuser_answers_with_a_json_content_type() {
    let app = TestApp::spawn().await;
    let cookies = app.signed_up(EMAIL).await;

    let request = with_cookies(app.request(Method::GET, "/api/users/currentuser"), &cookies);
    let reply = app.send(request).await;

    assert!(
        reply
            .content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("application/json")),
        "{reply:?}"
    );
}
