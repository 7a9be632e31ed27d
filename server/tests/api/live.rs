//! The live channel (`/live`): real sockets against the whole system. A page's socket sees
//! the ticket events of what it watches and its viewer's own order events, nobody else's;
//! the upgrade's protections (origin, per-address cap, message size) and the slow-client
//! and ban rules hold.
//!
//! "Nothing else arrived" is shown without waiting on a clock: after the events in question,
//! a marker every socket watches (a new listing) is published, and the first thing a socket
//! gets after that point must be the marker.
use std::time::Duration;

use common::bus::Message;
use common::events::{TicketCreated, UserBanned};
use common::live::{ServerMessage, TicketChange};
use common::money::Money;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{Error as WsError, Message as Frame};

use crate::helpers::{unique_email, TestServer};

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Bounds every wait, so a missing message fails the test instead of hanging it.
const WAIT: Duration = Duration::from_secs(20);

fn request(
    server: &TestServer,
    cookies: &str,
    origin: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = format!(
        "{}{}",
        server.address.replacen("http://", "ws://", 1),
        common::live::PATH
    );
    let mut request = url.into_client_request().expect("a websocket request");
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", HeaderValue::from_str(origin).expect("an origin"));
    }
    if !cookies.is_empty() {
        request
            .headers_mut()
            .insert("cookie", HeaderValue::from_str(cookies).expect("cookies"));
    }
    request
}

/// Opens a socket from the site's own origin as the visitor `cookies` names.
async fn open(server: &TestServer, cookies: &str) -> Result<Socket, WsError> {
    let origin = server.address.clone();
    tokio_tungstenite::connect_async(request(server, cookies, Some(&origin)))
        .await
        .map(|(socket, _)| socket)
}

/// Sends a Watch and waits until the server has taken it: it answers a ping sent after the
/// Watch only once it has read (and so applied) the Watch. Returns what arrived meanwhile
/// (an event published just before may be pushed as the Watch lands).
async fn watch(socket: &mut Socket, topics: Value) -> Vec<ServerMessage> {
    let watch = json!({ "type": "watch", "topics": topics }).to_string();
    socket
        .send(Frame::text(watch))
        .await
        .expect("the watch is sent");
    socket
        .send(Frame::Ping(b"sync".to_vec().into()))
        .await
        .expect("the ping is sent");
    tokio::time::timeout(WAIT, async {
        let mut early = Vec::new();
        loop {
            match socket.next().await {
                Some(Ok(Frame::Pong(_))) => return early,
                Some(Ok(Frame::Text(text))) => {
                    early.push(serde_json::from_str(text.as_str()).expect("a server message"))
                }
                Some(Ok(_)) => {}
                other => panic!("the socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("the server answers the ping")
}

/// The next message the server pushes.
async fn next(socket: &mut Socket) -> ServerMessage {
    tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Frame::Text(text))) => {
                    return serde_json::from_str(text.as_str()).expect("a server message")
                }
                Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => {}
                other => panic!("the socket ended: {other:?}"),
            }
        }
    })
    .await
    .expect("a message arrives")
}

/// The next change of ticket `id`, skipping those of other tickets.
async fn next_of_ticket(socket: &mut Socket, id: &str) -> TicketChange {
    loop {
        if let ServerMessage::Ticket(change) = next(socket).await {
            if change.id == id {
                return change;
            }
        }
    }
}

/// Everything up to and including the listing of `marker`.
async fn until_listed(socket: &mut Socket, marker: &str) -> Vec<ServerMessage> {
    let mut seen = Vec::new();
    loop {
        let message = next(socket).await;
        let done = matches!(&message, ServerMessage::Ticket(t) if t.id == marker);
        seen.push(message);
        if done {
            return seen;
        }
    }
}

/// How the socket ended: its close frame's code, or None when it was just dropped.
async fn closed(socket: &mut Socket) -> Option<CloseCode> {
    tokio::time::timeout(WAIT, async {
        loop {
            match socket.next().await {
                Some(Ok(Frame::Close(frame))) => return frame.map(|f| f.code),
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return None,
            }
        }
    })
    .await
    .expect("the socket is closed")
}

fn refused_with(result: Result<Socket, WsError>) -> (u16, Value) {
    match result {
        Err(WsError::Http(response)) => {
            let body = response
                .body()
                .as_deref()
                .map(|b| serde_json::from_slice(b).expect("a JSON body"))
                .unwrap_or(Value::Null);
            (response.status().as_u16(), body)
        }
        Err(other) => panic!("refused without an answer: {other}"),
        Ok(_) => panic!("the socket was accepted"),
    }
}

async fn publish<E: common::events::Event>(server: &TestServer, events: &[E]) {
    let messages: Vec<Message> = events
        .iter()
        .map(|event| Message {
            id: uuid::Uuid::new_v4().to_string(),
            subject: E::SUBJECT,
            payload: serde_json::to_vec(event).expect("an event serializes"),
        })
        .collect();
    let (sent, result) = server.bus.publish_batch(&messages).await;
    result.expect("the bus takes the events");
    assert_eq!(sent, messages.len());
}

#[tokio::test]
async fn a_listing_socket_sees_a_new_ticket_its_reservation_and_its_release() {
    let server = TestServer::spawn(|_| {}).await;
    let seller = server.sign_up(&unique_email("seller")).await;
    let buyer = server.sign_up(&unique_email("buyer")).await;
    let mut page = open(&server, "").await.expect("a visitor's socket");
    watch(&mut page, json!([{ "topic": "listing" }])).await;

    // Markup is data on this channel; the page renders it as text.
    let title = "<b>Live</b> & \"friends\"";
    let ticket = server.list_ticket(&seller, title).await;
    let listed = next_of_ticket(&mut page, &ticket).await;
    assert_eq!(listed.title, title);
    assert_eq!(listed.version, 0);
    assert!(listed.is_for_sale());

    let (status, order) = server.order_when_known(&buyer, &ticket).await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["id"].as_str().expect("an order id");
    let reserved = next_of_ticket(&mut page, &ticket).await;
    assert_eq!(reserved.order_id.as_deref(), Some(order_id));
    assert!(!reserved.is_for_sale());

    let (status, _) = server
        .call(
            reqwest::Method::DELETE,
            &format!("/api/orders/{order_id}"),
            &buyer,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let released = next_of_ticket(&mut page, &ticket).await;
    assert!(released.is_for_sale());
    assert!(released.version > reserved.version);
}

#[tokio::test]
async fn a_ticket_socket_sees_only_its_ticket() {
    let server = TestServer::spawn(|_| {}).await;
    let seller = server.sign_up(&unique_email("seller")).await;
    let buyer = server.sign_up(&unique_email("buyer")).await;
    let mine = server.list_ticket(&seller, "Watched").await;
    let mut page = open(&server, "").await.expect("a socket");
    let mut seen = watch(&mut page, json!([{ "topic": "ticket", "id": mine }])).await;

    let other = server.list_ticket(&seller, "Not watched").await;
    let (status, _) = server.order_when_known(&buyer, &other).await;
    assert_eq!(status, 201);
    let (status, _) = server.order_when_known(&buyer, &mine).await;
    assert_eq!(status, 201);
    // The other ticket's listing and reservation came first; none of it reached the page
    // (its own listing may have, if its event landed just after the Watch).
    loop {
        let message = next(&mut page).await;
        let reserved = matches!(&message, ServerMessage::Ticket(t) if t.order_id.is_some());
        seen.push(message);
        if reserved {
            break;
        }
    }
    assert!(
        seen.iter()
            .all(|m| matches!(m, ServerMessage::Ticket(t) if t.id == mine)),
        "another ticket's change reached the page: {seen:?}"
    );
}

#[tokio::test]
async fn order_events_reach_only_their_buyers_sockets() {
    let server = TestServer::spawn(|_| {}).await;
    let seller = server.sign_up(&unique_email("seller")).await;
    let buyer = server.sign_up(&unique_email("buyer")).await;
    let someone = server.sign_up(&unique_email("someone")).await;
    let mut buyers = open(&server, &buyer).await.expect("the buyer's socket");
    let mut theirs = open(&server, &someone)
        .await
        .expect("another user's socket");
    let mut visitors = open(&server, "").await.expect("a visitor's socket");
    for socket in [&mut buyers, &mut theirs, &mut visitors] {
        watch(socket, json!([{ "topic": "listing" }])).await;
    }

    let ticket = server.list_ticket(&seller, "Ordered").await;
    let (status, order) = server.order_when_known(&buyer, &ticket).await;
    assert_eq!(status, 201, "{order}");
    let order_id = order["id"].as_str().expect("an order id").to_owned();
    let created = loop {
        if let ServerMessage::Order(change) = next(&mut buyers).await {
            break change;
        }
    };
    assert_eq!(created.id, order_id);
    assert_eq!(created.ticket_id, ticket);
    assert_eq!(created.status, common::events::OrderStatus::Created);

    let (status, _) = server
        .call(
            reqwest::Method::DELETE,
            &format!("/api/orders/{order_id}"),
            &buyer,
            None,
        )
        .await;
    assert_eq!(status, 204);
    let cancelled = loop {
        if let ServerMessage::Order(change) = next(&mut buyers).await {
            break change;
        }
    };
    assert_eq!(cancelled.id, order_id);
    assert_eq!(cancelled.status, common::events::OrderStatus::Cancelled);

    // The buyer's socket has both order events, so the hub has pushed them; whatever the
    // others got before the marker is all they will ever get of them.
    let marker = server.list_ticket(&seller, "Marker").await;
    for socket in [&mut theirs, &mut visitors] {
        let seen = until_listed(socket, &marker).await;
        assert!(
            seen.iter().all(|m| matches!(m, ServerMessage::Ticket(_))),
            "someone else's order reached a socket: {seen:?}"
        );
    }
}

#[tokio::test]
async fn a_socket_from_another_origin_or_none_is_refused() {
    let server = TestServer::spawn(|_| {}).await;
    let user = server.sign_up(&unique_email("victim")).await;
    for origin in [
        Some("http://evil.example"),
        Some("https://127.0.0.1"),
        Some("null"),
        None,
    ] {
        let result = tokio_tungstenite::connect_async(request(&server, &user, origin))
            .await
            .map(|(socket, _)| socket);
        let (status, body) = refused_with(result);
        assert_eq!(status, 403, "{origin:?}");
        assert!(body["errors"][0]["message"].is_string(), "{body}");
    }
}

#[tokio::test]
async fn one_address_may_hold_only_so_many_sockets() {
    let server = TestServer::spawn(|s| s.live_sockets_per_address = 2).await;
    let first = open(&server, "").await.expect("the first socket");
    let _second = open(&server, "").await.expect("the second socket");
    let (status, body) = refused_with(open(&server, "").await);
    assert_eq!(status, 429, "{body}");

    // A closed socket gives its place back.
    drop(first);
    crate::helpers::eventually(WAIT, || async { open(&server, "").await.ok() })
        .await
        .expect("a socket once one has closed");
}

#[tokio::test]
async fn a_malformed_or_oversized_message_closes_the_socket() {
    let server = TestServer::spawn(|_| {}).await;
    let too_many: Vec<Value> = (0..=common::live::MAX_TOPICS)
        .map(|n| json!({ "topic": "ticket", "id": format!("t{n}") }))
        .collect();
    for text in [
        "not json".to_owned(),
        json!({ "type": "shout", "topics": [] }).to_string(),
        json!({ "type": "watch", "topics": [{ "topic": "everything" }] }).to_string(),
        json!({ "type": "watch", "topics": too_many }).to_string(),
    ] {
        let mut socket = open(&server, "").await.expect("a socket");
        socket.send(Frame::text(text.clone())).await.expect("sent");
        assert_eq!(closed(&mut socket).await, Some(CloseCode::Policy), "{text}");
    }

    let mut socket = open(&server, "").await.expect("a socket");
    let huge =
        json!({ "type": "watch", "topics": [{ "topic": "ticket", "id": "x".repeat(100_000) }] });
    // The server may hang up before the whole message is written.
    let _ = socket.send(Frame::text(huge.to_string())).await;
    let code = closed(&mut socket).await;
    assert!(
        matches!(code, None | Some(CloseCode::Size)),
        "an oversized message was not refused: {code:?}"
    );
}

#[tokio::test]
async fn a_ban_signs_the_users_sockets_out() {
    let server = TestServer::spawn(|_| {}).await;
    let banned_cookies = server.sign_up(&unique_email("banned")).await;
    let (status, me) = server
        .call(
            reqwest::Method::GET,
            "/api/users/currentuser",
            &banned_cookies,
            None,
        )
        .await;
    assert_eq!(status, 200);
    let banned_id = me["currentUser"]["id"].as_str().expect("an id").to_owned();
    let other = server.sign_up(&unique_email("other")).await;
    let mut tabs = [
        open(&server, &banned_cookies).await.expect("a tab"),
        open(&server, &banned_cookies).await.expect("another tab"),
    ];
    let mut bystander = open(&server, &other).await.expect("someone else's socket");
    watch(&mut bystander, json!([{ "topic": "listing" }])).await;

    publish(
        &server,
        &[UserBanned {
            user_id: banned_id,
            reason: "<script>spam</script>".into(),
        }],
    )
    .await;
    for tab in &mut tabs {
        assert_eq!(next(tab).await, ServerMessage::SignedOut);
        assert_eq!(closed(tab).await, Some(CloseCode::Normal));
    }
    let marker = server.list_ticket(&other, "After the ban").await;
    let seen = until_listed(&mut bystander, &marker).await;
    assert_eq!(seen.len(), 1, "{seen:?}");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_dropped_not_buffered_for() {
    let server = TestServer::spawn(|_| {}).await;
    // A small receive window, so what the server can't send piles up on its side quickly.
    let address: std::net::SocketAddr = server
        .address
        .trim_start_matches("http://")
        .parse()
        .expect("the server's address");
    let tcp = tokio::net::TcpSocket::new_v4().expect("a socket");
    tcp.set_recv_buffer_size(4096).expect("a small buffer");
    let stream = tcp.connect(address).await.expect("connected");
    let origin = server.address.clone();
    let (mut slow, _) = tokio_tungstenite::client_async(
        request(&server, "", Some(&origin)),
        tokio_tungstenite::MaybeTlsStream::Plain(stream),
    )
    .await
    .expect("the slow client's socket");
    watch(&mut slow, json!([{ "topic": "listing" }])).await;

    // Far more than the socket's queue, its write buffer and both kernel buffers hold.
    const EVENTS: usize = 400;
    let title = "x".repeat(32 * 1024);
    let events: Vec<TicketCreated> = (0..EVENTS)
        .map(|_| TicketCreated {
            id: uuid::Uuid::new_v4().to_string(),
            version: 0,
            title: title.clone(),
            price: Money::from_cents(100),
            user_id: uuid::Uuid::new_v4().to_string(),
        })
        .collect();
    for chunk in events.chunks(50) {
        publish(&server, chunk).await;
    }

    // Reading now gets what was already on its way, then the end: the rest was dropped.
    let mut received = 0;
    tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(Ok(frame)) = slow.next().await {
            if frame.is_text() {
                received += 1;
            }
        }
    })
    .await
    .expect("the server hung up on the slow client");
    assert!(
        received < EVENTS,
        "every message was kept for it: {received}"
    );
}
