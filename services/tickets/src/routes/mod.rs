//! The tickets service's HTTP routes (`/api/tickets/*`).
mod create;
mod list;
mod relist;
mod show;
mod update;

use axum::routing::{get, post};
use axum::Router;

use crate::TicketsState;

pub fn router(state: TicketsState) -> Router {
    Router::new()
        .route(
            "/api/tickets",
            get(list::list_tickets).post(create::create_ticket),
        )
        .route(
            "/api/tickets/{id}",
            get(show::show_ticket).put(update::update_ticket),
        )
        .route("/api/tickets/{id}/relist", post(relist::relist_ticket))
        .with_state(state)
}
