use axum::extract::State;
use common::dto::Ticket;
use common::{ApiError, Json};

use crate::{store, TicketsState};

/// Tickets for sale: reserved ones are left out.
pub async fn list_tickets(
    State(state): State<TicketsState>,
) -> Result<Json<Vec<Ticket>>, ApiError> {
    let rows = store::for_sale(&state.db).await?;
    Ok(Json(rows.into_iter().map(Ticket::from).collect()))
}
