//! Live pages: one WebSocket per tab, to `common::live::PATH` on the page's own origin,
//! over which the web process tells the pages what changed, so they update in place.
//!
//! `App` provides a [`Live`]; a page says what it shows and what to do on a change with
//! [`Live::watch`], and keeps a resource current with [`refresher`]. Only the hydrated page
//! connects (effects never run on the server), so a page rendered on the server, or used
//! without JavaScript, is what it always was. A dropped socket reconnects with backoff, and
//! every (re)connect tells the pages to catch up: what happened while nobody listened is
//! fetched again, so a restarted web replica costs a page nothing.
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use common::live::{OrderChange, TicketChange, Topic};
use leptos::prelude::*;
use leptos::task::spawn_local;

/// What a page hears.
#[derive(Debug, Clone)]
pub enum Change {
    /// A ticket of a watched topic changed (or was listed).
    Ticket(TicketChange),
    /// One of the viewer's own orders changed.
    Order(OrderChange),
    /// The socket (re)connected: anything may have changed meanwhile.
    CatchUp,
}

type Handler = Arc<dyn Fn(&Change) + Send + Sync>;

/// A page that listens: its topics and its handler.
struct Listener {
    id: u64,
    topics: Vec<Topic>,
    heard: Handler,
}

#[derive(Default)]
struct Listeners {
    last_id: u64,
    all: Vec<Listener>,
}

/// The tab's live channel, provided by `App` to every page.
#[derive(Clone, Copy)]
pub struct Live {
    listeners: StoredValue<Listeners>,
    /// Every listener's topics together: what the socket asks the server for.
    topics: RwSignal<Vec<Topic>>,
}

impl Live {
    /// The channel; in the browser it also opens the socket once the page has hydrated.
    pub fn new() -> Self {
        let live = Self {
            listeners: StoredValue::new(Listeners::default()),
            topics: RwSignal::new(Vec::new()),
        };
        #[cfg(feature = "hydrate")]
        socket::open(live);
        live
    }

    /// While the calling component lives, calls `heard` with the changes of `topics` (read
    /// reactively: a new route parameter re-subscribes), the viewer's order changes, and
    /// [`Change::CatchUp`] after each (re)connect. Nothing happens on the server.
    pub fn watch(
        self,
        topics: impl Fn() -> Vec<Topic> + 'static,
        heard: impl Fn(&Change) + Send + Sync + 'static,
    ) {
        let heard: Handler = Arc::new(heard);
        Effect::new(move |_| {
            let topics = topics();
            let id = self.add(topics, heard.clone());
            on_cleanup(move || self.remove(id));
        });
    }

    fn add(self, topics: Vec<Topic>, heard: Handler) -> u64 {
        let id = self
            .listeners
            .try_update_value(|listeners| {
                listeners.last_id += 1;
                let id = listeners.last_id;
                listeners.all.push(Listener { id, topics, heard });
                id
            })
            .unwrap_or_default();
        self.topics_changed();
        id
    }

    fn remove(self, id: u64) {
        self.listeners
            .try_update_value(|listeners| listeners.all.retain(|l| l.id != id));
        self.topics_changed();
    }

    fn topics_changed(self) {
        let Some(topics) = self.listeners.try_with_value(|listeners| {
            let mut topics: Vec<Topic> = Vec::new();
            for topic in listeners.all.iter().flat_map(|l| &l.topics) {
                if !topics.contains(topic) {
                    topics.push(topic.clone());
                }
            }
            topics.truncate(common::live::MAX_TOPICS);
            topics
        }) else {
            return;
        };
        if self.topics.try_with_untracked(|now| *now != topics) == Some(true) {
            self.topics.set(topics);
        }
    }

    /// Hands `change` to the listeners it is for. The handlers run outside the registry's
    /// borrow, so one may (un)subscribe.
    #[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
    fn tell(self, change: &Change) {
        let handlers: Vec<Handler> = self
            .listeners
            .try_with_value(|listeners| {
                listeners
                    .all
                    .iter()
                    .filter(|l| match change {
                        Change::Ticket(ticket) => l.topics.iter().any(|topic| match topic {
                            Topic::Listing => true,
                            Topic::Ticket(id) => *id == ticket.id,
                        }),
                        Change::Order(_) | Change::CatchUp => true,
                    })
                    .map(|l| l.heard.clone())
                    .collect()
            })
            .unwrap_or_default();
        for heard in handlers {
            heard(change);
        }
    }
}

impl Default for Live {
    fn default() -> Self {
        Self::new()
    }
}

/// The tab's [`Live`] (provided by `App`).
pub fn use_live() -> Live {
    expect_context::<Live>()
}

/// A burst of changes makes one fetch, this long after the first.
const SETTLE: Duration = Duration::from_millis(250);

/// Keeps `resource` current: the returned callback fetches it again through `fetch` (with
/// what `key` says now) a moment later, and sets the answer only if it is still for the
/// same key and differs from what is shown, so an unchanged page is not redrawn. Calls that
/// come while a fetch waits join it; an answer overtaken by a later fetch is dropped.
pub fn refresher<K, T, F, Fut>(
    resource: Resource<T>,
    key: impl Fn() -> K + Send + Sync + 'static,
    fetch: F,
) -> Callback<()>
where
    K: PartialEq + Clone + 'static,
    T: PartialEq + Clone + Send + Sync + 'static,
    F: Fn(K) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = T> + 'static,
{
    // (a fetch is waiting to start, the number of the latest one started)
    let state = StoredValue::new((false, 0_u64));
    let key = Arc::new(key);
    let fetch = Arc::new(fetch);
    Callback::new(move |()| {
        let waiting = state
            .try_update_value(|(waiting, _)| std::mem::replace(waiting, true))
            .unwrap_or(true);
        if waiting {
            return;
        }
        let (key, fetch) = (key.clone(), fetch.clone());
        set_timeout(
            move || {
                let Some(number) = state.try_update_value(|(waiting, started)| {
                    *waiting = false;
                    *started += 1;
                    *started
                }) else {
                    return; // the page is gone
                };
                let asked = untrack(|| key());
                spawn_local(async move {
                    let fresh = fetch(asked.clone()).await;
                    let latest = state.try_with_value(|(_, started)| *started) == Some(number);
                    let same_key = untrack(|| key()) == asked;
                    let differs = resource
                        .try_with_untracked(|shown| shown.as_ref() != Some(&fresh))
                        .unwrap_or(false);
                    if latest && same_key && differs {
                        resource.set(Some(fresh));
                    }
                });
            },
            SETTLE,
        );
    })
}

/// The socket itself: browser only.
#[cfg(feature = "hydrate")]
mod socket {
    use std::cell::RefCell;
    use std::rc::Rc;
    use std::time::Duration;

    use common::live::{ClientMessage, ServerMessage, Topic, PATH};
    use leptos::prelude::*;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{Event, MessageEvent, WebSocket};

    use super::{Change, Live};

    /// The first wait before reconnecting; it doubles after each failed attempt.
    const FIRST_DELAY: Duration = Duration::from_millis(500);
    const MAX_DELAY: Duration = Duration::from_secs(30);
    /// A connection that lasted this long was a good one: the next drop starts the waits over.
    const STABLE: Duration = Duration::from_secs(10);

    type Callback = Closure<dyn FnMut(Event)>;

    struct Connection {
        live: Live,
        socket: Option<WebSocket>,
        /// The open socket's handlers, kept alive as long as it is.
        handlers: Vec<Callback>,
        /// The socket before this one and its handlers: dropped at the next connect, never
        /// inside one of its own handlers.
        retired: Option<(WebSocket, Vec<Callback>)>,
        open: bool,
        delay: Duration,
        stable: Option<TimeoutHandle>,
        /// The timer of the next attempt, while one waits.
        waiting: Option<TimeoutHandle>,
        topics: Vec<Topic>,
    }

    type Shared = Rc<RefCell<Connection>>;

    /// Opens the tab's socket once the page has hydrated, and re-sends what it watches when
    /// the pages' topics change.
    pub fn open(live: Live) {
        let connection: Shared = Rc::new(RefCell::new(Connection {
            live,
            socket: None,
            handlers: Vec::new(),
            retired: None,
            open: false,
            delay: FIRST_DELAY,
            stable: None,
            waiting: None,
            topics: Vec::new(),
        }));
        let weak = Rc::downgrade(&connection);
        // The listener lives as long as the tab: its handle is never removed.
        let _ = window_event_listener(leptos::ev::online, move |_| {
            if let Some(connection) = weak.upgrade() {
                online(&connection);
            }
        });
        let started = RefCell::new(false);
        Effect::new(move |_| {
            let topics = live.topics.get();
            connection.borrow_mut().topics = topics;
            if started.replace(true) {
                send_watch(&connection.borrow());
            } else {
                connect(&connection);
            }
        });
    }

    fn url() -> Option<String> {
        let location = window().location();
        let scheme = match location.protocol().ok()?.as_str() {
            "https:" => "wss",
            _ => "ws",
        };
        Some(format!("{scheme}://{}{PATH}", location.host().ok()?))
    }

    fn connect(connection: &Shared) {
        let socket = url().and_then(|url| WebSocket::new(&url).ok());
        let Some(socket) = socket else {
            retry(connection);
            return;
        };
        let on_open = handler(connection, |connection, _| opened(connection));
        let on_message = handler(connection, |connection, event| {
            if let Some(text) = event
                .dyn_ref::<MessageEvent>()
                .and_then(|m| m.data().as_string())
            {
                received(connection, &text);
            }
        });
        let on_close = handler(connection, |connection, _| closed(connection));
        socket.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        socket.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        socket.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        let mut c = connection.borrow_mut();
        c.socket = Some(socket);
        c.handlers = vec![on_open, on_message, on_close];
    }

    /// A handler of the socket's events that reaches the connection without keeping it
    /// alive in a cycle.
    fn handler(connection: &Shared, on: fn(&Shared, Event)) -> Callback {
        let weak = Rc::downgrade(connection);
        Closure::new(move |event: Event| {
            if let Some(connection) = weak.upgrade() {
                on(&connection, event);
            }
        })
    }

    fn opened(connection: &Shared) {
        let live = {
            let mut c = connection.borrow_mut();
            c.open = true;
            send_watch(&c);
            let weak = Rc::downgrade(connection);
            c.stable = set_timeout_with_handle(
                move || {
                    if let Some(connection) = weak.upgrade() {
                        connection.borrow_mut().delay = FIRST_DELAY;
                    }
                },
                STABLE,
            )
            .ok();
            c.live
        };
        live.tell(&Change::CatchUp);
    }

    fn send_watch(c: &Connection) {
        if let (true, Some(socket)) = (c.open, &c.socket) {
            let watch = ClientMessage::Watch {
                topics: c.topics.clone(),
            };
            if let Ok(text) = serde_json::to_string(&watch) {
                // A failed send means the socket is closing: its close reconnects.
                let _ = socket.send_with_str(&text);
            }
        }
    }

    fn received(connection: &Shared, text: &str) {
        let live = connection.borrow().live;
        match serde_json::from_str::<ServerMessage>(text) {
            Ok(ServerMessage::Ticket(ticket)) => live.tell(&Change::Ticket(ticket)),
            Ok(ServerMessage::Order(order)) => live.tell(&Change::Order(order)),
            // The sign-in ended: nothing shown of the viewer may stay on screen.
            Ok(ServerMessage::SignedOut) => {
                let _ = window().location().assign("/");
            }
            // A message this build doesn't know (a newer server): nothing to do.
            Err(_) => {}
        }
    }

    fn closed(connection: &Shared) {
        {
            let mut c = connection.borrow_mut();
            c.open = false;
            if let Some(stable) = c.stable.take() {
                stable.clear();
            }
            let handlers = std::mem::take(&mut c.handlers);
            if let Some(socket) = c.socket.take() {
                c.retired = Some((socket, handlers));
            }
        }
        retry(connection);
    }

    /// Connects again after the current wait, with up to half of it added at random so tabs
    /// a restarted replica dropped together don't come back together; the next wait doubles.
    fn retry(connection: &Shared) {
        let delay = {
            let mut c = connection.borrow_mut();
            let delay = c.delay;
            c.delay = (delay * 2).min(MAX_DELAY);
            delay.mul_f64(1.0 + js_sys::Math::random() / 2.0)
        };
        let weak = Rc::downgrade(connection);
        let timer = set_timeout_with_handle(
            move || {
                if let Some(connection) = weak.upgrade() {
                    reconnect(&connection);
                }
            },
            delay,
        );
        connection.borrow_mut().waiting = timer.ok();
    }

    /// Back online: no need to sit out the rest of a long wait.
    fn online(connection: &Shared) {
        let waiting = {
            let mut c = connection.borrow_mut();
            c.delay = FIRST_DELAY;
            c.waiting.take()
        };
        if let Some(timer) = waiting {
            timer.clear();
            reconnect(connection);
        }
    }

    fn reconnect(connection: &Shared) {
        let retired = {
            let mut c = connection.borrow_mut();
            c.waiting = None;
            c.retired.take()
        };
        if let Some((socket, _handlers)) = retired {
            socket.set_onopen(None);
            socket.set_onmessage(None);
            socket.set_onclose(None);
        }
        connect(connection);
    }
}
