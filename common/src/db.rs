//! Database connect + migrate for SQLite and PostgreSQL, chosen by URL.
//!
//! On SQLite a service gets the file's writer thread ([`crate::sqlite::Writer`]) for its hot
//! writes, one sqlx writer connection for the rest (writes wait for it in the pool, and for
//! the writer thread through SQLite's busy timeout) and a separate pool of query-only
//! readers, on a WAL file with `synchronous=NORMAL`; on PostgreSQL one pool serves all.
use std::time::Duration;

use anyhow::Context;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbErr, RuntimeErr};
use sea_orm_migration::MigratorTrait;

mod status;

/// Connections a service's pool opens at most unless `DATABASE_MAX_CONNECTIONS` says: small,
/// so ten single-service processes stay well under PostgreSQL's default limit of 100 (a
/// 2-core server gains nothing from more concurrent transactions than a few per core).
pub const DEFAULT_POOL_POSTGRES: u32 = 8;
/// On SQLite: one writer plus seven readers.
pub const DEFAULT_POOL_SQLITE: u32 = 8;
/// On PostgreSQL, the connections of a service's background work (listeners, the outbox
/// relay) apart from the request pool, out of its [`pool_size`]: under request load a
/// listener never waits behind dozens of queued requests for a connection, so events don't
/// build up a backlog.
pub const BACKGROUND_POOL_POSTGRES: u32 = 2;

/// A PostgreSQL pool of `size` split into requests' and background work's connections; a
/// pool of one is shared.
fn split_pool(size: u32) -> (u32, Option<u32>) {
    match size {
        0 | 1 => (1, None),
        2..=3 => (size - 1, Some(1)),
        _ => (
            size - BACKGROUND_POOL_POSTGRES,
            Some(BACKGROUND_POOL_POSTGRES),
        ),
    }
}

/// The pool size a service gets with these settings.
pub fn pool_size(settings: &crate::settings::Settings) -> u32 {
    let postgres = settings
        .database_url
        .as_deref()
        .is_some_and(|u| u.starts_with("postgres"));
    settings.database_max_connections.unwrap_or(if postgres {
        DEFAULT_POOL_POSTGRES
    } else {
        DEFAULT_POOL_SQLITE
    })
}

/// A service's database handles: `write` for anything that writes or must read what it is
/// about to write (transactions), `read` for plain reads that may see the last commit, and
/// on a SQLite file `writer`, the writer thread the hot writes go through. `background` is
/// what listeners and the relay use: its own small pool on PostgreSQL, `write` on SQLite
/// (where the one writer is shared anyway).
#[derive(Clone, Debug)]
pub struct ServiceDb {
    /// Writes and transactions: SQLite's one sqlx writer connection, or the PostgreSQL pool.
    pub write: DatabaseConnection,
    /// Plain reads: SQLite's query-only readers (`write` for an in-memory file), or the same
    /// PostgreSQL pool as `write`.
    pub read: DatabaseConnection,
    /// The SQLite file's writer thread for the hot writes; None on PostgreSQL and in memory.
    pub writer: Option<crate::sqlite::Writer>,
    /// Listeners' and the outbox relay's connections, kept apart from the requests'.
    pub background: DatabaseConnection,
}

/// The database of one service, migrated: its own SQLite file under `DATA_DIR`, or on
/// PostgreSQL its own schema (named after the service), so services never share tables even
/// when they share one server or database. At most [`pool_size`] connections in all.
pub async fn connect_service<M: MigratorTrait>(
    settings: &crate::settings::Settings,
    service: &str,
) -> anyhow::Result<ServiceDb> {
    let url = settings.database_url_for(service)?;
    let size = pool_size(settings);
    if !url.starts_with("postgres") {
        let write = sqlite_pool(&url, Role::Writer, 1).await?;
        M::up(&write, None)
            .await
            .context("running database migrations")?;
        crate::bans::Migrator::up(&write, None)
            .await
            .context("running the bans' migration")?;
        // An in-memory database exists once per connection: readers could not see it.
        let read = if url.contains(":memory:") || url.contains("mode=memory") || size < 2 {
            write.clone()
        } else {
            sqlite_pool(&url, Role::Reader, size - 1).await?
        };
        let writer = match crate::sqlite::path_of(&url) {
            Some(path) => Some(crate::sqlite::Writer::open(&path)?),
            None => None,
        };
        return Ok(ServiceDb {
            background: write.clone(),
            write,
            read,
            writer,
        });
    }
    // One connection, closed once migrated: it holds the migration lock.
    let admin = connect_with(&url, None, 1).await?;
    let created = admin
        .execute_unprepared(&format!("CREATE SCHEMA IF NOT EXISTS \"{service}\""))
        .await;
    // Two processes creating it at once: the loser's unique violation means it exists.
    if let Err(err) = created {
        if !is_unique_violation(&err) {
            return Err(err).with_context(|| format!("creating the {service} schema"));
        }
    }
    // Replicas of one service start together; the first to take the lock migrates, the
    // others then find nothing to do. The lock ends with `admin`'s session.
    admin
        .execute_unprepared(&format!(
            "SELECT pg_advisory_lock(hashtext('ticketing migrations {service}'))"
        ))
        .await
        .with_context(|| format!("locking the {service} migrations"))?;
    let (requests, background) = split_pool(size);
    let db = connect_with(&url, Some(service), requests).await?;
    let migrated = match M::up(&db, None).await {
        Ok(()) => crate::bans::Migrator::up(&db, None).await,
        Err(err) => Err(err),
    }
    .context("running database migrations");
    admin.close().await.ok();
    migrated?;
    let background = match background {
        Some(size) => connect_with(&url, Some(service), size).await?,
        None => db.clone(),
    };
    Ok(ServiceDb {
        write: db.clone(),
        read: db,
        writer: None,
        background,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Role {
    Writer,
    Reader,
}

/// A SQLite pool whose every connection gets the same settings (a `PRAGMA` run through a
/// pool reaches only the connection that happened to run it).
async fn sqlite_pool(url: &str, role: Role, size: u32) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .connect_timeout(Duration::from_secs(10))
        // Writes wait here for the one writer; a long wait means overload, not a bug.
        .acquire_timeout(Duration::from_secs(30))
        .sqlx_logging(false)
        .max_connections(size)
        .min_connections(u32::from(role == Role::Writer))
        .map_sqlx_sqlite_opts(move |o| {
            let o = o
                .journal_mode(SqliteJournalMode::Wal)
                // In WAL mode NORMAL still never corrupts; an OS crash (not a process crash)
                // can lose the last commits.
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                // Only checkpoints can make a reader wait, briefly; the one writer never
                // meets another writer.
                .busy_timeout(Duration::from_secs(5));
            match role {
                Role::Writer => o,
                Role::Reader => o.pragma("query_only", "ON"),
            }
        })
        // A SQLite connection is a file handle in this process: a ping proves nothing and
        // costs a round trip to its thread on every checkout.
        .test_before_acquire(false);
    counted(
        Database::connect(options)
            .await
            .with_context(|| format!("connecting to {}", redact(url)))?,
    )
}

/// Counts every statement `db` runs (see [`crate::metrics`]).
fn counted(mut db: DatabaseConnection) -> anyhow::Result<DatabaseConnection> {
    db.set_metric_callback(|_| crate::metrics::statement());
    Ok(db)
}

/// `server` (a `postgres://…/db?query` URL) pointed at database `name` instead.
pub fn with_database(server: &str, name: &str) -> String {
    match server.rfind('/') {
        Some(slash) if slash > server.find("://").map_or(0, |i| i + 2) => {
            let (base, rest) = server.split_at(slash);
            let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
            format!("{base}/{name}{query}")
        }
        _ => format!("{}/{name}", server.trim_end_matches('/')),
    }
}

/// A small pool on `url` (tools and tests; services use [`connect_service`]).
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    connect_with(url, None, 2).await
}

async fn connect_with(
    url: &str,
    schema: Option<&str>,
    max_connections: u32,
) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    if let Some(schema) = schema {
        options.set_schema_search_path(schema);
    }
    options
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .sqlx_logging(false);
    options.max_connections(max_connections).min_connections(1);
    if url.starts_with("sqlite:") {
        return sqlite_pool(url, Role::Writer, max_connections).await;
    }
    counted(
        Database::connect(options)
            .await
            .with_context(|| format!("connecting to {}", redact(url)))?,
    )
}

/// True when `err` is a unique-key violation (any key), on either backend.
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(
        err.sql_err(),
        Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
    ) || database_error(err).is_some_and(|d| d.is_unique_violation())
}

/// A unique key as each backend names it in a violation: PostgreSQL reports the constraint
/// (or index) name, SQLite only the columns ("UNIQUE constraint failed: orders.ticket_id").
#[derive(Debug, Clone, Copy)]
pub struct UniqueKey {
    /// The constraint or unique index name, as PostgreSQL reports it.
    pub name: &'static str,
    /// `table.column[, table.column…]`, as SQLite lists them.
    pub columns: &'static str,
}

/// True when `err` is a violation of `key` in particular, so a handler can tell "this ticket
/// is already reserved" from "this id already exists".
pub fn violates(err: &DbErr, key: UniqueKey) -> bool {
    let Some(db) = database_error(err) else {
        return false;
    };
    if !db.is_unique_violation() {
        return false;
    }
    match db.constraint() {
        Some(name) => name == key.name,
        None => db
            .message()
            .rsplit_once(':')
            .is_some_and(|(_, columns)| columns.trim() == key.columns),
    }
}

/// [`violates`] for an error of the SQLite writer thread (SQLite names the columns).
pub fn violates_written(err: &rusqlite::Error, key: UniqueKey) -> bool {
    match err {
        rusqlite::Error::SqliteFailure(failure, Some(message))
            if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            message
                .rsplit_once(':')
                .is_some_and(|(_, columns)| columns.trim() == key.columns)
        }
        _ => false,
    }
}

fn database_error(err: &DbErr) -> Option<&dyn sea_orm::sqlx::error::DatabaseError> {
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            e.as_database_error()
        }
        _ => None,
    }
}

/// The URL without its password, for logs.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{redact, with_database};

    #[test]
    fn a_url_can_name_another_database() {
        assert_eq!(
            with_database("postgres://u@h:5432/postgres?sslmode=disable", "orders"),
            "postgres://u@h:5432/orders?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://u@h:5432", "orders"),
            "postgres://u@h:5432/orders"
        );
        assert_eq!(
            with_database("postgres://u@h/", "orders"),
            "postgres://u@h/orders"
        );
    }

    #[test]
    fn passwords_are_redacted_from_urls() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("sqlite://data/auth.db"), "sqlite://data/auth.db");
    }
}
