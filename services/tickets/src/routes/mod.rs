//! The tickets service's HTTP routes (`/api/tickets/*`, `/api/events/*`), each handler with
//! its OpenAPI operation.
mod create;
mod create_event;
mod event_tickets;
mod list;
mod list_events;
mod relist;
mod show;
mod show_event;
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
        .routes(routes!(
            list_events::list_events,
            create_event::create_event
        ))
        .routes(routes!(show_event::show_event))
        .routes(routes!(event_tickets::list_event_tickets))
}

pub fn router(state: TicketsState) -> Router {
    api().split_for_parts().0.with_state(state)
}
