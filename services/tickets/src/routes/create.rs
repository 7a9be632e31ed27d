use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use common::auth::RequireAuth;
use common::dto::{ErrorBody, TicketDetails, TicketRequest};
use common::events::TicketCreated;
use common::money::Money;
use common::{outbox, ApiError, Json};
use sea_orm::TransactionTrait;

use crate::domain::NewTicket;
use crate::store::PLACEHOLDER_EVENT;
use crate::written::EventRefused;
use crate::{store, written, TicketsState};

/// Lists a ticket for sale as the caller (`ticket:created`), for an event that has not
/// started (the placeholder `Earlier listings` when none is named).
#[utoipa::path(
    post,
    path = "/api/tickets",
    operation_id = "createTicket",
    tag = "tickets",
    summary = "List a ticket for sale",
    request_body = TicketRequest,
    security(("session" = [])),
    responses(
        (status = CREATED, description = "The ticket, for sale, version 0", body = TicketDetails),
        (status = BAD_REQUEST, description = "`title` (1–120 characters, one line, no control or invisible format characters), `price` (above 0, at most 100000, two decimals), `section` / `row` / `seat` (at most 20 characters, one line), `eventId` (`No such event`, `The event has already started`)", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "tickets.create", skip_all, fields(user.id = %user.id))]
pub async fn create_ticket(
    State(state): State<TicketsState>,
    RequireAuth(user): RequireAuth,
    Json(body): Json<TicketRequest>,
) -> Result<(StatusCode, Json<TicketDetails>), ApiError> {
    let new = NewTicket::try_from(body)?;
    if let Some(writer) = &state.writer {
        let user_id = user.id.clone();
        let row = writer
            .write(move |tx| written::list(tx, &new, &user_id))
            .await??;
        tracing::info!(ticket.id = %row.id, "ticket listed");
        return Ok((StatusCode::CREATED, Json(row.into())));
    }
    let event_id = new.event_id.as_deref().unwrap_or(PLACEHOLDER_EVENT);
    // Read before the transaction: an event never changes, and a start passing meanwhile
    // only takes the listing off the market as it would a moment later.
    match store::find_event(&state.db, event_id).await? {
        None => return Err(EventRefused::NotFound.into()),
        Some(event) if event.started(Utc::now()) => return Err(EventRefused::Started.into()),
        Some(_) => {}
    }
    let txn = state.db.begin().await?;
    let row =
        store::insert_for(&txn, &new.title, new.price, &user.id, event_id, new.seat()).await?;
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
