//! The auth service's HTTP routes (`/api/users/*`), each with its OpenAPI operation: each
//! handler parses its input, then asks `RefreshSessions` (`crate::sessions`) and the access-token keys.
mod ban;
mod current_user;
mod refresh;
mod signin;
mod signout;
mod signup;

use axum::http::StatusCode;
use axum::Router;
use axum_extra::extract::cookie::Cookie;
use axum_extra::extract::CookieJar;
use tower_sessions::Session;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use common::auth::Claims;
use common::dto::User;
use common::{ApiError, Json};

use crate::store::UserRow;
use crate::AuthState;

/// The routes and their operations, from one list.
pub fn api() -> OpenApiRouter<AuthState> {
    OpenApiRouter::with_openapi(common::openapi::part("auth"))
        .routes(routes!(signup::sign_up))
        .routes(routes!(signin::sign_in))
        .routes(routes!(signout::sign_out))
        .routes(routes!(current_user::current_user))
        .routes(routes!(refresh::refresh))
        .routes(routes!(ban::find_users))
        .routes(routes!(ban::ban, ban::unban))
}

pub fn router(state: AuthState) -> Router {
    let refresh_sessions = state.refresh_sessions.layer();
    api()
        .split_for_parts()
        .0
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
