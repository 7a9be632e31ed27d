//! The purchase loop across every service: a reservation either becomes a paid order or
//! expires on time and releases its ticket — also when payment and expiry land at the same
//! instant, and when the expiration service restarts in the middle of a window.
use std::time::Duration;

use crate::helpers::{eventually, unique_email, TestServer};
use chrono::{DateTime, Utc};
use common::auth::JwtKeys;
use common::bus::encode;
use common::events::TicketCreated;
use common::money::Money;
use common::testing::{test_bus, Served, TestEnv, TestResponse};
use futures::future::join_all;
use reqwest::header::COOKIE;
use reqwest::Method;
use serde_json::{json, Value};

const EVENTS: Duration = Duration::from_secs(20);

/// The timing test and the 200-race load never overlap: the race would eat the timing
/// test's second on a 2-core machine.
static ALONE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn expires_at(order: &Value) -> DateTime<Utc> {
    order["expiresAt"]
        .as_str()
        .and_then(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&Utc))
        .unwrap_or_else(|| panic!("an ISO expiresAt in {order}"))
}

fn id(value: &Value) -> String {
    value["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {value}"))
        .to_owned()
}

/// Lists a ticket as `seller` and reserves it as `buyer`; the order.
async fn reserve(app: &TestServer, seller: &str, buyer: &str, title: &str) -> Value {
    let ticket = app.list_ticket(seller, title).await;
    let (status, order) = app.order_when_known(buyer, &ticket).await;
    assert_eq!(status, 201, "{order}");
    order
}

async fn order_status(app: &TestServer, buyer: &str, order_id: &str) -> String {
    let (status, order) = app
        .call(Method::GET, &format!("/api/orders/{order_id}"), buyer, None)
        .await;
    assert_eq!(status, 200, "{order}");
    order["status"].as_str().expect("a status").to_owned()
}

async fn payments(app: &TestServer, buyer: &str, order_id: &str) -> (u16, Value) {
    app.call(
        Method::GET,
        &format!("/api/payments?orderId={order_id}"),
        buyer,
        None,
    )
    .await
}

/// Waits until the payments service's replica knows the order.
async fn payable(app: &TestServer, buyer: &str, order_id: &str) {
    eventually(EVENTS, || async {
        (payments(app, buyer, order_id).await.0 == 200).then_some(())
    })
    .await
    .expect("the payments service learns about the order");
}

async fn pay(app: &TestServer, buyer: &str, order_id: &str, token: &str) -> (u16, Value) {
    app.call(
        Method::POST,
        "/api/payments",
        buyer,
        Some(json!({ "orderId": order_id, "token": token })),
    )
    .await
}

fn captured(payments: &Value) -> usize {
    payments
        .as_array()
        .expect("a list of payments")
        .iter()
        .filter(|p| p["status"] == "captured")
        .count()
}

#[tokio::test]
async fn an_unpaid_order_is_cancelled_within_a_second_of_its_window_and_its_ticket_sold_again() {
    let _alone = ALONE.lock().await;
    let app = TestServer::spawn(|s| s.expiration_window = Duration::from_secs(2)).await;
    let seller = app.sign_up(&unique_email("seller")).await;
    let buyer = app.sign_up(&unique_email("buyer")).await;
    let order = reserve(&app, &seller, &buyer, "abandoned concert").await;
    let (order_id, due) = (id(&order), expires_at(&order));

    let cancelled_at = eventually(Duration::from_secs(10), || async {
        let status = order_status(&app, &buyer, &order_id).await;
        let now = Utc::now();
        if status != "cancelled" {
            return None;
        }
        assert!(
            now >= due,
            "cancelled before its window closed ({now} < {due})"
        );
        Some(now)
    })
    .await
    .expect("the order is cancelled");
    let late = (cancelled_at - due).to_std().expect("not early");
    assert!(
        late <= Duration::from_secs(1),
        "cancelled {late:?} after its window"
    );

    let ticket_id = order["ticket"]["id"]
        .as_str()
        .expect("a ticket id")
        .to_owned();
    eventually(EVENTS, || async {
        let (_, listed) = app
            .call(Method::GET, "/api/tickets?q=abandoned", "", None)
            .await;
        listed
            .as_array()
            .is_some_and(|all| all.iter().any(|t| t["id"] == json!(ticket_id)))
            .then_some(())
    })
    .await
    .expect("the ticket is for sale again");
    let second = app.sign_up(&unique_email("second")).await;
    let (status, again) = app.order_when_known(&second, &ticket_id).await;
    assert_eq!(status, 201, "another buyer can reserve it: {again}");
}

#[tokio::test]
async fn a_paid_order_is_never_cancelled_by_expiry() {
    let app = TestServer::spawn(|s| s.expiration_window = Duration::from_secs(2)).await;
    let seller = app.sign_up(&unique_email("seller")).await;
    let buyer = app.sign_up(&unique_email("buyer")).await;
    let order = reserve(&app, &seller, &buyer, "paid concert").await;
    let order_id = id(&order);
    payable(&app, &buyer, &order_id).await;

    let (status, paid) = pay(&app, &buyer, &order_id, "tok_visa").await;
    assert_eq!(status, 201, "{paid}");
    eventually(EVENTS, || async {
        (order_status(&app, &buyer, &order_id).await == "complete").then_some(())
    })
    .await
    .expect("the order completes");

    let past_window = (expires_at(&order) - Utc::now())
        .to_std()
        .unwrap_or_default()
        + Duration::from_millis(1500);
    tokio::time::sleep(past_window).await;
    assert_eq!(order_status(&app, &buyer, &order_id).await, "complete");
    let (_, receipts) = payments(&app, &buyer, &order_id).await;
    assert_eq!(captured(&receipts), 1, "{receipts}");
    assert_eq!(receipts[0]["id"], paid["id"]);
    let ticket_id = order["ticket"]["id"].as_str().expect("a ticket id");
    let (_, ticket) = app
        .call(Method::GET, &format!("/api/tickets/{ticket_id}"), "", None)
        .await;
    assert_eq!(ticket["orderId"], json!(order_id), "the ticket stays sold");
}

#[tokio::test]
async fn two_hundred_payments_racing_their_expiry_each_end_paid_once_or_cancelled_unpaid() {
    const RACES: usize = 200;
    let _alone = ALONE.lock().await;
    let app = TestServer::spawn(|s| s.expiration_window = Duration::from_secs(5)).await;
    let seller = app.sign_up(&unique_email("seller")).await;
    let buyer = app.sign_up(&unique_email("buyer")).await;

    let mut orders = Vec::with_capacity(RACES);
    for batch in (0..RACES).collect::<Vec<_>>().chunks(20) {
        let reserved = join_all(batch.iter().map(|n| {
            let (app, seller, buyer) = (&app, &seller, &buyer);
            async move { reserve(app, seller, buyer, &format!("race {n}")).await }
        }))
        .await;
        orders.extend(reserved);
    }
    for order in &orders {
        payable(&app, &buyer, &id(order)).await;
    }

    // Each payment is sent as its order's window closes: from 60 ms before to 10 ms after,
    // so some win, some are refused, and some land between the claim and the expiry.
    let attempts = join_all(orders.iter().enumerate().map(|(n, order)| {
        let (app, buyer) = (&app, &buyer);
        let offset = chrono::Duration::milliseconds(10 - (n as i64 % 15) * 5);
        async move {
            let at = expires_at(order) + offset;
            let wait = (at - Utc::now()).to_std().unwrap_or_default();
            tokio::time::sleep(wait).await;
            pay(app, buyer, &id(order), "tok_visa").await
        }
    }))
    .await;

    let (mut complete, mut cancelled, mut refunded) = (0, 0, 0);
    for (order, (status, reply)) in orders.iter().zip(attempts) {
        assert!(
            [201, 400].contains(&status),
            "a racing payment answered {status}: {reply}"
        );
        let order_id = id(order);
        // Settled: the order has ended and no payment is still in flight or owed a refund.
        let (end, receipts) = eventually(EVENTS, || async {
            let end = order_status(&app, &buyer, &order_id).await;
            let (_, receipts) = payments(&app, &buyer, &order_id).await;
            let in_flight = receipts
                .as_array()
                .expect("a list")
                .iter()
                .any(|p| p["status"] == "authorizing" || p["status"] == "capturing");
            let settled = match end.as_str() {
                "complete" => !in_flight,
                "cancelled" => !in_flight && captured(&receipts) == 0,
                _ => false,
            };
            settled.then_some((end, receipts))
        })
        .await
        .unwrap_or_else(|| panic!("order {order_id} never settled"));
        match end.as_str() {
            "complete" => {
                complete += 1;
                assert_eq!(captured(&receipts), 1, "one captured payment: {receipts}");
                assert_eq!(status, 201, "a completed order was paid by this attempt");
            }
            _ => {
                cancelled += 1;
                assert_eq!(captured(&receipts), 0, "nothing kept: {receipts}");
                if status == 201 {
                    refunded += 1;
                    assert!(
                        receipts
                            .as_array()
                            .expect("a list")
                            .iter()
                            .any(|p| p["status"] == "refunded"),
                        "a charge that lost the race is refunded: {receipts}"
                    );
                }
            }
        }
    }
    assert_eq!(complete + cancelled, RACES);
    eprintln!("{RACES} races: {complete} paid, {cancelled} expired ({refunded} refunded)");
}

/// The expiration service as its own process next to orders: it is killed mid-window and a
/// new one started on the same store, and the order still expires, not early.
#[tokio::test]
async fn an_expiry_survives_a_restart_of_the_expiration_service() {
    let mut env = TestEnv::new().await;
    env.settings.expiration_window = Duration::from_secs(3);
    let bus = test_bus().await;
    let start = |service: common::service::Service| {
        let (settings, bus) = (env.settings.clone(), bus.clone());
        async move {
            let shutdown = common::task::Shutdown::new();
            let running = service
                .start(&settings, bus, shutdown.clone())
                .await
                .expect("the service starts");
            Served::start(running, shutdown).await
        }
    };
    let orders = start(orders::SERVICE).await;
    let expiration = start(expiration::SERVICE).await;

    let ticket = TicketCreated {
        id: uuid::Uuid::new_v4().to_string(),
        version: 0,
        title: "restart concert".into(),
        price: Money::from_cents(2500),
        user_id: "seller".into(),
    };
    bus.publish(&encode(uuid::Uuid::new_v4().to_string(), &ticket).expect("encodes"))
        .await
        .expect("published");
    let keys = JwtKeys::from_settings(&env.settings);
    let cookie = format!(
        "session={}",
        keys.issue("buyer", "buyer@test.com").expect("a token")
    );
    let client = reqwest::Client::new();
    let order = eventually(EVENTS, || async {
        let reply = TestResponse::of(
            client
                .post(orders.url("/api/orders"))
                .header(COOKIE, &cookie)
                .json(&json!({ "ticketId": ticket.id })),
        )
        .await;
        (reply.status == 201).then(|| reply.json())
    })
    .await
    .expect("the order is placed");
    let (order_id, due) = (id(&order), expires_at(&order));

    // Give the expiration service time to schedule it, then kill it mid-window.
    tokio::time::sleep(Duration::from_millis(500)).await;
    expiration.kill();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let status = |client: reqwest::Client| {
        let (url, cookie) = (
            orders.url(&format!("/api/orders/{order_id}")),
            cookie.clone(),
        );
        async move {
            TestResponse::of(client.get(url).header(COOKIE, cookie))
                .await
                .json()["status"]
                .as_str()
                .expect("a status")
                .to_owned()
        }
    };
    assert_eq!(status(client.clone()).await, "created");
    let _restarted = start(expiration::SERVICE).await;

    let ended = eventually(Duration::from_secs(10), || async {
        let now = Utc::now();
        (status(client.clone()).await == "cancelled").then_some(now)
    })
    .await
    .expect("the order still expires after the restart");
    assert!(ended >= due, "expired early: {ended} < {due}");
}

/// A burst of 1,000 reservations (64 at a time, each a distinct ticket) is fully applied by
/// the tickets service — every ticket off the for-sale list — within a second of the last
/// 201: events keep pace with the requests instead of queueing behind them.
#[tokio::test]
async fn a_burst_of_a_thousand_reservations_is_applied_within_a_second_of_its_end() {
    const TICKETS: usize = 1000;
    const AT_ONCE: usize = 64;
    let _alone = ALONE.lock().await;
    let app = TestServer::spawn(|_| {}).await;
    let seller = app.sign_up(&unique_email("seller")).await;
    let mut tickets = Vec::with_capacity(TICKETS);
    for batch in (0..TICKETS).collect::<Vec<_>>().chunks(AT_ONCE) {
        let listed = join_all(batch.iter().map(|n| {
            let (app, seller) = (&app, &seller);
            async move { app.list_ticket(seller, &format!("burst {n}")).await }
        }))
        .await;
        tickets.extend(listed);
    }
    let buyers = join_all((0..AT_ONCE).map(|n| {
        let app = &app;
        async move { app.sign_up(&unique_email(&format!("buyer{n}"))).await }
    }))
    .await;
    // Every ticket has reached the orders service before the burst: the last one listed has.
    let probe = app.sign_up(&unique_email("probe")).await;
    let last = tickets.pop().expect("tickets");
    let (status, body) = app.order_when_known(&probe, &last).await;
    assert_eq!(status, 201, "{body}");

    let next = std::sync::atomic::AtomicUsize::new(0);
    join_all(buyers.iter().map(|buyer| {
        let (app, tickets, next) = (&app, &tickets, &next);
        async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(ticket) = tickets.get(i) else { break };
                let (status, order) = app.order_when_known(buyer, ticket).await;
                assert_eq!(status, 201, "{order}");
            }
        }
    }))
    .await;
    let ended = std::time::Instant::now();

    let applied = eventually(EVENTS, || async {
        let (status, page) = app
            .call(Method::GET, "/api/tickets?limit=1", "", None)
            .await;
        assert_eq!(status, 200, "{page}");
        page.as_array()
            .expect("a list")
            .is_empty()
            .then(|| ended.elapsed())
    })
    .await
    .expect("every reservation reaches the tickets service");
    eprintln!(
        "{TICKETS} reservations applied by the tickets service {:.0} ms after the burst",
        applied.as_secs_f64() * 1000.0
    );
    assert!(
        applied <= Duration::from_secs(1),
        "the tickets service applied the burst {applied:?} after its end"
    );
}
