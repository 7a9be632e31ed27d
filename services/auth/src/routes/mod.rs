//! The auth service's HTTP routes (`/api/users/*`): each handler parses its input, then
//! asks `RefreshSessions` (`crate::sessions`) and the access-token keys.
mod ban;
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

use crate::store::UserRow;
use crate::AuthState;

pub fn router(state: AuthState) -> Router {
    let refresh_sessions = state.refresh_sessions.layer();
    Router::new()
        .route("/api/users/signup", post(signup::sign_up))
        .route("/api/users/signin", post(signin::sign_in))
        .route("/api/users/signout", post(signout::sign_out))
        .route("/api/users/currentuser", get(current_user::current_user))
        .route("/api/users/refresh", post(refresh::refresh))
        .route("/api/users", get(ban::find_users))
        .route("/api/users/{id}/ban", post(ban::ban).delete(ban::unban))
        .layer(refresh_sessions)
        .with_state(state)
}

/// Signs `user` in: starts a refresh session under a new sign-in and answers with a fresh
/// access token's cookie.
async fn signed_in(
    state: &AuthState,
    refresh_session: &Session,
    jar: CookieJar,
    user: UserRow,
    status: StatusCode,
) -> Result<(StatusCode, CookieJar, Json<User>), ApiError> {
    let sign_in = state.refresh_sessions.start(refresh_session, &user).await?;
    let jar = jar.add(access_token(state, &user, &sign_in)?.0);
    Ok((
        status,
        jar,
        Json(User {
            id: user.id,
            email: user.email,
        }),
    ))
}

/// A fresh access token for `user` under `sign_in`: the cookie carrying it, and its claims.
fn access_token(
    state: &AuthState,
    user: &UserRow,
    sign_in: &str,
) -> Result<(Cookie<'static>, Claims), ApiError> {
    let (token, claims) = state
        .keys
        .issue_for_sign_in(&user.id, &user.email, sign_in)?;
    Ok((
        state.keys.access_cookie(token, state.settings.refresh_ttl),
        claims,
    ))
}
