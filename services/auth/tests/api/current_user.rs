//! `GET /api/users/currentuser`: who the cookie says, renewing an expired access token
//! from a live refresh session, anonymous for any token that does not verify.

use std::time::Duration;

use common::auth::{JwtKeys, TokenState};
use common::wire::cookie::REFRESH_SESSION as REFRESH_COOKIE;
use serde_json::json;

use crate::helpers::{
    assert_anonymous_and_cleared, assert_cookie_attributes, is_removal, keys_of, session,
    wait_until_expired, TestApp, EMAIL, PASSWORD, SESSION_EXPIRED,
};

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
    assert_eq!(
        keys_of(current),
        ["email", "exp", "iat", "id", "isAdmin"],
        "{body}"
    );
    assert_eq!(current["isAdmin"], false, "not in ADMIN_EMAILS");
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
        .current_user(&session(signup.access_cookie().value()))
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
        .access_cookie()
        .value()
        .to_owned();
    let mallory = app
        .sign_up("mallory@test.com", PASSWORD)
        .await
        .access_cookie()
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
        .access_cookie()
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
    let old = signup.access_cookie().value().to_owned();
    wait_until_expired(&app, &old).await;

    let reply = app.current_user(&cookies).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    let current = reply.json()["currentUser"].clone();
    assert_eq!(current["id"], signup.json()["id"], "{current}");
    assert_eq!(current["email"], EMAIL);
    let access = reply.access_cookie();
    assert_cookie_attributes(access, false);
    assert!(!is_removal(access), "{access}");
    assert_ne!(access.value(), old, "a new token");
    match JwtKeys::from_settings(&app.settings).verify(access.value()) {
        TokenState::Valid(claims) => assert_eq!(
            current,
            json!({ "id": claims.id, "email": claims.email, "iat": claims.iat, "exp": claims.exp, "isAdmin": false }),
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
    assert!(!is_removal(again.access_cookie()));
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
    wait_until_expired(&app, signup.access_cookie().value()).await;

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
    let token = signup.access_cookie().value().to_owned();
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
