use axum::extract::State;
use common::auth::RequireAuth;
use common::dto::{ErrorBody, Order};
use common::extract::Path;
use common::{ApiError, Json};

use crate::{domain, store, OrdersState};

/// One of the caller's orders; someone else's is 401, as in the course app.
#[utoipa::path(
    get,
    path = "/api/orders/{id}",
    operation_id = "showOrder",
    tag = "orders",
    summary = "One of the caller's orders",
    params(("id" = String, Path, description = "The order's id")),
    security(("session" = [])),
    responses(
        (status = OK, description = "The order", body = Order),
        (status = BAD_REQUEST, description = "The id can't be read", body = ErrorBody),
        (status = UNAUTHORIZED, description = "Not signed in, or someone else's order", body = ErrorBody),
        (status = NOT_FOUND, description = "No such order", body = ErrorBody),
    )
)]
pub async fn show_order(
    State(state): State<OrdersState>,
    RequireAuth(user): RequireAuth,
    Path(id): Path<String>,
) -> Result<Json<Order>, ApiError> {
    if !domain::could_exist(&id) {
        return Err(ApiError::NotFound);
    }
    let (order, ticket) = store::find_order_with_ticket(&state.read, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if order.user_id != user.id {
        return Err(ApiError::NotAuthorized);
    }
    Ok(Json(order.view(&ticket)))
}
