//! Users in the auth service's own database.
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::domain::Email;

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
