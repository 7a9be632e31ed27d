use axum::extract::State;
use axum::http::StatusCode;
use common::auth::RequireAuth;
use common::dto::{ErrorBody, Ticket, TicketBody};
use common::events::TicketCreated;
use common::money::Money;
use common::{outbox, ApiError, Json};
use sea_orm::TransactionTrait;

use crate::domain::NewTicket;
use crate::{store, written, TicketsState};

/// Lists a ticket for sale as the caller (`ticket:created`).
#[utoipa::path(
    post,
    path = "/api/tickets",
    operation_id = "createTicket",
    tag = "tickets",
    summary = "List a ticket for sale",
    request_body = TicketBody,
    security(("session" = [])),
    responses(
        (status = CREATED, description = "The ticket, for sale, version 0", body = Ticket),
        (status = BAD_REQUEST, description = "`title` (1–120 characters, one line, no control or invisible format characters) or `price` (above 0, at most 100000, two decimals)", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "tickets.create", skip_all, fields(user.id = %user.id))]
pub async fn create_ticket(
    State(state): State<TicketsState>,
    RequireAuth(user): RequireAuth,
    Json(body): Json<TicketBody>,
) -> Result<(StatusCode, Json<Ticket>), ApiError> {
    let new = NewTicket::try_from(body)?;
    if let Some(writer) = &state.writer {
        let user_id = user.id.clone();
        let row = writer
            .write(move |tx| written::list(tx, &new.title, new.price, &user_id))
            .await?;
        tracing::info!(ticket.id = %row.id, "ticket listed");
        return Ok((StatusCode::CREATED, Json(row.into())));
    }
    let txn = state.db.begin().await?;
    let row = store::insert(&txn, &new.title, new.price, &user.id).await?;
    let event = TicketCreated {
        id: row.id.clone(),
        version: row.version,
        title: row.title.clone(),
        price: Money::from_cents(row.price_cents),
        user_id: row.user_id.clone(),
    };
    outbox::enqueue(&txn, &event).await?;
    state.relay.commit(txn).await?;
    tracing::info!(ticket.id = %row.id, "ticket listed");
    Ok((StatusCode::CREATED, Json(row.into())))
}
