use axum::extract::State;
use chrono::Utc;
use common::auth::RequireAuth;
use common::dto::{ErrorBody, TicketDetails, TicketRequest};
use common::extract::Path;
use common::{outbox, ApiError, Json};
use sea_orm::TransactionTrait;

use crate::domain::NewTicket;
use crate::written::{self, Edited, EventRefused};
use crate::{store, TicketsState};

const RESERVED: &str = "Cannot edit a reserved ticket";
pub const WITHDRAWN: &str = "Cannot edit a withdrawn ticket; relist it first";

/// The owner edits title, price, event and seat, never while the ticket is reserved or
/// withdrawn. What the body leaves out (event, section, row, seat) stays as it was.
#[utoipa::path(
    put,
    path = "/api/tickets/{id}",
    operation_id = "updateTicket",
    tag = "tickets",
    summary = "Edit a ticket's title, price, event and seat (its seller only)",
    params(("id" = String, Path, description = "The ticket's id")),
    request_body = TicketRequest,
    security(("session" = [])),
    responses(
        (status = OK, description = "The ticket, version + 1", body = TicketDetails),
        (status = BAD_REQUEST, description = "A bad `title`, `price`, `section`, `row` or `seat`; `eventId` unknown or started; `Cannot edit a reserved ticket`; `Cannot edit a withdrawn ticket; relist it first`", body = ErrorBody),
        (status = UNAUTHORIZED, description = "Not signed in, or not the ticket's seller", body = ErrorBody),
        (status = NOT_FOUND, description = "No such ticket", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "tickets.update", skip_all, fields(ticket.id = %id, user.id = %user.id))]
pub async fn update_ticket(
    State(state): State<TicketsState>,
    RequireAuth(user): RequireAuth,
    Path(id): Path<String>,
    Json(body): Json<TicketRequest>,
) -> Result<Json<TicketDetails>, ApiError> {
    let new = NewTicket::try_from(body)?;
    if !common::http::could_exist(&id) {
        return Err(ApiError::NotFound);
    }
    if let Some(writer) = &state.writer {
        let user_id = user.id.clone();
        let edited = writer
            .write(move |tx| written::edit(tx, &id, &user_id, &new))
            .await?;
        return match edited {
            Edited::Done(row) => Ok(Json((*row).into())),
            Edited::NotFound => Err(ApiError::NotFound),
            Edited::Reserved => Err(ApiError::bad_request(RESERVED)),
            Edited::NotOwner => Err(ApiError::NotAuthorized),
            Edited::Withdrawn => Err(ApiError::bad_request(WITHDRAWN)),
            Edited::Event(refused) => Err(refused.into()),
        };
    }
    let current = store::find(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    // The course app checks the reservation before ownership; clients rely on that order.
    if current.order_id.is_some() {
        return Err(ApiError::bad_request(RESERVED));
    }
    if current.user_id != user.id {
        return Err(ApiError::NotAuthorized);
    }
    if current.withdrawn_at.is_some() {
        return Err(ApiError::bad_request(WITHDRAWN));
    }
    if let Some(event_id) = new.event_id.as_deref().filter(|e| *e != current.event_id) {
        match store::find_event(&state.db, event_id).await? {
            None => return Err(EventRefused::NotFound.into()),
            Some(event) if event.started(Utc::now()) => return Err(EventRefused::Started.into()),
            Some(_) => {}
        }
    }
    let edited = written::edited(current.clone(), &new);
    // The transaction starts with its write, so SQLite's busy timeout (not an immediate
    // "database is locked") covers concurrent writers; the update re-checks what we read.
    let txn = state.db.begin().await?;
    let seat = [edited.section, edited.seat_row, edited.seat];
    let Some(updated) = store::update_details(
        &txn,
        &current,
        &new.title,
        new.price,
        &edited.event_id,
        seat,
    )
    .await?
    else {
        // Changed between our read and our write: reserved meanwhile, or edited concurrently.
        return Err(ApiError::bad_request(
            "The ticket changed while you were editing it; reload and try again",
        ));
    };
    outbox::enqueue(&txn, &updated.updated_event()).await?;
    state.relay.commit(txn).await?;
    Ok(Json(updated.into()))
}
