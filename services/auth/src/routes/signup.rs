use axum::extract::State;
use axum::http::StatusCode;
use axum_extra::extract::CookieJar;
use tower_sessions::Session;

use common::dto::{Credentials, ErrorBody, User};
use common::{ApiError, Json};

use crate::domain::{both, Email, Password};
use crate::{password, store, AuthState};

const EMAIL_IN_USE: &str = "Email in use";

#[utoipa::path(
    post,
    path = "/api/users/signup",
    operation_id = "signUp",
    tag = "users",
    summary = "Create an account and sign in",
    request_body = Credentials,
    responses(
        (status = CREATED, description = "Signed up and signed in", body = User, headers(("Set-Cookie" = String, description = "`session` (the access token) and `refresh` (the refresh session), both `HttpOnly`, `SameSite=Lax`"))),
        (status = BAD_REQUEST, description = "`email` (a valid address) / `password` (4–20 characters); `Email in use` (case-insensitive)", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "auth.sign_up", skip_all)]
pub async fn sign_up(
    State(state): State<AuthState>,
    refresh_session: Session,
    jar: CookieJar,
    Json(body): Json<Credentials>,
) -> Result<(StatusCode, CookieJar, Json<User>), ApiError> {
    let (email, password) = both(
        Email::parse(&body.email),
        Password::parse_new(&body.password),
    )?;
    // A cheap early answer; the unique index below is what actually guarantees it.
    if store::find_by_email(&state.db, &email).await?.is_some() {
        return Err(ApiError::bad_request(EMAIL_IN_USE));
    }
    let hash = password::hash(password).await?;
    let user = match store::insert_user(&state.db, &email, hash).await {
        Ok(user) => user,
        Err(err) if common::db::violates(&err, store::EMAIL_TAKEN) => {
            return Err(ApiError::bad_request(EMAIL_IN_USE))
        }
        Err(err) => return Err(err.into()),
    };
    tracing::info!(user.id = %user.id, "user signed up");
    super::signed_in(&state, &refresh_session, jar, user, StatusCode::CREATED).await
}
