//! The service builder on a stub service, `hello`, laid out as ARCHITECTURE.md's "Adding a
//! service" checklist lays a service crate out (each section below is the file it would be).
//! Started as the binary starts services, it answers `/readyz` with what the builder added by
//! rule, and what it commits reaches its own listener through its outbox relay. Runs on the
//! suite's backends: PostgreSQL, JetStream and Redis when their URLs are set.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use common::bus::{Applied, Listeners};
use common::events::TicketCreated;
use common::money::Money;
use common::outbox::{CreateOutbox, Relay};
use common::service::{health_router, Builder, Running, Service};
use common::task::Shutdown;
use common::testing::{eventually, Served, TestEnv, TestResponse};
use common::ApiError;
use sea_orm::{DatabaseConnection, TransactionTrait};
use sea_orm_migration::prelude::{Alias, DynIden, IntoIden};
use sea_orm_migration::{MigrationTrait, MigratorTrait};

// migration.rs: the outbox, as every service that publishes has it, in a migrations table
// named after the service.
struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateOutbox)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("hello_migrations").into_iden()
    }
}

// lib.rs: the name once, the state, and what is special to the service (here nothing).
const SERVICE: Service = Service::new("hello", |mut service| {
    Box::pin(async move {
        let state = HelloState::build(&mut service).await?;
        start_on(state, service).await
    })
});

#[derive(Clone)]
struct HelloState {
    db: DatabaseConnection,
    relay: Relay,
    greeted: Arc<AtomicUsize>,
}

impl HelloState {
    async fn build(service: &mut Builder) -> anyhow::Result<Self> {
        let db = service.database::<Migrator>().await?;
        let relay = service.relay(&db);
        // Only for the deny-list's readiness rule: the stub has no authenticated route.
        let _keys = service.keys().await?;
        Ok(Self {
            db: db.write,
            relay,
            greeted: Arc::default(),
        })
    }
}

async fn start_on(state: HelloState, mut service: Builder) -> anyhow::Result<Running> {
    service.listen(listeners(state.clone()));
    service.finish(router(state)).await
}

// routes/: one handler, writing its event through the outbox.
fn router(state: HelloState) -> axum::Router {
    axum::Router::new()
        .route("/api/hello", axum::routing::post(say_hello))
        .with_state(state)
}

async fn say_hello(State(state): State<HelloState>) -> Result<StatusCode, ApiError> {
    let txn = state.db.begin().await?;
    let greeting = TicketCreated {
        id: uuid::Uuid::new_v4().to_string(),
        version: 0,
        title: "hello".into(),
        price: Money::from_cents(100),
        user_id: "stub".into(),
    };
    common::outbox::enqueue(&txn, &greeting).await?;
    state.relay.commit(txn).await?;
    Ok(StatusCode::CREATED)
}

// listeners.rs: the registry, one step per event.
fn listeners(state: HelloState) -> Listeners<HelloState> {
    Listeners::new("hello-service", state).on(|state: HelloState, _: TicketCreated| async move {
        state.greeted.fetch_add(1, Ordering::SeqCst);
        anyhow::Ok(Applied::Done)
    })
}

#[tokio::test]
async fn a_service_built_with_the_builder_is_ready_and_relays_what_it_commits() {
    let env = TestEnv::new().await;
    let bus = common::testing::test_bus().await;
    let shutdown = Shutdown::new();
    let mut service = SERVICE.builder(&env.settings, bus, shutdown.clone());
    let state = HelloState::build(&mut service)
        .await
        .expect("the hello state builds");
    let running = start_on(state.clone(), service)
        .await
        .expect("the hello service starts");

    let tasks: Vec<&str> = running.tasks.iter().map(|t| t.name.as_str()).collect();
    // The bans (see `common::bans`) come with the builder for a service that checks tokens;
    // without Redis a task rereads them.
    let mut expected = vec![
        "hello-service listener",
        "hello-bans listener",
        "hello outbox relay",
    ];
    if env.settings.redis_url.is_none() {
        expected.push("hello bans");
    }
    assert_eq!(tasks, expected);
    let mut checks = vec!["hello database", "event bus"];
    if env.settings.redis_url.is_some() {
        checks.push("hello redis");
    }
    let ready: Vec<&str> = running.ready.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(ready, checks);

    // As the binary serves a service: its router beside the health routes.
    let Running {
        router,
        tasks,
        ready,
    } = running;
    let router = router.merge(health_router(ready));
    let served = Served::start(
        Running {
            router,
            tasks,
            ready: Vec::new(),
        },
        shutdown,
    )
    .await;
    let client = reqwest::Client::new();
    let readyz = TestResponse::of(client.get(served.url("/readyz"))).await;
    assert_eq!(readyz.status, 200, "{}", readyz.body);
    let hello = TestResponse::of(client.post(served.url("/api/hello"))).await;
    assert_eq!(hello.status, 201, "{}", hello.body);
    let greeted = eventually(Duration::from_secs(10), || {
        let greeted = state.greeted.clone();
        async move { (greeted.load(Ordering::SeqCst) == 1).then_some(()) }
    })
    .await;
    assert!(greeted.is_some(), "the greeting reached the listener");
    served.stop().await.expect("a clean shutdown");
}

#[tokio::test]
async fn the_binary_starts_a_service_by_its_name() {
    let env = TestEnv::new().await;
    let shutdown = Shutdown::new();
    let running = SERVICE
        .start(&env.settings, common::testing::test_bus().await, shutdown)
        .await
        .expect("hello starts from its Service alone");
    assert_eq!(format!("{SERVICE:?}"), "hello");
    let bans = if env.settings.redis_url.is_none() {
        2
    } else {
        1
    };
    assert_eq!(
        running.tasks.len(),
        2 + bans,
        "its listener, its relay and the bans' listener (and reread)"
    );
}
