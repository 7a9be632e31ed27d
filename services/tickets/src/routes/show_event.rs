//! `GET /api/events/:id`: one event and what is for sale for it.
use axum::extract::State;
use chrono::Utc;
use common::dto::{ErrorBody, Event};
use common::extract::Path;
use common::{ApiError, Json};

use crate::{store, TicketsState};

/// One event, started or not, with what is for sale (nothing once it has started).
#[utoipa::path(
    get,
    path = "/api/events/{id}",
    operation_id = "showEvent",
    tag = "events",
    summary = "One event, with how many tickets are for sale and the lowest price",
    params(("id" = String, Path, description = "The event's id")),
    responses(
        (status = OK, description = "The event", body = Event),
        (status = BAD_REQUEST, description = "The id can't be read", body = ErrorBody),
        (status = NOT_FOUND, description = "No such event", body = ErrorBody),
    )
)]
pub async fn show_event(
    State(state): State<TicketsState>,
    Path(id): Path<String>,
) -> Result<Json<Event>, ApiError> {
    let row = find(&state, &id).await?;
    let sales = if row.started(Utc::now()) {
        Default::default()
    } else {
        store::sales(&state.read, &[row.id.as_str()])
            .await?
            .remove(&row.id)
            .unwrap_or_default()
    };
    Ok(Json(row.view(sales)))
}

/// The event `id`, or 404.
pub async fn find(state: &TicketsState, id: &str) -> Result<store::EventRow, ApiError> {
    if !common::http::could_exist(id) {
        return Err(ApiError::NotFound);
    }
    store::find_event(&state.read, id)
        .await?
        .ok_or(ApiError::NotFound)
}
