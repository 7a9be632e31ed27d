//! The order replica and the payments in the service's own database. Every status change is
//! a conditional update (`… WHERE status = <expected>`), so a concurrent change makes it miss
//! instead of overwriting it.
use chrono::{DateTime, SecondsFormat, Utc};
use common::db::UniqueKey;
use common::dto::{Payment, PaymentStatus};
use common::events::{OrderCreated, OrderStatus};
use common::money::Money;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

pub mod order {
    use common::events::OrderStatus;
    use sea_orm::entity::prelude::*;

    /// The payments service's copy of an order, kept current by order events.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "orders")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub user_id: String,
        pub price_cents: i64,
        pub status: OrderStatus,
        pub version: i64,
        pub expires_at: ChronoDateTimeUtc,
        /// The payment that passed the "still payable" check, if any.
        pub payment_id: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod payment {
    use common::dto::PaymentStatus;
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payments")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub seq: i64,
        #[sea_orm(unique)]
        pub id: String,
        pub order_id: String,
        pub user_id: String,
        pub amount_cents: i64,
        pub currency: String,
        pub status: PaymentStatus,
        pub stripe_id: Option<String>,
        /// Why it was declined or failed, for operators.
        pub failure: Option<String>,
        pub created_at: ChronoDateTimeUtc,
        pub updated_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub mod webhook_event {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_events")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub kind: String,
        pub received_at: ChronoDateTimeUtc,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// The index that allows one live (authorizing, capturing or captured) payment per order.
pub const ONE_LIVE_PER_ORDER: UniqueKey = UniqueKey {
    name: "payments_one_live_per_order",
    columns: "payments.order_id",
};

/// Every charge is in US dollars, as in the course app.
pub const CURRENCY: &str = "usd";

/// Payments that hold their order: nobody else may start one while one of these exists.
pub const LIVE: [PaymentStatus; 3] = [
    PaymentStatus::Authorizing,
    PaymentStatus::Capturing,
    PaymentStatus::Captured,
];

/// Payments whose outcome is not known yet.
pub const IN_FLIGHT: [PaymentStatus; 2] = [PaymentStatus::Authorizing, PaymentStatus::Capturing];

/// An order of the replica as the code sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: String,
    pub user_id: String,
    pub price: Money,
    pub status: OrderStatus,
    pub version: i64,
    pub expires_at: DateTime<Utc>,
}

impl From<order::Model> for OrderRecord {
    fn from(row: order::Model) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            price: Money::from_cents(row.price_cents),
            status: row.status,
            version: row.version,
            expires_at: row.expires_at,
        }
    }
}

impl OrderRecord {
    /// Whether the order's window has closed by `now`: the timestamp is the truth even
    /// before its `order:cancelled` arrives.
    pub fn is_expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// A payment as the code sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    pub id: String,
    pub order_id: String,
    pub user_id: String,
    pub amount: Money,
    pub currency: String,
    pub status: PaymentStatus,
    pub stripe_id: Option<String>,
    pub failure: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<payment::Model> for PaymentRecord {
    fn from(row: payment::Model) -> Self {
        Self {
            id: row.id,
            order_id: row.order_id,
            user_id: row.user_id,
            amount: Money::from_cents(row.amount_cents),
            currency: row.currency,
            status: row.status,
            stripe_id: row.stripe_id,
            failure: row.failure,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl PaymentRecord {
    /// The payment as the API shows it.
    pub fn view(&self) -> Payment {
        Payment {
            id: self.id.clone(),
            order_id: self.order_id.clone(),
            amount: self.amount,
            currency: self.currency.clone(),
            status: self.status,
            stripe_id: self.stripe_id.clone(),
            created_at: iso8601(self.created_at),
        }
    }
}

/// `2026-01-01T12:00:00.000Z`, as JavaScript's `toISOString` writes it.
pub fn iso8601(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

// ---------------------------------------------------------------------------------------
// The order replica

/// Adds an order to the replica; false when it is already there. No unique violation is
/// raised for that (one would abort a PostgreSQL transaction shared with other events).
pub async fn insert_order(db: &impl ConnectionTrait, event: &OrderCreated) -> Result<bool, DbErr> {
    use sea_orm::sea_query::OnConflict;
    let inserted = order::Entity::insert(order::ActiveModel {
        id: Set(event.id.clone()),
        user_id: Set(event.user_id.clone()),
        price_cents: Set(event.ticket.price.cents()),
        status: Set(event.status),
        version: Set(event.version),
        expires_at: Set(event.expires_at),
        payment_id: Set(None),
    })
    .on_conflict(
        OnConflict::column(order::Column::Id)
            .do_nothing()
            .to_owned(),
    )
    .do_nothing()
    .exec_without_returning(db)
    .await?;
    Ok(matches!(inserted, sea_orm::TryInsertResult::Inserted(1)))
}

/// [`insert_order`] for many orders in one statement; the ids of those inserted (the others
/// were in the replica already).
pub async fn insert_orders(
    db: &impl ConnectionTrait,
    orders: &[&OrderCreated],
) -> Result<std::collections::HashSet<String>, DbErr> {
    use sea_orm::sea_query::OnConflict;
    if orders.is_empty() {
        return Ok(Default::default());
    }
    let rows = orders.iter().map(|event| order::ActiveModel {
        id: Set(event.id.clone()),
        user_id: Set(event.user_id.clone()),
        price_cents: Set(event.ticket.price.cents()),
        status: Set(event.status),
        version: Set(event.version),
        expires_at: Set(event.expires_at),
        payment_id: Set(None),
    });
    let inserted = order::Entity::insert_many(rows)
        .on_conflict(
            OnConflict::column(order::Column::Id)
                .do_nothing()
                .to_owned(),
        )
        .do_nothing()
        .exec_with_returning_many(db)
        .await?;
    Ok(match inserted {
        sea_orm::TryInsertResult::Inserted(rows) => rows.into_iter().map(|row| row.id).collect(),
        sea_orm::TryInsertResult::Conflicted | sea_orm::TryInsertResult::Empty => {
            Default::default()
        }
    })
}

/// [`insert_order`] as a step of the SQLite writer thread.
pub fn insert_order_written(
    tx: &mut common::sqlite::Tx<'_>,
    event: &OrderCreated,
) -> anyhow::Result<bool> {
    let inserted = tx.execute(
        "INSERT INTO orders (id, user_id, price_cents, status, version, expires_at, payment_id)          VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL) ON CONFLICT (id) DO NOTHING",
        (
            &event.id,
            &event.user_id,
            event.ticket.price.cents(),
            event.status,
            event.version,
            common::sqlite::timestamp(event.expires_at),
        ),
    )?;
    Ok(inserted == 1)
}

pub async fn find_order(db: &impl ConnectionTrait, id: &str) -> Result<Option<OrderRecord>, DbErr> {
    order::Entity::find_by_id(id.to_owned())
        .one(db)
        .await
        .map(|row| row.map(OrderRecord::from))
}

/// Sets the order's status at `version`, only on top of the version before it; false when
/// the replica holds anything else.
pub async fn apply_order_change(
    db: &impl ConnectionTrait,
    id: &str,
    version: i64,
    status: OrderStatus,
) -> Result<bool, DbErr> {
    let result = order::Entity::update_many()
        .col_expr(order::Column::Status, Expr::value(status))
        .col_expr(order::Column::Version, Expr::value(version))
        .filter(order::Column::Id.eq(id))
        .filter(order::Column::Version.eq(version.saturating_sub(1)))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Marks `order` as being paid by `payment_id` if it has not changed since it was read.
pub async fn claim_order(
    db: &impl ConnectionTrait,
    order: &OrderRecord,
    payment_id: &str,
) -> Result<bool, DbErr> {
    let result = order::Entity::update_many()
        .col_expr(order::Column::PaymentId, Expr::value(payment_id))
        .filter(order::Column::Id.eq(order.id.as_str()))
        .filter(order::Column::Version.eq(order.version))
        .filter(order::Column::Status.eq(order.status))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

// ---------------------------------------------------------------------------------------
// Payments

/// Starts a payment for `order` in `authorizing`. Fails with a violation of
/// [`ONE_LIVE_PER_ORDER`] when the order already has a live payment.
pub async fn insert_payment(
    db: &impl ConnectionTrait,
    order: &OrderRecord,
) -> Result<PaymentRecord, DbErr> {
    let now = Utc::now();
    payment::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        order_id: Set(order.id.clone()),
        user_id: Set(order.user_id.clone()),
        amount_cents: Set(order.price.cents()),
        currency: Set(CURRENCY.to_owned()),
        status: Set(PaymentStatus::Authorizing),
        stripe_id: Set(None),
        failure: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await
    .map(PaymentRecord::from)
}

pub async fn find_payment(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<PaymentRecord>, DbErr> {
    payment::Entity::find()
        .filter(payment::Column::Id.eq(id))
        .one(db)
        .await
        .map(|row| row.map(PaymentRecord::from))
}

/// The payment the provider knows as `stripe_id`.
pub async fn find_by_stripe_id(
    db: &impl ConnectionTrait,
    stripe_id: &str,
) -> Result<Option<PaymentRecord>, DbErr> {
    payment::Entity::find()
        .filter(payment::Column::StripeId.eq(stripe_id))
        .one(db)
        .await
        .map(|row| row.map(PaymentRecord::from))
}

/// Every payment for `order_id`, oldest first.
pub async fn payments_for(
    db: &impl ConnectionTrait,
    order_id: &str,
) -> Result<Vec<PaymentRecord>, DbErr> {
    payment::Entity::find()
        .filter(payment::Column::OrderId.eq(order_id))
        .order_by_asc(payment::Column::Seq)
        .all(db)
        .await
        .map(|rows| rows.into_iter().map(PaymentRecord::from).collect())
}

/// Payments still in flight whose last change is older than `cutoff`, oldest first (at most
/// `limit`): those whose process must have died mid-way.
pub async fn in_flight_before(
    db: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<PaymentRecord>, DbErr> {
    use sea_orm::QuerySelect;
    payment::Entity::find()
        .filter(payment::Column::Status.is_in(IN_FLIGHT))
        .filter(payment::Column::UpdatedAt.lt(cutoff))
        .order_by_asc(payment::Column::UpdatedAt)
        .limit(limit)
        .all(db)
        .await
        .map(|rows| rows.into_iter().map(PaymentRecord::from).collect())
}

/// What changes along with a payment's status.
#[derive(Debug, Clone, Default)]
pub struct Change<'a> {
    pub stripe_id: Option<&'a str>,
    pub failure: Option<&'a str>,
}

/// Moves payment `id` from `from` to `to`; false when it was not in `from` (someone else
/// moved it first).
pub async fn transition(
    db: &impl ConnectionTrait,
    id: &str,
    from: PaymentStatus,
    to: PaymentStatus,
    change: Change<'_>,
) -> Result<bool, DbErr> {
    let mut update = payment::Entity::update_many()
        .col_expr(payment::Column::Status, Expr::value(to))
        .col_expr(payment::Column::UpdatedAt, Expr::value(Utc::now()));
    if let Some(stripe_id) = change.stripe_id {
        update = update.col_expr(payment::Column::StripeId, Expr::value(stripe_id));
    }
    if let Some(failure) = change.failure {
        update = update.col_expr(payment::Column::Failure, Expr::value(failure));
    }
    let result = update
        .filter(payment::Column::Id.eq(id))
        .filter(payment::Column::Status.eq(from))
        .exec(db)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Records the provider's id of a payment still being authorized.
pub async fn set_stripe_id(
    db: &impl ConnectionTrait,
    id: &str,
    stripe_id: &str,
) -> Result<(), DbErr> {
    payment::Entity::update_many()
        .col_expr(payment::Column::StripeId, Expr::value(stripe_id))
        .col_expr(payment::Column::UpdatedAt, Expr::value(Utc::now()))
        .filter(payment::Column::Id.eq(id))
        .exec(db)
        .await
        .map(|_| ())
}

// ---------------------------------------------------------------------------------------
// Webhook events

/// Remembers a webhook event id; a unique violation means it was handled before.
pub async fn record_webhook_event(
    db: &impl ConnectionTrait,
    id: &str,
    kind: &str,
) -> Result<(), DbErr> {
    webhook_event::ActiveModel {
        id: Set(id.to_owned()),
        kind: Set(kind.to_owned()),
        received_at: Set(Utc::now()),
    }
    .insert(db)
    .await
    .map(|_| ())
}
