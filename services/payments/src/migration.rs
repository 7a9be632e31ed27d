//! The payments service's schema: its outbox, its replica of orders, its payments, and the
//! ids of the provider webhook events it has already handled.
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(common::outbox::CreateOutbox),
            Box::new(CreateOrders),
            Box::new(CreatePayments),
            Box::new(CreateWebhookEvents),
            Box::new(IndexInFlight),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("payments_migrations").into_iden()
    }
}

#[derive(DeriveIden)]
enum Orders {
    Table,
    Id,
    UserId,
    PriceCents,
    Status,
    Version,
    ExpiresAt,
    PaymentId,
}

#[derive(DeriveIden)]
enum Payments {
    Table,
    Seq,
    Id,
    OrderId,
    UserId,
    AmountCents,
    Currency,
    Status,
    StripeId,
    Failure,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookEvents {
    Table,
    Id,
    Kind,
    ReceivedAt,
}

/// The replica of the orders service's orders, filled only from order events.
struct CreateOrders;

impl MigrationName for CreateOrders {
    fn name(&self) -> &str {
        "m0001_create_order_replica"
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
                    .col(ColumnDef::new(Orders::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(Orders::UserId).string().not_null())
                    .col(ColumnDef::new(Orders::PriceCents).big_integer().not_null())
                    .col(ColumnDef::new(Orders::Status).string().not_null())
                    .col(ColumnDef::new(Orders::Version).big_integer().not_null())
                    .col(
                        ColumnDef::new(Orders::ExpiresAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Orders::PaymentId).string().null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Orders::Table).to_owned())
            .await
    }
}

/// Payments, with "at most one live payment per order" as a partial unique index: of many
/// concurrent attempts for one order, exactly one gets to charge the card.
struct CreatePayments;

impl MigrationName for CreatePayments {
    fn name(&self) -> &str {
        "m0002_create_payments"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreatePayments {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Payments::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(Payments::Seq)
                            .big_integer()
                            .not_null()
                            .auto_increment()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Payments::Id)
                            .string()
                            .not_null()
                            .unique_key(),
                    )
                    .col(ColumnDef::new(Payments::OrderId).string().not_null())
                    .col(ColumnDef::new(Payments::UserId).string().not_null())
                    .col(
                        ColumnDef::new(Payments::AmountCents)
                            .big_integer()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Payments::Currency).string().not_null())
                    .col(ColumnDef::new(Payments::Status).string().not_null())
                    .col(ColumnDef::new(Payments::StripeId).string().null())
                    .col(ColumnDef::new(Payments::Failure).string().null())
                    .col(
                        ColumnDef::new(Payments::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Payments::UpdatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("payments_by_order", Payments::OrderId),
            ("payments_by_stripe_id", Payments::StripeId),
        ] {
            manager
                .create_index(
                    Index::create()
                        .if_not_exists()
                        .name(name)
                        .table(Payments::Table)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }
        // Partial indexes are the same SQL on SQLite and PostgreSQL.
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE UNIQUE INDEX IF NOT EXISTS payments_one_live_per_order \
                 ON payments (order_id) \
                 WHERE status IN ('authorizing', 'capturing', 'captured')",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Payments::Table).to_owned())
            .await
    }
}

/// Provider webhook events already handled, so a redelivered one has no second effect.
struct CreateWebhookEvents;

impl MigrationName for CreateWebhookEvents {
    fn name(&self) -> &str {
        "m0003_create_webhook_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWebhookEvents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(WebhookEvents::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(WebhookEvents::Id)
                            .string()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(WebhookEvents::Kind).string().not_null())
                    .col(
                        ColumnDef::new(WebhookEvents::ReceivedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(WebhookEvents::Table).to_owned())
            .await
    }
}

/// The sweeper's scan: payments in flight by age, a handful of rows however many payments
/// there are.
struct IndexInFlight;

impl MigrationName for IndexInFlight {
    fn name(&self) -> &str {
        "m0004_index_payments_in_flight"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexInFlight {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX IF NOT EXISTS payments_in_flight ON payments (updated_at) \
                 WHERE status IN ('authorizing', 'capturing')",
            )
            .await
            .map(|_| ())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS payments_in_flight")
            .await
            .map(|_| ())
    }
}
