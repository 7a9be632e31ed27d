//! The payments service's HTTP routes (`/api/payments*`), each handler with its OpenAPI
//! operation.
mod create;
mod list;
pub mod webhook;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::PaymentsState;

/// The routes and their operations, from one list.
pub fn api() -> OpenApiRouter<PaymentsState> {
    OpenApiRouter::with_openapi(common::openapi::part("payments"))
        .routes(routes!(list::list_payments, create::create_payment))
        .routes(routes!(webhook::receive))
}

pub fn router(state: PaymentsState) -> Router {
    api().split_for_parts().0.with_state(state)
}
