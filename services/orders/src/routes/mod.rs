//! The orders service's HTTP routes (`/api/orders/*`), each handler with its OpenAPI
//! operation.
mod cancel;
mod create;
mod list;
mod show;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::OrdersState;

/// The routes and their operations, from one list.
pub fn api() -> OpenApiRouter<OrdersState> {
    OpenApiRouter::with_openapi(common::openapi::part("orders"))
        .routes(routes!(list::list_orders, create::reserve))
        .routes(routes!(show::show_order, cancel::cancel_order))
}

pub fn router(state: OrdersState) -> Router {
    api().split_for_parts().0.with_state(state)
}
