use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::CookieJar;
use tower_sessions::Session;

use common::dto::User;
use common::{ApiError, Json};

use crate::{store, AuthState};

/// Issues a new access token from a live refresh session; 499 when there is none.
#[tracing::instrument(name = "auth.refresh", skip_all)]
pub async fn refresh(
    State(state): State<AuthState>,
    session: Session,
    jar: CookieJar,
) -> Result<Response, ApiError> {
    let user_id: Option<String> = session
        .get(super::USER_ID)
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    let user = match user_id {
        Some(id) => store::find_by_id(&state.db, &id).await?,
        None => None,
    };
    let Some(user) = user else {
        session
            .flush()
            .await
            .map_err(|e| ApiError::Internal(e.into()))?;
        // The client is signed out: drop its stale access token too.
        return Ok((
            jar.add(state.keys.expired_access_cookie()),
            ApiError::SessionExpired,
        )
            .into_response());
    };
    let jar = jar.add(super::access_cookie(&state, &user)?);
    Ok((
        jar,
        Json(User {
            id: user.id,
            email: user.email,
        }),
    )
        .into_response())
}
