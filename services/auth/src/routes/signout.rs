use axum::extract::State;
use axum_extra::extract::CookieJar;
use serde_json::{json, Value};
use tower_sessions::Session;

use common::auth::TokenState;
use common::dto::ErrorBody;
use common::wire::cookie::ACCESS_TOKEN as ACCESS_TOKEN_COOKIE;
use common::{ApiError, Json};

use crate::AuthState;

/// Ends the access token (on the deny-list until it would have expired) and every other one
/// of its sign-in, ends the refresh session and expires both cookies; fine without any
/// cookie too.
#[utoipa::path(
    post,
    path = "/api/users/signout",
    operation_id = "signOut",
    tag = "users",
    summary = "Sign out: end the refresh session and refuse this sign-in's access tokens everywhere",
    security((), ("session" = [])),
    responses(
        (status = OK, description = "Signed out (also without any cookie)", body = Object,
            headers(("Set-Cookie" = String, description = "`session` and `refresh`, both expired"))),
        (status = SERVICE_UNAVAILABLE, description = "The signed-out token list can't be written; nothing was revoked", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "auth.sign_out", skip_all)]
pub async fn sign_out(
    State(state): State<AuthState>,
    refresh_session: Session,
    jar: CookieJar,
) -> Result<(CookieJar, Json<Value>), ApiError> {
    // The tokens first: were the refresh session gone and they not, they would outlive the
    // sign-out unnoticed. The presented one, and every other one of this sign-in.
    let token = jar
        .get(ACCESS_TOKEN_COOKIE)
        .and_then(|c| match state.keys.verify(c.value()) {
            TokenState::Valid(claims) => Some(claims),
            _ => None,
        });
    let sign_in = state.refresh_sessions.sign_in_of(&refresh_session).await?;
    let sign_in = sign_in.or_else(|| token.as_ref().map(|c| c.sid.clone()));
    let revoked = async {
        if let Some(claims) = &token {
            state.keys.revoke(claims).await?;
        }
        if let Some(sign_in) = &sign_in {
            state.keys.revoke_sign_in(sign_in).await?;
        }
        anyhow::Ok(())
    };
    revoked.await.map_err(|err| {
        tracing::error!(error = ?err, "could not revoke a sign-in's access tokens");
        ApiError::Unavailable("Could not sign out right now; try again shortly".into())
    })?;
    state.refresh_sessions.end(&refresh_session).await?;
    Ok((jar.add(state.keys.expired_access_cookie()), Json(json!({}))))
}
