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
use tower_sessions::Session;

use common::auth::Claims;
use common::dto::User;
use common::{ApiError, Json};

use crate::store::{self, UserRow};
use crate::AuthState;

/// Session key holding the signed-in user's id.
const USER_ID: &str = "user_id";

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
    let jar = jar.add(access_cookie(state, &user)?.0);
    Ok((
        status,
        jar,
        Json(User {
            id: user.id,
            email: user.email,
        }),
    ))
}

/// A fresh access token for `user`: the `session` cookie carrying it, and its claims.
fn access_cookie(state: &AuthState, user: &UserRow) -> Result<(Cookie<'static>, Claims), ApiError> {
    let (token, claims) = state.keys.issue_with_claims(&user.id, &user.email)?;
    Ok((
        state.keys.access_cookie(token, state.settings.refresh_ttl),
        claims,
    ))
}

/// The user of the live refresh session behind the `refresh` cookie; None when there is none
/// (never started, expired, revoked) or its user is gone, and then the session is flushed so
/// the layer clears that cookie. The session id is only read, never cycled: this answer may
/// be given during someone else's server-side render and never reach the browser, whose
/// refresh cookie must keep working.
async fn refresh_session_user(
    state: &AuthState,
    session: &Session,
) -> Result<Option<UserRow>, ApiError> {
    let user_id: Option<String> = session
        .get(USER_ID)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let user = match user_id {
        Some(id) => store::find_by_id(&state.db, &id).await?,
        None => None,
    };
    if user.is_none() {
        session
            .flush()
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
    }
    Ok(user)
}
