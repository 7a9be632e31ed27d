use axum::extract::State;
use common::dto::Ticket;
use common::extract::Path;
use common::{ApiError, Json};

use crate::{store, TicketsState};

pub async fn show_ticket(
    State(state): State<TicketsState>,
    Path(id): Path<String>,
) -> Result<Json<Ticket>, ApiError> {
    if !common::http::could_exist(&id) {
        return Err(ApiError::NotFound);
    }
    let row = store::find(&state.read, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    Ok(Json(row.into()))
}
