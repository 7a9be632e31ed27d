//! The auth service's HTTP API, end to end over real sockets. The same suite runs on SQLite
//! (default) and on PostgreSQL + Redis (`DATABASE_URL=postgres://… REDIS_URL=redis://…`).
mod helpers;

use std::time::Duration;

use common::auth::{JwtKeys, TokenState};
use common::dto::{ErrorItem, REFRESH_COOKIE};
use helpers::{
    assert_cookie_attributes, eventually, is_removal, unique_email, with_cookies, Reply, TestApp,
    PASSWORD,
};
use reqwest::header::CONTENT_TYPE;
use reqwest::Method;
use serde_json::{json, Value};

/// Tests that sign in use `unique_email()` instead: on Redis the failed-sign-in throttle is
/// shared by every test (and every run) for a minute.
const EMAIL: &str = "test@test.com";
const INVALID_EMAIL: &str = "Email must be valid";
const INVALID_PASSWORD: &str = "Password must be between 4 and 20 characters";
const MISSING_PASSWORD: &str = "You must supply a password";
const EMAIL_IN_USE: &str = "Email in use";
const INVALID_CREDENTIALS: &str = "Invalid credentials";
const SESSION_EXPIRED: u16 = 499;

fn keys_of(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

/// `Cookie` header carrying only the given access token.
fn session(token: &str) -> String {
    format!("session={token}")
}

/// Waits until `token` has expired, checked locally as every service checks it.
async fn wait_until_expired(app: &TestApp, token: &str) {
    let keys = JwtKeys::from_settings(&app.settings);
    // A 1 s token is refused once its `exp` second has passed (no leeway).
    let expired = eventually(Duration::from_secs(5), || async {
        (keys.verify(token) == TokenState::Expired).then_some(())
    })
    .await;
    assert!(expired.is_some(), "the access token never expired");
}

/// Asserts a 200 `{"currentUser": null}` that clears the `session` cookie.
fn assert_anonymous_and_cleared(reply: &Reply) {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({ "currentUser": null }));
    let access = reply.session_cookie();
    assert!(
        is_removal(access),
        "the session cookie must be cleared: {access}"
    );
    assert_eq!(access.path(), Some("/"), "{access}");
}

// ---------------------------------------------------------------------------------------
// Sign-up

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
    let access = reply.session_cookie();
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
    assert_cookie_attributes(reply.session_cookie(), true);
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
            Reply::read(
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

// ---------------------------------------------------------------------------------------
// Sign-in

#[tokio::test]
async fn signin_with_an_unknown_email_is_rejected_without_a_cookie() {
    let app = TestApp::spawn().await;
    let email = unique_email();

    let reply = app.sign_in(&email, PASSWORD).await;

    reply.assert_error(400, INVALID_CREDENTIALS);
    assert!(
        reply.cookie("session").is_none(),
        "{:?}",
        reply.raw_set_cookies
    );
    assert!(
        reply.cookie("refresh").is_none(),
        "{:?}",
        reply.raw_set_cookies
    );
}

#[tokio::test]
async fn signin_with_a_wrong_password_is_rejected_without_a_cookie() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    assert_eq!(app.sign_up(&email, PASSWORD).await.status, 201);

    let reply = app.sign_in(&email, "aslkdfjalskdfj").await;

    reply.assert_error(400, INVALID_CREDENTIALS);
    assert!(
        reply.cookie("session").is_none(),
        "{:?}",
        reply.raw_set_cookies
    );
    assert!(
        reply.cookie("refresh").is_none(),
        "{:?}",
        reply.raw_set_cookies
    );
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
    assert_cookie_attributes(reply.session_cookie(), false);
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
fn assert_retry_after(reply: &Reply) {
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
    let throttled: Vec<&Reply> = replies.iter().filter(|r| r.status == 429).collect();
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

// ---------------------------------------------------------------------------------------
// Sign-out

#[tokio::test]
async fn signout_without_any_cookie_expires_the_session_cookie() {
    let app = TestApp::spawn().await;
    assert_eq!(app.sign_up(EMAIL, PASSWORD).await.status, 201);

    // The sign-up's cookie is deliberately not sent.
    let reply = app.sign_out("").await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({}));
    let access = reply.session_cookie();
    assert!(
        is_removal(access),
        "the session cookie must be expired: {access}"
    );
    assert_eq!(access.value(), "");
    assert_eq!(
        access.path(),
        Some("/"),
        "removal must match the cookie's path: {access}"
    );
    assert_eq!(access.http_only(), Some(true), "{access}");
}

#[tokio::test]
async fn signout_expires_both_cookies_and_revokes_the_refresh_session() {
    let app = TestApp::spawn().await;
    let cookies = app.signed_up(EMAIL).await;
    assert_eq!(
        app.refresh(&cookies).await.status,
        200,
        "the refresh session works before sign-out"
    );

    let reply = app.sign_out(&cookies).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({}));
    assert!(
        is_removal(reply.session_cookie()),
        "{:?}",
        reply.raw_set_cookies
    );
    assert!(
        is_removal(reply.refresh_cookie()),
        "{:?}",
        reply.raw_set_cookies
    );
    // Replaying the old refresh cookie after sign-out gets nothing.
    let replay = app.refresh(&cookies).await;
    replay.assert_enveloped(SESSION_EXPIRED);
    assert!(
        replay.cookie("session").is_none_or(is_removal),
        "{:?}",
        replay.raw_set_cookies
    );
}

// ---------------------------------------------------------------------------------------
// Current user

#[tokio::test]
async fn currentuser_with_a_session_cookie_returns_the_user() {
    let app = TestApp::spawn().await;
    let signup = app.sign_up(EMAIL, PASSWORD).await;
    let user = signup.json();

    let reply = app.current_user(&signup.cookie_header()).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.json();
    assert_eq!(keys_of(&body), ["currentUser"], "{body}");
    let current = &body["currentUser"];
    assert_eq!(keys_of(current), ["email", "exp", "iat", "id"], "{body}");
    assert_eq!(current["id"], user["id"]);
    assert_eq!(current["email"], EMAIL);
    let (iat, exp) = (
        current["iat"].as_i64().expect("iat"),
        current["exp"].as_i64().expect("exp"),
    );
    assert_eq!(
        exp - iat,
        15 * 60,
        "the default access token lives 15 minutes"
    );
    assert!(
        (iat - chrono::Utc::now().timestamp()).abs() <= 5,
        "iat is now: {iat}"
    );
}

#[tokio::test]
async fn currentuser_with_only_the_session_cookie_needs_no_refresh_session() {
    let app = TestApp::spawn().await;
    let signup = app.sign_up(EMAIL, PASSWORD).await;

    let reply = app
        .current_user(&session(signup.session_cookie().value()))
        .await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json()["currentUser"]["email"], EMAIL);
}

#[tokio::test]
async fn currentuser_without_a_cookie_returns_null() {
    let app = TestApp::spawn().await;

    let reply = app.current_user("").await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({ "currentUser": null }));
    assert!(
        reply.raw_set_cookies.is_empty(),
        "{:?}",
        reply.raw_set_cookies
    );
}

#[tokio::test]
async fn a_tampered_token_is_anonymous_on_currentuser() {
    let app = TestApp::spawn().await;
    let alice = app
        .sign_up("alice@test.com", PASSWORD)
        .await
        .session_cookie()
        .value()
        .to_owned();
    let mallory = app
        .sign_up("mallory@test.com", PASSWORD)
        .await
        .session_cookie()
        .value()
        .to_owned();
    let alice_parts: Vec<&str> = alice.split('.').collect();
    let mallory_parts: Vec<&str> = mallory.split('.').collect();

    // Alice's claims under Mallory's signature, and a flipped signature character.
    let swapped = format!(
        "{}.{}.{}",
        mallory_parts[0], alice_parts[1], mallory_parts[2]
    );
    let mut flipped = mallory.clone();
    let last = flipped.pop().expect("a non-empty token");
    flipped.push(if last == 'A' { 'B' } else { 'A' });

    for token in [swapped, flipped, "not-a-jwt".to_owned()] {
        let reply = app.current_user(&session(&token)).await;
        assert_anonymous_and_cleared(&reply);
    }
}

#[tokio::test]
async fn a_token_signed_with_another_key_is_anonymous_on_currentuser() {
    let app = TestApp::spawn().await;
    let user = app.sign_up(EMAIL, PASSWORD).await.json();
    let id = user["id"].as_str().expect("an id");
    let forger = JwtKeys::new(
        b"some-other-key-some-other-key-!!",
        Duration::from_secs(900),
        false,
    );
    let forged = forger.issue(id, EMAIL).expect("a forged token");

    let reply = app.current_user(&session(&forged)).await;

    assert_anonymous_and_cleared(&reply);
}

#[tokio::test]
async fn an_alg_none_token_is_anonymous_on_currentuser() {
    let app = TestApp::spawn().await;
    let genuine = app
        .sign_up(EMAIL, PASSWORD)
        .await
        .session_cookie()
        .value()
        .to_owned();
    let claims = genuine.split('.').nth(1).expect("a payload segment");
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}

    for token in [
        format!("{none_header}.{claims}."),
        format!("{none_header}.{claims}"),
    ] {
        let reply = app.current_user(&session(&token)).await;
        assert_anonymous_and_cleared(&reply);
    }
}

#[tokio::test]
async fn currentuser_renews_an_expired_token_from_the_live_refresh_session() {
    let app = TestApp::spawn_with(|s| s.access_token_ttl = Duration::from_secs(1)).await;
    let signup = app.sign_up(EMAIL, PASSWORD).await;
    let cookies = signup.cookie_header();
    let old = signup.session_cookie().value().to_owned();
    wait_until_expired(&app, &old).await;

    let reply = app.current_user(&cookies).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let current = reply.json()["currentUser"].clone();
    assert_eq!(current["id"], signup.json()["id"], "{current}");
    assert_eq!(current["email"], EMAIL);
    let access = reply.session_cookie();
    assert_cookie_attributes(access, false);
    assert!(!is_removal(access), "{access}");
    assert_ne!(access.value(), old, "a new token");
    match JwtKeys::from_settings(&app.settings).verify(access.value()) {
        TokenState::Valid(claims) => assert_eq!(
            current,
            json!({ "id": claims.id, "email": claims.email, "iat": claims.iat, "exp": claims.exp }),
            "the answer is the new token's claims"
        ),
        other => panic!("the new token must verify, got {other:?}"),
    }
    // The refresh session is read, not rotated: its cookie is not replaced.
    assert!(
        reply
            .cookie(REFRESH_COOKIE)
            .is_none_or(|c| c.value() == signup.refresh_cookie().value() && !is_removal(c)),
        "{:?}",
        reply.raw_set_cookies
    );

    // Had that answer gone to a server-side render and never reached the browser, the
    // browser's cookies must still work: on currentuser again, and on refresh.
    let again = app.current_user(&cookies).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["currentUser"]["email"], EMAIL);
    assert!(!is_removal(again.session_cookie()));
    let refreshed = app.refresh(&cookies).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    // With the renewed token nothing needs renewing.
    let fresh = format!(
        "{}; refresh={}",
        session(access.value()),
        signup.refresh_cookie().value()
    );
    let me = app.current_user(&fresh).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["currentUser"], current);
    assert!(me.raw_set_cookies.is_empty(), "{:?}", me.raw_set_cookies);
}

#[tokio::test]
async fn currentuser_with_an_expired_token_after_signout_is_null_and_clears_the_cookie() {
    let app = TestApp::spawn_with(|s| s.access_token_ttl = Duration::from_secs(1)).await;
    let signup = app.sign_up(EMAIL, PASSWORD).await;
    let cookies = signup.cookie_header();
    assert_eq!(app.sign_out(&cookies).await.status, 200);
    wait_until_expired(&app, signup.session_cookie().value()).await;

    // The old cookies replayed: an expired token and a revoked refresh session.
    let reply = app.current_user(&cookies).await;

    assert_anonymous_and_cleared(&reply);
    assert!(
        reply.cookie(REFRESH_COOKIE).is_none_or(is_removal),
        "{:?}",
        reply.raw_set_cookies
    );
    app.refresh(&cookies)
        .await
        .assert_enveloped(SESSION_EXPIRED);
}

#[tokio::test]
async fn currentuser_with_an_expired_token_and_no_live_refresh_session_is_null() {
    let app = TestApp::spawn_with(|s| {
        s.access_token_ttl = Duration::from_secs(1);
        s.refresh_ttl = Duration::from_secs(1);
    })
    .await;
    let signup = app.sign_up(EMAIL, PASSWORD).await;
    let token = signup.session_cookie().value().to_owned();
    wait_until_expired(&app, &token).await;
    // Past the refresh session's lifetime too (the stores expire by the second).
    tokio::time::sleep(Duration::from_millis(1500)).await;

    for cookies in [
        signup.cookie_header(),
        // No refresh cookie, an unknown session id, a malformed one.
        session(&token),
        format!("{}; refresh=bm90LWEtc2Vzc2lvbi1pZA", session(&token)),
        format!("{}; refresh=%%%garbage", session(&token)),
    ] {
        let reply = app.current_user(&cookies).await;
        assert_anonymous_and_cleared(&reply);
    }
}

// ---------------------------------------------------------------------------------------
// Refresh

#[tokio::test]
async fn refresh_after_the_access_token_expires_issues_a_working_session_cookie() {
    let app = TestApp::spawn_with(|s| s.access_token_ttl = Duration::from_secs(1)).await;
    let signup = app.sign_up(EMAIL, PASSWORD).await;
    let cookies = signup.cookie_header();
    assert_eq!(
        app.current_user(&cookies).await.json()["currentUser"]["email"],
        EMAIL
    );

    wait_until_expired(&app, signup.session_cookie().value()).await;

    let reply = app.refresh(&cookies).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), signup.json(), "refresh answers {{id,email}}");
    let access = reply.session_cookie();
    assert_cookie_attributes(access, false);
    assert_ne!(
        access.value(),
        signup.session_cookie().value(),
        "a new token"
    );
    let fresh = format!(
        "{}; refresh={}",
        session(access.value()),
        signup.refresh_cookie().value()
    );
    let me = app.current_user(&fresh).await;
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(me.json()["currentUser"]["email"], EMAIL);
}

#[tokio::test]
async fn refresh_without_a_session_is_499() {
    let app = TestApp::spawn().await;

    app.refresh("").await.assert_enveloped(SESSION_EXPIRED);
    // An unknown or malformed refresh id is no better.
    app.refresh("refresh=bm90LWEtc2Vzc2lvbi1pZA")
        .await
        .assert_enveloped(SESSION_EXPIRED);
    app.refresh("refresh=%%%garbage")
        .await
        .assert_enveloped(SESSION_EXPIRED);
}

#[tokio::test]
async fn refresh_with_only_an_access_token_is_499() {
    let app = TestApp::spawn().await;
    let signup = app.sign_up(EMAIL, PASSWORD).await;

    let reply = app.refresh(&session(signup.session_cookie().value())).await;

    reply.assert_enveloped(SESSION_EXPIRED);
}

#[tokio::test]
async fn refresh_after_the_refresh_session_expired_is_499() {
    let app = TestApp::spawn_with(|s| s.refresh_ttl = Duration::from_secs(1)).await;
    let cookies = app.signed_up(EMAIL).await;
    assert_eq!(
        app.refresh(&cookies).await.status,
        200,
        "the session works while it lasts"
    );

    tokio::time::sleep(Duration::from_millis(2500)).await;
    let reply = app.refresh(&cookies).await;

    reply.assert_enveloped(SESSION_EXPIRED);
}

/// `refresh=<id>` as the reply set it.
fn refresh_of(reply: &Reply) -> String {
    let refresh = reply.refresh_cookie();
    assert!(!is_removal(refresh), "{:?}", reply.raw_set_cookies);
    format!("refresh={}", refresh.value())
}

#[tokio::test]
async fn every_refresh_rotates_the_refresh_id_and_a_replayed_old_one_revokes_the_sign_in() {
    let app = TestApp::spawn_with(|s| s.refresh_reuse_grace = Duration::ZERO).await;
    let email = unique_email();
    let signup = app.sign_up(&email, PASSWORD).await;
    let first = refresh_of(&signup);
    // A second sign-in of the same user (another device): its own family.
    let other_device = app.sign_in(&email, PASSWORD).await;
    assert_eq!(other_device.status, 200, "{}", other_device.body);

    let rotated = app.refresh(&first).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let second = refresh_of(&rotated);
    assert_ne!(second, first, "a new refresh id");
    let again = app.refresh(&second).await;
    assert_eq!(again.status, 200, "{}", again.body);
    let third = refresh_of(&again);
    assert_ne!(third, second);

    // A copy of the first cookie, replayed (by whoever copied it, or by the owner).
    let replay = app.refresh(&first).await;
    replay.assert_enveloped(SESSION_EXPIRED);
    assert!(
        replay.cookie(REFRESH_COOKIE).is_none_or(is_removal),
        "{:?}",
        replay.raw_set_cookies
    );
    // The whole sign-in is over: its current id too, the one before, and its access tokens.
    app.refresh(&third).await.assert_enveloped(SESSION_EXPIRED);
    let latest = again.session_cookie().value().to_owned();
    assert_eq!(app.keys.check(&latest).await, TokenState::Revoked);
    app.refresh(&second).await.assert_enveloped(SESSION_EXPIRED);
    // The other device's sign-in is not that family.
    let token = other_device.session_cookie().value().to_owned();
    assert!(matches!(app.keys.check(&token).await, TokenState::Valid(_)));
    let elsewhere = app.refresh(&refresh_of(&other_device)).await;
    assert_eq!(elsewhere.status, 200, "{}", elsewhere.body);
}

#[tokio::test]
async fn a_just_retired_refresh_id_still_answers_within_the_grace_window_without_rotating() {
    let app = TestApp::spawn().await; // the default grace, 10 s
    let signup = app.sign_up(&unique_email(), PASSWORD).await;
    let first = refresh_of(&signup);
    let rotated = app.refresh(&first).await;
    let second = refresh_of(&rotated);

    // Two tabs refreshed at once: the one that lost the race still gets a token...
    let late = app.refresh(&first).await;
    assert_eq!(late.status, 200, "{}", late.body);
    assert!(
        !is_removal(late.session_cookie()),
        "{:?}",
        late.raw_set_cookies
    );
    // ...and leaves the browser's new refresh cookie alone.
    assert!(
        late.cookie(REFRESH_COOKIE).is_none(),
        "{:?}",
        late.raw_set_cookies
    );
    let next = app.refresh(&second).await;
    assert_eq!(next.status, 200, "{}", next.body);
}

#[tokio::test]
async fn currentuser_renewing_from_a_replayed_refresh_id_revokes_the_sign_in_too() {
    let app = TestApp::spawn_with(|s| {
        s.access_token_ttl = Duration::from_secs(1);
        s.refresh_reuse_grace = Duration::ZERO;
    })
    .await;
    let signup = app.sign_up(&unique_email(), PASSWORD).await;
    let token = signup.session_cookie().value().to_owned();
    let first = refresh_of(&signup);
    let current = refresh_of(&app.refresh(&first).await);
    wait_until_expired(&app, &token).await;

    // currentuser renews without rotating, but a retired id is a replay there as well.
    let reply = app
        .current_user(&format!("{}; {first}", session(&token)))
        .await;

    assert_anonymous_and_cleared(&reply);
    let after = app
        .current_user(&format!("{}; {current}", session(&token)))
        .await;
    assert_anonymous_and_cleared(&after);
    app.refresh(&current)
        .await
        .assert_enveloped(SESSION_EXPIRED);
}

#[tokio::test]
async fn a_signed_out_access_token_is_refused_at_once_and_so_is_every_token_of_that_sign_in() {
    let app = TestApp::spawn().await;
    let email = unique_email();
    let signup = app.sign_up(&email, PASSWORD).await;
    let first_token = signup.session_cookie().value().to_owned();
    // The same sign-in refreshed: a second token, the first not yet expired.
    let refreshed = app.refresh(&signup.cookie_header()).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let token = refreshed.session_cookie().value().to_owned();
    let other_device = app.sign_in(&email, PASSWORD).await;
    let keys = &app.keys;
    assert!(matches!(keys.check(&token).await, TokenState::Valid(_)));

    let cookies = format!("{}; {}", session(&token), refresh_of(&refreshed));
    assert_eq!(app.sign_out(&cookies).await.status, 200);

    // Still well signed and unexpired, but on the list every service checks.
    assert!(matches!(keys.verify(&token), TokenState::Valid(_)));
    assert_eq!(keys.check(&token).await, TokenState::Revoked);
    assert_eq!(keys.check(&first_token).await, TokenState::Revoked);
    assert_anonymous_and_cleared(&app.current_user(&session(&token)).await);
    assert_anonymous_and_cleared(&app.current_user(&session(&first_token)).await);
    // Signing out here is not signing out everywhere.
    let elsewhere = other_device.session_cookie().value().to_owned();
    assert!(matches!(keys.check(&elsewhere).await, TokenState::Valid(_)));
}

// ---------------------------------------------------------------------------------------
// Cross-cutting HTTP behaviour

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
        (Method::GET, "/api/users"),
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
