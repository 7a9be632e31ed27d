//! One process per part of the system: `ticketing <service>` serves only that service's API
//! (plus health), refuses to start without a shared `JWT_KEY`, and `/readyz` names what is
//! down.
use crate::helpers::TestServer;
use common::service::{health_router, Readiness};
use common::task::Shutdown;
use common::testing::{Served, TestEnv, TestResponse};
use server::{Role, Server};

const KEY: &str = "0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn every_subcommand_names_a_part_and_nothing_else_does() {
    assert_eq!(Role::parse(None), Some(Role::AllInOne));
    for name in ["auth", "tickets", "orders", "expiration", "payments", "web"] {
        assert_eq!(Role::parse(Some(name)).map(Role::name), Some(name));
    }
    for wrong in ["", "Orders", "gateway", "--release"] {
        assert_eq!(Role::parse(Some(wrong)), None, "{wrong:?}");
    }
}

/// Environment variables are process-wide, so everything that sets them is in this one test.
#[tokio::test]
async fn a_service_process_serves_its_own_api_and_health_only_and_needs_a_shared_key() {
    let env = TestEnv::new().await;
    let orders = Role::parse(Some("orders")).expect("a role");

    std::env::remove_var("JWT_KEY");
    let refused = Server::build_role(env.settings.clone(), orders)
        .await
        .err()
        .expect("no JWT_KEY, no start");
    assert!(format!("{refused:#}").contains("JWT_KEY"), "{refused:#}");
    std::env::set_var("JWT_KEY", "short");
    assert!(Server::build_role(env.settings.clone(), orders)
        .await
        .is_err());

    std::env::set_var("JWT_KEY", KEY);
    let web = Server::build_role(env.settings.clone(), Role::Web)
        .await
        .err()
        .expect("web without INTERNAL_API_URL");
    assert!(format!("{web:#}").contains("INTERNAL_API_URL"), "{web:#}");

    let server = Server::build_role(env.settings.clone(), orders)
        .await
        .expect("the orders process starts");
    let address = format!("http://{}", server.local_addr());
    let stop = server.shutdown();
    let running = tokio::spawn(server.run());
    let client = reqwest::Client::new();
    let get = |path: &str| TestResponse::of(client.get(format!("{address}{path}")));

    assert_eq!(get("/healthz").await.status, 200);
    let traced = client
        .get(format!("{address}/api/orders"))
        .header("x-request-id", "orders-req-1")
        .send()
        .await
        .expect("the orders process answers");
    assert_eq!(traced.headers()["x-request-id"], "orders-req-1");
    let ready = get("/readyz").await;
    assert_eq!(ready.status, 200, "{}", ready.body);
    // The database counters, in Prometheus' text format; the migrations alone ran statements.
    let metrics = get("/metrics").await;
    assert_eq!(metrics.status, 200);
    let counter = |name: &str| -> u64 {
        metrics
            .body
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{name} ")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {}", metrics.body))
    };
    assert!(counter("ticketing_db_statements_total") > 0);
    counter("ticketing_db_sqlite_commits_total");
    get("/api/orders").await.assert_error(401, "Not authorized");
    get("/api/tickets").await.assert_error(404, "Not Found");
    // Its own part of the API's document, and no browsable docs (the web tier has them).
    let part = get("/api-docs/openapi.json").await;
    assert_eq!(part.status, 200, "{}", part.body);
    let paths = part.json()["paths"].as_object().expect("paths").clone();
    assert!(!paths.is_empty());
    assert!(
        paths.keys().all(|p| p.starts_with("/api/orders")),
        "{paths:?}"
    );
    assert_eq!(get("/api-docs/").await.status, 404);
    assert_eq!(get("/").await.status, 404, "no pages in a service process");
    get("/api/payments?orderId=x")
        .await
        .assert_error(404, "Not Found");

    stop.trigger();
    running
        .await
        .expect("no panic")
        .expect("a clean exit on shutdown");

    a_service_process_asks_the_auth_process_to_renew_an_expired_token().await;
}

/// Distributed renewal: the tickets process, told where the API is by `INTERNAL_API_URL`,
/// asks the auth process over HTTP (here directly, as the gateway would route it).
async fn a_service_process_asks_the_auth_process_to_renew_an_expired_token() {
    let env = TestEnv::new().await;
    let start = |settings, role| async move {
        let server = Server::build_role(settings, Role::parse(Some(role)).expect("a role"))
            .await
            .expect("the process starts");
        let address = format!("http://{}", server.local_addr());
        let stop = server.shutdown();
        (address, stop, tokio::spawn(server.run()))
    };
    let (auth, stop_auth, auth_running) = start(env.settings.clone(), "auth").await;
    let mut settings = env.settings.clone();
    settings.internal_api_url = Some(auth.clone());
    let (tickets, stop_tickets, tickets_running) = start(settings, "tickets").await;

    let client = reqwest::Client::new();
    let signed_up = TestResponse::of(
        client
            .post(format!("{auth}/api/users/signup"))
            .json(&serde_json::json!({ "email": common::testing::unique_email("apart"), "password": "secret1" })),
    )
    .await;
    assert_eq!(signed_up.status, 201, "{}", signed_up.body);
    let expired =
        common::testing::expired_access_token(&env.settings, signed_up.access_cookie().value());
    let refresh = signed_up.refresh_cookie().value().to_owned();
    let listed = TestResponse::of(
        client
            .post(format!("{tickets}/api/tickets"))
            .header("cookie", format!("session={expired}; refresh={refresh}"))
            .json(&serde_json::json!({ "title": "Across processes", "price": 5 })),
    )
    .await;
    assert_eq!(listed.status, 201, "{}", listed.body);
    assert_eq!(listed.json()["userId"], signed_up.json()["id"]);
    assert_ne!(listed.access_cookie().value(), expired);

    // Auth away: the request is answered as before the renewal existed, not with a 5xx.
    stop_auth.trigger();
    auth_running
        .await
        .expect("no panic")
        .expect("auth exits cleanly");
    let without_auth = TestResponse::of(
        client
            .post(format!("{tickets}/api/tickets"))
            .header("cookie", format!("session={expired}; refresh={refresh}"))
            .json(&serde_json::json!({ "title": "Nobody to ask", "price": 5 })),
    )
    .await;
    without_auth.assert_enveloped(498);

    stop_tickets.trigger();
    tickets_running
        .await
        .expect("no panic")
        .expect("tickets exits cleanly");
}

#[tokio::test]
async fn readyz_names_the_dependency_that_does_not_answer() {
    let served = Served::router(health_router(vec![
        Readiness::new("ledger database", || async { Ok(()) }),
        Readiness::new("card network", || async {
            anyhow::bail!("connection refused")
        }),
    ]))
    .await;
    let client = reqwest::Client::new();
    let ready = TestResponse::of(client.get(served.url("/readyz"))).await;
    let messages = ready.assert_enveloped(503);
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].contains("card network: connection refused") && !messages[0].contains("ledger"),
        "{messages:?}"
    );
    assert_eq!(
        TestResponse::of(client.get(served.url("/healthz")))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn readyz_names_redis_when_it_does_not_answer() {
    // A port nothing listens on: bind one, then free it.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let pool = common::redis::pool(&format!("redis://{closed}")).expect("a pool");
    let served = Served::router(health_router(vec![Readiness::redis("auth", pool)])).await;
    let client = reqwest::Client::new();
    let started = std::time::Instant::now();
    let ready = TestResponse::of(client.get(served.url("/readyz"))).await;
    let messages = ready.assert_enveloped(503);
    assert!(
        messages.len() == 1 && messages[0].contains("auth redis"),
        "{messages:?}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

#[tokio::test]
async fn every_service_asks_redis_exactly_when_it_uses_it() {
    let env = TestEnv::new().await;
    // REDIS_URL set for the suite: auth keeps sessions and the throttle there, expiration its
    // queue, and every service with authenticated routes asks its token deny-list.
    let uses_redis = env.settings.redis_url.is_some();
    let bus = common::testing::test_bus().await;
    for service in [
        auth::SERVICE,
        expiration::SERVICE,
        tickets::SERVICE,
        orders::SERVICE,
        payments::SERVICE,
    ] {
        let running = service
            .start(&env.settings, bus.clone(), Shutdown::new())
            .await
            .expect("the service starts");
        let names: Vec<String> = running.ready.iter().map(|r| r.name.clone()).collect();
        let redis = format!("{} redis", service.name);
        assert_eq!(names.contains(&redis), uses_redis, "{names:?}");
        let served = Served::router(health_router(running.ready)).await;
        let ready = TestResponse::of(reqwest::Client::new().get(served.url("/readyz"))).await;
        assert_eq!(ready.status, 200, "{}", ready.body);
    }
}

#[tokio::test]
async fn the_all_in_one_process_is_ready_when_every_service_is() {
    let app = TestServer::spawn(|_| {}).await;
    let (status, body) = app.call(reqwest::Method::GET, "/readyz", "", None).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = app.call(reqwest::Method::GET, "/healthz", "", None).await;
    assert_eq!(status, 200);
}

/// However busy, a process holds at most its services × `DATABASE_MAX_CONNECTIONS`
/// connections (counted by PostgreSQL itself; on SQLite there is no server to ask).
#[tokio::test]
async fn a_busy_process_holds_no_more_database_connections_than_configured() {
    let app = TestServer::spawn(|settings| settings.database_max_connections = Some(2)).await;
    assert_eq!(common::db::pool_size(&app.env.settings), 2);
    let load = (0..60).map(|i| {
        let path = if i % 2 == 0 {
            "/readyz"
        } else {
            "/api/tickets"
        };
        app.call(reqwest::Method::GET, path, "", None)
    });
    for (status, body) in futures::future::join_all(load).await {
        assert_eq!(status, 200, "{body}");
    }
    if !app.env.db.is_postgres() {
        return;
    }
    let database = app
        .env
        .db
        .url
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let server = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let admin = common::db::connect(&server)
        .await
        .expect("the server answers");
    use sea_orm::{ConnectionTrait, Statement};
    let row = admin
        .query_one(Statement::from_sql_and_values(
            admin.get_database_backend(),
            "SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1",
            [database.into()],
        ))
        .await
        .expect("pg_stat_activity")
        .expect("a row");
    let held: i64 = row.try_get("", "n").expect("a count");
    assert!(
        (1..=10).contains(&held),
        "five services × 2 connections, but {held} are open"
    );
}
