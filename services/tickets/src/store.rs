//! Events and their tickets in the service's own database. Every ticket change bumps
//! `version` and writes its event to the outbox in the same transaction.
use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use common::dto::{Ticket, TicketDetails, TicketStatus};
use common::events::{EventCreated, TicketUpdated};
use common::money::Money;
use sea_orm::sea_query::{BinOper, Expr, Func, Query, SimpleExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, QuerySelect, Set,
};

use crate::domain::NewEvent;
use crate::listing::{Cursor, EventsQuery, Sort, TicketPosition, TitleSearch};
pub use crate::migration::PLACEHOLDER_EVENT;

pub mod ticket {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tickets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub title: String,
        pub price_cents: i64,
        pub user_id: String,
        pub version: i64,
        pub order_id: Option<String>,
        pub created_at: ChronoDateTimeUtc,
        /// When the holder's reservation ends (while `order_id` holds it unpaid).
        pub reserved_until: Option<ChronoDateTimeUtc>,
        /// The holder paid: `order_id` bought it.
        pub sold: bool,
        /// When it was taken off the market (its seller was banned); None while listed.
        pub withdrawn_at: Option<ChronoDateTimeUtc>,
        /// The event it is for ([`super::PLACEHOLDER_EVENT`] for listings older than events).
        pub event_id: String,
        pub section: Option<String>,
        /// The row (`row` is a keyword in SQL).
        pub seat_row: Option<String>,
        pub seat: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use ticket::Model as TicketRow;

impl From<TicketRow> for TicketDetails {
    fn from(row: TicketRow) -> Self {
        Self {
            event_id: row.event_id.clone(),
            section: row.section.clone(),
            row: row.seat_row.clone(),
            seat: row.seat.clone(),
            ticket: row.into(),
        }
    }
}

impl From<TicketRow> for Ticket {
    fn from(row: TicketRow) -> Self {
        // A sale stands whatever happened to the listing; a withdrawn ticket someone holds
        // shows as withdrawn (its hold still shows in `orderId` and `reservedUntil`).
        let status = match (&row.order_id, row.sold, row.withdrawn_at.is_some()) {
            (Some(_), true, _) => TicketStatus::Sold,
            (_, _, true) => TicketStatus::Withdrawn,
            (Some(_), false, false) => TicketStatus::Reserved,
            (None, _, false) => TicketStatus::Available,
        };
        let reserved_until = match (&row.order_id, row.sold) {
            (Some(_), false) => row
                .reserved_until
                .map(|at| at.to_rfc3339_opts(SecondsFormat::Millis, true)),
            _ => None,
        };
        Self {
            id: row.id,
            title: row.title,
            price: Money::from_cents(row.price_cents),
            user_id: row.user_id,
            version: row.version,
            order_id: row.order_id,
            status,
            reserved_until,
        }
    }
}

/// An order's `expires_at` as the time its hold ends, at the precision the column keeps.
pub fn hold_end(expires_at: DateTime<Utc>) -> DateTime<Utc> {
    expires_at.trunc_subsecs(6)
}

impl TicketRow {
    pub fn updated_event(&self) -> TicketUpdated {
        TicketUpdated {
            id: self.id.clone(),
            version: self.version,
            title: self.title.clone(),
            price: Money::from_cents(self.price_cents),
            user_id: self.user_id.clone(),
            order_id: self.order_id.clone(),
            withdrawn: self.withdrawn_at.is_some(),
        }
    }

    /// The row's position in the listing, for the page after it.
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.created_at,
            id: self.id.clone(),
        }
    }

    /// The row's position in an event's page sorted by `sort`.
    pub fn position(&self, sort: Sort) -> TicketPosition {
        let part = |p: &Option<String>| p.clone().unwrap_or_default();
        match sort {
            Sort::Price => TicketPosition::Price {
                cents: self.price_cents,
                id: self.id.clone(),
            },
            Sort::Seat => TicketPosition::Seat {
                place: [part(&self.section), part(&self.seat_row), part(&self.seat)],
                id: self.id.clone(),
            },
        }
    }
}

/// Lists a ticket for the placeholder event, without a seat (the course app's listing).
pub async fn insert(
    db: &impl ConnectionTrait,
    title: &str,
    price: Money,
    user_id: &str,
) -> Result<TicketRow, DbErr> {
    insert_for(
        db,
        title,
        price,
        user_id,
        PLACEHOLDER_EVENT,
        Default::default(),
    )
    .await
}

/// Lists a ticket for event `event_id` (its existence and start checked by the caller).
pub async fn insert_for(
    db: &impl ConnectionTrait,
    title: &str,
    price: Money,
    user_id: &str,
    event_id: &str,
    [section, seat_row, seat]: [Option<String>; 3],
) -> Result<TicketRow, DbErr> {
    ticket::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        title: Set(title.to_owned()),
        price_cents: Set(price.cents()),
        user_id: Set(user_id.to_owned()),
        version: Set(0),
        order_id: Set(None),
        // PostgreSQL keeps microseconds: cut to them here so the row every backend stores
        // (and every cursor made from it) is the row this insert returned.
        created_at: Set(chrono::Utc::now().trunc_subsecs(6)),
        reserved_until: Set(None),
        sold: Set(false),
        withdrawn_at: Set(None),
        event_id: Set(event_id.to_owned()),
        section: Set(section),
        seat_row: Set(seat_row),
        seat: Set(seat),
    }
    .insert(db)
    .await
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<TicketRow>, DbErr> {
    ticket::Entity::find_by_id(id.to_owned()).one(db).await
}

/// One page of tickets nobody has reserved and nobody withdrew, newest first by
/// (created_at, id): the `limit` rows strictly after `after`, whose titles contain `title`
/// ignoring case.
pub async fn for_sale(
    db: &impl ConnectionTrait,
    after: Option<&Cursor>,
    title: Option<&TitleSearch>,
    limit: u64,
) -> Result<Vec<TicketRow>, DbErr> {
    let mut query = ticket::Entity::find()
        .filter(ticket::Column::OrderId.is_null())
        .filter(ticket::Column::WithdrawnAt.is_null())
        .filter(event_not_started(Utc::now()));
    if let Some(after) = after {
        // (created_at, id) < after, spelled so that both planners start the index scan at
        // the cursor: the `<=` bounds the range, the rest only sorts out equal timestamps.
        // Comparisons are exact: PostgreSQL compares timestamps, SQLite the RFC 3339 text sqlx
        // writes, whose order is time order (always `+00:00`, and `+` sorts before digits).
        query = query
            .filter(ticket::Column::CreatedAt.lte(after.created_at))
            .filter(
                Condition::any()
                    .add(ticket::Column::CreatedAt.lt(after.created_at))
                    .add(ticket::Column::Id.lt(after.id.as_str())),
            );
    }
    if let Some(title) = title {
        // LOWER on both sides, so a search always matches its own spelling even where the
        // backend only folds ASCII (SQLite); PostgreSQL folds by its locale.
        query = query.filter(SimpleExpr::Binary(
            Box::new(Func::lower(Expr::col(ticket::Column::Title)).into()),
            BinOper::Like,
            Box::new(SimpleExpr::Binary(
                Box::new(Func::lower(Expr::val(title.like_pattern())).into()),
                BinOper::Escape,
                Box::new(SimpleExpr::Constant('\\'.into())),
            )),
        ));
    }
    query
        .order_by_desc(ticket::Column::CreatedAt)
        .order_by_desc(ticket::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// The ticket's event has not started: it has no start (the placeholder) or starts after
/// `now`. A listing whose event has started is off the market without anyone writing it.
fn event_not_started(now: DateTime<Utc>) -> SimpleExpr {
    Expr::exists(
        Query::select()
            .expr(Expr::val(1))
            .from(event::Entity)
            .and_where(
                Expr::col((event::Entity, event::Column::Id))
                    .equals((ticket::Entity, ticket::Column::EventId)),
            )
            .and_where(
                Condition::any()
                    .add(Expr::col((event::Entity, event::Column::StartsAt)).is_null())
                    .add(Expr::col((event::Entity, event::Column::StartsAt)).gt(now))
                    .into(),
            )
            .to_owned(),
    )
}

/// Sets title, price, event and seat if the ticket is still at `version`, not reserved and
/// not withdrawn; None when someone else changed it first.
pub async fn update_details(
    db: &impl ConnectionTrait,
    current: &TicketRow,
    title: &str,
    price: Money,
    event_id: &str,
    [section, seat_row, seat]: [Option<String>; 3],
) -> Result<Option<TicketRow>, DbErr> {
    let result = ticket::Entity::update_many()
        .col_expr(ticket::Column::Title, Expr::value(title))
        .col_expr(ticket::Column::PriceCents, Expr::value(price.cents()))
        .col_expr(ticket::Column::EventId, Expr::value(event_id))
        .col_expr(ticket::Column::Section, Expr::value(section))
        .col_expr(ticket::Column::SeatRow, Expr::value(seat_row))
        .col_expr(ticket::Column::Seat, Expr::value(seat))
        .col_expr(ticket::Column::Version, Expr::value(current.version + 1))
        .filter(ticket::Column::Id.eq(current.id.as_str()))
        .filter(ticket::Column::Version.eq(current.version))
        .filter(ticket::Column::OrderId.is_null())
        .filter(ticket::Column::WithdrawnAt.is_null())
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    find(db, &current.id).await
}

/// Reserves the ticket for `order_id` (version + 1) until `until` if nobody holds it and the
/// order was not released already, in one statement; None when it didn't.
pub async fn reserve_for(
    db: &impl ConnectionTrait,
    ticket_id: &str,
    order_id: &str,
    until: DateTime<Utc>,
) -> Result<Option<TicketRow>, DbErr> {
    let released = Query::select()
        .expr(Expr::val(1))
        .from(released::Entity)
        .and_where(released::Column::OrderId.eq(order_id))
        .to_owned();
    let mut update = Query::update();
    update
        .table(ticket::Entity)
        .value(ticket::Column::OrderId, order_id)
        .value(ticket::Column::ReservedUntil, until)
        .value(
            ticket::Column::Version,
            Expr::col(ticket::Column::Version).add(1),
        )
        .and_where(ticket::Column::Id.eq(ticket_id))
        .and_where(ticket::Column::OrderId.is_null())
        .and_where(Expr::exists(released).not())
        .returning_all();
    returned(db, &update).await
}

/// One reservation of [`reserve_all`]: the order and when its hold ends.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Reservation {
    pub ticket_id: String,
    pub order_id: String,
    pub until: DateTime<Utc>,
}

/// [`reserve_for`] for many orders in one statement (PostgreSQL): the rows reserved. The
/// orders travel as one JSON parameter, so the statement has one shape whatever their
/// number. Of two orders for one ticket at most one gets it (an `UPDATE … FROM` changes a
/// row once); the other is not among the rows returned.
pub async fn reserve_all(
    db: &impl ConnectionTrait,
    reservations: &[Reservation],
) -> Result<Vec<TicketRow>, DbErr> {
    let input = serde_json::to_string(reservations)
        .map_err(|e| DbErr::Custom(format!("serializing reservations: {e}")))?;
    let rows = db
        .query_all(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "UPDATE tickets AS t \
             SET order_id = r.order_id, reserved_until = r.until, version = t.version + 1 \
             FROM jsonb_to_recordset($1::jsonb) AS r(ticket_id text, order_id text, until timestamptz) \
             WHERE t.id = r.ticket_id AND t.order_id IS NULL \
             AND NOT EXISTS (SELECT 1 FROM released_orders AS g WHERE g.order_id = r.order_id) \
             RETURNING t.*",
            [input.into()],
        ))
        .await?;
    rows.iter()
        .map(|row| ticket::Model::from_query_result(row, ""))
        .collect()
}

/// Frees the ticket if `order_id` holds it (version + 1); None when it doesn't. A withdrawn
/// ticket stays withdrawn: freed, but not back on the market.
pub async fn release_from(
    db: &impl ConnectionTrait,
    ticket_id: &str,
    order_id: &str,
) -> Result<Option<TicketRow>, DbErr> {
    let mut update = Query::update();
    update
        .table(ticket::Entity)
        .value(ticket::Column::OrderId, Option::<String>::None)
        .value(ticket::Column::ReservedUntil, Option::<DateTime<Utc>>::None)
        .value(ticket::Column::Sold, false)
        .value(
            ticket::Column::Version,
            Expr::col(ticket::Column::Version).add(1),
        )
        .and_where(ticket::Column::Id.eq(ticket_id))
        .and_where(ticket::Column::OrderId.eq(order_id))
        .returning_all();
    returned(db, &update).await
}

/// Marks the ticket sold to `order_id` if that order holds it and it isn't marked yet; the
/// version stays (nothing other services replicate changes). False when it didn't.
pub async fn mark_sold(
    db: &impl ConnectionTrait,
    ticket_id: &str,
    order_id: &str,
) -> Result<bool, DbErr> {
    let result = ticket::Entity::update_many()
        .col_expr(ticket::Column::Sold, Expr::value(true))
        .col_expr(
            ticket::Column::ReservedUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
        .filter(ticket::Column::Id.eq(ticket_id))
        .filter(ticket::Column::OrderId.eq(order_id))
        .filter(ticket::Column::Sold.eq(false))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Withdraws (version + 1, `withdrawn_at` = `at`) every unsold ticket of the sellers
/// `user_ids` that is still listed, reserved ones too, in one statement; the rows withdrawn.
pub async fn withdraw_all(
    db: &impl ConnectionTrait,
    user_ids: &[&str],
    at: DateTime<Utc>,
) -> Result<Vec<TicketRow>, DbErr> {
    let mut update = Query::update();
    update
        .table(ticket::Entity)
        .value(ticket::Column::WithdrawnAt, at)
        .value(
            ticket::Column::Version,
            Expr::col(ticket::Column::Version).add(1),
        )
        .and_where(ticket::Column::UserId.is_in(user_ids.iter().copied()))
        .and_where(ticket::Column::WithdrawnAt.is_null())
        .and_where(ticket::Column::Sold.eq(false))
        .returning_all();
    let rows = db
        .query_all(db.get_database_backend().build(&update))
        .await?;
    rows.iter()
        .map(|row| ticket::Model::from_query_result(row, ""))
        .collect()
}

/// Puts a withdrawn ticket back on the market (version + 1) if it is still as `current`
/// describes; None when it changed first.
pub async fn relist(
    db: &impl ConnectionTrait,
    current: &TicketRow,
) -> Result<Option<TicketRow>, DbErr> {
    let mut update = Query::update();
    update
        .table(ticket::Entity)
        .value(ticket::Column::WithdrawnAt, Option::<DateTime<Utc>>::None)
        .value(
            ticket::Column::Version,
            Expr::col(ticket::Column::Version).add(1),
        )
        .and_where(ticket::Column::Id.eq(current.id.as_str()))
        .and_where(ticket::Column::Version.eq(current.version))
        .and_where(ticket::Column::WithdrawnAt.is_not_null())
        .returning_all();
    returned(db, &update).await
}

/// Whether `order_id` was cancelled (its ticket released).
pub async fn was_released(db: &impl ConnectionTrait, order_id: &str) -> Result<bool, DbErr> {
    Ok(released::Entity::find_by_id(order_id.to_owned())
        .one(db)
        .await?
        .is_some())
}

async fn returned(
    db: &impl ConnectionTrait,
    update: &sea_orm::sea_query::UpdateStatement,
) -> Result<Option<TicketRow>, DbErr> {
    let row = db
        .query_one(db.get_database_backend().build(update))
        .await?;
    row.map(|row| ticket::Model::from_query_result(&row, ""))
        .transpose()
}

pub mod released {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "released_orders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub order_id: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// Remembers that `order_id` was cancelled (idempotent).
pub async fn mark_released(db: &impl ConnectionTrait, order_id: &str) -> Result<(), DbErr> {
    use sea_orm::sea_query::OnConflict;
    released::Entity::insert(released::ActiveModel {
        order_id: Set(order_id.to_owned()),
    })
    .on_conflict(
        OnConflict::column(released::Column::OrderId)
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec(db)
    .await?;
    Ok(())
}

pub mod event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub name: String,
        pub venue: String,
        pub city: String,
        /// None only for the placeholder event, which never starts.
        pub starts_at: Option<ChronoDateTimeUtc>,
        /// An IANA name, checked when the event was created.
        pub time_zone: String,
        #[sea_orm(column_type = "Text", nullable)]
        pub description: Option<String>,
        pub created_by: String,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use event::Model as EventRow;

/// What is for sale for an event: how many tickets, the cheapest price.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sales {
    pub count: u64,
    pub lowest: Option<i64>,
}

impl EventRow {
    /// A new event's row, created now by `user_id`.
    pub fn new(event: &NewEvent, user_id: &str) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            name: event.name.clone(),
            venue: event.venue.clone(),
            city: event.city.clone(),
            starts_at: Some(event.starts_at),
            time_zone: event.time_zone.name().to_owned(),
            description: event.description.clone(),
            created_by: user_id.to_owned(),
            created_at: Utc::now().trunc_subsecs(6),
        }
    }

    /// Whether it has started by `now` (the placeholder never does).
    pub fn started(&self, now: DateTime<Utc>) -> bool {
        self.starts_at.is_some_and(|at| at <= now)
    }

    pub fn created_event(&self) -> EventCreated {
        EventCreated {
            id: self.id.clone(),
            name: self.name.clone(),
            venue: self.venue.clone(),
            city: self.city.clone(),
            starts_at: self.starts_at.unwrap_or_default(),
            time_zone: self.time_zone.clone(),
            description: self.description.clone(),
            created_by: self.created_by.clone(),
        }
    }

    /// The event's position in the upcoming list (the placeholder is never listed).
    pub fn cursor(&self) -> Cursor {
        Cursor {
            created_at: self.starts_at.unwrap_or_default(),
            id: self.id.clone(),
        }
    }

    /// The event as the API shows it, with what is for sale.
    pub fn view(self, sales: Sales) -> common::dto::Event {
        let utc = |at: DateTime<Utc>| at.to_rfc3339_opts(SecondsFormat::Millis, true);
        let local = self.starts_at.map(|at| {
            let zone: chrono_tz::Tz = self.time_zone.parse().unwrap_or(chrono_tz::UTC);
            at.with_timezone(&zone)
                .to_rfc3339_opts(SecondsFormat::Secs, false)
        });
        common::dto::Event {
            starts_at: self.starts_at.map(utc),
            starts_at_local: local,
            created_at: utc(self.created_at),
            id: self.id,
            name: self.name,
            venue: self.venue,
            city: self.city,
            time_zone: self.time_zone,
            description: self.description,
            created_by: self.created_by,
            tickets_for_sale: sales.count,
            lowest_price: sales.lowest.map(Money::from_cents),
        }
    }
}

/// Inserts the event unless one with its name and venue (ignoring case) and start exists;
/// None then.
pub async fn insert_event(
    db: &impl ConnectionTrait,
    row: &EventRow,
) -> Result<Option<EventRow>, DbErr> {
    use sea_orm::sea_query::OnConflict;
    let inserted = event::Entity::insert(event::ActiveModel::from(row.clone()))
        // No target: the unique index is on expressions, which ON CONFLICT can't name.
        .on_conflict(OnConflict::new().do_nothing().to_owned())
        .exec_without_returning(db)
        .await?;
    Ok((inserted == 1).then(|| row.clone()))
}

pub async fn find_event(db: &impl ConnectionTrait, id: &str) -> Result<Option<EventRow>, DbErr> {
    event::Entity::find_by_id(id.to_owned()).one(db).await
}

/// A page of events starting after `now`, soonest first by (starts_at, id), filtered as
/// `query` says; `limit` rows.
pub async fn upcoming(
    db: &impl ConnectionTrait,
    now: DateTime<Utc>,
    query: &EventsQuery,
    limit: u64,
) -> Result<Vec<EventRow>, DbErr> {
    let mut select = event::Entity::find().filter(event::Column::StartsAt.gt(now));
    if let Some(after) = &query.cursor {
        // As the tickets listing's cursor, the other way round.
        select = select
            .filter(event::Column::StartsAt.gte(after.created_at))
            .filter(
                Condition::any()
                    .add(event::Column::StartsAt.gt(after.created_at))
                    .add(event::Column::Id.gt(after.id.as_str())),
            );
    }
    if let Some(from) = query.from {
        select = select.filter(event::Column::StartsAt.gte(from));
    }
    if let Some(before) = query.before {
        select = select.filter(event::Column::StartsAt.lt(before));
    }
    if let Some(q) = &query.q {
        let pattern = q.like_pattern();
        select = select.filter(
            Condition::any()
                .add(contains(event::Column::Name, &pattern))
                .add(contains(event::Column::Venue, &pattern))
                .add(contains(event::Column::City, &pattern)),
        );
    }
    select
        .order_by_asc(event::Column::StartsAt)
        .order_by_asc(event::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// `lower(column) LIKE lower(pattern) ESCAPE '\\'`, as the tickets listing searches titles.
fn contains(column: impl sea_orm::sea_query::IntoColumnRef, pattern: &str) -> SimpleExpr {
    SimpleExpr::Binary(
        Box::new(Func::lower(Expr::col(column)).into()),
        BinOper::Like,
        Box::new(SimpleExpr::Binary(
            Box::new(Func::lower(Expr::val(pattern)).into()),
            BinOper::Escape,
            Box::new(SimpleExpr::Constant('\\'.into())),
        )),
    )
}

/// What is for sale for each of the events `ids`, in one grouped query (an event with
/// nothing for sale is absent). Callers pass events that have not started.
pub async fn sales(
    db: &impl ConnectionTrait,
    ids: &[&str],
) -> Result<HashMap<String, Sales>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    #[derive(FromQueryResult)]
    struct Row {
        event_id: String,
        count: i64,
        lowest: Option<i64>,
    }
    let rows = Row::find_by_statement(
        db.get_database_backend().build(
            Query::select()
                .column(ticket::Column::EventId)
                .expr_as(
                    Expr::col(ticket::Column::Id).count(),
                    sea_orm::sea_query::Alias::new("count"),
                )
                .expr_as(
                    Expr::col(ticket::Column::PriceCents).min(),
                    sea_orm::sea_query::Alias::new("lowest"),
                )
                .from(ticket::Entity)
                .and_where(ticket::Column::EventId.is_in(ids.iter().copied()))
                .and_where(ticket::Column::OrderId.is_null())
                .and_where(ticket::Column::WithdrawnAt.is_null())
                .group_by_col(ticket::Column::EventId),
        ),
    )
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let sales = Sales {
                count: u64::try_from(r.count).unwrap_or_default(),
                lowest: r.lowest,
            };
            (r.event_id, sales)
        })
        .collect())
}

/// A page of event `event_id`'s tickets for sale in `sort` order, strictly after `after`.
/// The caller checked the event has not started.
pub async fn event_tickets(
    db: &impl ConnectionTrait,
    event_id: &str,
    sort: Sort,
    after: Option<&TicketPosition>,
    limit: u64,
) -> Result<Vec<TicketRow>, DbErr> {
    let mut query = ticket::Entity::find()
        .filter(ticket::Column::EventId.eq(event_id))
        .filter(ticket::Column::OrderId.is_null())
        .filter(ticket::Column::WithdrawnAt.is_null());
    let part = |column: ticket::Column| -> SimpleExpr {
        Func::coalesce([Expr::col(column).into(), Expr::val("").into()]).into()
    };
    let keys: Vec<(SimpleExpr, sea_orm::Value)> = match after {
        None => Vec::new(),
        Some(TicketPosition::Price { cents, id }) => vec![
            (
                Expr::col(ticket::Column::PriceCents).into(),
                (*cents).into(),
            ),
            (Expr::col(ticket::Column::Id).into(), id.clone().into()),
        ],
        Some(TicketPosition::Seat { place, id }) => vec![
            (part(ticket::Column::Section), place[0].clone().into()),
            (part(ticket::Column::SeatRow), place[1].clone().into()),
            (part(ticket::Column::Seat), place[2].clone().into()),
            (Expr::col(ticket::Column::Id).into(), id.clone().into()),
        ],
    };
    if !keys.is_empty() {
        query = query.filter(after_keys(&keys));
    }
    query = match sort {
        Sort::Price => query.order_by_asc(ticket::Column::PriceCents),
        Sort::Seat => query
            .order_by(part(ticket::Column::Section), sea_orm::Order::Asc)
            .order_by(part(ticket::Column::SeatRow), sea_orm::Order::Asc)
            .order_by(part(ticket::Column::Seat), sea_orm::Order::Asc),
    };
    query
        .order_by_asc(ticket::Column::Id)
        .limit(limit)
        .all(db)
        .await
}

/// Rows past a position in lexicographic order of `keys`: `k1 > v1 OR (k1 = v1 AND (k2 > v2
/// OR …))`.
fn after_keys(keys: &[(SimpleExpr, sea_orm::Value)]) -> Condition {
    let Some(((key, value), rest)) = keys.split_first() else {
        return Condition::all();
    };
    let mut past = Condition::any().add(Expr::expr(key.clone()).gt(value.clone()));
    if !rest.is_empty() {
        past = past.add(
            Condition::all()
                .add(Expr::expr(key.clone()).eq(value.clone()))
                .add(after_keys(rest)),
        );
    }
    past
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, SecondsFormat, Utc};

    /// On SQLite a timestamp is the text sqlx writes (`to_rfc3339_opts(AutoSi, false)`: 0, 3,
    /// 6 or 9 fraction digits), compared as text; the page query relies on that being time order.
    #[test]
    fn sqlite_timestamp_text_sorts_in_time_order() {
        let mut times: Vec<DateTime<Utc>> = [0, 1_000, 120_000_000, 120_000_001, 120_500_000]
            .into_iter()
            .chain([999_999_999, 5, 100_000, 123_456_000, 123_456_789])
            .flat_map(|nanos| {
                [1_700_000_000, 1_700_000_001, 1_800_000_000]
                    .map(|s| DateTime::from_timestamp(s, nanos).expect("a time"))
            })
            .collect();
        times.sort();
        let text: Vec<String> = times
            .iter()
            .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, false))
            .collect();
        let mut sorted = text.clone();
        sorted.sort();
        assert_eq!(sorted, text);
    }
}
