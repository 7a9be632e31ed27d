use common::auth::TokenState;
use common::dto::CurrentUserResponse;
use common::{ApiError, Json};

/// The signed-in user, or `null`; 498 when the token has expired so the client refreshes.
#[tracing::instrument(name = "auth.current_user", skip_all)]
pub async fn current_user(token: TokenState) -> Result<Json<CurrentUserResponse>, ApiError> {
    match token {
        TokenState::Valid(claims) => Ok(Json(CurrentUserResponse {
            current_user: Some(claims.into()),
        })),
        TokenState::Expired => Err(ApiError::TokenExpired),
        TokenState::Missing | TokenState::Invalid => {
            Ok(Json(CurrentUserResponse { current_user: None }))
        }
    }
}
