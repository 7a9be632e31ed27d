//! Users in the auth service's own database.
use sea_orm::sea_query::{Expr, LikeExpr};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

use crate::domain::{Email, EmailSearch};

pub mod user {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "users")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: String,
        pub email: String,
        pub email_key: String,
        pub password_hash: String,
        pub created_at: ChronoDateTimeUtc,
        /// When an admin banned the user; null while they are not banned.
        pub banned_at: Option<ChronoDateTimeUtc>,
        /// The admin's reason for the ban.
        pub ban_reason: Option<String>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub use user::Model as UserRow;

/// The index that makes an email (case-insensitively) belong to one user.
pub const EMAIL_TAKEN: common::db::UniqueKey = common::db::UniqueKey {
    name: "users_email_key_unique",
    columns: "users.email_key",
};

/// Inserts a user; a taken email surfaces as a violation of [`EMAIL_TAKEN`].
pub async fn insert_user(
    db: &impl ConnectionTrait,
    email: &Email,
    password_hash: String,
) -> Result<UserRow, sea_orm::DbErr> {
    user::ActiveModel {
        id: Set(uuid::Uuid::new_v4().to_string()),
        email: Set(email.as_str().to_owned()),
        email_key: Set(email.key()),
        password_hash: Set(password_hash),
        created_at: Set(chrono::Utc::now()),
        banned_at: Set(None),
        ban_reason: Set(None),
    }
    .insert(db)
    .await
}

pub async fn find_by_email(
    db: &impl ConnectionTrait,
    email: &Email,
) -> Result<Option<UserRow>, sea_orm::DbErr> {
    user::Entity::find()
        .filter(user::Column::EmailKey.eq(email.key()))
        .one(db)
        .await
}

pub async fn find_by_id(
    db: &impl ConnectionTrait,
    id: &str,
) -> Result<Option<UserRow>, sea_orm::DbErr> {
    user::Entity::find_by_id(id.to_owned()).one(db).await
}

/// Bans the user `id` unless they are banned already; whether this changed anything.
pub async fn ban(
    db: &impl ConnectionTrait,
    id: &str,
    reason: String,
) -> Result<bool, sea_orm::DbErr> {
    let updated = user::Entity::update_many()
        .col_expr(user::Column::BannedAt, Expr::value(chrono::Utc::now()))
        .col_expr(user::Column::BanReason, Expr::value(reason))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::BannedAt.is_null())
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Lifts the ban of the user `id`; whether they were banned.
pub async fn unban(db: &impl ConnectionTrait, id: &str) -> Result<bool, sea_orm::DbErr> {
    let updated = user::Entity::update_many()
        .col_expr(
            user::Column::BannedAt,
            Expr::value(Option::<chrono::DateTime<chrono::Utc>>::None),
        )
        .col_expr(user::Column::BanReason, Expr::value(Option::<String>::None))
        .filter(user::Column::Id.eq(id))
        .filter(user::Column::BannedAt.is_not_null())
        .exec(db)
        .await?;
    Ok(updated.rows_affected == 1)
}

/// Up to `limit` users whose email contains `search`, by email.
pub async fn search(
    db: &impl ConnectionTrait,
    search: &EmailSearch,
    limit: u64,
) -> Result<Vec<UserRow>, sea_orm::DbErr> {
    user::Entity::find()
        .filter(
            Expr::col(user::Column::EmailKey).like(LikeExpr::new(search.pattern()).escape('\\')),
        )
        .order_by_asc(user::Column::EmailKey)
        .limit(limit)
        .all(db)
        .await
}
