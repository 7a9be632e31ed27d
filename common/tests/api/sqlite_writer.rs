//! The SQLite writer thread on a real database file: groups commit or fail whole, a failed
//! job undoes only itself, timestamps agree with sea-orm's, and an event committed but never
//! handed on (the process died in between) still goes out. The bus is the suite's (in-process,
//! or JetStream when `NATS_URL` is set); the writer is SQLite's whatever `DATABASE_URL` says.
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::bus::{decode, EventBus};
use common::events::{Subject, TicketRef};
use common::outbox::{CreateOutbox, Relay};
use common::sqlite::Writer;
use common::task::Shutdown;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbErr, Statement};
use sea_orm_migration::{MigrationTrait, MigratorTrait, SchemaManager};

const ARRIVES: Duration = Duration::from_secs(10);

/// A table with a deferred foreign key: a row pointing nowhere is accepted by its statement
/// and refused at `COMMIT`, which is how these tests make a group's commit fail.
struct CreateTables;

impl sea_orm_migration::MigrationName for CreateTables {
    fn name(&self) -> &str {
        "m0001_writer_test_tables"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTables {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE things (id TEXT PRIMARY KEY, at TEXT NOT NULL);
             CREATE TABLE parents (id TEXT PRIMARY KEY);
             CREATE TABLE children (id TEXT PRIMARY KEY,
               parent TEXT NOT NULL REFERENCES parents (id) DEFERRABLE INITIALLY DEFERRED);",
        )
        .await?;
        Ok(())
    }
}

struct Migrator;

impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateOutbox), Box::new(CreateTables)]
    }
}

struct Db {
    write: DatabaseConnection,
    writer: Writer,
    settings: common::settings::Settings,
    _dir: tempfile::TempDir,
}

/// A migrated SQLite file with its writer thread.
async fn sqlite() -> Db {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let settings = common::settings::Settings::for_tests(dir.path().to_path_buf());
    reopen(settings, dir).await
}

/// The same file again, as a restarted process would open it.
async fn reopen(settings: common::settings::Settings, dir: tempfile::TempDir) -> Db {
    let db = common::db::connect_service::<Migrator>(&settings, "writer")
        .await
        .expect("a migrated SQLite file");
    Db {
        write: db.write,
        writer: db.writer.expect("a SQLite file has a writer thread"),
        settings,
        _dir: dir,
    }
}

async fn count(db: &DatabaseConnection, table: &str) -> i64 {
    let row = db
        .query_one(Statement::from_string(
            db.get_database_backend(),
            format!("SELECT COUNT(*) AS n FROM {table}"),
        ))
        .await
        .expect("counts")
        .expect("a row");
    row.try_get("", "n").expect("a count")
}

/// Holds the writer thread inside a job until the returned sender is used, so the jobs sent
/// meanwhile all wait in its queue and form the next group together.
fn hold(
    writer: &Writer,
) -> (
    std_mpsc::Sender<()>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let (release, held) = std_mpsc::channel::<()>();
    let writer = writer.clone();
    let job = tokio::spawn(async move {
        writer
            .write(move |_| {
                held.recv_timeout(ARRIVES)?;
                Ok(())
            })
            .await
    });
    (release, job)
}

#[tokio::test]
async fn a_group_whose_commit_fails_fails_every_job_and_writes_nothing() {
    let db = sqlite().await;
    let (release, held) = hold(&db.writer);
    // Give the held job time to reach the thread, so the next three queue up behind it.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let write = |sql: &'static str| {
        let writer = db.writer.clone();
        tokio::spawn(async move { writer.write(move |tx| tx.execute(sql, [])).await })
    };
    let good = write("INSERT INTO things (id, at) VALUES ('a', 'x')");
    let orphan = write("INSERT INTO children (id, parent) VALUES ('c', 'nobody')");
    let also_good = write("INSERT INTO parents (id) VALUES ('p')");
    tokio::time::sleep(Duration::from_millis(100)).await;
    release.send(()).expect("the held job waits");

    // The held job ran in the group before them, so it fails with them. (It may have had a
    // group of its own if the thread was slower than the sleep; then it succeeded alone.)
    let _ = held.await.expect("joins");
    for (name, job) in [("good", good), ("orphan", orphan), ("also good", also_good)] {
        let result = job.await.expect("joins");
        let err = result.expect_err(&format!("{name} must fail with its group"));
        assert!(
            format!("{err:#}").contains("FOREIGN KEY"),
            "{name}: the error says why the group failed: {err:#}"
        );
    }
    assert_eq!(count(&db.write, "things").await, 0, "no partial write");
    assert_eq!(count(&db.write, "parents").await, 0, "no partial write");
    assert_eq!(count(&db.write, "children").await, 0, "no partial write");

    // The thread goes on: the next job commits.
    db.writer
        .write(|tx| tx.execute("INSERT INTO things (id, at) VALUES ('b', 'y')", []))
        .await
        .expect("a later group commits");
    assert_eq!(count(&db.write, "things").await, 1);
}

#[tokio::test]
async fn a_failing_job_undoes_only_itself() {
    let db = sqlite().await;
    let (release, held) = hold(&db.writer);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first = {
        let writer = db.writer.clone();
        tokio::spawn(async move {
            writer
                .write(|tx| tx.execute("INSERT INTO things (id, at) VALUES ('a', 'x')", []))
                .await
        })
    };
    let failing = {
        let writer = db.writer.clone();
        tokio::spawn(async move {
            writer
                .write(|tx| {
                    tx.execute("INSERT INTO things (id, at) VALUES ('b', 'x')", [])?;
                    // The same key again: the job fails after a write of its own.
                    tx.execute("INSERT INTO things (id, at) VALUES ('a', 'x')", [])
                })
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    release.send(()).expect("the held job waits");
    held.await.expect("joins").expect("the held job commits");
    first.await.expect("joins").expect("the first job commits");
    failing
        .await
        .expect("joins")
        .expect_err("the second job fails");
    let row = db
        .write
        .query_all(Statement::from_string(
            db.write.get_database_backend(),
            "SELECT id FROM things ORDER BY id",
        ))
        .await
        .expect("reads");
    let ids: Vec<String> = row
        .iter()
        .map(|r| r.try_get("", "id").expect("an id"))
        .collect();
    assert_eq!(ids, ["a"], "b was undone with the job that wrote it");
}

mod things {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "things")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

#[tokio::test]
async fn timestamps_round_trip_between_the_writer_and_sea_orm() {
    use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
    let db = sqlite().await;
    let times: Vec<DateTime<Utc>> = [0, 1_000, 120_000_000, 123_456_789, 999_999_999]
        .into_iter()
        .map(|nanos| DateTime::from_timestamp(1_800_000_000, nanos).expect("a time"))
        .collect();
    // Even rows through sea-orm, odd ones through the writer.
    for (i, at) in times.iter().copied().enumerate() {
        let id = format!("t{i}");
        if i % 2 == 0 {
            things::ActiveModel {
                id: Set(id),
                at: Set(at),
            }
            .insert(&db.write)
            .await
            .expect("sea-orm inserts");
        } else {
            db.writer
                .write(move |tx| {
                    tx.execute(
                        "INSERT INTO things (id, at) VALUES (?1, ?2)",
                        (id, common::sqlite::timestamp(at)),
                    )
                })
                .await
                .expect("the writer inserts");
        }
    }
    // sea-orm reads every row back as written, and sorts them in time order.
    let read: Vec<DateTime<Utc>> = things::Entity::find()
        .order_by_asc(things::Column::At)
        .all(&db.write)
        .await
        .expect("sea-orm reads")
        .into_iter()
        .map(|row| row.at)
        .collect();
    assert_eq!(read, times);
    // A comparison sea-orm binds matches the writer's rows too.
    let later = things::Entity::find()
        .filter(things::Column::At.gt(times[2]))
        .all(&db.write)
        .await
        .expect("sea-orm filters");
    assert_eq!(later.len(), 2);
    // The writer reads every row back as written, and compares them as sea-orm does.
    let (all, after) = db
        .writer
        .write(move |tx| {
            let all = tx.query_all("SELECT at FROM things ORDER BY at", [], |r| {
                r.get::<_, String>(0)
            })?;
            let after = tx.query_all(
                "SELECT id FROM things WHERE at > ?1",
                [common::sqlite::timestamp(times[2])],
                |r| r.get::<_, String>(0),
            )?;
            Ok((all, after))
        })
        .await
        .expect("the writer reads");
    let all: Vec<DateTime<Utc>> = all
        .iter()
        .map(|t| common::sqlite::parse_timestamp(t).expect("a timestamp"))
        .collect();
    assert_eq!(all, read);
    assert_eq!(after.len(), 2);
}

fn cancelled(id: &str) -> common::events::OrderCancelled {
    common::events::OrderCancelled {
        id: id.to_owned(),
        version: 1,
        ticket: TicketRef { id: "t".into() },
        user_id: String::new(),
    }
}

/// Waits for `id`'s `order:cancelled` on a fresh subscription of `bus`.
async fn receive(sub: &mut Box<dyn common::bus::Subscription>, id: &str) {
    let delivery = tokio::time::timeout(ARRIVES, sub.next())
        .await
        .expect("the event arrives")
        .expect("the bus is open");
    let event: common::events::OrderCancelled = decode(&delivery.message).expect("decodes");
    assert_eq!(event.id, id);
    delivery.settle.ack().await.expect("acks");
}

#[tokio::test]
async fn an_event_committed_but_never_handed_on_is_published_after_a_restart() {
    let bus: EventBus = common::testing::test_bus().await;
    let mut sub = bus
        .subscribe("writer-test", &[Subject::OrderCancelled])
        .await
        .expect("subscribes");
    let db = sqlite().await;
    // The process "dies" between the commit and the hand-off: the hook drops what it gets.
    let (dropped, seen) = std_mpsc::channel();
    assert!(db.writer.on_commit(move |rows| {
        let _ = dropped.send(rows.len());
    }));
    db.writer
        .write(|tx| tx.enqueue(&cancelled("lost-in-the-crash")))
        .await
        .expect("commits");
    assert_eq!(seen.recv_timeout(ARRIVES).expect("handed to the hook"), 1);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), sub.next())
            .await
            .is_err(),
        "nothing was published"
    );
    let Db {
        settings,
        _dir: dir,
        ..
    } = db;

    // The next start: its relay's scan finds the row and publishes it.
    let db = reopen(settings, dir).await;
    let relay = Relay::new(db.write.clone(), bus.clone()).with_writer(db.writer.clone());
    let shutdown = Shutdown::new();
    let running = tokio::spawn(relay.clone().run(shutdown.clone()));
    receive(&mut sub, "lost-in-the-crash").await;
    common::testing::eventually(ARRIVES, || async {
        (relay.pending().await.expect("countable") == 0).then_some(())
    })
    .await
    .expect("the row is marked sent");

    // And from now on a commit is handed on at once, then marked sent.
    db.writer
        .write(|tx| tx.enqueue(&cancelled("handed-on")))
        .await
        .expect("commits");
    receive(&mut sub, "handed-on").await;
    common::testing::eventually(ARRIVES, || async {
        (relay.pending().await.expect("countable") == 0).then_some(())
    })
    .await
    .expect("the row is marked sent");
    shutdown.trigger();
    running
        .await
        .expect("joins")
        .expect("the relay stops cleanly");
}
