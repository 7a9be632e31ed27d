//! Orders and the ticket replica in the service's own database. Status changes are
//! conditional updates (`… WHERE version = ? AND status IN (live)`), so a concurrent change
//! makes them miss instead of overwriting it.
use chrono::{DateTime, Utc};
use common::db::UniqueKey;
use common::dto::{Order, OrderTicketView};
use common::events::{
    timestamp, OrderCancelled, OrderCompleted, OrderCreated, OrderStatus, OrderTicket,
    TicketCreated, TicketRef, TicketUpdated,
};
use common::money::Money;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, FromQueryResult,
    QueryFilter, QueryOrder, Set,
};

pub mod ticket {
    use sea_orm::entity::prelude::*;

    /// The orders service's copy of a ticket, kept current by ticket events.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "tickets")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub title: String,
        pub price_cents: i64,
        pub version: i64,
        /// The seller's user id; None on rows replicated before it was kept.
        pub seller_id: Option<String>,
        /// Taken off the market (its seller was banned) until relisted: nobody can order it.
        pub withdrawn: bool,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}

    impl Model {
        /// Whether `user_id` listed this ticket. An unknown seller (a row from before the
        /// column) counts as someone else: refusing those would block honest buyers, and
        /// the ticket's next update fills the seller in.
        pub fn is_sold_by(&self, user_id: &str) -> bool {
            self.seller_id.as_deref() == Some(user_id)
        }
    }
}

pub mod order {
    use common::events::OrderStatus;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        /// Insertion order, for stable listings.
        #[sea_orm(primary_key)]
        pub seq: i64,
        #[sea_orm(unique)]
        pub id: String,
        pub user_id: String,
        pub ticket_id: String,
        pub status: OrderStatus,
        pub expires_at: ChronoDateTimeUtc,
        pub version: i64,
        pub created_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {
        #[sea_orm(
            belongs_to = "super::ticket::Entity",
            from = "Column::TicketId",
            to = "super::ticket::Column::Id"
        )]
        Ticket,
    }

    impl Related<super::ticket::Entity> for Entity {
        fn to() -> RelationDef {
            Relation::Ticket.def()
        }
    }

    impl ActiveModelBehavior for ActiveModel {}
}

pub use ticket::Model as TicketRow;

/// An order as the code sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: String,
    pub user_id: String,
    pub ticket_id: String,
    pub status: OrderStatus,
    pub expires_at: DateTime<Utc>,
    pub version: i64,
}

impl From<order::Model> for OrderRecord {
    fn from(row: order::Model) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            ticket_id: row.ticket_id,
            status: row.status,
            expires_at: row.expires_at,
            version: row.version,
        }
    }
}

impl OrderRecord {
    /// The order as the API shows it, with its ticket embedded.
    pub fn view(&self, ticket: &TicketRow) -> Order {
        Order {
            id: self.id.clone(),
            status: self.status,
            user_id: self.user_id.clone(),
            expires_at: timestamp::format(&self.expires_at),
            ticket: OrderTicketView {
                id: ticket.id.clone(),
                title: ticket.title.clone(),
                price: Money::from_cents(ticket.price_cents),
                version: ticket.version,
            },
            version: self.version,
        }
    }
}

impl OrderRecord {
    /// A new order (fresh id, `created`, version 0) of `user_id` for `ticket_id`.
    pub fn new(user_id: &str, ticket_id: &str, expires_at: DateTime<Utc>) -> Self {
        Self {
            id: uuid::Uuid::new_v4().to_string(),
            user_id: user_id.to_owned(),
            ticket_id: ticket_id.to_owned(),
            status: OrderStatus::Created,
            expires_at,
            version: 0,
        }
    }

    /// The `order:created` event of this new order for `ticket`.
    pub fn created_event(&self, ticket: &TicketRow) -> OrderCreated {
        OrderCreated {
            id: self.id.clone(),
            version: self.version,
            status: self.status,
            user_id: self.user_id.clone(),
            expires_at: self.expires_at,
            ticket: OrderTicket {
                id: ticket.id.clone(),
                price: Money::from_cents(ticket.price_cents),
            },
        }
    }

    /// The `order:cancelled` event of this order, as it stands once cancelled.
    pub fn cancelled_event(&self) -> OrderCancelled {
        OrderCancelled {
            id: self.id.clone(),
            version: self.version,
            ticket: TicketRef {
                id: self.ticket_id.clone(),
            },
            user_id: self.user_id.clone(),
        }
    }

    /// The `order:completed` event of this order, as it stands once paid.
    pub fn completed_event(&self) -> OrderCompleted {
        OrderCompleted {
            id: self.id.clone(),
            version: self.version,
            ticket: TicketRef {
                id: self.ticket_id.clone(),
            },
            user_id: self.user_id.clone(),
        }
    }

    /// Whether the reservation's window has closed by `now`, whatever its status says (the
    /// expiry event may still be on the way): the timestamp decides.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// What ending an order came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// This call ended it; the event is in the outbox.
    Now(OrderRecord),
    /// It had already ended (cancelled or complete) and is left as it is.
    Already(OrderRecord),
    /// There is no such order.
    Unknown,
}

/// Statuses in which an order holds its ticket and can still be cancelled or paid.
pub const LIVE: [OrderStatus; 2] = [OrderStatus::Created, OrderStatus::AwaitingPayment];

// ---------------------------------------------------------------------------------------
// The ticket replica

/// Adds a ticket to the replica; false when it is already there. No unique violation is
/// raised for that (one would abort a PostgreSQL transaction shared with other events).
pub async fn insert_ticket(
    db: &impl ConnectionTrait,
    event: &TicketCreated,
) -> Result<bool, DbErr> {
    use sea_orm::sea_query::OnConflict;
    let inserted = ticket::Entity::insert(ticket::ActiveModel {
        id: Set(event.id.clone()),
        title: Set(event.title.clone()),
        price_cents: Set(event.price.cents()),
        version: Set(event.version),
        seller_id: Set(Some(event.user_id.clone())),
        withdrawn: Set(false),
    })
    .on_conflict(
        OnConflict::column(ticket::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec_without_returning(db)
    .await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(1)))
}

pub async fn find_ticket(db: &impl ConnectionTrait, id: &str) -> Result<Option<TicketRow>, DbErr> {
    ticket::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Applies `event` (title, price, seller, withdrawn) only if the replica holds the version
/// just before it; false otherwise.
pub async fn apply_ticket_update(
    db: &impl ConnectionTrait,
    event: &TicketUpdated,
) -> Result<bool, DbErr> {
    let result = ticket::Entity::update_many()
        .col_expr(ticket::Column::Title, Expr::value(event.title.clone()))
        .col_expr(ticket::Column::PriceCents, Expr::value(event.price.cents()))
        .col_expr(ticket::Column::Version, Expr::value(event.version))
        .col_expr(ticket::Column::SellerId, Expr::value(event.user_id.clone()))
        .col_expr(ticket::Column::Withdrawn, Expr::value(event.withdrawn))
        .filter(ticket::Column::Id.eq(event.id.as_str()))
        .filter(ticket::Column::Version.eq(event.version - 1))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// [`apply_ticket_update`] for many events in one statement (PostgreSQL), at most one per
/// ticket: each applies only on top of the version before it. The (id, version) pairs
/// applied.
pub async fn apply_ticket_updates(
    db: &impl ConnectionTrait,
    events: &[&TicketUpdated],
) -> Result<Vec<(String, i64)>, DbErr> {
    #[derive(serde::Serialize)]
    struct Row<'a> {
        id: &'a str,
        title: &'a str,
        price_cents: i64,
        version: i64,
        seller_id: &'a str,
        withdrawn: bool,
    }
    let rows: Vec<Row> = events
        .iter()
        .map(|e| Row {
            id: &e.id,
            title: &e.title,
            price_cents: e.price.cents(),
            version: e.version,
            seller_id: &e.user_id,
            withdrawn: e.withdrawn,
        })
        .collect();
    let input = serde_json::to_string(&rows)
        .map_err(|e| DbErr::Custom(format!("serializing ticket updates: {e}")))?;
    let applied = db
        .query_all(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "UPDATE tickets AS t \
             SET title = u.title, price_cents = u.price_cents, version = u.version, \
               seller_id = u.seller_id, withdrawn = u.withdrawn \
             FROM jsonb_to_recordset($1::jsonb) \
               AS u(id text, title text, price_cents bigint, version bigint, seller_id text, \
                    withdrawn boolean) \
             WHERE t.id = u.id AND t.version = u.version - 1 \
             RETURNING t.id, t.version",
            [input.into()],
        ))
        .await?;
    applied
        .iter()
        .map(|row| Ok((row.try_get("", "id")?, row.try_get("", "version")?)))
        .collect()
}

// ---------------------------------------------------------------------------------------
// Orders

/// The index that holds "at most one live order per ticket".
pub const ONE_LIVE_PER_TICKET: UniqueKey = UniqueKey {
    name: "orders_one_live_per_ticket",
    columns: "orders.ticket_id",
};

/// Cancels (version + 1) every live order of `ticket_id` whose window closed by `now`: its
/// expiry event may still be on the way, but the timestamp already decided. Returns them as
/// cancelled, for their events.
pub async fn cancel_lapsed(
    db: &impl ConnectionTrait,
    ticket_id: &str,
    now: DateTime<Utc>,
) -> Result<Vec<OrderRecord>, DbErr> {
    let rows = db
        .query_all(cancel_lapsed_statement(
            db.get_database_backend(),
            ticket_id,
            now,
        ))
        .await?;
    rows.iter()
        .map(|row| order::Model::from_query_result(row, "").map(OrderRecord::from))
        .collect()
}

/// The statement [`cancel_lapsed`] runs (tests read its plan).
pub fn cancel_lapsed_statement(
    backend: sea_orm::DbBackend,
    ticket_id: &str,
    now: DateTime<Utc>,
) -> sea_orm::Statement {
    use sea_orm::sea_query::Query;
    let mut update = Query::update();
    update
        .table(order::Entity)
        .value(order::Column::Status, OrderStatus::Cancelled)
        .value(
            order::Column::Version,
            Expr::col(order::Column::Version).add(1),
        )
        .and_where(order::Column::TicketId.eq(ticket_id))
        // The partial unique index's own condition, as a literal: with it the planner
        // searches that index by ticket; without, it scans every order.
        .and_where(Expr::cust("status <> 'cancelled'"))
        .and_where(order::Column::Status.is_in(LIVE))
        .and_where(order::Column::ExpiresAt.lte(now))
        .returning_all();
    backend.build(&update)
}

/// What [`place_order`] came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Placed {
    /// The order and its `order:created` row are in.
    Inserted,
    /// The ticket has a live order.
    Taken,
    /// The replica's ticket is gone or no longer at the version read: read it again.
    Changed,
}

/// Inserts `order` (new, `created`) and its `order:created` row `created` in one statement
/// (PostgreSQL; atomic without a transaction around it): only while the replica holds the
/// ticket at `seen_version`, the version whose price the event carries, and only if no live
/// order holds the ticket (`ON CONFLICT … DO NOTHING` on the partial unique index, so a
/// conflict is an answer, not an error).
pub async fn place_order(
    db: &impl ConnectionTrait,
    order: &OrderRecord,
    seen_version: i64,
    created: &common::bus::Message,
    now: DateTime<Utc>,
) -> Result<Placed, DbErr> {
    let row = db
        .query_one(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "WITH placed AS ( \
               INSERT INTO orders (id, user_id, ticket_id, status, expires_at, version, created_at) \
               SELECT $1, $2, t.id, $4, $5, 0, $6 FROM tickets AS t WHERE t.id = $3 AND t.version = $7 \
               ON CONFLICT (ticket_id) WHERE status <> 'cancelled' DO NOTHING \
               RETURNING id \
             ), event AS ( \
               INSERT INTO outbox (id, subject, payload, created_at) \
               SELECT $8, $9, $10, $6 FROM placed \
             ) \
             SELECT (SELECT COUNT(*) FROM placed) AS placed, \
                    (SELECT version FROM tickets WHERE id = $3) AS version",
            [
                order.id.clone().into(),
                order.user_id.clone().into(),
                order.ticket_id.clone().into(),
                order.status.into(),
                order.expires_at.into(),
                now.into(),
                seen_version.into(),
                created.id.clone().into(),
                created.subject.as_str().into(),
                String::from_utf8_lossy(&created.payload).into_owned().into(),
            ],
        ))
        .await?
        .ok_or_else(|| DbErr::Custom("placing an order returned no row".into()))?;
    let placed: i64 = row.try_get("", "placed")?;
    let version: Option<i64> = row.try_get("", "version")?;
    Ok(match (placed, version) {
        (1.., _) => Placed::Inserted,
        (_, Some(version)) if version == seen_version => Placed::Taken,
        _ => Placed::Changed,
    })
}

/// Inserts a new `created` order at version 0. Fails with a violation of
/// [`ONE_LIVE_PER_TICKET`] when the ticket already has a live order.
pub async fn insert_order(
    db: &impl ConnectionTrait,
    user_id: &str,
    ticket_id: &str,
    expires_at: DateTime<Utc>,
) -> Result<OrderRecord, DbErr> {
    order::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        user_id: Set(user_id.to_owned()),
        ticket_id: Set(ticket_id.to_owned()),
        status: Set(OrderStatus::Created),
        expires_at: Set(expires_at),
        version: Set(0),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await
    .map(OrderRecord::from)
}

pub async fn find_order(db: &impl ConnectionTrait, id: &str) -> Result<Option<OrderRecord>, DbErr> {
    order::Entity::find()
        .filter(order::Column::Id.eq(id))
        .one(db)
        .await
        .map(|row| row.map(OrderRecord::from))
}

/// An order and its ticket.
pub async fn find_order_with_ticket(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<(OrderRecord, TicketRow)>, DbErr> {
    let found = order::Entity::find()
        .filter(order::Column::Id.eq(id))
        .find_also_related(ticket::Entity)
        .one(db)
        .await?;
    found.map(with_ticket).transpose()
}

/// The live orders of `user_id`, oldest first (what a ban cancels).
pub async fn live_orders_of(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<OrderRecord>, DbErr> {
    order::Entity::find()
        .filter(order::Column::UserId.eq(user_id))
        .filter(order::Column::Status.is_in(LIVE))
        .order_by_asc(order::Column::Seq)
        .all(db)
        .await
        .map(|rows| rows.into_iter().map(OrderRecord::from).collect())
}

/// Every order of `user_id`, all statuses, oldest first, each with its ticket.
pub async fn orders_of(
    db: &impl ConnectionTrait,
    user_id: &str,
) -> Result<Vec<(OrderRecord, TicketRow)>, DbErr> {
    order::Entity::find()
        .filter(order::Column::UserId.eq(user_id))
        .order_by_asc(order::Column::Seq)
        .find_also_related(ticket::Entity)
        .all(db)
        .await?
        .into_iter()
        .map(with_ticket)
        .collect()
}

fn with_ticket(
    (row, ticket): (order::Model, Option<TicketRow>),
) -> Result<(OrderRecord, TicketRow), DbErr> {
    // Orders are only ever made for tickets in the replica, and replica rows are never deleted.
    let ticket = ticket.ok_or_else(|| {
        DbErr::Custom(format!("order {} has no ticket {}", row.id, row.ticket_id))
    })?;
    Ok((row.into(), ticket))
}

/// Moves a live order to `to` (version + 1) if it is still as `current` describes; None when
/// it changed first (another request, an expiry, a payment).
pub async fn transition(
    db: &impl ConnectionTrait,
    current: &OrderRecord,
    to: OrderStatus,
) -> Result<Option<OrderRecord>, DbErr> {
    let result = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(to))
        .col_expr(order::Column::Version, Expr::value(current.version + 1))
        .filter(order::Column::Id.eq(current.id.as_str()))
        .filter(order::Column::Version.eq(current.version))
        .filter(order::Column::Status.is_in(LIVE))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    Ok(Some(OrderRecord {
        status: to,
        version: current.version + 1,
        ..current.clone()
    }))
}
