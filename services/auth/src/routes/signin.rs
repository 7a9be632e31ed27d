use axum::extract::State;
use axum::http::StatusCode;
use axum_extra::extract::CookieJar;
use tower_sessions::Session;

use common::dto::{Credentials, User};
use common::{ApiError, Json};

use crate::domain::{both, Email, Password};
use crate::{password, store, AuthState};

#[tracing::instrument(name = "auth.sign_in", skip_all)]
pub async fn sign_in(
    State(state): State<AuthState>,
    session: Session,
    jar: CookieJar,
    Json(body): Json<Credentials>,
) -> Result<(StatusCode, CookieJar, Json<User>), ApiError> {
    let (email, password) = both(
        Email::parse(&body.email),
        Password::parse_given(&body.password),
    )?;
    let key = email.key();
    if state.throttle.is_blocked(&key).await? {
        return Err(ApiError::TooManyRequests);
    }
    let user = store::find_by_email(&state.db, &email).await?;
    // Verify even for an unknown email: it takes as long as a wrong password, so emails
    // can't be probed by timing.
    let matches =
        password::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    match user {
        Some(user) if matches => {
            state.throttle.clear(&key).await?;
            super::start_session(&state, &session, jar, user, StatusCode::OK).await
        }
        _ => {
            state.throttle.record_failure(&key).await?;
            Err(ApiError::bad_request("Invalid credentials"))
        }
    }
}
