//! The expiration service's schema: its outbox, the SQL expiry queue, and the record of
//! expiries already fired (which makes firing exactly-once whichever queue is in use).
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(common::outbox::CreateOutbox),
            Box::new(CreateExpiries),
            Box::new(CreateFiredExpiries),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("expiration_migrations").into_iden()
    }
}

#[derive(DeriveIden)]
enum Expiries {
    Table,
    OrderId,
    DueAt,
    VisibleAt,
}

#[derive(DeriveIden)]
enum FiredExpiries {
    Table,
    OrderId,
    FiredAt,
}

/// The SQL queue: one row per pending expiry, times in epoch milliseconds. `visible_at`
/// starts at `due_at` and moves to the end of the lease while a replica holds a claim.
struct CreateExpiries;

impl MigrationName for CreateExpiries {
    fn name(&self) -> &str {
        "m0001_create_expiries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateExpiries {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Expiries::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Expiries::OrderId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Expiries::DueAt).big_integer().not_null())
                    .col(ColumnDef::new(Expiries::VisibleAt).big_integer().not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("expiries_visible_at")
                    .table(Expiries::Table)
                    .col(Expiries::VisibleAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Expiries::Table).to_owned())
            .await
    }
}

/// Orders whose `expiration:complete` is in the outbox: a second claim of the same expiry
/// (a lease that ran out, a redelivered `order:created`) finds its row and publishes nothing.
struct CreateFiredExpiries;

impl MigrationName for CreateFiredExpiries {
    fn name(&self) -> &str {
        "m0002_create_fired_expiries"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateFiredExpiries {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(FiredExpiries::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(FiredExpiries::OrderId)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(FiredExpiries::FiredAt)
                            .big_integer()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("fired_expiries_fired_at")
                    .table(FiredExpiries::Table)
                    .col(FiredExpiries::FiredAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(FiredExpiries::Table).to_owned())
            .await
    }
}
