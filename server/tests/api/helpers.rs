//! The whole system in one process on a random port, with its own database (SQLite, or
//! PostgreSQL when `DATABASE_URL` says so) and its own bus (JetStream when `NATS_URL` is set).
#![allow(dead_code)]

use std::time::Duration;

use common::settings::Settings;
use common::task::Shutdown;
use common::testing::{test_bus, TestEnv};
use reqwest::header::{COOKIE, SET_COOKIE};
use serde_json::{json, Value};

pub struct TestServer {
    pub address: String,
    pub client: reqwest::Client,
    /// Stops the server (and its services' tasks) when the test ends.
    pub shutdown: Shutdown,
    pub env: TestEnv,
    /// The server's bus, for tests that publish an event themselves.
    pub bus: common::bus::EventBus,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shutdown.trigger();
    }
}

impl TestServer {
    pub async fn spawn(configure: impl FnOnce(&mut Settings)) -> Self {
        Self::spawn_serving(configure, None).await
    }

    /// [`TestServer::spawn`] serving the site (`/pkg`) from `site_root` when given.
    pub async fn spawn_serving(
        configure: impl FnOnce(&mut Settings),
        site_root: Option<&std::path::Path>,
    ) -> Self {
        // RUST_LOG=… shows the server's logs with a failing test's output.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mut env = TestEnv::new().await;
        configure(&mut env.settings);
        let mut options = leptos_config::get_configuration(Some(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../Leptos.toml"
        )))
        .expect("Leptos.toml parses")
        .leptos_options;
        if let Some(root) = site_root {
            options.site_root = root.to_string_lossy().into();
        }
        let bus = test_bus().await;
        let server = server::Server::build_with_bus(env.settings.clone(), options, bus.clone())
            .await
            .expect("the server builds");
        let address = format!("http://{}", server.local_addr());
        let stop = server.shutdown();
        tokio::spawn(server.run());
        // A request that never gets an answer fails the test instead of hanging it.
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .expect("a reqwest client");
        Self {
            address,
            client,
            shutdown: stop,
            env,
            bus,
        }
    }

    /// Signs up and returns the `Cookie` header a browser would send afterwards.
    pub async fn sign_up(&self, email: &str) -> String {
        let response = self
            .client
            .post(format!("{}/api/users/signup", self.address))
            .json(&json!({ "email": email, "password": "secret1" }))
            .send()
            .await
            .expect("signup reaches the server");
        assert_eq!(response.status(), 201);
        cookie_header(&response)
    }

    pub async fn get_page(&self, path: &str, cookies: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.address))
            .header(COOKIE, cookies)
            .send()
            .await
            .expect("the request reaches the server")
    }

    /// Sends JSON and returns the status and the parsed body (null when empty).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        cookies: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.address))
            .header(COOKIE, cookies);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, body) = common::testing::harness::send_for_json(request).await;
        (status.as_u16(), body)
    }
}

impl TestServer {
    /// Posts an HTML form to a server function the way a browser without JavaScript does
    /// (`Accept: text/html`, same-origin); with `js`, the way the hydrated app does.
    pub async fn post_form(
        &self,
        function: &str,
        cookies: &str,
        fields: &[(&str, &str)],
        js: bool,
    ) -> reqwest::Response {
        let accept = if js {
            "application/json"
        } else {
            "text/html,application/xhtml+xml"
        };
        self.client
            .post(format!("{}/_fn/{function}", self.address))
            .header(COOKIE, cookies)
            .header(reqwest::header::ACCEPT, accept)
            .header(reqwest::header::ORIGIN, &self.address)
            .form(fields)
            .send()
            .await
            .expect("the request reaches the server")
    }

    /// Posts the sign-up or sign-in form (`function`), signed out and without JavaScript.
    pub async fn post_credentials(
        &self,
        function: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        self.post_form(
            function,
            "",
            &[("email", email), ("password", password)],
            false,
        )
        .await
    }

    /// Posts an order page's payment form with test card `token`, `js` as in [`Self::post_form`].
    pub async fn pay_order(
        &self,
        cookies: &str,
        order_id: &str,
        token: &str,
        js: bool,
    ) -> reqwest::Response {
        self.post_form(
            "pay_order",
            cookies,
            &[("order_id", order_id), ("token", token)],
            js,
        )
        .await
    }

    /// Orders a ticket, retrying while the orders service hasn't heard of it yet (events
    /// take a moment); the final status and body.
    pub async fn order_when_known(&self, cookies: &str, ticket_id: &str) -> (u16, Value) {
        eventually(Duration::from_secs(20), || async {
            let (status, body) = self
                .call(
                    reqwest::Method::POST,
                    "/api/orders",
                    cookies,
                    Some(json!({ "ticketId": ticket_id })),
                )
                .await;
            (status != 404).then_some((status, body))
        })
        .await
        .expect("the orders service learns about the ticket")
    }

    /// Lists a ticket through the API and returns its id.
    pub async fn list_ticket(&self, cookies: &str, title: &str) -> String {
        let (status, ticket) = self
            .call(
                reqwest::Method::POST,
                "/api/tickets",
                cookies,
                Some(json!({ "title": title, "price": 25 })),
            )
            .await;
        assert_eq!(status, 201, "{ticket}");
        ticket["id"].as_str().expect("a ticket id").to_owned()
    }
}

impl TestServer {
    /// A new seller's ticket titled `title`, reserved by a new buyer: the buyer's cookies and
    /// the order id.
    pub async fn reserved_order(&self, title: &str) -> (String, String) {
        let seller = self.sign_up(&unique_email("seller")).await;
        let buyer = self.sign_up(&unique_email("buyer")).await;
        let ticket_id = self.list_ticket(&seller, title).await;
        let (status, order) = self.order_when_known(&buyer, &ticket_id).await;
        assert_eq!(status, 201, "{order}");
        let order_id = order["id"].as_str().expect("an order id").to_owned();
        (buyer, order_id)
    }

    /// The order's payments as the payments service lists them (its receipt).
    pub async fn payments_of(&self, cookies: &str, order_id: &str) -> Vec<Value> {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/payments?orderId={order_id}"),
                cookies,
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body.as_array().cloned().unwrap_or_default()
    }

    /// The order as its owner gets it from the API.
    pub async fn order(&self, cookies: &str, order_id: &str) -> Value {
        let (status, body) = self
            .call(
                reqwest::Method::GET,
                &format!("/api/orders/{order_id}"),
                cookies,
                None,
            )
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }
}

/// A response's `Location`.
pub fn location(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

/// The `Cookie` header after applying a response's `Set-Cookie`s to `cookies`.
pub fn with_cookies(cookies: &str, response: &reqwest::Response) -> String {
    common::testing::apply_set_cookies(
        cookies,
        response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok()),
    )
}

pub fn cookie_header(response: &reqwest::Response) -> String {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .collect::<Vec<_>>()
        .join("; ")
}

pub use common::testing::{eventually, unique_email};
