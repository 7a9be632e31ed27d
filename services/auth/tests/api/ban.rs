//! The admin API (`GET /api/users`, `POST`/`DELETE /api/users/:id/ban`): who may call it,
//! what it accepts, and what a ban does to the user's sign-in, refresh sessions and tokens.

use common::dto::ErrorItem;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{
    assert_anonymous_and_cleared, unique_email, with_cookies, TestApp, TestResponse, PASSWORD,
    SESSION_EXPIRED,
};

/// An auth service whose `ADMIN_EMAILS` names a fresh admin (written in another case, to
/// show the comparison ignores it): the app and the admin's email.
async fn with_admin() -> (TestApp, String) {
    let admin = unique_email();
    let listed = format!("  {} ", admin.to_uppercase());
    let app = TestApp::spawn_with(|settings| {
        settings.admin_emails = common::settings::admin_emails(&format!("other@x.co,{listed}"));
    })
    .await;
    (app, admin)
}

/// Signs `email` up; its cookies and its user id.
async fn user(app: &TestApp, email: &str) -> (String, String) {
    let reply = app.sign_up(email, PASSWORD).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.json()["id"].as_str().expect("an id").to_owned();
    (reply.cookie_header(), id)
}

async fn ban(app: &TestApp, cookies: &str, id: &str, reason: Value) -> TestResponse {
    app.post_json_with(
        &format!("/api/users/{id}/ban"),
        &json!({ "reason": reason }),
        cookies,
    )
    .await
}

async fn unban(app: &TestApp, cookies: &str, id: &str) -> TestResponse {
    app.send(with_cookies(
        app.request(Method::DELETE, &format!("/api/users/{id}/ban")),
        cookies,
    ))
    .await
}

#[tokio::test]
async fn the_admin_api_is_for_admins_only() {
    let (app, admin) = with_admin().await;
    let (admin, _) = user(&app, &admin).await;
    let someone_email = unique_email();
    let (someone, _) = user(&app, &someone_email).await;
    let (_, other_id) = user(&app, &unique_email()).await;

    for cookies in ["", someone.as_str()] {
        let (status, message) = if cookies.is_empty() {
            (401, "Not authorized")
        } else {
            (403, "Admins only")
        };
        app.get_with("/api/users?email=", cookies)
            .await
            .assert_error(status, message);
        ban(&app, cookies, &other_id, json!("spam"))
            .await
            .assert_error(status, message);
        unban(&app, cookies, &other_id)
            .await
            .assert_error(status, message);
    }
    // Nothing was banned on the way.
    assert_eq!(app.sign_in(&someone_email, PASSWORD).await.status, 200);

    let me = app.current_user(&admin).await.json();
    assert_eq!(me["currentUser"]["isAdmin"], true, "{me}");
    let me = app.current_user(&someone).await.json();
    assert_eq!(me["currentUser"]["isAdmin"], false, "{me}");
}

#[tokio::test]
async fn a_ban_needs_a_known_user_and_a_one_line_reason() {
    let (app, admin) = with_admin().await;
    let (admin, admin_id) = user(&app, &admin).await;
    let (_, id) = user(&app, &unique_email()).await;
    let reason_error = |message: &str| vec![ErrorItem::field("reason", message)];

    ban(&app, &admin, "not-a-uuid", json!("spam"))
        .await
        .assert_errors(400, &[ErrorItem::field("id", "User id must be valid")]);
    ban(&app, &admin, &uuid_v4(), json!("spam"))
        .await
        .assert_error(404, "Not Found");
    unban(&app, &admin, &uuid_v4())
        .await
        .assert_error(404, "Not Found");
    unban(&app, &admin, "1; DROP TABLE users")
        .await
        .assert_errors(400, &[ErrorItem::field("id", "User id must be valid")]);
    for (reason, message) in [
        (json!("   "), "A reason is required"),
        (
            json!("x".repeat(501)),
            "Reason must be at most 500 characters",
        ),
        (
            json!("two\nlines"),
            "Reason must be one line without control characters",
        ),
        (
            json!("nul\u{0}byte"),
            "Reason must be one line without control characters",
        ),
    ] {
        ban(&app, &admin, &id, reason)
            .await
            .assert_errors(400, &reason_error(message));
    }
    let missing = app
        .post_json_with(&format!("/api/users/{id}/ban"), &json!({}), &admin)
        .await;
    assert_eq!(missing.assert_enveloped(400).len(), 1, "{}", missing.body);
    ban(&app, &admin, &admin_id, json!("oops"))
        .await
        .assert_error(400, "You can't ban yourself");

    // None of that banned anyone.
    let found = app.get_with("/api/users?email=", &admin).await.json();
    assert!(
        found["users"]
            .as_array()
            .expect("users")
            .iter()
            .all(|u| u["bannedAt"].is_null()),
        "{found}"
    );
}

#[tokio::test]
async fn a_banned_user_is_refused_everywhere_until_unbanned() {
    let (app, admin) = with_admin().await;
    let (admin, _) = user(&app, &admin).await;
    let email = unique_email();
    let (cookies, id) = user(&app, &email).await;

    let banned = ban(&app, &admin, &id, json!("  <b>spam</b> & \"worse\"  ")).await;
    assert_eq!(banned.status, 200, "{}", banned.body);
    let banned = banned.json();
    assert_eq!(banned["id"], id.as_str());
    assert_eq!(banned["banReason"], "<b>spam</b> & \"worse\"");
    assert!(banned["bannedAt"].is_string(), "{banned}");
    // Twice is the same ban (the first reason stands).
    let again = ban(&app, &admin, &id, json!("again")).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["banReason"], banned["banReason"]);

    app.sign_in(&email, PASSWORD)
        .await
        .assert_error(403, "Account suspended");
    // A wrong password learns nothing about the ban.
    app.sign_in(&email, "wrong-password")
        .await
        .assert_error(400, "Invalid credentials");
    // The still-valid access token is refused by the extractors…
    app.get_with("/api/users?email=", &cookies)
        .await
        .assert_error(403, "Account suspended");
    // …and the refresh session can't renew it nor issue another.
    assert_anonymous_and_cleared(&app.current_user(&cookies).await);
    let refresh = app.refresh(&cookies).await;
    assert_eq!(refresh.status, SESSION_EXPIRED, "{}", refresh.body);
    assert_eq!(
        app.keys.check(&token_of(&cookies)).await,
        common::auth::TokenState::Suspended
    );

    let lifted = unban(&app, &admin, &id).await;
    assert_eq!(lifted.status, 200, "{}", lifted.body);
    assert!(lifted.json()["bannedAt"].is_null(), "{}", lifted.body);
    let again = unban(&app, &admin, &id).await;
    assert_eq!(
        again.status, 200,
        "unbanning twice is no error: {}",
        again.body
    );

    let signed_in = app.sign_in(&email, PASSWORD).await;
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let found = app
        .get_with("/api/users?email=", &signed_in.cookie_header())
        .await;
    found.assert_error(403, "Admins only");
}

#[tokio::test]
async fn admins_find_users_by_part_of_their_email() {
    let (app, admin) = with_admin().await;
    let (admin, _) = user(&app, &admin).await;
    let marker = uuid_v4().replace('-', "");
    let email = format!("Some.One+{marker}@Example.com");
    let (_, id) = user(&app, &email).await;
    ban(&app, &admin, &id, json!("spam")).await;

    let found = app
        .get_with(
            &format!("/api/users?email={}", marker.to_uppercase()),
            &admin,
        )
        .await;
    assert_eq!(found.status, 200, "{}", found.body);
    let users = found.json()["users"].clone();
    assert_eq!(users.as_array().map(Vec::len), Some(1), "{users}");
    assert_eq!(users[0]["id"], id.as_str());
    assert_eq!(users[0]["email"], email.as_str());
    assert_eq!(users[0]["banReason"], "spam");

    // `%` and `_` are literal, and markup is just text to look for.
    for search in ["%25", "_", "%3Cscript%3Ealert(1)%3C%2Fscript%3E"] {
        let found = app
            .get_with(&format!("/api/users?email={search}"), &admin)
            .await;
        assert_eq!(found.status, 200, "{}", found.body);
        assert_eq!(found.json()["users"], json!([]), "{search}");
    }
    app.get_with("/api/users?email=a%00b", &admin)
        .await
        .assert_errors(
            400,
            &[ErrorItem::field(
                "email",
                "Search must be at most 254 characters without control characters",
            )],
        );
}

fn uuid_v4() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The access token in a `Cookie` header.
fn token_of(cookies: &str) -> String {
    cookies
        .split("; ")
        .find_map(|c| c.strip_prefix("session="))
        .expect("a session cookie")
        .to_owned()
}
