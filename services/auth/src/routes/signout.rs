use axum::extract::State;
use axum_extra::extract::CookieJar;
use serde_json::{json, Value};
use tower_sessions::Session;

use common::auth::TokenState;
use common::dto::ACCESS_COOKIE;
use common::{ApiError, Json};

use crate::AuthState;

/// Ends the access token (on the deny-list until it would have expired), revokes the refresh
/// session and expires both cookies; fine without any cookie too.
#[tracing::instrument(name = "auth.sign_out", skip_all)]
pub async fn sign_out(
    State(state): State<AuthState>,
    session: Session,
    jar: CookieJar,
) -> Result<(CookieJar, Json<Value>), ApiError> {
    // The token first: were the refresh session gone and this not, the token would outlive
    // the sign-out unnoticed.
    if let Some(token) = jar.get(ACCESS_COOKIE).map(|c| c.value().to_owned()) {
        if let TokenState::Valid(claims) = state.keys.verify(&token) {
            state.keys.revoke(&claims).await.map_err(|err| {
                tracing::error!(error = ?err, "could not revoke an access token");
                ApiError::Unavailable("Could not sign out right now; try again shortly".into())
            })?;
        }
    }
    session
        .flush()
        .await
        .map_err(|e| ApiError::Internal(e.into()))?;
    Ok((jar.add(state.keys.expired_access_cookie()), Json(json!({}))))
}
