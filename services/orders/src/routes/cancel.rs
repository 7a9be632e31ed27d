use axum::extract::State;
use axum::http::StatusCode;
use common::auth::RequireAuth;
use common::dto::ErrorBody;
use common::events::OrderStatus;
use common::extract::Path;
use common::ApiError;

use crate::lifecycle::{self, Ended};
use crate::{domain, store, OrdersState};

pub const COMPLETED: &str = "Cannot cancel a completed order";

/// The buyer gives up a reservation. Cancelling a cancelled order is a no-op; a paid one
/// can't be cancelled here (refunds are the payments service's business).
#[utoipa::path(
    delete,
    path = "/api/orders/{id}",
    operation_id = "cancelOrder",
    tag = "orders",
    summary = "Cancel one of the caller's live orders, releasing its ticket",
    params(("id" = String, Path, description = "The order's id")),
    security(("session" = [])),
    responses(
        (status = NO_CONTENT, description = "The order is cancelled (also when it already was)"),
        (status = BAD_REQUEST, description = "`Cannot cancel a completed order`, or the id can't be read", body = ErrorBody),
        (status = UNAUTHORIZED, description = "Not signed in, or someone else's order", body = ErrorBody),
        (status = NOT_FOUND, description = "No such order", body = ErrorBody),
    )
)]
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
