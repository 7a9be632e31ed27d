//! `POST /api/users/signout`: both cookies cleared, the refresh session revoked.

use serde_json::json;

use crate::helpers::{is_removal, TestApp, EMAIL, PASSWORD, SESSION_EXPIRED};

#[tokio::test]
async fn signout_without_any_cookie_expires_the_session_cookie() {
    let app = TestApp::spawn().await;
    assert_eq!(app.sign_up(EMAIL, PASSWORD).await.status, 201);

    // The sign-up's cookie is deliberately not sent.
    let reply = app.sign_out("").await;

    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.json(), json!({}));
    let access = reply.access_cookie();
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
        is_removal(reply.access_cookie()),
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
