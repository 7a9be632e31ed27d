//! The tickets service's HTTP routes (`/api/tickets/*`), each handler with its OpenAPI
//! operation.
mod create;
mod list;
mod relist;
mod show;
mod update;

use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::TicketsState;

/// The routes and their operations, from one list.
pub fn api() -> OpenApiRouter<TicketsState> {
    OpenApiRouter::with_openapi(common::openapi::part("tickets"))
        .routes(routes!(list::list_tickets, create::create_ticket))
        .routes(routes!(show::show_ticket, update::update_ticket))
        .routes(routes!(relist::relist_ticket))
}

pub fn router(state: TicketsState) -> Router {
    api().split_for_parts().0.with_state(state)
}
