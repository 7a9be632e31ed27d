//! The orders service's schema: its outbox, its replica of tickets, and its orders.
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(common::outbox::CreateOutbox),
            Box::new(CreateTickets),
            Box::new(CreateOrders),
            Box::new(AddTicketSeller),
            Box::new(AddTicketWithdrawn),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("orders_migrations").into_iden()
    }
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    Title,
    PriceCents,
    Version,
    SellerId,
    Withdrawn,
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Seq,
    Id,
    UserId,
    TicketId,
    Status,
    ExpiresAt,
    Version,
    CreatedAt,
}

/// The replica of the tickets service's tickets, filled only from ticket events.
struct CreateTickets;

impl MigrationName for CreateTickets {
    fn name(&self) -> &str {
        "m0001_create_ticket_replica"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateTickets {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tickets::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Tickets::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Tickets::Title).string().not_null())
                    .col(ColumnDef::new(Tickets::PriceCents).big_integer().not_null())
                    .col(ColumnDef::new(Tickets::Version).big_integer().not_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tickets::Table).to_owned())
            .await
    }
}

/// Orders, listed in insertion order (`seq`), with "at most one live order per ticket"
/// enforced by a partial unique index rather than by a check-then-insert.
struct CreateOrders;

impl MigrationName for CreateOrders {
    fn name(&self) -> &str {
        "m0002_create_orders"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateOrders {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Orders::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Orders::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(Orders::Id).string().not_null().unique_key())
                    .col(ColumnDef::new(Orders::UserId).string().not_null())
                    .col(ColumnDef::new(Orders::TicketId).string().not_null())
                    .col(ColumnDef::new(Orders::Status).string().not_null())
                    .col(
                        ColumnDef::new(Orders::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Orders::Version).big_integer().not_null())
                    .col(
                        ColumnDef::new(Orders::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name("orders_by_user")
                    .table(Orders::Table)
                    .col(Orders::UserId)
                    .col(Orders::Seq)
                    .to_owned(),
            )
            .await?;
        // Partial indexes are the same SQL on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS orders_one_live_per_ticket \
                 ON orders (ticket_id) WHERE status <> 'cancelled'",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Orders::Table).to_owned())
            .await
    }
}

/// The seller of each replicated ticket, so a reservation can refuse the seller's own. Rows
/// replicated before this have none until their next `ticket:updated` fills it in.
struct AddTicketSeller;

impl MigrationName for AddTicketSeller {
    fn name(&self) -> &str {
        "m0003_ticket_replica_seller"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddTicketSeller {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(ColumnDef::new(Tickets::SellerId).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .drop_column(Tickets::SellerId)
                    .to_owned(),
            )
            .await
    }
}

/// Whether each replicated ticket is withdrawn (its seller was banned), so a reservation
/// can refuse it. Existing rows are listed.
struct AddTicketWithdrawn;

impl MigrationName for AddTicketWithdrawn {
    fn name(&self) -> &str {
        "m0004_ticket_replica_withdrawn"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddTicketWithdrawn {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(
                        ColumnDef::new(Tickets::Withdrawn)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .drop_column(Tickets::Withdrawn)
                    .to_owned(),
            )
            .await
    }
}
