//! The auth service's HTTP routes (`/api/users/*`).
mod current_user;
mod refresh;
mod signin;
mod signout;
mod signup;

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use axum_extra::extract::CookieJar;
use tower_sessions::Session;

use common::dto::User;
use common::{ApiError, Json};

use crate::store::UserRow;
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
    let jar = jar.add(access_cookie(state, &user)?);
    Ok((
        status,
        jar,
        Json(User {
            id: user.id,
            email: user.email,
        }),
    ))
}

fn access_cookie(
    state: &AuthState,
    user: &UserRow,
) -> Result<axum_extra::extract::cookie::Cookie<'static>, ApiError> {
    let token = state.keys.issue(&user.id, &user.email)?;
    Ok(state.keys.access_cookie(token, state.settings.refresh_ttl))
}
