use axum::extract::State;
use common::dto::{ErrorBody, TicketDetails};
use common::extract::Path;
use common::{ApiError, Json};

use crate::{store, TicketsState};

/// One ticket, whatever its status.
#[utoipa::path(
    get,
    path = "/api/tickets/{id}",
    operation_id = "showTicket",
    tag = "tickets",
    summary = "One ticket, whatever its status",
    params(("id" = String, Path, description = "The ticket's id")),
    responses(
        (status = OK, description = "The ticket", body = TicketDetails),
        (status = BAD_REQUEST, description = "The id can't be read", body = ErrorBody),
        (status = NOT_FOUND, description = "No such ticket", body = ErrorBody),
    )
)]
pub async fn show_ticket(
    State(state): State<TicketsState>,
    Path(id): Path<String>,
) -> Result<Json<TicketDetails>, ApiError> {
    if !common::http::could_exist(&id) {
        return Err(ApiError::NotFound);
    }
    let row = store::find(&state.read, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(row.into()))
}
