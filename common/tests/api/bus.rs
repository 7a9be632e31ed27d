//! One suite for both buses: in-process by default, JetStream when `NATS_URL` is set (each test
//! then gets its own subject prefix, hence its own stream, deleted at the end).
use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::bus::{
    self, decode, encode, Applied, Bus, EventBus, InProcessBus, JetStreamBus, ListenerOptions,
    Listeners, Message, Outcome, Subscription,
};
use common::events::{OrderCancelled, Subject, TicketCreated, TicketRef};
use common::money::Money;
use common::task::{Shutdown, Supervisor};
use sea_orm::{ConnectionTrait, Statement};
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Long enough for anything that should happen; only failing tests wait this long.
const ARRIVES: Duration = Duration::from_secs(10);
/// How long we watch for something that must not happen.
const QUIET: Duration = Duration::from_millis(500);

enum Backend {
    InProcess(Arc<InProcessBus>),
    JetStream {
        context: Box<async_nats::jetstream::Context>,
        prefix: String,
    },
}

struct TestBus {
    bus: EventBus,
    backend: Backend,
}

impl TestBus {
    async fn new() -> Self {
        match std::env::var("NATS_URL")
            .ok()
            .filter(|url| !url.trim().is_empty())
        {
            None => {
                let concrete = InProcessBus::shared();
                Self {
                    bus: concrete.clone(),
                    backend: Backend::InProcess(concrete),
                }
            }
            Some(url) => {
                let prefix = format!("test_{}", uuid::Uuid::new_v4().simple());
                let bus = JetStreamBus::connect(&url, &prefix)
                    .await
                    .expect("NATS_URL points at a JetStream server");
                let client = async_nats::connect(&url).await.expect("NATS is reachable");
                Self {
                    bus,
                    backend: Backend::JetStream {
                        context: Box::new(async_nats::jetstream::new(client)),
                        prefix,
                    },
                }
            }
        }
    }

    async fn subscribe(&self, group: &str, subjects: &[Subject]) -> Box<dyn Subscription> {
        self.bus
            .subscribe(group, subjects)
            .await
            .expect("subscribes")
    }

    async fn publish(&self, message: &Message) {
        self.bus.publish(message).await.expect("publishes");
    }

    /// The payload parked on the backend's dead-letter subject for `subject`, if any.
    async fn parked(&self, subject: Subject) -> Vec<Vec<u8>> {
        match &self.backend {
            Backend::InProcess(bus) => bus
                .dead_letters()
                .into_iter()
                .filter(|d| d.message.subject == subject)
                .map(|d| d.message.payload)
                .collect(),
            Backend::JetStream { context, prefix } => {
                let stream = context
                    .get_stream(bus::stream_name(prefix))
                    .await
                    .expect("the stream exists");
                match stream
                    .get_last_raw_message_by_subject(&bus::dead_letter_subject(prefix, subject))
                    .await
                {
                    Ok(message) => vec![message.payload.to_vec()],
                    Err(_) => vec![],
                }
            }
        }
    }

    async fn cleanup(self) {
        if let Backend::JetStream { context, prefix } = self.backend {
            context
                .delete_stream(bus::stream_name(&prefix))
                .await
                .expect("deletes the test stream");
        }
    }
}

/// Forwards to a real bus and reports each dead letter, so tests can wait for one.
struct Recording {
    inner: EventBus,
    dead: mpsc::UnboundedSender<(Message, String)>,
    /// Subjects every subscription takes on top of those asked for.
    also: Vec<Subject>,
}

/// `bus` recording its dead letters (see [`Recording`]), subscribing to `also` as well.
fn recording(
    bus: &TestBus,
    also: &[Subject],
) -> (EventBus, mpsc::UnboundedReceiver<(Message, String)>) {
    let (dead_tx, dead) = mpsc::unbounded_channel();
    let recording = Recording {
        inner: bus.bus.clone(),
        dead: dead_tx,
        also: also.to_vec(),
    };
    (Arc::new(recording), dead)
}

#[async_trait]
impl Bus for Recording {
    async fn publish(&self, message: &Message) -> anyhow::Result<()> {
        self.inner.publish(message).await
    }

    async fn subscribe(
        &self,
        group: &str,
        subjects: &[Subject],
    ) -> anyhow::Result<Box<dyn Subscription>> {
        let mut subjects = subjects.to_vec();
        for also in &self.also {
            if !subjects.contains(also) {
                subjects.push(*also);
            }
        }
        self.inner.subscribe(group, &subjects).await
    }

    async fn dead_letter(&self, message: &Message, reason: &str) -> anyhow::Result<()> {
        self.inner.dead_letter(message, reason).await?;
        let _ = self.dead.send((message.clone(), reason.to_string()));
        Ok(())
    }
}

fn ticket(n: u32) -> Message {
    let event = TicketCreated {
        id: format!("ticket-{n}"),
        version: 0,
        title: format!("concert {n}"),
        price: Money::from_cents(1000 + i64::from(n)),
        user_id: "user-1".into(),
    };
    encode(format!("event-{}", uuid::Uuid::new_v4()), &event).expect("encodes")
}

fn fast_retries(max_attempts: u32) -> ListenerOptions {
    ListenerOptions {
        max_attempts,
        base_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_millis(50),
    }
}

/// Runs a listener task under a supervisor until `shutdown`.
fn supervise(
    task: common::task::Task,
    shutdown: &Shutdown,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let mut supervisor = Supervisor::new(shutdown.clone());
    supervisor.add([task]);
    tokio::spawn(supervisor.run())
}

/// Triggers `shutdown` and waits for the supervised task to stop cleanly.
async fn stop(shutdown: &Shutdown, running: tokio::task::JoinHandle<anyhow::Result<()>>) {
    shutdown.trigger();
    timeout(ARRIVES, running)
        .await
        .expect("stops in time")
        .expect("no panic")
        .expect("a clean stop");
}

async fn next(sub: &mut Box<dyn Subscription>) -> bus::Delivery {
    timeout(ARRIVES, sub.next())
        .await
        .expect("a delivery arrives in time")
        .expect("the bus is open")
}

async fn assert_nothing_more(sub: &mut Box<dyn Subscription>) {
    if let Ok(Some(extra)) = timeout(QUIET, sub.next()).await {
        panic!(
            "unexpected delivery of {} (attempt {})",
            extra.message.id, extra.attempt
        );
    }
}

#[tokio::test]
async fn a_published_message_reaches_each_subscribed_group_once() {
    let bus = TestBus::new().await;
    let mut tickets = bus.subscribe("tickets", &[Subject::TicketCreated]).await;
    let mut orders = bus
        .subscribe("orders", &[Subject::TicketCreated, Subject::TicketUpdated])
        .await;
    let mut payments = bus.subscribe("payments", &[Subject::OrderCreated]).await;
    let message = ticket(1);
    bus.publish(&message).await;

    for sub in [&mut tickets, &mut orders] {
        let delivery = next(sub).await;
        assert_eq!(delivery.message, message);
        assert_eq!(delivery.attempt, 1);
        delivery.settle.ack().await.expect("acks");
    }
    assert_nothing_more(&mut tickets).await;
    assert_nothing_more(&mut orders).await;
    assert_nothing_more(&mut payments).await;
    bus.cleanup().await;
}

#[tokio::test]
async fn consumers_of_one_group_share_its_messages() {
    let bus = TestBus::new().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    for consumer in 0..2 {
        let mut sub = bus.subscribe("orders", &[Subject::TicketCreated]).await;
        let seen_tx = seen_tx.clone();
        tokio::spawn(async move {
            while let Some(delivery) = sub.next().await {
                let _ = seen_tx.send((consumer, delivery.message.id.clone()));
                delivery.settle.ack().await.expect("acks");
            }
        });
    }
    let published: Vec<Message> = (0..20).map(ticket).collect();
    for message in &published {
        bus.publish(message).await;
    }

    let mut ids = HashSet::new();
    for _ in 0..published.len() {
        let (_, id) = timeout(ARRIVES, seen.recv())
            .await
            .expect("every message arrives")
            .expect("consumers run");
        assert!(ids.insert(id.clone()), "{id} was handled twice");
    }
    assert_eq!(ids, published.iter().map(|m| m.id.clone()).collect());
    if let Ok(Some((consumer, id))) = timeout(QUIET, seen.recv()).await {
        panic!("consumer {consumer} handled {id} again");
    }
    bus.cleanup().await;
}

#[tokio::test]
async fn a_retried_message_comes_back_with_the_next_attempt() {
    let bus = TestBus::new().await;
    let mut sub = bus.subscribe("orders", &[Subject::TicketCreated]).await;
    let message = ticket(1);
    bus.publish(&message).await;

    let first = next(&mut sub).await;
    assert_eq!(first.attempt, 1);
    first
        .settle
        .retry(Duration::from_millis(50))
        .await
        .expect("naks");
    let second = next(&mut sub).await;
    assert_eq!(second.message, message);
    assert_eq!(second.attempt, 2);
    second.settle.ack().await.expect("acks");
    assert_nothing_more(&mut sub).await;
    bus.cleanup().await;
}

#[tokio::test]
async fn a_terminated_message_is_not_delivered_again() {
    let bus = TestBus::new().await;
    let mut sub = bus.subscribe("orders", &[Subject::TicketCreated]).await;
    bus.publish(&ticket(1)).await;
    next(&mut sub)
        .await
        .settle
        .terminate()
        .await
        .expect("terminates");
    assert_nothing_more(&mut sub).await;
    bus.cleanup().await;
}

/// The outbox relay re-publishes until it has marked a row sent; both buses drop the re-send
/// by message id (JetStream's duplicate window; the in-process bus mirrors it).
#[tokio::test]
async fn a_message_published_twice_with_one_id_is_delivered_once() {
    let bus = TestBus::new().await;
    let mut sub = bus.subscribe("orders", &[Subject::TicketCreated]).await;
    let message = ticket(1);
    bus.publish(&message).await;
    bus.publish(&message).await;

    let delivery = next(&mut sub).await;
    assert_eq!(delivery.message, message);
    delivery.settle.ack().await.expect("acks");
    assert_nothing_more(&mut sub).await;
    bus.cleanup().await;
}

/// Subscribes `listeners` on `bus` and runs them under a supervisor until `shutdown`.
async fn run<S: Clone + Send + Sync + 'static>(
    listeners: Listeners<S>,
    bus: &EventBus,
    shutdown: &Shutdown,
) -> tokio::task::JoinHandle<anyhow::Result<()>> {
    let task = listeners
        .subscribe(bus, shutdown.clone())
        .await
        .expect("subscribes");
    supervise(task, shutdown)
}

#[tokio::test]
async fn a_handled_message_is_acked_once() {
    let bus = TestBus::new().await;
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let listeners = Listeners::new("test", calls_tx)
        .with_options(fast_retries(3))
        .on(
            |calls: mpsc::UnboundedSender<String>, event: TicketCreated| async move {
                let _ = calls.send(event.id);
                Ok(Applied::Done)
            },
        );
    let shutdown = Shutdown::new();
    let running = run(listeners, &bus.bus, &shutdown).await;
    bus.publish(&ticket(7)).await;

    let handled = timeout(ARRIVES, calls.recv())
        .await
        .expect("handled in time")
        .expect("listener runs");
    assert_eq!(handled, "ticket-7");
    assert!(timeout(QUIET, calls.recv()).await.is_err(), "handled twice");
    stop(&shutdown, running).await;
    bus.cleanup().await;
}

/// JetStream redelivers what is not acked within its ack wait (so a dead consumer's messages
/// come back quickly); a handler still at work past it keeps its message.
#[tokio::test]
async fn a_handler_slower_than_the_ack_wait_is_not_raced_by_a_redelivery() {
    let bus = TestBus::new().await;
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let slow = bus::ACK_WAIT + Duration::from_secs(2);
    let listeners = Listeners::new("test", calls_tx)
        .with_options(fast_retries(3))
        .on(
            move |calls: mpsc::UnboundedSender<()>, _event: TicketCreated| async move {
                let _ = calls.send(());
                tokio::time::sleep(slow).await;
                Ok(Applied::Done)
            },
        );
    let shutdown = Shutdown::new();
    let running = run(listeners, &bus.bus, &shutdown).await;
    bus.publish(&ticket(8)).await;
    timeout(ARRIVES, calls.recv())
        .await
        .expect("handled in time")
        .expect("listener runs");
    assert!(
        timeout(slow + QUIET, calls.recv()).await.is_err(),
        "redelivered while its handler was still at work"
    );
    stop(&shutdown, running).await;
    bus.cleanup().await;
}

/// Each call of the step asks the test what it made of the event.
type Ask = mpsc::UnboundedSender<tokio::sync::oneshot::Sender<Applied>>;

#[tokio::test]
async fn an_early_event_is_redelivered_until_it_can_be_applied() {
    let bus = TestBus::new().await;
    let (recording, mut dead) = recording(&bus, &[]);
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let listeners = Listeners::new("test", calls_tx)
        .with_options(fast_retries(5))
        .on(|calls: Ask, _event: TicketCreated| async move {
            let (reply, answer) = tokio::sync::oneshot::channel();
            let _ = calls.send(reply);
            Ok(answer.await.unwrap_or(Applied::Done))
        });
    let shutdown = Shutdown::new();
    let running = run(listeners, &recording, &shutdown).await;
    bus.publish(&ticket(1)).await;

    for applied in [Applied::Early, Applied::Early, Applied::Done] {
        let reply = timeout(ARRIVES, calls.recv())
            .await
            .expect("delivered again")
            .expect("listener runs");
        let _ = reply.send(applied);
    }
    assert!(
        timeout(QUIET, calls.recv()).await.is_err(),
        "delivered after it was done"
    );
    assert!(dead.try_recv().is_err(), "nothing was dead-lettered");
    stop(&shutdown, running).await;
    bus.cleanup().await;
}

#[tokio::test]
async fn a_handler_that_always_fails_ends_on_the_dead_letter_subject() {
    let bus = TestBus::new().await;
    let (recording, mut dead) = recording(&bus, &[]);
    let calls = Arc::new(AtomicU32::new(0));
    let listeners = Listeners::new("test", calls.clone())
        .with_options(fast_retries(3))
        .on(|calls: Arc<AtomicU32>, _event: TicketCreated| async move {
            let attempt = calls.fetch_add(1, Ordering::SeqCst) + 1;
            Err(anyhow::anyhow!("boom on attempt {attempt}"))
        });
    let shutdown = Shutdown::new();
    let running = run(listeners, &recording, &shutdown).await;
    let message = ticket(1);
    bus.publish(&message).await;

    let (parked, reason) = timeout(ARRIVES, dead.recv())
        .await
        .expect("dead-lettered in time")
        .expect("listener runs");
    assert_eq!(parked, message);
    assert!(reason.contains("boom on attempt 3"), "reason: {reason}");
    assert_eq!(
        bus.parked(Subject::TicketCreated).await,
        vec![message.payload.clone()]
    );
    assert!(
        timeout(QUIET, dead.recv()).await.is_err(),
        "dead-lettered twice"
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "handled after it was parked"
    );
    stop(&shutdown, running).await;
    bus.cleanup().await;
}

#[tokio::test]
async fn a_message_that_is_never_ready_is_dead_lettered_too() {
    let bus = TestBus::new().await;
    let (recording, mut dead) = recording(&bus, &[]);
    let listeners = Listeners::new("test", ())
        .with_options(fast_retries(2))
        .on(|(), _event: TicketCreated| async { Ok(Applied::Early) });
    let shutdown = Shutdown::new();
    let running = run(listeners, &recording, &shutdown).await;
    let message = ticket(1);
    bus.publish(&message).await;

    let (parked, reason) = timeout(ARRIVES, dead.recv())
        .await
        .expect("dead-lettered in time")
        .expect("listener runs");
    assert_eq!(parked, message);
    assert!(reason.contains("not ready"), "reason: {reason}");
    stop(&shutdown, running).await;
    bus.cleanup().await;
}

/// A payload that can't decode as its subject's event is parked at once, without retries.
#[tokio::test]
async fn a_payload_that_does_not_decode_is_dead_lettered_at_once() {
    let bus = TestBus::new().await;
    let (recording, mut dead) = recording(&bus, &[]);
    let calls = Arc::new(AtomicU32::new(0));
    let listeners = Listeners::new("test", calls.clone())
        .with_options(fast_retries(5))
        .on(|calls: Arc<AtomicU32>, _event: TicketCreated| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Applied::Done)
        });
    let shutdown = Shutdown::new();
    let running = run(listeners, &recording, &shutdown).await;
    let garbled = Message {
        payload: b"{\"id\":".to_vec(),
        ..ticket(1)
    };
    bus.publish(&garbled).await;

    let (parked, reason) = timeout(ARRIVES, dead.recv())
        .await
        .expect("dead-lettered in time")
        .expect("listener runs");
    assert_eq!(parked, garbled);
    assert!(reason.contains("malformed ticket:created"), "{reason}");
    assert!(timeout(QUIET, dead.recv()).await.is_err(), "parked twice");
    assert_eq!(calls.load(Ordering::SeqCst), 0, "the step never ran");
    stop(&shutdown, running).await;
    bus.cleanup().await;
}

/// A step that finds its event applied already answers `Duplicate`: acked, never redelivered.
#[tokio::test]
async fn a_duplicate_is_acked_like_a_done_event() {
    let bus = TestBus::new().await;
    let (recording, mut dead) = recording(&bus, &[]);
    let calls = Arc::new(AtomicU32::new(0));
    let listeners = Listeners::new("test", calls.clone())
        .with_options(fast_retries(3))
        .on(|calls: Arc<AtomicU32>, _event: TicketCreated| async move {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Applied::Duplicate)
        });
    let shutdown = Shutdown::new();
    let running = run(listeners, &recording, &shutdown).await;
    bus.publish(&ticket(1)).await;

    common::testing::eventually(ARRIVES, || {
        let calls = calls.load(Ordering::SeqCst);
        async move { (calls > 0).then_some(()) }
    })
    .await
    .expect("handled in time");
    tokio::time::sleep(QUIET).await;
    assert_eq!(calls.load(Ordering::SeqCst), 1, "delivered again");
    assert!(dead.try_recv().is_err(), "nothing was dead-lettered");
    stop(&shutdown, running).await;
    bus.cleanup().await;
}

#[test]
fn events_round_trip_through_encode_and_decode() {
    let event = OrderCancelled {
        id: "order-1".into(),
        version: 3,
        ticket: TicketRef {
            id: "ticket-1".into(),
        },
        user_id: "buyer-1".into(),
    };
    let message = encode("event-1".into(), &event).expect("encodes");
    assert_eq!(message.subject, Subject::OrderCancelled);
    assert_eq!(message.id, "event-1");
    assert_eq!(decode::<OrderCancelled>(&message).expect("decodes"), event);
    assert!(
        decode::<TicketCreated>(&message).is_err(),
        "decoding checks the subject"
    );
}

#[test]
fn backoff_doubles_up_to_its_cap() {
    let options = ListenerOptions::default();
    assert_eq!(options.backoff(1), Duration::from_millis(200));
    assert_eq!(options.backoff(2), Duration::from_millis(400));
    assert_eq!(options.backoff(4), Duration::from_millis(1600));
    assert_eq!(options.backoff(7), Duration::from_secs(10));
    assert_eq!(options.backoff(u32::MAX), Duration::from_secs(10));
}

// ---------------------------------------------------------------------------------------
// The listener registry

fn cancellation() -> Message {
    let event = OrderCancelled {
        id: "order-1".into(),
        version: 1,
        ticket: TicketRef {
            id: "ticket-1".into(),
        },
        user_id: "buyer-1".into(),
    };
    encode(format!("event-{}", uuid::Uuid::new_v4()), &event).expect("encodes")
}

#[tokio::test]
async fn a_subject_without_a_registered_listener_is_dead_lettered_at_once() {
    let bus = TestBus::new().await;
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    let listeners = Listeners::new("registry", seen_tx)
        .with_options(fast_retries(5))
        .on(
            |seen: mpsc::UnboundedSender<String>, event: TicketCreated| async move {
                let _ = seen.send(event.id);
                Ok(Applied::Done)
            },
        );
    assert_eq!(listeners.subjects(), [Subject::TicketCreated]);
    // A subscription wider than the registry, as after a deploy that dropped a listener.
    let (recording, mut dead) = recording(&bus, &[Subject::OrderCancelled]);
    let shutdown = Shutdown::new();
    let running = run(listeners, &recording, &shutdown).await;

    let stray = cancellation();
    bus.publish(&stray).await;
    bus.publish(&ticket(7)).await;

    let (parked, reason) = timeout(ARRIVES, dead.recv())
        .await
        .expect("dead-lettered in time")
        .expect("listener runs");
    assert_eq!(parked, stray);
    assert!(
        reason.contains("no listener for order:cancelled"),
        "{reason}"
    );
    assert_eq!(
        timeout(ARRIVES, seen.recv())
            .await
            .expect("handled in time"),
        Some("ticket-7".to_owned())
    );
    assert!(timeout(QUIET, dead.recv()).await.is_err(), "parked twice");
    stop(&shutdown, running).await;
    bus.cleanup().await;
}

#[tokio::test]
async fn on_shutdown_a_listener_finishes_and_acks_the_message_in_hand() {
    let bus = TestBus::new().await;
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let done = Arc::new(AtomicU32::new(0));
    let finished = done.clone();
    let shutdown = Shutdown::new();
    let task = Listeners::new("draining", (started_tx, finished))
        .on(
            |(started, finished): (mpsc::UnboundedSender<()>, Arc<AtomicU32>),
             _event: TicketCreated| async move {
                let _ = started.send(());
                tokio::time::sleep(Duration::from_millis(300)).await;
                finished.fetch_add(1, Ordering::SeqCst);
                Ok(Applied::Done)
            },
        )
        .subscribe(&bus.bus, shutdown.clone())
        .await
        .expect("subscribes");
    let running = supervise(task, &shutdown);
    bus.publish(&ticket(1)).await;
    timeout(ARRIVES, started.recv())
        .await
        .expect("handling starts in time");

    stop(&shutdown, running).await;

    assert_eq!(
        done.load(Ordering::SeqCst),
        1,
        "the message in hand finished"
    );
    // Acked: a new member of the group gets nothing.
    let mut again = bus.subscribe("draining", &[Subject::TicketCreated]).await;
    assert!(
        timeout(QUIET, again.next()).await.is_err(),
        "the finished message came back"
    );
    bus.cleanup().await;
}

/// Batched steps: the deliveries at hand share one commit, and a step that fails undoes only
/// its own writes (then succeeds on its retry) — on either database and either bus.
#[tokio::test]
async fn batched_steps_share_a_commit_and_a_failure_undoes_only_itself() {
    let bus = TestBus::new().await;
    let (_database, db) = applied_table().await;
    let commits = Arc::new(AtomicU32::new(0));
    let failures = Arc::new(AtomicU32::new(0));
    let counted = commits.clone();
    let shutdown = Shutdown::new();
    let task = Listeners::new("batched", failures.clone())
        .with_options(fast_retries(5))
        .batching(db.clone(), move || {
            counted.fetch_add(1, Ordering::SeqCst);
        })
        .on_batched(
            |failures: Arc<AtomicU32>, txn: bus::Txn, event: TicketCreated| async move {
                let insert = |id: String| {
                    Statement::from_sql_and_values(
                        txn.get_database_backend(),
                        "INSERT INTO applied (id) VALUES ($1)",
                        [id.into()],
                    )
                };
                txn.execute(insert(event.id.clone())).await?;
                if event.id == "ticket-2" && failures.fetch_add(1, Ordering::SeqCst) == 0 {
                    txn.execute(insert("ticket-2-partial".into())).await?;
                    anyhow::bail!("the first attempt fails after writing");
                }
                Ok(Applied::Done)
            },
        )
        .subscribe(&bus.bus, shutdown.clone())
        .await
        .expect("subscribes");
    let running = supervise(task, &shutdown);

    let batch: Vec<Message> = (1..=3).map(ticket).collect();
    let (sent, published) = bus.bus.publish_batch(&batch).await;
    published.expect("publishes the batch");
    assert_eq!(sent, 3);

    assert_eq!(
        applied_once(&db).await,
        ["ticket-1", "ticket-2", "ticket-3"],
        "every event applied once, the failed attempt undone"
    );
    assert_eq!(failures.load(Ordering::SeqCst), 2, "ticket-2 ran twice");
    assert!(commits.load(Ordering::SeqCst) >= 1);
    stop(&shutdown, running).await;
    bus.cleanup().await;
}

/// A test database (dropped with the first value) holding an empty `applied (id)` table.
async fn applied_table() -> (common::testing::TestDatabase, sea_orm::DatabaseConnection) {
    let database = common::testing::TestDatabase::new()
        .await
        .expect("a test database");
    let db = common::db::connect(&database.url).await.expect("connects");
    db.execute_unprepared("CREATE TABLE applied (id VARCHAR(64) PRIMARY KEY)")
        .await
        .expect("creates the table");
    (database, db)
}

/// The ids in the test's `applied` table, once they are the three tickets (or after 10 s).
async fn applied_once(db: &sea_orm::DatabaseConnection) -> Vec<String> {
    let select = Statement::from_string(
        db.get_database_backend(),
        "SELECT id FROM applied ORDER BY id",
    );
    let mut ids = Vec::new();
    for _ in 0..200 {
        ids = db
            .query_all(select.clone())
            .await
            .expect("reads")
            .iter()
            .map(|row| row.try_get::<String>("", "id").expect("an id"))
            .collect::<Vec<_>>();
        if ids == ["ticket-1", "ticket-2", "ticket-3"] {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ids
}

/// A step that fails after its batch's transaction is gone under it (a dropped connection,
/// here a `ROLLBACK` sent behind sqlx's back) takes the batch with it: the step done before
/// it in the same transaction comes back instead of being acked with its write lost.
#[tokio::test]
async fn a_step_failing_with_its_transaction_gone_takes_the_batch_back() {
    let bus = TestBus::new().await;
    let (_database, db) = applied_table().await;
    let runs: Arc<[AtomicU32; 3]> = Arc::new(Default::default());
    let shutdown = Shutdown::new();
    let task = Listeners::new("broken-batch", runs.clone())
        .with_options(fast_retries(5))
        .batching(db.clone(), || {})
        .on_batched(
            |runs: Arc<[AtomicU32; 3]>, txn: bus::Txn, event: TicketCreated| async move {
                let n: usize = event.id.trim_start_matches("ticket-").parse()?;
                let run = runs[n - 1].fetch_add(1, Ordering::SeqCst);
                if n == 2 && run == 0 {
                    txn.execute_unprepared("ROLLBACK").await?;
                    anyhow::bail!("the connection went away");
                }
                txn.execute(Statement::from_sql_and_values(
                    txn.get_database_backend(),
                    "INSERT INTO applied (id) VALUES ($1)",
                    [event.id.clone().into()],
                ))
                .await?;
                Ok(Applied::Done)
            },
        )
        .subscribe(&bus.bus, shutdown.clone())
        .await
        .expect("subscribes");
    // Published before the listener runs, so its first batch holds all three.
    let batch: Vec<Message> = (1..=3).map(ticket).collect();
    let (sent, published) = bus.bus.publish_batch(&batch).await;
    published.expect("publishes the batch");
    assert_eq!(sent, 3);
    let running = supervise(task, &shutdown);

    assert_eq!(
        applied_once(&db).await,
        ["ticket-1", "ticket-2", "ticket-3"],
        "every event applied, none lost with the broken transaction"
    );
    let runs: Vec<u32> = runs.iter().map(|r| r.load(Ordering::SeqCst)).collect();
    assert_eq!(
        runs[..2],
        [2, 2],
        "ticket-1 ran again, as its batch was rolled back; ticket-2 failed once"
    );
    stop(&shutdown, running).await;
    bus.cleanup().await;
}

#[test]
fn an_unprocessable_step_or_payload_is_parked_without_retries() {
    let step: anyhow::Result<Applied> = Err(bus::Unprocessable("bad expiresAt".into()).into());
    assert!(
        matches!(Outcome::of(step), Outcome::Reject(reason) if reason.contains("bad expiresAt"))
    );
    let transient: anyhow::Result<Applied> = Err(anyhow::anyhow!("database busy"));
    assert!(matches!(Outcome::of(transient), Outcome::Failed(_)));
}
