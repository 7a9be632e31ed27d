//! `POST /api/users/refresh`: rotation of the refresh id, replay detection, and revocation.

use std::time::Duration;

use common::auth::TokenState;
use common::wire::cookie::REFRESH_SESSION as REFRESH_COOKIE;

use crate::helpers::{
    assert_anonymous_and_cleared, assert_cookie_attributes, is_removal, session, unique_email,
    wait_until_expired, TestApp, TestResponse, EMAIL, PASSWORD, SESSION_EXPIRED,
};

#[tokio::test]
async fn refresh_after_the_access_token_expires_issues_a_working_session_cookie() {
    let app = TestApp::spawn_with(|s| s.access_token_ttl = Duration::from_secs(1)).await;
    let signup = app.sign_up(EMAIL, PASSWORD).await;
    let cookies = signup.cookie_header();
    assert_eq!(
        app.current_user(&cookies).await.json()["currentUser"]["email"],
        EMAIL
    );

    wait_until_expired(&app, signup.access_cookie().value()).await;

    let reply = app.refresh(&cookies).await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), signup.json(), "refresh answers {{id,email}}");
    let access = reply.access_cookie();
    assert_cookie_attributes(access, false);
    assert_ne!(
        access.value(),
        signup.access_cookie().value(),
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

    let reply = app.refresh(&session(signup.access_cookie().value())).await;

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
fn refresh_of(reply: &TestResponse) -> String {
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
    let latest = again.access_cookie().value().to_owned();
    assert_eq!(app.keys.check(&latest).await, TokenState::Revoked);
    app.refresh(&second).await.assert_enveloped(SESSION_EXPIRED);
    // The other device's sign-in is not that family.
    let token = other_device.access_cookie().value().to_owned();
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
        !is_removal(late.access_cookie()),
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
    let token = signup.access_cookie().value().to_owned();
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
    let first_token = signup.access_cookie().value().to_owned();
    // The same sign-in refreshed: a second token, the first not yet expired.
    let refreshed = app.refresh(&signup.cookie_header()).await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let token = refreshed.access_cookie().value().to_owned();
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
    let elsewhere = other_device.access_cookie().value().to_owned();
    assert!(matches!(keys.check(&elsewhere).await, TokenState::Valid(_)));
}
