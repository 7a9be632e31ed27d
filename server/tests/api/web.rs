//! The web tier: server functions as the data layer (called during rendering through
//! `INTERNAL_API_URL` as the visitor, and over HTTP by the hydrated app), forms that work
//! without JavaScript, and pages that stay safe with hostile text in them.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{cookie_header, eventually, location, unique_email, with_cookies, TestServer};
use app::transport::ERROR_HEADER;
use axum::http::HeaderMap;
use axum::routing::{get, post};
use axum::Router;
use reqwest::Method;
use serde_json::{json, Value};

const HOSTILE_TITLES: [&str; 3] = [
    "<script>alert(1)</script>",
    "</title><img src=x onerror=alert(1)>",
    "\"><svg onload=alert(1)>",
];

/// Markup that would run if any hostile text reached the page unescaped.
fn assert_inert(html: &str, page: &str) {
    for raw in ["<script>alert", "<img src=x", "<svg onload", "\"><svg"] {
        assert!(
            !html.contains(raw),
            "{page} contains {raw:?} unescaped:\n{html}"
        );
    }
}

async fn html(app: &TestServer, path: &str, cookies: &str) -> String {
    let page = app.get_page(path, cookies).await;
    assert!(page.status().is_success(), "{path}: {}", page.status());
    page.text().await.expect("a page body")
}

/// The page at `path` once it shows `needle` (an event's effect takes a moment to land).
async fn html_showing(app: &TestServer, path: &str, cookies: &str, needle: &str) -> Option<String> {
    eventually(Duration::from_secs(20), || async {
        let page = html(app, path, cookies).await;
        page.contains(needle).then_some(page)
    })
    .await
}

#[tokio::test]
async fn hostile_titles_are_text_on_every_page_that_shows_them() {
    let app = TestServer::spawn(|_| {}).await;
    let seller = app.sign_up(&unique_email("seller")).await;
    let buyer = app.sign_up(&unique_email("buyer")).await;
    let mut ids = Vec::new();
    for title in HOSTILE_TITLES {
        ids.push(app.list_ticket(&seller, title).await);
    }
    let landing = html(&app, "/", "").await;
    assert_inert(&landing, "/");
    assert!(landing.contains("&lt;/title&gt;&lt;img src=x onerror=alert(1)&gt;"));

    for id in &ids {
        let page = html(&app, &format!("/tickets/{id}"), "").await;
        assert_inert(&page, "a ticket page");
        let title = page
            .split_once("<title>")
            .and_then(|(_, rest)| rest.split_once("</title>"))
            .map(|(title, _)| title)
            .expect("a <title>");
        assert!(!title.contains('<'), "<title> holds markup: {title}");
        assert!(page.contains(r#"<meta property="og:title" content=""#));
        assert_inert(
            &html(&app, &format!("/tickets/{id}/edit"), &seller).await,
            "the edit page",
        );
    }
    let (status, order) = app.order_when_known(&buyer, &ids[1]).await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["id"].as_str().expect("an order id");
    assert_inert(&html(&app, "/orders", &buyer).await, "/orders");
    let order_page = html(&app, &format!("/orders/{order_id}"), &buyer).await;
    assert_inert(&order_page, "an order page");
    assert!(order_page.contains("&lt;/title&gt;"));
}

#[tokio::test]
async fn hostile_text_in_the_address_and_in_form_values_is_escaped() {
    let app = TestServer::spawn(|_| {}).await;
    let search = html(&app, "/?q=%22%3E%3Csvg%20onload%3Dalert(1)%3E%07", "").await;
    assert_inert(&search, "a search");
    assert!(
        search.contains("form-error"),
        "a control character is refused by the listing"
    );
    let unknown = app
        .get_page("/tickets/%3Cscript%3Ealert(1)%3C%2Fscript%3E", "")
        .await;
    assert_eq!(unknown.status(), 404);
    assert_inert(&unknown.text().await.expect("a body"), "a ticket id");

    // A rejected email comes back in the form's value attribute and in hydration data.
    let email = "\"><svg onload=alert(1)>\u{1b}@example.com";
    let posted = app
        .post_form("sign_up", "", &[("email", email), ("password", "x")], false)
        .await;
    assert_eq!(location(&posted), "/auth/signup");
    let page = html(&app, "/auth/signup", &with_cookies("", &posted)).await;
    assert_inert(&page, "the sign-up form");
    assert!(
        page.contains("value=\"&quot;&gt;&lt;svg onload=alert(1)&gt;"),
        "{page}"
    );
}

#[tokio::test]
async fn a_hostile_but_valid_email_is_text_in_the_header() {
    let app = TestServer::spawn(|_| {}).await;
    let email = format!(
        "\"<svg/onload=alert(1)>{}\"@example.com",
        std::process::id()
    );
    let cookies = app.sign_up(&email).await;
    for path in ["/", "/orders", "/tickets/new"] {
        let page = html(&app, path, &cookies).await;
        assert!(!page.contains("<svg/onload"), "{path}: {page}");
        assert!(page.contains("&quot;&lt;svg/onload=alert(1)&gt;"), "{path}");
    }
}

#[tokio::test]
async fn every_page_carries_a_strict_policy_with_a_fresh_nonce() {
    let app = TestServer::spawn(|_| {}).await;
    let mut nonces = Vec::new();
    for path in ["/", "/", "/how-it-works", "/no/such/page"] {
        let page = app.get_page(path, "").await;
        let headers = page.headers().clone();
        let body = page.text().await.expect("a body");
        let policy = headers["content-security-policy"].to_str().expect("ASCII");
        for directive in [
            "'wasm-unsafe-eval'",
            "object-src 'none'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ] {
            assert!(policy.contains(directive), "{path}: {policy}");
        }
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        let nonce = policy
            .split("'nonce-")
            .nth(1)
            .and_then(|rest| rest.split('\'').next())
            .expect("a nonce in the policy")
            .to_owned();
        assert!(nonce.len() >= 16, "{nonce}");
        assert!(
            body.contains(&format!(r#"<script type="module" nonce="{nonce}">"#)),
            "the hydration script carries the nonce"
        );
        for tag in body.split("<script").skip(1) {
            let tag = tag.split('>').next().unwrap_or_default();
            assert!(
                tag.contains(&format!("nonce=\"{nonce}\"")),
                "{path}: a script without the nonce: <script{tag}>"
            );
        }
        assert_security_headers(&headers, path);
        nonces.push(nonce);
    }
    nonces.sort();
    nonces.dedup();
    assert_eq!(nonces.len(), 4, "each response has its own nonce");

    for path in ["/api/tickets", "/api/nothing", "/favicon.ico"] {
        let response = app.get_page(path, "").await;
        assert_security_headers(response.headers(), path);
    }
    let icon = app.get_page("/favicon.ico", "").await;
    assert_eq!(icon.status(), 200);
    assert_eq!(icon.headers()["content-type"], "image/svg+xml");
}

fn assert_security_headers(headers: &reqwest::header::HeaderMap, path: &str) {
    assert_eq!(headers["x-content-type-options"], "nosniff", "{path}");
    assert_eq!(
        headers["referrer-policy"], "strict-origin-when-cross-origin",
        "{path}"
    );
}

#[tokio::test]
async fn every_form_works_without_javascript() {
    let app = TestServer::spawn(|_| {}).await;
    let seller_email = unique_email("seller");
    let signed_up = app
        .post_credentials("sign_up", &seller_email, "secret1")
        .await;
    assert_eq!(signed_up.status(), 302);
    assert_eq!(location(&signed_up), "/");
    let seller = with_cookies("", &signed_up);
    assert!(html(&app, "/", &seller).await.contains(&seller_email));

    // A wrong password: back to the form, which shows why, keeps the email, and never
    // carries the password anywhere.
    let rejected = app
        .post_credentials("sign_in", &seller_email, "wrong-one")
        .await;
    assert_eq!(location(&rejected), "/auth/signin");
    let flash = cookie_header(&rejected);
    assert!(!flash.contains("wrong-one") && !flash.contains(&hex("wrong-one")));
    let form = app.get_page("/auth/signin", &flash).await;
    assert!(
        cookie_header(&form).contains("form_flash="),
        "the errors are shown once"
    );
    assert!(form
        .headers()
        .get_all("set-cookie")
        .iter()
        .any(|c| c.to_str().is_ok_and(|c| c.contains("Max-Age=0"))));
    let form = form.text().await.expect("a body");
    assert!(form.contains("Invalid credentials"), "{form}");
    assert!(form.contains(&format!("value=\"{seller_email}\"")));

    // Field errors of a listing, then a listing.
    let invalid = app
        .post_form(
            "create_ticket",
            &seller,
            &[("title", ""), ("price", "-3")],
            false,
        )
        .await;
    assert_eq!(location(&invalid), "/tickets/new");
    let form = html(&app, "/tickets/new", &with_cookies(&seller, &invalid)).await;
    assert!(form.contains(r#"data-field="title""#) && form.contains(r#"data-field="price""#));
    let listed = app
        .post_form(
            "create_ticket",
            &seller,
            &[("title", "Opera night"), ("price", "40.50")],
            false,
        )
        .await;
    let ticket_page = location(&listed);
    let ticket_id = ticket_page
        .strip_prefix("/tickets/")
        .expect("redirected to the ticket")
        .to_owned();
    assert!(html(&app, &ticket_page, "").await.contains("$40.50"));

    let edited = app
        .post_form(
            "update_ticket",
            &seller,
            &[("id", &ticket_id), ("title", "Opera gala"), ("price", "45")],
            false,
        )
        .await;
    assert_eq!(location(&edited), ticket_page);
    assert!(html(&app, &ticket_page, "").await.contains("Opera gala"));

    // Buy it; a second buyer is sent back to the ticket with the reason.
    let buyer = app.sign_up(&unique_email("buyer")).await;
    let bought = eventually(Duration::from_secs(20), || async {
        let response = app
            .post_form("create_order", &buyer, &[("ticket_id", &ticket_id)], false)
            .await;
        location(&response)
            .starts_with("/orders/")
            .then(|| location(&response))
    })
    .await
    .expect("the order is placed once the orders service knows the ticket");
    let order_id = bought.trim_start_matches("/orders/").to_owned();
    assert!(html(&app, &bought, &buyer).await.contains("Cancel order"));
    let late = app.sign_up(&unique_email("late")).await;
    let refused = app
        .post_form("create_order", &late, &[("ticket_id", &ticket_id)], false)
        .await;
    assert_eq!(location(&refused), ticket_page);
    let page = html(&app, &ticket_page, &with_cookies(&late, &refused)).await;
    assert!(page.contains("already reserved"), "{page}");

    let cancelled = app
        .post_form("cancel_order", &buyer, &[("order_id", &order_id)], false)
        .await;
    assert_eq!(location(&cancelled), bought);
    assert!(html(&app, &bought, &buyer).await.contains("Cancelled"));

    let signed_out = app.post_form("sign_out", &seller, &[], false).await;
    assert_eq!(location(&signed_out), "/");
    let after = with_cookies(&seller, &signed_out);
    assert!(!after.contains("session="), "{after}");
    assert!(!html(&app, "/", &after).await.contains(&seller_email));
}

fn hex(text: &str) -> String {
    text.bytes().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn the_hydrated_app_gets_data_and_errors_as_values() {
    let app = TestServer::spawn(|_| {}).await;
    let seller = app.sign_up(&unique_email("seller")).await;
    app.list_ticket(&seller, "Jazz trio").await;

    let listing = app.post_form("list_tickets", "", &[], true).await;
    assert_eq!(listing.status(), 200);
    assert!(!listing.headers().contains_key(ERROR_HEADER));
    let body: Value = listing.json().await.expect("JSON");
    assert_eq!(body["tickets"][0]["title"], "Jazz trio");

    // A rejected form is data (200), so the browser logs no failed request, and no redirect;
    // the error header tells the app's client it is the function's error.
    let rejected = app
        .post_form(
            "sign_in",
            "",
            &[("email", &unique_email("nobody")), ("password", "whatever")],
            true,
        )
        .await;
    assert_eq!(rejected.status(), 200);
    assert!(rejected.headers().contains_key(ERROR_HEADER));
    assert!(rejected.headers().get("location").is_none());
    assert!(
        cookie_header(&rejected).is_empty(),
        "no flash with JavaScript"
    );
    let body: Value = rejected.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["message"], "Invalid credentials");

    let accepted = app
        .post_form(
            "create_ticket",
            &seller,
            &[("title", "Duo"), ("price", "9")],
            true,
        )
        .await;
    assert_eq!(accepted.status(), 200);
    assert!(accepted.headers().contains_key("serverfnredirect"));
    assert!(accepted.headers()["location"]
        .to_str()
        .is_ok_and(|l| l.starts_with("/tickets/")));
}

#[tokio::test]
async fn server_functions_refuse_cross_site_posts_and_change_nothing() {
    let app = TestServer::spawn(|_| {}).await;
    let email = unique_email("victim");
    for (name, value) in [
        ("origin", "https://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let response = app
            .client
            .post(format!("{}/_fn/sign_up", app.address))
            .header(name, value)
            .form(&[("email", email.as_str()), ("password", "secret1")])
            .send()
            .await
            .expect("the request reaches the server");
        assert_eq!(response.status(), 403);
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await.expect("a body");
        let errors = common::testing::error_envelope(content_type.as_deref(), &body);
        assert_eq!(errors[0].message, "Cross-site request refused");
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/api/users/signin",
            "",
            Some(json!({ "email": email, "password": "secret1" })),
        )
        .await;
    assert_eq!(status, 400, "the refused sign-up created no account");
}

/// A server-function form post with the given `Origin`, as a browser without JavaScript
/// sends it.
async fn post_from(
    app: &TestServer,
    origin: &str,
    function: &str,
    cookies: &str,
    fields: &[(&str, &str)],
) -> reqwest::Response {
    app.client
        .post(format!("{}/_fn/{function}", app.address))
        .header("cookie", cookies)
        .header("accept", "text/html")
        .header("origin", origin)
        .form(fields)
        .send()
        .await
        .expect("the request reaches the server")
}

async fn listed_titles(app: &TestServer) -> Vec<String> {
    let (status, tickets) = app.call(Method::GET, "/api/tickets", "", None).await;
    assert_eq!(status, 200, "{tickets}");
    tickets
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|t| t["title"].as_str().map(str::to_owned))
        .collect()
}

/// The same host and port under the other scheme is another site: served over plain HTTP,
/// `https://` is refused; behind HTTPS (`COOKIE_SECURE`), `http://` is.
#[tokio::test]
async fn a_post_from_this_host_under_the_other_scheme_is_refused() {
    for https in [false, true] {
        let app = TestServer::spawn(|s| s.cookie_secure = https).await;
        let host = app.address.trim_start_matches("http://").to_owned();
        let (ours, theirs) = if https {
            (format!("https://{host}"), format!("http://{host}"))
        } else {
            (format!("http://{host}"), format!("https://{host}"))
        };
        let seller = app.sign_up(&unique_email("seller")).await;
        let fields = [("title", "Wrong scheme"), ("price", "10")];

        let refused = post_from(&app, &theirs, "create_ticket", &seller, &fields).await;
        assert_eq!(refused.status(), 403, "{theirs}");
        assert!(
            listed_titles(&app).await.is_empty(),
            "{theirs} created a ticket"
        );

        let listed = post_from(&app, &ours, "create_ticket", &seller, &fields).await;
        assert_eq!(listed.status(), 302, "{ours}");
        assert!(location(&listed).starts_with("/tickets/"), "{ours}");
        assert_eq!(listed_titles(&app).await, ["Wrong scheme"]);
    }
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex"))
        .collect()
}

/// A `form_flash` cookie the site didn't sign (planted by someone else) shows nothing; the
/// one a failed form post leaves is still shown.
#[tokio::test]
async fn a_forged_form_flash_is_not_shown_and_a_genuine_one_is() {
    let app = TestServer::spawn(|_| {}).await;
    let rejected = app
        .post_credentials("sign_in", "someone@example.com", "wrong-one")
        .await;
    assert_eq!(location(&rejected), "/auth/signin");
    let cookies = cookie_header(&rejected);
    let genuine = cookies
        .split("; ")
        .find_map(|c| c.strip_prefix("form_flash="))
        .expect("a flash cookie")
        .to_owned();
    let (payload, signature) = genuine.split_once('.').expect("a signed flash");
    let json = String::from_utf8(unhex(payload)).expect("JSON");
    assert!(json.contains("Invalid credentials"), "{json}");
    let forged = hex(&json.replace("Invalid credentials", "Account locked: call 555-0100"));

    for cookie in [
        format!("form_flash={forged}"),
        format!("form_flash={forged}.{signature}"),
        format!("form_flash={forged}.{}", "0".repeat(signature.len())),
        format!("form_flash={payload}"),
        format!("form_flash={payload}.{}", hex("not a signature")),
    ] {
        let page = html(&app, "/auth/signin", &cookie).await;
        assert!(
            !page.contains("555-0100") && !page.contains("Invalid credentials"),
            "{cookie} was shown:\n{page}"
        );
    }
    let page = html(&app, "/auth/signin", &format!("form_flash={genuine}")).await;
    assert!(page.contains("Invalid credentials"), "{page}");
}

/// Behind HTTPS (`COOKIE_SECURE`) every response, page or API, tells browsers to keep to
/// HTTPS; over plain HTTP nothing does.
#[tokio::test]
async fn strict_transport_security_is_sent_only_with_cookie_secure() {
    for (secure, expected) in [(true, Some(common::http::HSTS)), (false, None)] {
        let app = TestServer::spawn(|s| s.cookie_secure = secure).await;
        for path in [
            "/",
            "/auth/signin",
            "/api/tickets",
            "/api/no-such-route",
            "/healthz",
        ] {
            let response = app.get_page(path, "").await;
            assert_eq!(
                response
                    .headers()
                    .get("strict-transport-security")
                    .and_then(|v| v.to_str().ok()),
                expected,
                "{path} with cookie_secure {secure}"
            );
        }
    }
}

/// A stand-in for the services at `INTERNAL_API_URL`: records each call's path and cookies;
/// `session=stale` is an expired token that `/api/users/refresh` trades for `session=fresh`.
#[derive(Clone, Default)]
struct StandIn {
    calls: Arc<Mutex<Vec<(String, String)>>>,
}

impl StandIn {
    async fn spawn(&self) -> String {
        let record = |stand_in: StandIn, path: &'static str| {
            move |headers: HeaderMap| {
                let cookie = headers
                    .get("cookie")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                stand_in
                    .calls
                    .lock()
                    .expect("not poisoned")
                    .push((path.to_owned(), cookie.clone()));
                std::future::ready(cookie)
            }
        };
        let fresh = |cookie: &str| cookie.contains("session=fresh");
        let current = record(self.clone(), "/api/users/currentuser");
        let orders = record(self.clone(), "/api/orders");
        let refresh = record(self.clone(), "/api/users/refresh");
        let router = Router::new()
            .route(
                "/api/users/currentuser",
                get(move |h: HeaderMap| async move {
                    let user = fresh(&current(h).await).then(|| {
                        json!({ "id": "u1", "email": "stand-in@example.com", "iat": 0, "exp": 0 })
                    });
                    axum::Json(json!({ "currentUser": user }))
                }),
            )
            .route(
                "/api/orders",
                get(move |h: HeaderMap| async move {
                    if fresh(&orders(h).await) {
                        (axum::http::StatusCode::OK, axum::Json(json!([])))
                    } else {
                        (
                            axum::http::StatusCode::from_u16(498).expect("a status"),
                            axum::Json(
                                json!({ "errors": [{ "message": "Access token expired" }] }),
                            ),
                        )
                    }
                }),
            )
            .route(
                "/api/users/refresh",
                post(move |h: HeaderMap| async move {
                    refresh(h).await;
                    (
                        [(
                            "set-cookie",
                            "session=fresh; Path=/; HttpOnly; SameSite=Lax",
                        )],
                        axum::Json(json!({ "id": "u1", "email": "stand-in@example.com" })),
                    )
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let address = format!("http://{}", listener.local_addr().expect("an address"));
        tokio::spawn(async move { axum::serve(listener, router).await });
        address
    }

    fn calls(&self, path: &str) -> Vec<String> {
        let calls = self.calls.lock().expect("not poisoned");
        calls
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, cookie)| cookie.clone())
            .collect()
    }
}

#[tokio::test]
async fn rendering_calls_the_internal_api_as_the_visitor() {
    let stand_in = StandIn::default();
    let internal = stand_in.spawn().await;
    let app = TestServer::spawn(|s| s.internal_api_url = Some(internal)).await;

    let page = html(&app, "/how-it-works", "session=fresh; refresh=r1").await;
    assert!(page.contains("stand-in@example.com"), "{page}");
    assert_eq!(
        stand_in.calls("/api/users/currentuser"),
        ["session=fresh; refresh=r1"]
    );
}

#[tokio::test]
async fn an_expired_token_is_refreshed_once_and_the_new_cookie_reaches_the_browser() {
    let stand_in = StandIn::default();
    let internal = stand_in.spawn().await;
    let app = TestServer::spawn(|s| s.internal_api_url = Some(internal)).await;

    let page = app.get_page("/orders", "session=stale; refresh=r1").await;
    assert_eq!(page.status(), 200);
    assert!(cookie_header(&page).contains("session=fresh"));
    let body = page.text().await.expect("a body");
    assert!(body.contains("You have no orders yet."), "{body}");
    assert_eq!(stand_in.calls("/api/users/refresh").len(), 1);
    let orders = stand_in.calls("/api/orders");
    assert_eq!(orders.len(), 2, "{orders:?}");
    assert!(orders[0].contains("session=stale"));
    assert!(orders[1].contains("session=fresh") && orders[1].contains("refresh=r1"));
}

/// Whether an order page offers the payment form.
fn has_pay_form(page: &str) -> bool {
    page.contains(r#"name="token""#)
}

#[tokio::test]
async fn paying_without_javascript_completes_the_order_and_shows_the_receipt() {
    let app = TestServer::spawn(|_| {}).await;
    let (buyer, order_id) = app.reserved_order("Cello recital").await;
    let order_page = format!("/orders/{order_id}");
    let page = html(&app, &order_page, &buyer).await;
    assert!(has_pay_form(&page), "{page}");
    assert!(page.contains(r#"value="tok_visa""#) && page.contains("Pay $25.00"));
    assert!(page.contains("Cancel order"));

    let paid = app.pay_order(&buyer, &order_id, "tok_visa", false).await;
    assert_eq!(paid.status(), 302);
    assert_eq!(location(&paid), order_page);
    // The buyer never lands on the form they just used.
    let page = html(&app, &order_page, &buyer).await;
    assert!(!has_pay_form(&page), "{page}");
    assert!(!page.contains("Cancel order"));

    let payments = app.payments_of(&buyer, &order_id).await;
    assert_eq!(payments.len(), 1, "{payments:?}");
    assert_eq!(payments[0]["status"], "captured");
    let payment_id = payments[0]["id"].as_str().expect("a payment id").to_owned();
    let page = html_showing(&app, &order_page, &buyer, "status-complete")
        .await
        .expect("the order completes");
    assert!(page.contains("Paid. The ticket is yours."), "{page}");
    assert!(
        page.contains(&payment_id) && page.contains("$25.00 USD"),
        "{page}"
    );
    assert!(
        page.contains(" UTC</time>"),
        "the time of the payment: {page}"
    );

    let orders = html(&app, "/orders", &buyer).await;
    assert!(orders.contains("status-complete"), "{orders}");
    assert!(orders.contains(&payment_id) && orders.contains("$25.00 USD"));

    // Paying again is refused, and says why.
    let again = app.pay_order(&buyer, &order_id, "tok_visa", true).await;
    let body: Value = again.json().await.expect("JSON");
    assert_eq!(body["errors"][0]["message"], "Order is already paid");
    assert_eq!(app.payments_of(&buyer, &order_id).await.len(), 1);
}

#[tokio::test]
async fn a_declined_card_shows_the_providers_message_and_a_good_card_then_works() {
    let app = TestServer::spawn(|_| {}).await;
    let (buyer, order_id) = app.reserved_order("Brass band").await;
    let order_page = format!("/orders/{order_id}");

    let declined = app
        .pay_order(&buyer, &order_id, "tok_chargeDeclined", false)
        .await;
    assert_eq!(location(&declined), order_page);
    let page = html(&app, &order_page, &with_cookies(&buyer, &declined)).await;
    assert!(page.contains("Your card was declined."), "{page}");
    assert!(has_pay_form(&page), "the buyer can try again: {page}");
    assert!(
        page.contains(r#"value="tok_chargeDeclined" checked"#),
        "the card that was tried stays chosen: {page}"
    );
    assert!(page.contains("status-created"));

    // With JavaScript the decline is data: the message, status 402, and no redirect.
    let declined = app
        .pay_order(&buyer, &order_id, "tok_chargeDeclined", true)
        .await;
    assert_eq!(declined.status(), 200);
    assert!(declined.headers().get("location").is_none());
    let body: Value = declined.json().await.expect("JSON");
    assert_eq!(body["status"], 402);
    assert_eq!(body["errors"][0]["message"], "Your card was declined.");

    let paid = app.pay_order(&buyer, &order_id, "tok_visa", false).await;
    assert_eq!(location(&paid), order_page);
    let page = html_showing(&app, &order_page, &buyer, "status-complete")
        .await
        .expect("the order completes");
    assert!(!has_pay_form(&page) && !page.contains("Your card was declined."));
    let statuses: Vec<Value> = app
        .payments_of(&buyer, &order_id)
        .await
        .iter()
        .map(|p| p["status"].clone())
        .collect();
    assert_eq!(
        statuses,
        [json!("declined"), json!("declined"), json!("captured")]
    );
}

#[tokio::test]
async fn an_expired_order_says_so_and_offers_no_payment() {
    let app = TestServer::spawn(|s| s.expiration_window = Duration::from_secs(1)).await;
    let (buyer, order_id) = app.reserved_order("Late show").await;
    let order_page = format!("/orders/{order_id}");
    let expires_at = app.order(&buyer, &order_id).await["expiresAt"]
        .as_str()
        .expect("expiresAt")
        .to_owned();
    let deadline =
        chrono::DateTime::parse_from_rfc3339(&expires_at).expect("an RFC 3339 expiresAt");
    let wait = (deadline.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(50)).await;

    // Past the deadline the page says so, whether or not the order has turned cancelled yet.
    let page = html(&app, &order_page, &buyer).await;
    assert!(page.contains("This order expired"), "{page}");
    assert!(
        !has_pay_form(&page) && !page.contains("Cancel order"),
        "{page}"
    );
    assert!(page.contains(r#"href="/""#));

    // A payment posted anyway (a form left open without JavaScript) is refused.
    let late = app.pay_order(&buyer, &order_id, "tok_visa", false).await;
    assert_eq!(location(&late), order_page);
    assert!(html(&app, &order_page, &with_cookies(&buyer, &late))
        .await
        .contains("This order expired"));
    assert!(app
        .payments_of(&buyer, &order_id)
        .await
        .iter()
        .all(|p| p["status"] != "captured"));

    let cancelled = html_showing(&app, &order_page, &buyer, "status-cancelled")
        .await
        .expect("the expiration service cancels the order");
    assert!(cancelled.contains("This order expired") && !has_pay_form(&cancelled));
    let listed = eventually(Duration::from_secs(20), || async {
        html(&app, "/?q=Late%20show", "")
            .await
            .contains("Late show")
            .then_some(())
    })
    .await;
    assert!(listed.is_some(), "the ticket is for sale again");
}

#[tokio::test]
async fn a_cross_site_payment_post_is_refused_and_charges_nothing() {
    let app = TestServer::spawn(|_| {}).await;
    let (buyer, order_id) = app.reserved_order("Organ concert").await;
    let response = app
        .client
        .post(format!("{}/_fn/pay_order", app.address))
        .header("cookie", &buyer)
        .header("origin", "https://evil.example")
        .form(&[("order_id", order_id.as_str()), ("token", "tok_visa")])
        .send()
        .await
        .expect("the request reaches the server");
    assert_eq!(response.status(), 403);
    // Give a payment that slipped through time to show up.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        eventually(Duration::from_secs(5), || async {
            let (status, body) = app
                .call(
                    Method::GET,
                    &format!("/api/payments?orderId={order_id}"),
                    &buyer,
                    None,
                )
                .await;
            (status == 200).then_some(body)
        })
        .await
        .is_some_and(|payments| payments == json!([])),
        "no payment was made"
    );
    assert_eq!(app.order(&buyer, &order_id).await["status"], "created");
}

#[tokio::test]
async fn hostile_titles_stay_text_on_the_payment_form_and_the_receipt() {
    let app = TestServer::spawn(|_| {}).await;
    for title in HOSTILE_TITLES {
        let (buyer, order_id) = app.reserved_order(title).await;
        let order_page = format!("/orders/{order_id}");
        let page = html(&app, &order_page, &buyer).await;
        assert!(has_pay_form(&page));
        assert_inert(&page, "an order page with the payment form");
        let paid = app.pay_order(&buyer, &order_id, "tok_visa", false).await;
        assert_eq!(location(&paid), order_page);
        eventually(Duration::from_secs(20), || async {
            let page = html(&app, &order_page, &buyer).await;
            assert_inert(&page, "a paid order page");
            page.contains("status-complete").then_some(())
        })
        .await
        .expect("the order completes");
        assert_inert(
            &html(&app, "/orders", &buyer).await,
            "/orders with a receipt",
        );
    }

    // Hostile text in the address and in the posted fields comes back as text, or not at all.
    let buyer = app.sign_up(&unique_email("prober")).await;
    let hostile = "\"><svg onload=alert(1)>\u{7}";
    let posted = app.pay_order(&buyer, hostile, hostile, false).await;
    let back = location(&posted);
    assert!(back.starts_with("/orders/%22%3E%3Csvg"), "{back}");
    let page = app.get_page(&back, &with_cookies(&buyer, &posted)).await;
    assert_eq!(page.status(), 404);
    assert_inert(&page.text().await.expect("a body"), "an unknown order");
}

#[tokio::test]
async fn with_a_publishable_key_the_pay_form_is_stripes_payment_element() {
    let app = TestServer::spawn(|s| s.stripe_publishable_key = Some("pk_test_12345".into())).await;
    let (buyer, order_id) = app.reserved_order("element concert").await;

    let page = app.get_page(&format!("/orders/{order_id}"), &buyer).await;
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let body = page.text().await.expect("a body");

    assert!(
        body.contains(r#"data-stripe-key="pk_test_12345""#),
        "{body}"
    );
    assert!(body.contains("data-payment-element"), "{body}");
    assert!(!body.contains("tok_visa"), "no test cards in Stripe mode");
    let nonce = policy
        .split("'nonce-")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .expect("a nonce");
    for src in ["https://js.stripe.com/v3/", "/stripe-pay.js"] {
        assert!(
            body.contains(&format!(r#"nonce="{nonce}" src="{src}""#)),
            "{src} loads with the page's nonce: {body}"
        );
    }
    assert!(
        policy.contains("frame-src https://js.stripe.com https://hooks.stripe.com"),
        "{policy}"
    );
    assert!(
        policy.contains("connect-src 'self' https://api.stripe.com"),
        "{policy}"
    );
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    let glue = app.get_page("/stripe-pay.js", "").await;
    assert_eq!(glue.status(), 200);
    assert!(glue.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .starts_with("text/javascript"));
    assert!(glue
        .text()
        .await
        .expect("a body")
        .contains("createPaymentMethod"));
}

#[tokio::test]
async fn without_a_publishable_key_nothing_of_stripe_reaches_the_page() {
    let app = TestServer::spawn(|_| {}).await;
    let (buyer, order_id) = app.reserved_order("test-card concert").await;
    let page = app.get_page(&format!("/orders/{order_id}"), &buyer).await;
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    let body = page.text().await.expect("a body");
    assert!(body.contains("tok_visa"), "the test cards: {body}");
    assert!(!body.contains("stripe.com"), "{body}");
    assert!(!policy.contains("stripe.com"), "{policy}");
}

/// The `x-request-id` a response carries.
fn request_id_of(response: &reqwest::Response) -> String {
    response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("no x-request-id on {}", response.url()))
        .to_owned()
}

/// A fresh id is a UUID v4, and never the one the caller sent.
fn assert_fresh(id: &str, sent: &str) {
    assert_ne!(id, sent);
    let uuid = uuid::Uuid::parse_str(id).unwrap_or_else(|e| panic!("{id:?}: {e}"));
    assert_eq!(uuid.get_version_num(), 4, "{id}");
}

#[tokio::test]
async fn every_response_carries_the_callers_request_id_or_a_fresh_one() {
    let app = TestServer::spawn(|_| {}).await;
    let get = |path: &str, id: Option<&[u8]>| {
        let mut request = app.client.get(format!("{}{path}", app.address));
        if let Some(id) = id {
            let value = reqwest::header::HeaderValue::from_bytes(id).expect("a header value");
            request = request.header("x-request-id", value);
        }
        async move { request.send().await.expect("the server answers") }
    };

    for path in [
        "/",
        "/api/tickets",
        "/api/nowhere",
        "/readyz",
        "/favicon.svg",
    ] {
        let response = get(path, Some(b"abc-123")).await;
        assert_eq!(request_id_of(&response), "abc-123", "{path}");
    }
    let longest = "a.B_9-".repeat(21) + "xy";
    assert_eq!(
        request_id_of(&get("/api/tickets", Some(longest.as_bytes())).await),
        longest
    );

    let first = request_id_of(&get("/api/tickets", None).await);
    let second = request_id_of(&get("/", None).await);
    assert_fresh(&first, "");
    assert_fresh(&second, &first);

    // Client text that is not a plain id never comes back (nor, so, reaches a log line).
    let too_long = "x".repeat(129);
    let hostile: [&[u8]; 5] = [
        b"<script>alert(1)</script>",
        b"a b",
        b"\xe9t\xe9",
        too_long.as_bytes(),
        b"",
    ];
    for sent in hostile {
        let id = request_id_of(&get("/api/tickets", Some(sent)).await);
        assert_fresh(&id, &String::from_utf8_lossy(sent));
    }

    // Control characters: reqwest refuses to send them, so write the request by hand. What
    // hyper lets through gets a fresh id; what it refuses is a 400 that echoes nothing.
    for sent in ["<script>\u{7}x", "<script>\u{7}\r\nx"] {
        let reply = raw_get(&app.address, "/api/tickets", sent).await;
        assert!(!reply.contains("<script>"), "{reply}");
        let id = reply
            .lines()
            .find_map(|l| l.strip_prefix("x-request-id: "))
            .map(str::trim);
        if let Some(id) = id {
            assert_fresh(id, sent);
        } else {
            assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
        }
    }
}

/// A GET written straight to the socket, `x-request-id: <id>` byte for byte; the reply's
/// status line and headers.
async fn raw_get(address: &str, path: &str, id: &str) -> String {
    let reply = raw_request(address, "GET", path, &format!("x-request-id: {id}\r\n"), "").await;
    reply
        .split("\r\n\r\n")
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// A request written straight to the socket, so its path reaches the server as written
/// (no client resolves `..` or re-encodes `%FF`); `headers` are whole lines. The whole reply.
async fn raw_request(address: &str, method: &str, path: &str, headers: &str, body: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let authority = address.trim_start_matches("http://");
    let mut socket = tokio::net::TcpStream::connect(authority)
        .await
        .expect("the server listens");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {authority}\r\n{headers}content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket
        .write_all(request.as_bytes())
        .await
        .expect("the request is written");
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut reply))
        .await
        .expect("the server answers in time")
        .expect("the reply is read");
    String::from_utf8_lossy(&reply).into_owned()
}

/// Malformed paths, queries and bodies on every service's routes, and paths no route takes,
/// through the all-in-one process (whose web tier answers what the API doesn't): each is
/// answered in the error envelope, as JSON, with the status that says what was wrong.
#[tokio::test]
async fn every_api_error_is_in_the_envelope() {
    let app = TestServer::spawn(|_| {}).await;
    let cookies = app.sign_up(&unique_email("prober")).await;
    let auth = format!("cookie: {cookies}\r\n");
    let json = format!("{auth}content-type: application/json\r\n");
    let cases: &[(&str, &str, &str, &str, u16)] = &[
        ("GET", "/api/orders/%FF", &auth, "", 400),
        ("DELETE", "/api/orders/%FF%FE", &auth, "", 400),
        ("GET", "/api/tickets/%FF", "", "", 400),
        (
            "PUT",
            "/api/tickets/%C3%28",
            &json,
            r#"{"title":"a","price":1}"#,
            400,
        ),
        (
            "PUT",
            "/api/tickets/..",
            &json,
            r#"{"title":"a","price":1}"#,
            404,
        ),
        ("GET", "/api/tickets/../../etc/passwd", "", "", 404),
        ("GET", "/api/", "", "", 404),
        ("GET", "/api/..", "", "", 404),
        ("GET", "/api/nothing/here", "", "", 404),
        ("GET", "/api/tickets?limit=lots", "", "", 400),
        // Query strings decode lossily: this id is U+FFFD, which names no order.
        ("GET", "/api/payments?orderId=%FF", &auth, "", 404),
        ("POST", "/api/tickets", &json, "{not json", 400),
        (
            "POST",
            "/api/tickets",
            &json,
            r#"{"title":["<b>"],"price":"x"}"#,
            400,
        ),
        (
            "POST",
            "/api/tickets",
            &auth,
            r#"{"title":"a","price":1}"#,
            415,
        ),
        (
            "POST",
            "/api/users/signin",
            "content-type: application/json\r\n",
            r#"{"email":5}"#,
            400,
        ),
        ("DELETE", "/api/tickets", &auth, "", 405),
        ("PATCH", "/api/orders", &auth, "", 405),
        ("GET", "/api/users/signup", "", "", 405),
    ];
    for &(method, path, headers, body, status) in cases {
        let reply = raw_request(&app.address, method, path, headers, body).await;
        let case = format!("{method} {path}");
        assert_eq!(assert_error_envelope(&case, &reply), status, "{case}");
    }
}

/// Asserts `reply` (a raw HTTP/1.1 answer) is an error in the envelope as JSON; its status.
fn assert_error_envelope(case: &str, reply: &str) -> u16 {
    let (head, payload) = reply.split_once("\r\n\r\n").unwrap_or((reply, ""));
    let status: u16 = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("{case}: no status in {head}"));
    assert!((400..500).contains(&status), "{case}: {head}\n{payload}");
    assert!(
        head.lines().any(|l| l
            .to_ascii_lowercase()
            .starts_with("content-type: application/json")),
        "{case}: not JSON: {head}"
    );
    let envelope: Value = serde_json::from_str(payload)
        .unwrap_or_else(|e| panic!("{case}: not JSON ({e}): {payload}"));
    let messages = envelope["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("{case}: no errors list: {payload}"));
    assert!(
        !messages.is_empty()
            && messages
                .iter()
                .all(|m| m["message"].as_str().is_some_and(|t| !t.is_empty())),
        "{case}: {payload}"
    );
    status
}

#[tokio::test]
async fn every_route_answers_malformed_input_in_the_envelope() {
    let app = TestServer::spawn(|_| {}).await;
    let cookies = app.sign_up(&unique_email("fuzzer")).await;
    let auth = format!("cookie: {cookies}\r\n");
    let json = format!("{auth}content-type: application/json\r\n");
    // (method, path with `{id}` where it takes one, whether it reads a JSON body)
    let routes: &[(&str, &str, bool)] = &[
        ("POST", "/api/users/signup", true),
        ("POST", "/api/users/signin", true),
        ("POST", "/api/users/refresh", false),
        ("GET", "/api/tickets", false),
        ("POST", "/api/tickets", true),
        ("GET", "/api/tickets/{id}", false),
        ("PUT", "/api/tickets/{id}", true),
        ("GET", "/api/orders", false),
        ("POST", "/api/orders", true),
        ("GET", "/api/orders/{id}", false),
        ("DELETE", "/api/orders/{id}", false),
        ("GET", "/api/payments", false),
        ("POST", "/api/payments", true),
    ];
    let bodies = [
        "{not json",
        "[]",
        "\"just a string\"",
        r#"{"title":"<script>alert(1)</script>\u0000\u001b[31m","price":"NaN","ticketId":{"$ne":1},"email":["a"],"password":null,"orderId":5,"token":true}"#,
        "{\"title\": \"\u{0}\"}",
    ];
    for &(method, template, reads_body) in routes {
        let mut cases: Vec<(String, String, String, &str)> = Vec::new();
        if template.contains("{id}") {
            for id in ["%FF", "%C3%28", "..", "%00", "%3Cb%3E"] {
                let path = template.replace("{id}", id);
                cases.push((
                    method.into(),
                    path,
                    json.clone(),
                    r#"{"title":"a","price":1}"#,
                ));
            }
        }
        let path = template.replace("{id}", "000000000000000000000000");
        // No route under /api takes PATCH.
        cases.push(("PATCH".into(), path.clone(), auth.clone(), ""));
        if reads_body {
            for body in bodies {
                cases.push((method.into(), path.clone(), json.clone(), body));
            }
            cases.push((
                method.into(),
                path.clone(),
                auth.clone(),
                r#"{"title":"a"}"#,
            ));
        }
        if method == "GET" && !template.contains("{id}") {
            for query in [
                "limit=lots",
                "limit=-1&orderId=%FF",
                "%ZZ=%ZZ",
                "orderId=%3Cscript%3E",
            ] {
                cases.push((method.into(), format!("{path}?{query}"), auth.clone(), ""));
            }
        }
        for (method, path, headers, body) in cases {
            let reply = raw_request(&app.address, &method, &path, &headers, body).await;
            let case = format!("{method} {path} {body}");
            let status: u16 = reply
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            // A list may ignore a query it doesn't read; anything else is an error.
            if method == "GET" && path.contains('?') && status == 200 {
                continue;
            }
            let status = assert_error_envelope(&case, &reply);
            if method == "PATCH" {
                assert_eq!(status, 405, "{case}");
            }
        }
    }
}

#[tokio::test]
async fn the_request_id_travels_from_the_web_tier_to_the_services_it_calls() {
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let record = seen.clone();
    let services = common::testing::Served::router(Router::new().route(
        "/api/users/currentuser",
        get(move |headers: HeaderMap| {
            let id = headers
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("<none>")
                .to_owned();
            record.lock().expect("not poisoned").push(id);
            std::future::ready(axum::Json(json!({ "currentUser": null })))
        }),
    ))
    .await;
    let internal = services.address.clone();
    let app = TestServer::spawn(|s| s.internal_api_url = Some(internal)).await;
    let seen = move || std::mem::take(&mut *seen.lock().expect("not poisoned"));

    // A page rendered on the server.
    let page = app
        .client
        .get(format!("{}/how-it-works", app.address))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("the page answers");
    assert_eq!(page.status(), 200);
    assert_eq!(request_id_of(&page), "abc-123");
    assert_eq!(seen(), ["abc-123"]);

    // A server function called by the hydrated app.
    let call = app
        .client
        .post(format!("{}/_fn/current_user", app.address))
        .header("x-request-id", "fn.call_456")
        .header(reqwest::header::ACCEPT, "application/json")
        .header(reqwest::header::ORIGIN, &app.address)
        .form(&[] as &[(&str, &str)])
        .send()
        .await
        .expect("the server function answers");
    assert_eq!(call.status(), 200);
    assert_eq!(seen(), ["fn.call_456"]);

    // Without an id, or with a malformed one, the services get the one the web tier made.
    for sent in [None, Some("<script>alert(1)</script>")] {
        let mut request = app.client.get(format!("{}/how-it-works", app.address));
        if let Some(sent) = sent {
            request = request.header("x-request-id", sent);
        }
        let page = request.send().await.expect("the page answers");
        let id = request_id_of(&page);
        assert_fresh(&id, sent.unwrap_or_default());
        assert_eq!(seen(), [id]);
    }
}

/// A server whose `ADMIN_EMAILS` names a fresh admin: it, and the admin's cookies.
async fn with_admin() -> (TestServer, String) {
    let email = unique_email("admin");
    let listed = email.clone();
    let app = TestServer::spawn(move |settings| {
        settings.admin_emails = common::settings::admin_emails(&listed);
    })
    .await;
    let admin = app.sign_up(&email).await;
    (app, admin)
}

/// The id of the user signed in with `cookies`.
async fn user_id(app: &TestServer, cookies: &str) -> String {
    let (_, me) = app
        .call(Method::GET, "/api/users/currentuser", cookies, None)
        .await;
    me["currentUser"]["id"].as_str().expect("an id").to_owned()
}

#[tokio::test]
async fn the_admin_page_is_for_admins_and_bans_and_unbans_without_javascript() {
    let (app, admin) = with_admin().await;
    let email = unique_email("member");
    let member = app.sign_up(&email).await;
    let id = user_id(&app, &member).await;

    let visitor = html(&app, "/admin/users", "").await;
    assert!(visitor.contains("Sign in as an admin"), "{visitor}");
    let refused = app.get_page("/admin/users", &member).await;
    assert_eq!(refused.status(), 403);
    let refused = refused.text().await.expect("a body");
    assert!(refused.contains("Admins only"), "{refused}");
    // (The member's own email is in the header: look for the rows instead.)
    assert!(
        !refused.contains("data-user-id"),
        "no user is listed to a non-admin"
    );
    assert!(!html(&app, "/", &member)
        .await
        .contains("href=\"/admin/users\""));
    assert!(html(&app, "/", &admin)
        .await
        .contains("href=\"/admin/users\""));

    let search = format!(
        "/admin/users?email={}",
        common::wire::percent_encode(&email)
    );
    let page = html(&app, &search, &admin).await;
    assert!(page.contains(&email) && page.contains("Active"), "{page}");

    // An empty reason comes back to the page with the message.
    let posted = app
        .post_form(
            "ban_user",
            &admin,
            &[
                ("id", id.as_str()),
                ("reason", " "),
                ("email", email.as_str()),
            ],
            false,
        )
        .await;
    assert_eq!(location(&posted), search);
    let page = html(&app, &search, &with_cookies(&admin, &posted)).await;
    assert!(page.contains("A reason is required"), "{page}");

    for reason in HOSTILE_TITLES {
        let posted = app
            .post_form(
                "ban_user",
                &admin,
                &[
                    ("id", id.as_str()),
                    ("reason", reason),
                    ("email", email.as_str()),
                ],
                false,
            )
            .await;
        assert_eq!(location(&posted), search);
        let page = html(&app, &search, &admin).await;
        assert!(page.contains("Banned"), "{page}");
        assert_inert(&page, "the admin page with a ban reason");
        let posted = app
            .post_form(
                "unban_user",
                &admin,
                &[("id", id.as_str()), ("email", email.as_str())],
                false,
            )
            .await;
        assert_eq!(location(&posted), search);
        assert!(html(&app, &search, &admin).await.contains("Active"));
    }
    let (status, _) = app
        .call(
            Method::POST,
            "/api/users/signin",
            "",
            Some(json!({ "email": email, "password": "secret1" })),
        )
        .await;
    assert_eq!(status, 200, "unbanned, the member signs in again");
}

#[tokio::test]
async fn hostile_searches_are_text_on_the_admin_page() {
    let (app, admin) = with_admin().await;
    for search in HOSTILE_TITLES.into_iter().chain(["<script>\u{7}x\r\n"]) {
        let path = format!(
            "/admin/users?email={}",
            common::wire::percent_encode(search)
        );
        let page = app.get_page(&path, &admin).await;
        assert!(
            page.status().as_u16() < 500,
            "{search:?}: {}",
            page.status()
        );
        assert_inert(&page.text().await.expect("a body"), "an admin search");
    }
}
