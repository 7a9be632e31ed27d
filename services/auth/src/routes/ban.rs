//! The admin API: `GET /api/users?email=` (find users), `POST /api/users/:id/ban {reason}`
//! and `DELETE /api/users/:id/ban`. Admins only (`ADMIN_EMAILS`): 401 without a sign-in,
//! 403 for everyone else. Banning a banned user, or unbanning one who isn't, changes
//! nothing and answers 200 with the user as they are (no second event).
use axum::extract::{Query, State};
use axum::http::Uri;
use sea_orm::TransactionTrait;

use common::auth::{Claims, RequireAuth};
use common::dto::{AdminUser, AdminUsers, BanBody, ErrorBody, ADMIN_USERS_PAGE};
use common::events::{UserBanned, UserUnbanned};
use common::extract::Path;
use common::{outbox, ApiError, Json};

use crate::domain::{BanReason, EmailSearch, UserId};
use crate::store::{self, UserRow};
use crate::AuthState;

/// What a signed-in non-admin is told.
pub const ADMINS_ONLY: &str = "Admins only";

/// The signed-in user, if they are an admin (403 otherwise).
fn admin(state: &AuthState, RequireAuth(claims): RequireAuth) -> Result<Claims, ApiError> {
    if state.settings.is_admin(&claims.email) {
        Ok(claims)
    } else {
        Err(ApiError::Forbidden(ADMINS_ONLY.into()))
    }
}

impl From<UserRow> for AdminUser {
    fn from(user: UserRow) -> Self {
        Self {
            id: user.id,
            email: user.email,
            banned_at: user.banned_at.map(|at| at.to_rfc3339()),
            ban_reason: user.ban_reason,
        }
    }
}

/// `GET /api/users?email=`: up to [`ADMIN_USERS_PAGE`] users whose email contains the search.
#[utoipa::path(
    get,
    path = "/api/users",
    operation_id = "findUsers",
    tag = "users",
    summary = "Find users by email (admins only)",
    params(("email" = Option<String>, Query, max_length = 254,
        description = "Part of the email, case-insensitive (`%` and `_` literal); empty lists the first users")),
    security(("session" = [])),
    responses(
        (status = OK, description = "Up to 50 users whose email contains the text, by email", body = AdminUsers),
        (status = BAD_REQUEST, description = "`email` over 254 characters or with control characters", body = ErrorBody),
        (status = FORBIDDEN, description = "`Admins only`, or the account is suspended", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "auth.find_users", skip_all)]
pub async fn find_users(
    State(state): State<AuthState>,
    signed_in: RequireAuth,
    uri: Uri,
) -> Result<Json<AdminUsers>, ApiError> {
    admin(&state, signed_in)?;
    // Decoded by hand: axum's `Query` rejection is plain text, not the envelope.
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(&uri)
        .map_err(|_| ApiError::bad_request("Malformed query string"))?;
    let raw = pairs
        .iter()
        .find(|(name, _)| name == "email")
        .map_or("", |(_, value)| value.as_str());
    let search = EmailSearch::parse(raw).map_err(|e| ApiError::Validation(vec![e]))?;
    let users = store::search(&state.db, &search, ADMIN_USERS_PAGE).await?;
    Ok(Json(AdminUsers {
        users: users.into_iter().map(Into::into).collect(),
    }))
}

/// `POST /api/users/:id/ban`: bans the user, publishing `user:banned` with the change.
#[utoipa::path(
    post,
    path = "/api/users/{id}/ban",
    operation_id = "banUser",
    tag = "users",
    summary = "Ban a user (admins only): sign-in refused, sessions ended, tickets withdrawn, live orders cancelled",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    request_body = BanBody,
    security(("session" = [])),
    responses(
        (status = OK, description = "The user, banned (banning again changes nothing: the first reason stands)", body = AdminUser),
        (status = BAD_REQUEST, description = "`id` not a UUID; `reason` (required, at most 500 characters, one line); `You can't ban yourself`", body = ErrorBody),
        (status = FORBIDDEN, description = "`Admins only`, or the account is suspended", body = ErrorBody),
        (status = NOT_FOUND, description = "No such user", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "auth.ban", skip_all)]
pub async fn ban(
    State(state): State<AuthState>,
    signed_in: RequireAuth,
    Path(id): Path<String>,
    Json(body): Json<BanBody>,
) -> Result<Json<AdminUser>, ApiError> {
    let admin = admin(&state, signed_in)?;
    let id = UserId::parse(&id);
    let reason = BanReason::parse(&body.reason);
    let (id, reason) = match (id, reason) {
        (Ok(id), Ok(reason)) => (id, reason.into_inner()),
        (id, reason) => {
            return Err(ApiError::Validation(
                [id.err(), reason.err()].into_iter().flatten().collect(),
            ))
        }
    };
    if id.as_str() == admin.id {
        return Err(ApiError::bad_request("You can't ban yourself"));
    }
    let txn = state.db.begin().await?;
    // The write comes first (see `exists`).
    if store::ban(&txn, id.as_str(), reason.clone()).await? {
        outbox::enqueue(
            &txn,
            &UserBanned {
                user_id: id.as_str().to_owned(),
                reason,
            },
        )
        .await?;
        tracing::info!(user_id = id.as_str(), admin_id = %admin.id, "user banned");
    } else {
        exists(&txn, &id).await?;
    }
    state.relay.commit(txn).await?;
    // Also after a repeated ban: a Redis key lost to an error last time is set now.
    state.keys.ban(id.as_str()).await?;
    answer(&state, &id).await
}

/// `DELETE /api/users/:id/ban`: lifts the ban, publishing `user:unbanned` with the change.
#[utoipa::path(
    delete,
    path = "/api/users/{id}/ban",
    operation_id = "unbanUser",
    tag = "users",
    summary = "Lift a user's ban (admins only)",
    params(("id" = String, Path, description = "The user's id (a UUID)")),
    security(("session" = [])),
    responses(
        (status = OK, description = "The user, not banned (also when they were not)", body = AdminUser),
        (status = BAD_REQUEST, description = "`id` not a UUID", body = ErrorBody),
        (status = FORBIDDEN, description = "`Admins only`, or the account is suspended", body = ErrorBody),
        (status = NOT_FOUND, description = "No such user", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "auth.unban", skip_all)]
pub async fn unban(
    State(state): State<AuthState>,
    signed_in: RequireAuth,
    Path(id): Path<String>,
) -> Result<Json<AdminUser>, ApiError> {
    let admin = admin(&state, signed_in)?;
    let id = UserId::parse(&id).map_err(|e| ApiError::Validation(vec![e]))?;
    let txn = state.db.begin().await?;
    // The write comes first (see `exists`).
    if store::unban(&txn, id.as_str()).await? {
        outbox::enqueue(
            &txn,
            &UserUnbanned {
                user_id: id.as_str().to_owned(),
            },
        )
        .await?;
        tracing::info!(user_id = id.as_str(), admin_id = %admin.id, "user unbanned");
    } else {
        exists(&txn, &id).await?;
    }
    state.relay.commit(txn).await?;
    state.keys.unban(id.as_str()).await?;
    answer(&state, &id).await
}

/// 404 unless the user exists; asked only after the ban's write in the same transaction. On
/// SQLite a transaction that reads first and then writes can't take the write lock while
/// another commits: it fails at once ("database is locked") instead of waiting its turn, which
/// two admins banning two users at once hit. Writing first, it waits (the busy timeout).
async fn exists(txn: &impl sea_orm::ConnectionTrait, id: &UserId) -> Result<(), ApiError> {
    store::find_by_id(txn, id.as_str())
        .await?
        .map(drop)
        .ok_or(ApiError::NotFound)
}

async fn answer(state: &AuthState, id: &UserId) -> Result<Json<AdminUser>, ApiError> {
    let user = store::find_by_id(&state.db, id.as_str())
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(user.into()))
}
