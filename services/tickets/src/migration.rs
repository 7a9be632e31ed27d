//! The tickets service's schema: its events, their tickets and its outbox.
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(common::outbox::CreateOutbox),
            Box::new(CreateTickets),
            Box::new(CreateReleasedOrders),
            Box::new(IndexForSaleNewestFirst),
            Box::new(AddSaleState),
            Box::new(AddWithdrawn),
            Box::new(CreateEvents),
        ]
    }

    fn migration_table_name() -> DynIden {
        Alias::new("tickets_migrations").into_iden()
    }
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    Title,
    PriceCents,
    UserId,
    Version,
    OrderId,
    CreatedAt,
    ReservedUntil,
    Sold,
    WithdrawnAt,
    EventId,
    Section,
    SeatRow,
    Seat,
}

struct CreateTickets;

impl MigrationName for CreateTickets {
    fn name(&self) -> &str {
        "m0001_create_tickets"
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
                    .col(ColumnDef::new(Tickets::UserId).string().not_null())
                    .col(ColumnDef::new(Tickets::Version).big_integer().not_null())
                    .col(ColumnDef::new(Tickets::OrderId).string().null())
                    .col(
                        ColumnDef::new(Tickets::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager.create_index(for_sale_index()).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Tickets::Table).to_owned())
            .await
    }
}

/// The first listing index, (order_id, created_at): m0001 creates it, m0003 replaces it and
/// m0003's `down` puts it back.
fn for_sale_index() -> IndexCreateStatement {
    Index::create()
        .if_not_exists()
        .name(FOR_SALE)
        .table(Tickets::Table)
        .col(Tickets::OrderId)
        .col(Tickets::CreatedAt)
        .to_owned()
}

#[derive(DeriveIden)]
enum ReleasedOrders {
    Table,
    OrderId,
}

/// Orders whose cancellation arrived: an `order:created` that shows up after its own
/// `order:cancelled` must not reserve the ticket.
struct CreateReleasedOrders;

impl MigrationName for CreateReleasedOrders {
    fn name(&self) -> &str {
        "m0002_create_released_orders"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateReleasedOrders {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(ReleasedOrders::Table)
                    .if_not_exists()
                    .col(
                        ColumnDef::new(ReleasedOrders::OrderId)
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
            .drop_table(Table::drop().table(ReleasedOrders::Table).to_owned())
            .await
    }
}

/// The listing pages newest first by (created_at, id) among unreserved tickets. A partial
/// index in that order serves every page as a short backward range scan on both backends;
/// PostgreSQL would not take its order from (order_id, created_at, id), since `IS NULL` is no
/// equality to it. It replaces `tickets_for_sale` (order_id, created_at), which only that
/// listing used.
struct IndexForSaleNewestFirst;

const FOR_SALE_BY_POSITION: &str = "tickets_for_sale_by_position";
const FOR_SALE: &str = "tickets_for_sale";

impl MigrationName for IndexForSaleNewestFirst {
    fn name(&self) -> &str {
        "m0003_index_for_sale_newest_first"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for IndexForSaleNewestFirst {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(FOR_SALE_BY_POSITION)
                    .table(Tickets::Table)
                    .col(Tickets::CreatedAt)
                    .col(Tickets::Id)
                    .and_where(Expr::col(Tickets::OrderId).is_null())
                    .to_owned(),
            )
            .await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(FOR_SALE)
                    .table(Tickets::Table)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager.create_index(for_sale_index()).await?;
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(FOR_SALE_BY_POSITION)
                    .table(Tickets::Table)
                    .to_owned(),
            )
            .await
    }
}

/// When the holder's reservation ends, and whether the holder paid: a ticket page tells a
/// hold from a sale. Existing rows start unsold, with no end known for a current hold.
struct AddSaleState;

impl MigrationName for AddSaleState {
    fn name(&self) -> &str {
        "m0004_add_sale_state"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddSaleState {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // One column per statement: SQLite alters a table a column at a time.
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(
                        ColumnDef::new(Tickets::ReservedUntil)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(
                        ColumnDef::new(Tickets::Sold)
                            .boolean()
                            .not_null()
                            .default(false),
                    )
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for column in [Tickets::ReservedUntil, Tickets::Sold] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tickets::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

/// When a ticket was taken off the market (its seller was banned); null while it is listed.
/// With an index by seller, so a ban finds the seller's tickets without a scan.
struct AddWithdrawn;

const BY_SELLER: &str = "tickets_by_seller";

impl MigrationName for AddWithdrawn {
    fn name(&self) -> &str {
        "m0005_add_withdrawn"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AddWithdrawn {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(
                        ColumnDef::new(Tickets::WithdrawnAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(BY_SELLER)
                    .table(Tickets::Table)
                    .col(Tickets::UserId)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(BY_SELLER)
                    .table(Tickets::Table)
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .drop_column(Tickets::WithdrawnAt)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Id,
    Name,
    Venue,
    City,
    StartsAt,
    TimeZone,
    Description,
    CreatedBy,
    CreatedAt,
}

/// The placeholder event every listing older than events belongs to: it never starts (no
/// `starts_at`), so those listings stay on the market as they were.
pub const PLACEHOLDER_EVENT: &str = "00000000-0000-0000-0000-000000000000";
pub const PLACEHOLDER_NAME: &str = "Earlier listings";
const PLACEHOLDER_VENUE: &str = "To be announced";

const EVENTS_UNIQUE: &str = "events_name_venue_start";
const EVENTS_BY_START: &str = "events_by_start";
const FOR_SALE_BY_EVENT: &str = "tickets_for_sale_by_event";

/// Events (a show at a venue and a time), the placeholder event, and on every ticket its
/// event (the placeholder for existing ones) and its seat. `row` is a keyword in SQL, so the
/// row's column is `seat_row`.
struct CreateEvents;

impl MigrationName for CreateEvents {
    fn name(&self) -> &str {
        "m0006_create_events"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateEvents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Events::Table)
                    .if_not_exists()
                    .col(ColumnDef::new(Events::Id).string().not_null().primary_key())
                    .col(ColumnDef::new(Events::Name).string().not_null())
                    .col(ColumnDef::new(Events::Venue).string().not_null())
                    .col(ColumnDef::new(Events::City).string().not_null())
                    .col(
                        ColumnDef::new(Events::StartsAt)
                            .timestamp_with_time_zone()
                            .null(),
                    )
                    .col(ColumnDef::new(Events::TimeZone).string().not_null())
                    .col(ColumnDef::new(Events::Description).text().null())
                    .col(ColumnDef::new(Events::CreatedBy).string().not_null())
                    .col(
                        ColumnDef::new(Events::CreatedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .to_owned(),
            )
            .await?;
        // An expression index, which sea-query doesn't spell: the same SQL on both backends.
        // NULL starts are distinct, so the placeholder never collides.
        manager
            .get_connection()
            .execute_unprepared(&format!(
                "CREATE UNIQUE INDEX IF NOT EXISTS {EVENTS_UNIQUE} \
                 ON events (lower(name), lower(venue), starts_at)"
            ))
            .await?;
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(EVENTS_BY_START)
                    .table(Events::Table)
                    .col(Events::StartsAt)
                    .col(Events::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .exec_stmt(
                Query::insert()
                    .into_table(Events::Table)
                    .columns([
                        Events::Id,
                        Events::Name,
                        Events::Venue,
                        Events::City,
                        Events::TimeZone,
                        Events::CreatedBy,
                        Events::CreatedAt,
                    ])
                    .values_panic([
                        PLACEHOLDER_EVENT.into(),
                        PLACEHOLDER_NAME.into(),
                        PLACEHOLDER_VENUE.into(),
                        PLACEHOLDER_VENUE.into(),
                        "UTC".into(),
                        PLACEHOLDER_EVENT.into(),
                        chrono::Utc::now().into(),
                    ])
                    .on_conflict(OnConflict::column(Events::Id).do_nothing().to_owned())
                    .to_owned(),
            )
            .await?;
        // The default moves every existing ticket to the placeholder; later inserts name it.
        manager
            .alter_table(
                Table::alter()
                    .table(Tickets::Table)
                    .add_column(
                        ColumnDef::new(Tickets::EventId)
                            .string()
                            .not_null()
                            .default(PLACEHOLDER_EVENT),
                    )
                    .to_owned(),
            )
            .await?;
        for column in [Tickets::Section, Tickets::SeatRow, Tickets::Seat] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tickets::Table)
                        .add_column(ColumnDef::new(column).string().null())
                        .to_owned(),
                )
                .await?;
        }
        // An event's page: its unreserved tickets by price.
        manager
            .create_index(
                Index::create()
                    .if_not_exists()
                    .name(FOR_SALE_BY_EVENT)
                    .table(Tickets::Table)
                    .col(Tickets::EventId)
                    .col(Tickets::PriceCents)
                    .col(Tickets::Id)
                    .and_where(Expr::col(Tickets::OrderId).is_null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_index(
                Index::drop()
                    .if_exists()
                    .name(FOR_SALE_BY_EVENT)
                    .table(Tickets::Table)
                    .to_owned(),
            )
            .await?;
        for column in [
            Tickets::Seat,
            Tickets::SeatRow,
            Tickets::Section,
            Tickets::EventId,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Tickets::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        manager
            .drop_table(Table::drop().table(Events::Table).to_owned())
            .await
    }
}
