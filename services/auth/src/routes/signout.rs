use axum::extract::State;
use axum_extra::extract::CookieJar;
use serde_json::{json, Value};
use tower_sessions::Session;

use common::{ApiError, Json};

use crate::AuthState;

/// Revokes the refresh session and expires both cookies; fine without any cookie too.
#[tracing::instrument(name = "auth.sign_out", skip_all)]
pub async fn sign_out(
    State(state): State<AuthState>,
    session: Session,
    jar: CookieJar,
) -> Result<(CookieJar, Json<Value>), ApiError> {
    session
        .flush()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((jar.add(state.keys.expired_access_cookie()), Json(json!({}))))
}
