//! Banned users as every service knows them, so a banned user's still-valid access tokens
//! are refused everywhere (403 `Account suspended`) without asking auth.
//!
//! With Redis, auth's ban key is part of the deny-list's one round trip (see
//! [`crate::auth`]). Without it each service records `user:banned` / `user:unbanned` in its
//! own database (`banned_users`, created by [`Migrator`] beside the service's own schema)
//! and keeps the set in memory ([`BannedUsers`]), loaded at start, updated by its listener,
//! and reloaded twice a second so every replica follows (one replica of a group gets each
//! event). [`crate::service::Builder`] wires all of it for every service that checks tokens.
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::Duration;

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement};
use sea_orm_migration::prelude::*;

use crate::bus::{Applied, Listeners, Txn};
use crate::events::{UserBanned, UserUnbanned};
use crate::sqlite::{Tx, Writer};
use crate::task::{Shutdown, Task};

/// How often a service without Redis rereads its recorded bans (a replica that did not get
/// the event itself catches up within this).
pub const RELOAD_EVERY: Duration = Duration::from_millis(500);

/// The ids of the banned users, shared by a service's token keys and its ban listener.
#[derive(Clone, Default, Debug)]
pub struct BannedUsers(Arc<RwLock<HashSet<String>>>);

impl BannedUsers {
    /// Whether the user `id` is banned.
    pub fn contains(&self, id: &str) -> bool {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(id)
    }

    /// Records a ban in memory.
    pub fn insert(&self, id: &str) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_owned());
    }

    /// Records an unban in memory.
    pub fn remove(&self, id: &str) {
        self.0.write().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    /// Replaces the set with what `db` has recorded.
    pub async fn load(&self, db: &DatabaseConnection) -> Result<(), DbErr> {
        let rows = db
            .query_all(Statement::from_string(
                db.get_database_backend(),
                "SELECT user_id FROM banned_users",
            ))
            .await?;
        let ids = rows
            .iter()
            .map(|row| row.try_get::<String>("", "user_id"))
            .collect::<Result<HashSet<_>, _>>()?;
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = ids;
        Ok(())
    }
}

/// The bans' schema, run by [`crate::db::connect_service`] for every service's database.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateBannedUsers)]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("common_migrations").into_iden()
    }
}

struct CreateBannedUsers;

impl MigrationName for CreateBannedUsers {
    fn name(&self) -> &str {
        "m0001_create_banned_users"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateBannedUsers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Alias::new("banned_users"))
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Alias::new("user_id"))
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Alias::new("banned_users")).to_owned())
            .await
    }
}

const BAN_SQLITE: &str = "INSERT INTO banned_users (user_id) VALUES (?1) ON CONFLICT DO NOTHING";
const UNBAN_SQLITE: &str = "DELETE FROM banned_users WHERE user_id = ?1";

/// What the ban steps need: where to record, and the set to update.
#[derive(Clone)]
pub struct BanState {
    /// The service's set, which its token keys consult.
    pub banned: BannedUsers,
}

/// The consumer group of `service`'s ban listener (`{service}-bans`): its own durable
/// subscription, apart from the service's group, so a service needs no step of its own.
pub fn group(service: &'static str) -> &'static str {
    static GROUPS: LazyLock<Mutex<HashMap<&'static str, &'static str>>> =
        LazyLock::new(Mutex::default);
    let mut groups = GROUPS.lock().unwrap_or_else(|p| p.into_inner());
    // One name per service for the process's life: leaked once, not per start.
    groups
        .entry(service)
        .or_insert_with(|| Box::leak(format!("{service}-bans").into_boxed_str()))
}

/// The ban listener of `service`: on SQLite's writer thread when the database has one, else
/// in the listener's transaction on `db`.
pub fn listeners(
    service: &'static str,
    db: DatabaseConnection,
    writer: Option<Writer>,
    banned: BannedUsers,
) -> Listeners<BanState> {
    let listeners = Listeners::new(group(service), BanState { banned });
    match writer {
        Some(writer) => listeners
            .writing(writer, || {})
            .on_written(|state: &BanState, tx: &mut Tx<'_>, event: UserBanned| {
                tx.execute(BAN_SQLITE, (&event.user_id,))?;
                state.banned.insert(&event.user_id);
                Ok(Applied::Done)
            })
            .on_written(|state: &BanState, tx: &mut Tx<'_>, event: UserUnbanned| {
                tx.execute(UNBAN_SQLITE, (&event.user_id,))?;
                state.banned.remove(&event.user_id);
                Ok(Applied::Done)
            }),
        None => listeners
            .batching(db, || {})
            .on_batched(|state: BanState, txn: Txn, event: UserBanned| async move {
                record(&*txn, &event.user_id, true).await?;
                state.banned.insert(&event.user_id);
                Ok(Applied::Done)
            })
            .on_batched(
                |state: BanState, txn: Txn, event: UserUnbanned| async move {
                    record(&*txn, &event.user_id, false).await?;
                    state.banned.remove(&event.user_id);
                    Ok(Applied::Done)
                },
            ),
    }
}

/// Records a ban (or, with `banned` false, its end) through `db`; repeating it changes nothing.
pub async fn record(db: &impl ConnectionTrait, user_id: &str, banned: bool) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let sql = match (banned, backend) {
        (true, DbBackend::Postgres) => {
            "INSERT INTO banned_users (user_id) VALUES ($1) ON CONFLICT DO NOTHING"
        }
        (true, _) => BAN_SQLITE,
        (false, DbBackend::Postgres) => "DELETE FROM banned_users WHERE user_id = $1",
        (false, _) => UNBAN_SQLITE,
    };
    db.execute(Statement::from_sql_and_values(
        backend,
        sql,
        [user_id.into()],
    ))
    .await?;
    Ok(())
}

/// Rereads `db`'s bans into `banned` every [`RELOAD_EVERY`] until shutdown (without Redis,
/// for the replicas that didn't get the event themselves).
pub fn reload_task(
    service: &'static str,
    db: DatabaseConnection,
    banned: BannedUsers,
    shutdown: Shutdown,
) -> Task {
    Task::every(
        format!("{service} bans"),
        RELOAD_EVERY,
        shutdown,
        move || {
            let (db, banned) = (db.clone(), banned.clone());
            async move { Ok(banned.load(&db).await?) }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_keeps_one_group_name() {
        assert_eq!(group("tickets"), "tickets-bans");
        assert!(std::ptr::eq(group("tickets"), group("tickets")));
    }

    #[test]
    fn the_set_follows_bans_and_unbans() {
        let banned = BannedUsers::default();
        banned.insert("u1");
        assert!(banned.contains("u1") && !banned.contains("u2"));
        banned.remove("u1");
        assert!(!banned.contains("u1"));
    }
}
