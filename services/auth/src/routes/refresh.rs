use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use tower_sessions::Session;

use common::dto::{ErrorBody, User};
use common::{ApiError, Json};

use crate::AuthState;

/// Issues a new access token from the live refresh session, rotating its id; 499 when there
/// is none, or when a retired id is replayed (which ends its whole sign-in).
#[utoipa::path(
    post,
    path = "/api/users/refresh",
    operation_id = "refresh",
    tag = "users",
    summary = "A new access token from the refresh session, after a 498",
    security(("refresh" = [])),
    responses(
        (status = OK, description = "A new `session` cookie, and the refresh session under a new id", body = User,
            headers(("Set-Cookie" = String, description = "The new `session` and `refresh`"))),
        (status = 499, description = "No live refresh session (expired, signed out, a retired id replayed, or the user banned): sign in again", body = ErrorBody,
            headers(("Set-Cookie" = String, description = "`session` expired"))),
    )
)]
#[tracing::instrument(name = "auth.refresh", skip_all)]
pub async fn refresh(
    State(state): State<AuthState>,
    refresh_session: Session,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let Some((user, sign_in)) = state.refresh_sessions.rotate(&refresh_session).await? else {
        // The client is signed out: drop its stale access token too.
        return Ok((
            jar.add(state.keys.expired_access_cookie()),
            ApiError::RefreshSessionEnded,
        )
            .into_response());
    };
    let jar = jar.add(super::access_token(&state, &user, &sign_in)?.0);
    Ok((
        jar,
        Json(User {
            id: user.id,
            email: user.email,
        }),
    )
        .into_response())
}
