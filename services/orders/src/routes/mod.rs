//! The orders service's HTTP routes (`/api/orders/*`).
mod cancel;
mod create;
mod list;
mod show;

use axum::routing::get;
use axum::Router;

use crate::OrdersState;

pub fn router(state: OrdersState) -> Router {
    Router::new()
        .route("/api/orders", get(list::list_orders).post(create::reserve))
        .route(
            "/api/orders/{id}",
            get(show::show_order).delete(cancel::cancel_order),
        )
        .with_state(state)
}
