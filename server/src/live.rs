//! The live channel's server side: the WebSocket at [`common::live::PATH`] and the hub that
//! feeds it.
//!
//! Every web process watches the bus for itself ([`common::bus::Bus::watch`], not a group),
//! so each replica sees every ticket, order and user event. The hub indexes its sockets by
//! topic and by signed-in user: a ticket event goes to the sockets watching the listing or
//! that ticket, an order event only to its buyer's sockets, a ban signs the user's sockets
//! out. Each message is serialized once and shared by every socket it goes to.
//!
//! What keeps it cheap and safe: the upgrade must come from the site's own origin; sockets
//! per client address are capped; each socket has a small bounded queue and a client that
//! lets it fill is dropped (it reconnects and refetches), never buffered for; idle sockets
//! are pinged and dropped when they stop answering; buffers and the largest accepted client
//! message are small. A hub that falls behind the bus closes every socket for the same
//! catch-up (a page refetches what it shows on reconnecting).
use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::ws::{close_code, CloseFrame, Message as Frame, Utf8Bytes, WebSocket};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::header::COOKIE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::auth::{JwtKeys, TokenState};
use common::bus::{EventBus, Message, Watch, Watched};
use common::events::{
    OrderCancelled, OrderCompleted, OrderCreated, OrderStatus, Subject, TicketCreated,
    TicketUpdated, UserBanned,
};
use common::live::{ClientMessage, OrderChange, ServerMessage, TicketChange, Topic, MAX_TOPICS};
use common::settings::Settings;
use common::task::{Shutdown, Task};
use common::ApiError;
use futures::{SinkExt, StreamExt};
use tokio::sync::{mpsc, Notify};

/// The subjects the hub pushes from.
const SUBJECTS: [Subject; 6] = [
    Subject::TicketCreated,
    Subject::TicketUpdated,
    Subject::OrderCreated,
    Subject::OrderCancelled,
    Subject::OrderCompleted,
    Subject::UserBanned,
];

/// Messages queued for one socket before it counts as too slow and is dropped.
pub const QUEUE: usize = 64;
/// How often an idle socket is pinged; one that has sent nothing (not even the pong) by the
/// next ping is dropped.
pub const PING_EVERY: Duration = Duration::from_secs(30);
/// How long one write may wait on a client that doesn't read before it is dropped.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest client message: a Watch of [`MAX_TOPICS`] ticket ids fits with room.
const MAX_CLIENT_MESSAGE: usize = 8 * 1024;
/// Read buffer per socket, allocated up front: client messages are tiny.
const READ_BUFFER: usize = 1024;
/// Writes are gathered up to this before going out (a drained queue goes in one flush).
const WRITE_BUFFER: usize = 4 * 1024;
/// Above this much unsent data a write fails (and the socket is dropped).
const MAX_WRITE_BUFFER: usize = 1024 * 1024;

/// The hub's tuning; [`Limits::from_settings`] for a server, smaller ones in tests.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Sockets one client address may hold.
    pub per_address: usize,
    /// Messages queued per socket.
    pub queue: usize,
    /// How often sockets are pinged.
    pub ping_every: Duration,
}

impl Limits {
    /// The configured cap with the default queue and ping period.
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            per_address: settings.live_sockets_per_address,
            queue: QUEUE,
            ping_every: PING_EVERY,
        }
    }
}

/// What the socket's task writes next.
enum Outgoing {
    Text(Utf8Bytes),
    /// Close with this code and reason, then end.
    Close(u16, &'static str),
}

struct Socket {
    user: Option<String>,
    topics: Vec<Topic>,
    queue: mpsc::Sender<Outgoing>,
    /// Ends the socket's task at once (even mid-write), for a client that stopped reading.
    kill: Arc<Notify>,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    sockets: HashMap<u64, Socket>,
    by_user: HashMap<String, HashSet<u64>>,
    listing: HashSet<u64>,
    by_ticket: HashMap<String, HashSet<u64>>,
    by_address: HashMap<IpAddr, usize>,
}

impl Registry {
    fn unwatch(&mut self, id: u64, topics: &[Topic]) {
        for topic in topics {
            match topic {
                Topic::Listing => {
                    self.listing.remove(&id);
                }
                Topic::Ticket(ticket) => {
                    if let Some(ids) = self.by_ticket.get_mut(ticket) {
                        ids.remove(&id);
                        if ids.is_empty() {
                            self.by_ticket.remove(ticket);
                        }
                    }
                }
            }
        }
    }

    /// Forgets socket `id`; its task ends as its queue closes (or at once, `kill`ed).
    fn remove(&mut self, id: u64, kill: bool) {
        let Some(socket) = self.sockets.remove(&id) else {
            return;
        };
        self.unwatch(id, &socket.topics);
        if let Some(user) = &socket.user {
            if let Some(ids) = self.by_user.get_mut(user) {
                ids.remove(&id);
                if ids.is_empty() {
                    self.by_user.remove(user);
                }
            }
        }
        if kill {
            socket.kill.notify_one();
        }
    }

    /// Queues `text` for each of `ids`; a socket whose queue is full is dropped.
    fn send(&mut self, ids: impl IntoIterator<Item = u64>, text: &Utf8Bytes) {
        let mut slow = Vec::new();
        for id in ids {
            if let Some(socket) = self.sockets.get(&id) {
                if socket.queue.try_send(Outgoing::Text(text.clone())).is_err() {
                    slow.push(id);
                }
            }
        }
        for id in slow {
            tracing::debug!(socket = id, "live socket too slow; dropping it");
            self.remove(id, true);
        }
    }
}

/// The sockets of one web process and what they watch.
pub struct Hub {
    registry: Mutex<Registry>,
    keys: JwtKeys,
    https: bool,
    trust_proxy: bool,
    limits: Limits,
}

/// A poisoned lock only means another thread panicked mid-update of plain collections.
fn lock(registry: &Mutex<Registry>) -> MutexGuard<'_, Registry> {
    registry.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    /// A hub checking cookies with `keys` (and their deny-list).
    pub fn new(settings: &Settings, keys: JwtKeys, limits: Limits) -> Arc<Self> {
        Arc::new(Self {
            registry: Mutex::default(),
            keys,
            https: settings.cookie_secure,
            trust_proxy: settings.trust_proxy,
            limits,
        })
    }

    /// The hub's feed: it watches `bus` from now on (so no event published after this
    /// returns is missed) and pushes until shutdown, when it closes every socket as going
    /// away (clients reconnect to another replica).
    pub async fn feed(
        self: &Arc<Self>,
        bus: &EventBus,
        shutdown: Shutdown,
    ) -> anyhow::Result<Task> {
        let watch = bus.watch(&SUBJECTS).await?;
        let hub = self.clone();
        Ok(Task::new("live hub", async move {
            hub.pump(watch, shutdown).await;
            Ok(())
        }))
    }

    async fn pump(&self, mut watch: Watch, shutdown: Shutdown) {
        loop {
            let next = tokio::select! {
                () = shutdown.wait() => break,
                next = watch.next() => next,
            };
            match next {
                Some(Watched::Message(message)) => self.dispatch(&message),
                Some(Watched::Missed(missed)) => {
                    tracing::warn!(
                        missed,
                        "the live hub fell behind the bus; closing its sockets so pages catch up"
                    );
                    self.close_all(close_code::AGAIN, "missed updates; reconnect");
                }
                None => break,
            }
        }
        self.close_all(close_code::AWAY, "server going away");
    }

    fn close_all(&self, code: u16, reason: &'static str) {
        let mut registry = lock(&self.registry);
        let ids: Vec<u64> = registry.sockets.keys().copied().collect();
        for id in ids {
            let sent = registry
                .sockets
                .get(&id)
                .is_some_and(|s| s.queue.try_send(Outgoing::Close(code, reason)).is_ok());
            registry.remove(id, !sent);
        }
    }

    /// Pushes one bus message to the sockets it concerns.
    fn dispatch(&self, message: &Message) {
        match message.subject {
            Subject::TicketCreated => {
                if let Some(t) = decode::<TicketCreated>(message) {
                    self.ticket(TicketChange {
                        id: t.id,
                        version: t.version,
                        title: t.title,
                        price: t.price,
                        user_id: t.user_id,
                        order_id: None,
                        withdrawn: false,
                    });
                }
            }
            Subject::TicketUpdated => {
                if let Some(t) = decode::<TicketUpdated>(message) {
                    self.ticket(TicketChange {
                        id: t.id,
                        version: t.version,
                        title: t.title,
                        price: t.price,
                        user_id: t.user_id,
                        order_id: t.order_id,
                        withdrawn: t.withdrawn,
                    });
                }
            }
            Subject::OrderCreated => {
                if let Some(o) = decode::<OrderCreated>(message) {
                    let change = OrderChange {
                        id: o.id,
                        version: o.version,
                        status: o.status,
                        ticket_id: o.ticket.id,
                    };
                    self.order(&o.user_id, change);
                }
            }
            Subject::OrderCancelled => {
                if let Some(o) = decode::<OrderCancelled>(message) {
                    let change = OrderChange {
                        id: o.id,
                        version: o.version,
                        status: OrderStatus::Cancelled,
                        ticket_id: o.ticket.id,
                    };
                    self.order(&o.user_id, change);
                }
            }
            Subject::OrderCompleted => {
                if let Some(o) = decode::<OrderCompleted>(message) {
                    let change = OrderChange {
                        id: o.id,
                        version: o.version,
                        status: OrderStatus::Complete,
                        ticket_id: o.ticket.id,
                    };
                    self.order(&o.user_id, change);
                }
            }
            Subject::UserBanned => {
                if let Some(ban) = decode::<UserBanned>(message) {
                    self.sign_out(&ban.user_id);
                }
            }
            _ => {}
        }
    }

    fn ticket(&self, change: TicketChange) {
        let mut registry = lock(&self.registry);
        let watchers: HashSet<u64> = registry
            .listing
            .iter()
            .chain(registry.by_ticket.get(&change.id).into_iter().flatten())
            .copied()
            .collect();
        if watchers.is_empty() {
            return;
        }
        if let Some(text) = serialize(&ServerMessage::Ticket(change)) {
            registry.send(watchers, &text);
        }
    }

    fn order(&self, buyer: &str, change: OrderChange) {
        if buyer.is_empty() {
            return; // an event from before buyers were carried: nobody to tell
        }
        let mut registry = lock(&self.registry);
        let Some(ids) = registry.by_user.get(buyer).cloned() else {
            return;
        };
        if let Some(text) = serialize(&ServerMessage::Order(change)) {
            registry.send(ids, &text);
        }
    }

    fn sign_out(&self, user: &str) {
        let mut registry = lock(&self.registry);
        let Some(ids) = registry.by_user.get(user).cloned() else {
            return;
        };
        let Some(text) = serialize(&ServerMessage::SignedOut) else {
            return;
        };
        for id in ids {
            let sent = registry.sockets.get(&id).is_some_and(|s| {
                s.queue.try_send(Outgoing::Text(text.clone())).is_ok()
                    && s.queue
                        .try_send(Outgoing::Close(close_code::NORMAL, "signed out"))
                        .is_ok()
            });
            registry.remove(id, !sent);
        }
    }

    /// Takes one of `address`'s socket slots; None when it holds its cap already.
    fn admit(self: &Arc<Self>, address: IpAddr) -> Option<Slot> {
        let mut registry = lock(&self.registry);
        let held = registry.by_address.entry(address).or_default();
        if *held >= self.limits.per_address {
            return None;
        }
        *held += 1;
        Some(Slot {
            hub: self.clone(),
            address,
        })
    }

    fn register(&self, user: Option<String>) -> (u64, mpsc::Receiver<Outgoing>, Arc<Notify>) {
        let (queue, receiver) = mpsc::channel(self.limits.queue);
        let kill = Arc::new(Notify::new());
        let mut registry = lock(&self.registry);
        registry.next_id += 1;
        let id = registry.next_id;
        if let Some(user) = &user {
            registry.by_user.entry(user.clone()).or_default().insert(id);
        }
        registry.sockets.insert(
            id,
            Socket {
                user,
                topics: Vec::new(),
                queue,
                kill: kill.clone(),
            },
        );
        (id, receiver, kill)
    }

    /// Replaces what socket `id` watches; false when it is gone (dropped meanwhile).
    fn watch(&self, id: u64, topics: Vec<Topic>) -> bool {
        let mut registry = lock(&self.registry);
        let Some(old) = registry
            .sockets
            .get_mut(&id)
            .map(|s| std::mem::take(&mut s.topics))
        else {
            return false;
        };
        registry.unwatch(id, &old);
        for topic in &topics {
            match topic {
                Topic::Listing => {
                    registry.listing.insert(id);
                }
                Topic::Ticket(ticket) => {
                    registry
                        .by_ticket
                        .entry(ticket.clone())
                        .or_default()
                        .insert(id);
                }
            }
        }
        if let Some(socket) = registry.sockets.get_mut(&id) {
            socket.topics = topics;
        }
        true
    }

    /// The signed-in user the upgrade's `session` cookie names, if it is valid now.
    async fn user_of(&self, headers: &axum::http::HeaderMap) -> Option<String> {
        let name = common::wire::cookie::ACCESS_TOKEN;
        let token = headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|pair| pair.trim().split_once('='))
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.to_owned())?;
        match self.keys.check(&token).await {
            TokenState::Valid(claims) => Some(claims.id),
            _ => None,
        }
    }
}

/// One socket's share of its address's cap, given back when the socket ends.
struct Slot {
    hub: Arc<Hub>,
    address: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut registry = lock(&self.hub.registry);
        if let Some(held) = registry.by_address.get_mut(&self.address) {
            *held = held.saturating_sub(1);
            if *held == 0 {
                registry.by_address.remove(&self.address);
            }
        }
    }
}

fn decode<T: serde::de::DeserializeOwned>(message: &Message) -> Option<T> {
    match serde_json::from_slice(&message.payload) {
        Ok(event) => Some(event),
        Err(error) => {
            tracing::warn!(message.id = %message.id, subject = %message.subject, %error, "live hub: an event it cannot read");
            None
        }
    }
}

fn serialize(message: &ServerMessage) -> Option<Utf8Bytes> {
    match serde_json::to_string(message) {
        Ok(text) => Some(Utf8Bytes::from(text)),
        Err(error) => {
            tracing::error!(%error, "live hub: cannot serialize a message");
            None
        }
    }
}

/// The route at [`common::live::PATH`].
pub fn router(hub: Arc<Hub>) -> Router {
    Router::new()
        .route(common::live::PATH, get(upgrade))
        .with_state(hub)
}

async fn upgrade(State(hub): State<Arc<Hub>>, request: Request) -> Response {
    let (mut parts, _) = request.into_parts();
    // A page's socket carries its cookie, so only the site's own pages may open one.
    let has_origin = parts.headers.contains_key(axum::http::header::ORIGIN);
    if !has_origin || !crate::web::same_origin(&parts.headers, hub.https) {
        return ApiError::Forbidden("Cross-site WebSocket refused".into()).into_response();
    }
    let upgrade = match axum::extract::WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(_) => {
            return ApiError::BadRequest("Expected a WebSocket upgrade".into()).into_response()
        }
    };
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0);
    let address = common::http::client_address(peer, &parts.headers, hub.trust_proxy)
        .or_else(|| peer.map(|p| p.ip().to_canonical()))
        .unwrap_or(IpAddr::from([0, 0, 0, 0]));
    let Some(slot) = hub.admit(address) else {
        return ApiError::TooManyRequests(PING_EVERY).into_response();
    };
    let user = hub.user_of(&parts.headers).await;
    upgrade
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(WRITE_BUFFER)
        .max_write_buffer_size(MAX_WRITE_BUFFER)
        .max_message_size(MAX_CLIENT_MESSAGE)
        .max_frame_size(MAX_CLIENT_MESSAGE)
        .on_upgrade(move |socket| serve(hub, socket, user, slot))
}

/// Why a socket's task ends.
enum End {
    /// Close with this frame (best effort).
    Close(u16, &'static str),
    /// Just drop the connection (the client is gone or not reading).
    Drop,
}

async fn serve(hub: Arc<Hub>, socket: WebSocket, user: Option<String>, slot: Slot) {
    let (id, mut queue, kill) = hub.register(user);
    let (mut sink, mut stream) = socket.split();
    let mut ping = tokio::time::interval(hub.limits.ping_every);
    ping.reset(); // the first tick is a period away, not now
    let mut heard = true;
    let end = loop {
        tokio::select! {
            () = kill.notified() => break End::Drop,
            next = queue.recv() => {
                let Some(first) = next else { break End::Drop };
                // Everything queued goes out in one flush.
                let mut close = None;
                let mut batch = vec![first];
                while let Ok(more) = queue.try_recv() {
                    batch.push(more);
                }
                let write = async {
                    for outgoing in batch {
                        match outgoing {
                            Outgoing::Text(text) => sink.feed(Frame::Text(text)).await?,
                            Outgoing::Close(code, reason) => {
                                close = Some(End::Close(code, reason));
                                break;
                            }
                        }
                    }
                    sink.flush().await
                };
                let written = tokio::select! {
                    () = kill.notified() => break End::Drop,
                    written = tokio::time::timeout(WRITE_TIMEOUT, write) => written,
                };
                if !matches!(written, Ok(Ok(()))) {
                    break End::Drop;
                }
                if let Some(close) = close {
                    break close;
                }
            }
            incoming = stream.next() => {
                heard = true;
                match incoming {
                    Some(Ok(Frame::Text(text))) => {
                        match serde_json::from_str::<ClientMessage>(text.as_str()) {
                            Ok(ClientMessage::Watch { topics }) if topics.len() <= MAX_TOPICS => {
                                if !hub.watch(id, topics) {
                                    break End::Drop;
                                }
                            }
                            Ok(ClientMessage::Watch { .. }) => {
                                break End::Close(close_code::POLICY, "too many topics")
                            }
                            Err(_) => break End::Close(close_code::POLICY, "malformed message"),
                        }
                    }
                    Some(Ok(Frame::Binary(_))) => {
                        break End::Close(close_code::UNSUPPORTED, "text messages only")
                    }
                    Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => {}
                    Some(Ok(Frame::Close(_))) | None => break End::Drop,
                    // Too large a message (or a protocol error): tungstenite has already
                    // refused it; say why if the connection still takes it.
                    Some(Err(_)) => break End::Close(close_code::SIZE, "message too large"),
                }
            }
            _ = ping.tick() => {
                if !heard {
                    break End::Drop; // silent for a whole period, the last ping unanswered
                }
                heard = false;
                let sent = tokio::time::timeout(WRITE_TIMEOUT, sink.send(Frame::Ping(Default::default()))).await;
                if !matches!(sent, Ok(Ok(()))) {
                    break End::Drop;
                }
            }
        }
    };
    lock(&hub.registry).remove(id, false);
    if let End::Close(code, reason) = end {
        let frame = Frame::Close(Some(CloseFrame {
            code,
            reason: Utf8Bytes::from_static(reason),
        }));
        let _ = tokio::time::timeout(Duration::from_secs(1), sink.send(frame)).await;
    }
    drop(slot);
}
