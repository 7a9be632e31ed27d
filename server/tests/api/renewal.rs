//! Sessions that never break a client: a request to any service with an expired access token
//! and a live refresh cookie is served as its user, and the response carries a fresh access
//! token; an expired token alone still gets 498, and a signed-out refresh session renews
//! nothing. (`roles` checks the same across processes, auth asked over HTTP.)
use std::time::Duration;

use common::auth::{JwtKeys, TokenState};
use common::testing::{expired_access_token, TestResponse};
use reqwest::header::COOKIE;
use reqwest::Method;
use serde_json::{json, Value};

use crate::helpers::{eventually, unique_email, TestServer};

const EVENTS: Duration = Duration::from_secs(20);

/// A signed-up user as a client holds them once the access token has expired.
struct Stale {
    id: String,
    /// `session=<expired>; refresh=<live>`.
    cookies: String,
    refresh: String,
    /// The cookies as signed up, the token still valid.
    fresh: String,
}

async fn stale_user(app: &TestServer, tag: &str) -> Stale {
    let signed_up = TestResponse::of(
        app.client
            .post(format!("{}/api/users/signup", app.address))
            .json(&json!({ "email": unique_email(tag), "password": "secret1" })),
    )
    .await;
    assert_eq!(signed_up.status, 201, "{}", signed_up.body);
    let token = signed_up.access_cookie().value().to_owned();
    let refresh = signed_up.refresh_cookie().value().to_owned();
    let expired = expired_access_token(&app.env.settings, &token);
    Stale {
        id: signed_up.json()["id"].as_str().expect("an id").to_owned(),
        cookies: format!("session={expired}; refresh={refresh}"),
        refresh,
        fresh: signed_up.cookie_header(),
    }
}

async fn send(
    app: &TestServer,
    method: Method,
    path: &str,
    cookies: &str,
    body: Option<Value>,
) -> TestResponse {
    let mut request = app
        .client
        .request(method, format!("{}{path}", app.address))
        .header(COOKIE, cookies);
    if let Some(body) = body {
        request = request.json(&body);
    }
    TestResponse::of(request).await
}

/// The response was served as `user`, with a fresh access token for them and the refresh
/// id left as it was.
fn assert_renewed(app: &TestServer, response: &TestResponse, user: &Stale) {
    let keys = JwtKeys::from_settings(&app.env.settings);
    match keys.verify(response.access_cookie().value()) {
        TokenState::Valid(claims) => assert_eq!(claims.id, user.id),
        other => panic!("the new access token is {other:?}"),
    }
    if let Some(refresh) = response.cookie("refresh") {
        assert_eq!(
            refresh.value(),
            user.refresh,
            "renewal does not rotate the refresh id"
        );
    }
}

#[tokio::test]
async fn an_expired_token_with_a_live_refresh_session_is_served_on_every_service() {
    let app = TestServer::spawn(|_| {}).await;
    let seller = stale_user(&app, "stale-seller").await;
    let buyer = stale_user(&app, "stale-buyer").await;

    let listed = send(
        &app,
        Method::POST,
        "/api/tickets",
        &seller.cookies,
        Some(json!({ "title": "Renewed <b>gig</b>", "price": 25 })),
    )
    .await;
    assert_eq!(listed.status, 201, "{}", listed.body);
    assert_eq!(listed.json()["userId"], seller.id.as_str());
    assert_eq!(listed.json()["title"], "Renewed <b>gig</b>");
    assert_renewed(&app, &listed, &seller);
    let ticket_id = listed.json()["id"]
        .as_str()
        .expect("a ticket id")
        .to_owned();

    // Every attempt carries the same expired token, and every one is renewed.
    let ordered = eventually(EVENTS, || async {
        let response = send(
            &app,
            Method::POST,
            "/api/orders",
            &buyer.cookies,
            Some(json!({ "ticketId": ticket_id })),
        )
        .await;
        (response.status != 404).then_some(response)
    })
    .await
    .expect("the orders service learns about the ticket");
    assert_eq!(ordered.status, 201, "{}", ordered.body);
    assert_eq!(ordered.json()["userId"], buyer.id.as_str());
    assert_renewed(&app, &ordered, &buyer);
    let order_id = ordered.json()["id"]
        .as_str()
        .expect("an order id")
        .to_owned();

    let listing = send(&app, Method::GET, "/api/orders", &buyer.cookies, None).await;
    assert_eq!(listing.status, 200, "{}", listing.body);
    assert!(listing.body.contains(&order_id), "{}", listing.body);
    assert_renewed(&app, &listing, &buyer);

    let receipts = format!("/api/payments?orderId={order_id}");
    eventually(EVENTS, || async {
        (send(&app, Method::GET, &receipts, &buyer.cookies, None)
            .await
            .status
            == 200)
            .then_some(())
    })
    .await
    .expect("the payments service learns about the order");
    let paid = send(
        &app,
        Method::POST,
        "/api/payments",
        &buyer.cookies,
        Some(json!({ "orderId": order_id, "token": "tok_visa" })),
    )
    .await;
    assert_eq!(paid.status, 201, "{}", paid.body);
    assert_renewed(&app, &paid, &buyer);

    // The refresh session is the one signed up with: it still renews, and still refreshes.
    let again = send(&app, Method::GET, "/api/orders", &buyer.cookies, None).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_renewed(&app, &again, &buyer);
    let refreshed = send(
        &app,
        Method::POST,
        "/api/users/refresh",
        &buyer.fresh,
        Some(json!({})),
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
}

#[tokio::test]
async fn concurrent_requests_with_one_expired_token_are_all_served() {
    let app = TestServer::spawn(|_| {}).await;
    let user = stale_user(&app, "stale-burst").await;
    let burst = (0..8).map(|_| send(&app, Method::GET, "/api/orders", &user.cookies, None));
    for response in futures::future::join_all(burst).await {
        assert_eq!(response.status, 200, "{}", response.body);
        assert_renewed(&app, &response, &user);
    }
}

#[tokio::test]
async fn an_expired_token_alone_still_gets_498() {
    let app = TestServer::spawn(|_| {}).await;
    let user = stale_user(&app, "stale-alone").await;
    let only_token = user
        .cookies
        .split(';')
        .next()
        .expect("the session pair")
        .to_owned();
    for (method, path, body) in [
        (
            Method::POST,
            "/api/tickets",
            Some(json!({ "title": "x", "price": 5 })),
        ),
        (Method::GET, "/api/orders", None),
        (
            Method::POST,
            "/api/payments",
            Some(json!({ "orderId": "x", "token": "tok_visa" })),
        ),
    ] {
        let response = send(&app, method, path, &only_token, body).await;
        response.assert_enveloped(498);
        assert!(
            response.cookie("session").is_none(),
            "{:?}",
            response.raw_set_cookies
        );
    }
}

#[tokio::test]
async fn a_signed_out_or_unknown_refresh_session_renews_nothing() {
    let app = TestServer::spawn(|_| {}).await;
    let user = stale_user(&app, "stale-signed-out").await;
    let signed_out = send(
        &app,
        Method::POST,
        "/api/users/signout",
        &user.fresh,
        Some(json!({})),
    )
    .await;
    assert_eq!(signed_out.status, 200, "{}", signed_out.body);

    let expired = user
        .cookies
        .split(';')
        .next()
        .expect("the session pair")
        .to_owned();
    for cookies in [
        user.cookies.clone(),
        format!("{expired}; refresh=<script>alert(1)</script>"),
        format!("{expired}; refresh={}", "r".repeat(4000)),
    ] {
        for (method, path, body) in [
            (
                Method::POST,
                "/api/tickets",
                Some(json!({ "title": "x", "price": 5 })),
            ),
            (Method::GET, "/api/orders", None),
        ] {
            let response = send(&app, method, path, &cookies, body).await;
            assert!(
                matches!(response.status, 401 | 498),
                "{} {}",
                response.status,
                response.body
            );
            response.assert_enveloped(response.status);
            let renewed = response.cookie("session").filter(|c| !c.value().is_empty());
            assert!(renewed.is_none(), "{:?}", response.raw_set_cookies);
        }
    }
}

/// `cookies` (a `Cookie` header) with its access token expired.
fn expired_in(app: &TestServer, cookies: &str) -> String {
    cookies
        .split("; ")
        .map(|pair| match pair.strip_prefix("session=") {
            Some(token) => format!("session={}", expired_access_token(&app.env.settings, token)),
            None => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A bookmarked `/orders` opened the next day: the page renders the buyer's orders, and the
/// browser gets one fresh access token (the web tier passes on the service's `Set-Cookie`
/// and uses it for its later calls instead of renewing again).
#[tokio::test]
async fn a_bookmarked_orders_page_renders_with_an_expired_token() {
    let app = TestServer::spawn(|_| {}).await;
    let (buyer, _order_id) = app.reserved_order("Bookmarked <i>show</i>").await;
    let stale = expired_in(&app, &buyer);
    assert_ne!(stale, buyer);

    let page = app.get_page("/orders", &stale).await;
    assert_eq!(page.status(), 200);
    let page = TestResponse::read(page).await;
    assert!(
        page.body.contains("Bookmarked &lt;i&gt;show&lt;/i&gt;"),
        "{}",
        page.body
    );
    assert!(!page.body.contains("Sign in to see your orders"));
    let keys = JwtKeys::from_settings(&app.env.settings);
    let sessions: Vec<_> = page
        .set_cookies
        .iter()
        .filter(|c| c.name() == "session")
        .collect();
    assert_eq!(sessions.len(), 1, "{:?}", page.raw_set_cookies);
    assert!(matches!(
        keys.verify(sessions[0].value()),
        TokenState::Valid(_)
    ));
    assert!(page.cookie("refresh").is_none_or(|c| !c.value().is_empty()));
}
