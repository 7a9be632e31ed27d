//! `GET /api/users/currentuser` always answers 200: server-side rendering asks it on the
//! visitor's behalf and can't run the client's 498 → refresh → retry dance, so an expired
//! access token is renewed here from the refresh session instead.
use axum::extract::State;
use axum_extra::extract::CookieJar;
use tower_sessions::Session;

use common::auth::{Claims, TokenState};
use common::dto::{CurrentUserResponse, SignedInUser};
use common::Json;

use crate::AuthState;

/// The signed-in user, or `null`; an unusable access token's cookie is cleared on the way.
#[utoipa::path(
    get,
    path = "/api/users/currentuser",
    operation_id = "currentUser",
    tag = "users",
    summary = "Who is signed in (never 401, 498 or 499)",
    security((), ("session" = [])),
    responses(
        (status = OK, description = "The access token's claims, or `null`. An expired token is renewed from a live refresh session (a new `session` cookie); an unusable one's cookie is cleared",
            body = CurrentUserResponse,
            headers(("Set-Cookie" = String, description = "A renewed `session`, or an expired one when it was unusable"))),
    )
)]
#[tracing::instrument(name = "auth.current_user", skip_all)]
pub async fn current_user(
    State(state): State<AuthState>,
    refresh_session: Session,
    jar: CookieJar,
    token: TokenState,
) -> (CookieJar, Json<CurrentUserResponse>) {
    let (jar, user) = match token {
        TokenState::Valid(claims) => (jar, Some(claims)),
        TokenState::Missing => (jar, None),
        // Tampered, forged, not a token at all, or signed out: nothing to renew, and no use
        // keeping it.
        TokenState::Invalid | TokenState::Revoked | TokenState::Suspended => {
            (jar.add(state.keys.expired_access_cookie()), None)
        }
        // The deny-list is away: anonymous for now, but an outage signs nobody out.
        TokenState::Unchecked => (jar, None),
        TokenState::Expired => renew(&state, &refresh_session, jar).await,
    };
    let current_user = user.map(|claims| {
        let is_admin = state.settings.is_admin(&claims.email);
        SignedInUser {
            is_admin,
            ..claims.into()
        }
    });
    (jar, Json(CurrentUserResponse { current_user }))
}

/// A new access token from the live refresh session, as `POST /refresh` issues (the refresh
/// session itself is left as it is); without one the stale token is cleared.
async fn renew(
    state: &AuthState,
    refresh_session: &Session,
    jar: CookieJar,
) -> (CookieJar, Option<Claims>) {
    let renewed = match state.refresh_sessions.renew(refresh_session).await {
        Ok(Some((user, sign_in))) => super::access_token(state, &user, &sign_in).map(Some),
        Ok(None) => Ok(None),
        Err(err) => Err(err),
    };
    match renewed {
        Ok(Some((cookie, claims))) => (jar.add(cookie), Some(claims)),
        Ok(None) => (jar.add(state.keys.expired_access_cookie()), None),
        // The refresh session store or database is down: answer anonymously but keep the
        // cookies, so an outage doesn't sign anyone out.
        Err(err) => {
            tracing::error!(error = ?err, "could not renew an expired access token");
            (jar, None)
        }
    }
}
