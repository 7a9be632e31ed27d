//! The auth service's HTTP routes (`/api/users/*`).
mod current_user;
mod refresh;
mod signin;
mod signout;
mod signup;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::cookie::Cookie;
use axum_extra::extract::CookieJar;
use serde::{Deserialize, Serialize};
use tower_sessions::session::{Id, Record};
use tower_sessions::{Session, SessionStore};

use common::auth::Claims;
use common::dto::User;
use common::{ApiError, Json};

use crate::store::{self, UserRow};
use crate::AuthState;

/// Session key holding the signed-in user's id.
const USER_ID: &str = "user_id";
/// Session key naming the session's family: every session rotated from one sign-in.
const FAMILY: &str = "family";
/// The one key of a retired session id's record ([`Retired`]).
const RETIRED: &str = "retired";
/// The one key of a revoked family's record.
const REVOKED: &str = "revoked";

pub fn router(state: AuthState) -> Router {
    let sessions = state
        .sessions
        .layer(state.settings.cookie_secure, state.settings.refresh_ttl);
    Router::new()
        .route("/api/users/signup", post(signup::sign_up))
        .route("/api/users/signin", post(signin::sign_in))
        .route("/api/users/signout", post(signout::sign_out))
        .route("/api/users/currentuser", get(current_user::current_user))
        .route("/api/users/refresh", post(refresh::refresh))
        .layer(sessions)
        .with_state(state)
}

/// Starts a refresh session for `user` and answers with a fresh access token cookie.
async fn start_session(
    state: &AuthState,
    session: &Session,
    jar: CookieJar,
    user: UserRow,
    status: StatusCode,
) -> Result<(StatusCode, CookieJar, Json<User>), ApiError> {
    // A new id on every sign-in: a session id planted before sign-in is never promoted.
    session
        .cycle_id()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    session
        .insert(USER_ID, &user.id)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let family = Id::default().to_string();
    session
        .insert(FAMILY, &family)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let jar = jar.add(access_cookie(state, &user, &family)?.0);
    Ok((
        status,
        jar,
        Json(User {
            id: user.id,
            email: user.email,
        }),
    ))
}

/// A fresh access token for `user` under the sign-in `family`: the `session` cookie
/// carrying it, and its claims.
fn access_cookie(
    state: &AuthState,
    user: &UserRow,
    family: &str,
) -> Result<(Cookie<'static>, Claims), ApiError> {
    let (token, claims) = state
        .keys
        .issue_for_sign_in(&user.id, &user.email, family)?;
    Ok((
        state.keys.access_cookie(token, state.settings.refresh_ttl),
        claims,
    ))
}

/// The record left under a refresh id that a rotation retired: whose it was, its sign-in,
/// and when, so [`refresh_session_user`] can tell a late tab from a replayed copy.
#[derive(Debug, Serialize, Deserialize)]
struct Retired {
    user_id: String,
    family: String,
    /// When the rotation retired it (Unix milliseconds).
    at: i64,
}

/// The user of the refresh session behind the `refresh` cookie and its family (the sign-in
/// its tokens are issued under), or None when there is none
/// (never started, expired, revoked, its user gone), and then the session is flushed so the
/// layer clears that cookie.
///
/// With `rotate` (`POST /refresh`) a live session gets a new id and its old one is kept as
/// retired. A retired id presented again within the grace window (tabs refreshing at once)
/// answers as its session, but not rotated again; after it, it is a copied cookie being
/// replayed, and the whole family (every session since that sign-in) is revoked. Without
/// `rotate` (`currentuser`) the id is only read: that answer may go to someone else's
/// server-side render and never reach the browser, whose cookie must keep working.
async fn refresh_session_user(
    state: &AuthState,
    session: &Session,
    rotate: bool,
) -> Result<Option<(UserRow, String)>, ApiError> {
    let internal = |e: tower_sessions::session::Error| ApiError::Internal(e.into());
    if let Some(retired) = session.get::<Retired>(RETIRED).await.map_err(internal)? {
        let age = chrono::Utc::now().timestamp_millis() - retired.at;
        let within_grace = u128::try_from(age)
            .is_ok_and(|age| age <= state.settings.refresh_reuse_grace.as_millis());
        if !within_grace {
            tracing::warn!(
                user_id = %retired.user_id,
                "a retired refresh id was presented again: revoking its sign-in's sessions"
            );
            revoke_family(state, &retired.family).await?;
        }
        let user = if within_grace && !family_revoked(state, &retired.family).await? {
            store::find_by_id(&state.db, &retired.user_id).await?
        } else {
            None
        };
        if user.is_none() {
            session.flush().await.map_err(internal)?;
        }
        return Ok(user.map(|user| (user, retired.family)));
    }
    let user_id: Option<String> = session.get(USER_ID).await.map_err(internal)?;
    let family: Option<String> = session.get(FAMILY).await.map_err(internal)?;
    let user = match (&user_id, &family) {
        (Some(_), Some(family)) if family_revoked(state, family).await? => None,
        (Some(id), _) => store::find_by_id(&state.db, id).await?,
        (None, _) => None,
    };
    let Some(user) = user else {
        session.flush().await.map_err(internal)?;
        return Ok(None);
    };
    let family = match family {
        Some(family) => family,
        // Sessions from before families existed start one when they rotate.
        None if rotate => {
            let family = Id::default().to_string();
            session.insert(FAMILY, &family).await.map_err(internal)?;
            family
        }
        None => String::new(),
    };
    if rotate {
        let old = session.id();
        session.cycle_id().await.map_err(internal)?;
        if let Some(old) = old {
            let retired = Retired {
                user_id: user.id.clone(),
                family: family.clone(),
                at: chrono::Utc::now().timestamp_millis(),
            };
            let data = [(
                RETIRED.to_owned(),
                serde_json::to_value(&retired).map_err(|e| ApiError::Internal(e.into()))?,
            )];
            // As long as the old session could have lived: a copy of its cookie is
            // caught for as long as it could be used.
            let marker = Record {
                id: old,
                data: data.into_iter().collect(),
                expiry_date: lifetime_from_now(state),
            };
            state.sessions.put(marker).await.map_err(store_error)?;
        }
    }
    Ok(Some((user, family)))
}

/// A family is revoked by a record under its own id, kept as long as any of its sessions,
/// and its access tokens are ended with it.
async fn revoke_family(state: &AuthState, family: &str) -> Result<(), ApiError> {
    let Ok(id) = family.parse::<Id>() else {
        return Ok(());
    };
    state.keys.revoke_sign_in(family).await?;
    let record = Record {
        id,
        data: [(REVOKED.to_owned(), serde_json::Value::Bool(true))]
            .into_iter()
            .collect(),
        expiry_date: lifetime_from_now(state),
    };
    state.sessions.put(record).await.map_err(store_error)
}

async fn family_revoked(state: &AuthState, family: &str) -> Result<bool, ApiError> {
    let Ok(id) = family.parse::<Id>() else {
        return Ok(false);
    };
    let record = state.sessions.load(&id).await.map_err(store_error)?;
    Ok(record.is_some_and(|r| r.data.contains_key(REVOKED)))
}

fn lifetime_from_now(state: &AuthState) -> time::OffsetDateTime {
    let ttl = i64::try_from(state.settings.refresh_ttl.as_secs()).unwrap_or(i64::MAX / 4);
    time::OffsetDateTime::now_utc().saturating_add(time::Duration::seconds(ttl))
}

fn store_error(err: tower_sessions::session_store::Error) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("session store: {err}"))
}
