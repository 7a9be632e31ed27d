use axum::extract::State;
use axum::http::StatusCode;
use common::auth::RequireAuth;
use common::events::OrderStatus;
use common::extract::Path;
use common::ApiError;

use crate::lifecycle::{self, Ended};
use crate::{domain, store, OrdersState};

pub const COMPLETED: &str = "Cannot cancel a completed order";

/// The buyer gives up a reservation. Cancelling a cancelled order is a no-op; a paid one
/// can't be cancelled here (refunds are the payments service's business).
#[tracing::instrument(name = "orders.cancel", skip_all, fields(order.id = %id, user.id = %user.id))]
pub async fn cancel_order(
    State(state): State<OrdersState>,
    RequireAuth(user): RequireAuth,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if !domain::could_exist(&id) {
        return Err(ApiError::NotFound);
    }
    let order = store::find_order(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if order.user_id != user.id {
        return Err(ApiError::NotAuthorized);
    }
    match lifecycle::cancel(&state, order).await? {
        Ended::Now(_) => Ok(StatusCode::NO_CONTENT),
        Ended::Already(order) if order.status == OrderStatus::Complete => {
            Err(ApiError::bad_request(COMPLETED))
        }
        Ended::Already(_) => Ok(StatusCode::NO_CONTENT),
        Ended::Unknown => Err(ApiError::NotFound),
    }
}
