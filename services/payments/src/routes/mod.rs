//! The payments service's HTTP routes (`/api/payments*`).
mod create;
mod list;
pub mod webhook;

use axum::routing::{get, post};
use axum::Router;

use crate::PaymentsState;

pub fn router(state: PaymentsState) -> Router {
    Router::new()
        .route(
            "/api/payments",
            get(list::list_payments).post(create::create_payment),
        )
        .route("/api/payments/webhook", post(webhook::receive))
        .with_state(state)
}
