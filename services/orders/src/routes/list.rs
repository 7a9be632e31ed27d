use axum::extract::State;
use common::auth::RequireAuth;
use common::dto::Order;
use common::{ApiError, Json};

use crate::{store, OrdersState};

/// The caller's orders, every status, oldest first.
#[utoipa::path(
    get,
    path = "/api/orders",
    operation_id = "listOrders",
    tag = "orders",
    summary = "The caller's orders, every status, oldest first",
    security(("session" = [])),
    responses((status = OK, description = "The caller's orders", body = [Order]))
)]
pub async fn list_orders(
    State(state): State<OrdersState>,
    RequireAuth(user): RequireAuth,
) -> Result<Json<Vec<Order>>, ApiError> {
    let orders = store::orders_of(&state.read, &user.id).await?;
    Ok(Json(
        orders
            .iter()
            .map(|(order, ticket)| order.view(ticket))
            .collect(),
    ))
}
