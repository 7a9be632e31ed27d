//! Tickets in the service's own database. Every change bumps `version` and writes its event
//! to the outbox in the same transaction.
use common::dto::Ticket;
use common::events::TicketUpdated;
use common::money::Money;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
    Set,
};

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
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use ticket::Model as TicketRow;

impl From<TicketRow> for Ticket {
    fn from(row: TicketRow) -> Self {
        Self {
            id: row.id,
            title: row.title,
            price: Money::from_cents(row.price_cents),
            user_id: row.user_id,
            version: row.version,
            order_id: row.order_id,
        }
    }
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
        }
    }
}

pub async fn insert(
    db: &impl ConnectionTrait,
    title: &str,
    price: Money,
    user_id: &str,
) -> Result<TicketRow, DbErr> {
    ticket::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        title: Set(title.to_owned()),
        price_cents: Set(price.cents()),
        user_id: Set(user_id.to_owned()),
        version: Set(0),
        order_id: Set(None),
        created_at: Set(chrono::Utc::now()),
    }
    .insert(db)
    .await
}

pub async fn find(db: &impl ConnectionTrait, id: &str) -> Result<Option<TicketRow>, DbErr> {
    ticket::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Tickets nobody has reserved, oldest first.
pub async fn for_sale(db: &impl ConnectionTrait) -> Result<Vec<TicketRow>, DbErr> {
    ticket::Entity::find()
        .filter(ticket::Column::OrderId.is_null())
        .order_by_asc(ticket::Column::CreatedAt)
        .order_by_asc(ticket::Column::Id)
        .all(db)
        .await
}

/// Sets title and price if the ticket is still at `version` and not reserved; None when
/// someone else changed it first.
pub async fn update_details(
    db: &impl ConnectionTrait,
    current: &TicketRow,
    title: &str,
    price: Money,
) -> Result<Option<TicketRow>, DbErr> {
    let result = ticket::Entity::update_many()
        .col_expr(ticket::Column::Title, Expr::value(title))
        .col_expr(ticket::Column::PriceCents, Expr::value(price.cents()))
        .col_expr(ticket::Column::Version, Expr::value(current.version + 1))
        .filter(ticket::Column::Id.eq(current.id.as_str()))
        .filter(ticket::Column::Version.eq(current.version))
        .filter(ticket::Column::OrderId.is_null())
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    find(db, &current.id).await
}

/// Sets or clears the reservation if the ticket is still at `version`; None otherwise.
pub async fn set_order(
    db: &impl ConnectionTrait,
    current: &TicketRow,
    order_id: Option<&str>,
) -> Result<Option<TicketRow>, DbErr> {
    let result = ticket::Entity::update_many()
        .col_expr(
            ticket::Column::OrderId,
            Expr::value(order_id.map(str::to_owned)),
        )
        .col_expr(ticket::Column::Version, Expr::value(current.version + 1))
        .filter(ticket::Column::Id.eq(current.id.as_str()))
        .filter(ticket::Column::Version.eq(current.version))
        .exec(db)
        .await?;
    if result.rows_affected == 0 {
        return Ok(None);
    }
    find(db, &current.id).await
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

pub async fn was_released(db: &impl ConnectionTrait, order_id: &str) -> Result<bool, DbErr> {
    Ok(released::Entity::find_by_id(order_id.to_owned())
        .one(db)
        .await?
        .is_some())
}
