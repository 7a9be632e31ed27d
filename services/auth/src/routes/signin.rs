use std::net::SocketAddr;

use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Extension;
use axum_extra::extract::CookieJar;
use tower_sessions::Session;

use common::dto::{Credentials, ErrorBody, User};
use common::{ApiError, Json};

use crate::domain::{both, Email, Password};
use crate::throttle::{Admission, Key};
use crate::{password, store, AuthState};

#[utoipa::path(
    post,
    path = "/api/users/signin",
    operation_id = "signIn",
    tag = "users",
    summary = "Sign in",
    request_body = Credentials,
    responses(
        (status = OK, description = "Signed in", body = User, headers(("Set-Cookie" = String, description = "`session` (the access token) and `refresh` (the refresh session), both `HttpOnly`, `SameSite=Lax`"))),
        (status = BAD_REQUEST, description = "`Invalid credentials`, or a malformed `email` / `password`", body = ErrorBody),
        (status = FORBIDDEN, description = "`Account suspended`: the user is banned", body = ErrorBody),
        (status = TOO_MANY_REQUESTS, description = "Over 10 failed attempts a minute for one email, or 50 for one client address", body = ErrorBody,
            headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))),
    )
)]
#[tracing::instrument(name = "auth.sign_in", skip_all)]
pub async fn sign_in(
    State(state): State<AuthState>,
    // Absent when served without connection info (then there is no address to key by).
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    refresh_session: Session,
    jar: CookieJar,
    Json(body): Json<Credentials>,
) -> Result<(StatusCode, CookieJar, Json<User>), ApiError> {
    let (email, password) = both(
        Email::parse(&body.email),
        Password::parse_given(&body.password),
    )?;
    let mut keys = vec![Key::Email(email.key())];
    let address = common::http::client_address(
        peer.map(|Extension(ConnectInfo(peer))| peer),
        &headers,
        state.settings.trust_proxy,
    );
    keys.extend(address.map(|ip| Key::Address(ip.to_string())));
    // Counted before the password is checked, in one step: see `throttle`.
    if let Admission::Blocked(wait) = state.throttle.admit(&keys).await? {
        return Err(ApiError::TooManyRequests(wait));
    }
    let user = store::find_by_email(&state.db, &email).await?;
    // Verify even for an unknown email: it takes as long as a wrong password, so emails
    // can't be probed by timing.
    let matches =
        password::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    match user {
        // Told only to whoever knows the password: a ban is no one else's business.
        Some(user) if matches && user.banned_at.is_some() => {
            Err(ApiError::Forbidden(common::auth::ACCOUNT_SUSPENDED.into()))
        }
        Some(user) if matches => {
            state.throttle.succeeded(&keys).await?;
            super::signed_in(&state, &refresh_session, jar, user, StatusCode::OK).await
        }
        _ => Err(ApiError::bad_request("Invalid credentials")),
    }
}
