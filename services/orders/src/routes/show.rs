use axum::extract::State;
use common::auth::RequireAuth;
use common::dto::Order;
use common::extract::Path;
use common::{ApiError, Json};

use crate::{domain, store, OrdersState};

/// One of the caller's orders; someone else's is 401, as in the course app.
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
