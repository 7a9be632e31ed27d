//! `POST /api/events`: a signed-in user creates an event listings can belong to.
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use common::auth::RequireAuth;
use common::dto::{ErrorBody, Event, EventBody};
use common::{outbox, ApiError, Json};
use sea_orm::TransactionTrait;

use crate::domain::NewEvent;
use crate::store::{self, EventRow, Sales};
use crate::{written, TicketsState};

pub const DUPLICATE: &str = "An event with this name, venue and start already exists";

/// Creates an event (`event:created`); one name and venue (ignoring case) starts at a given
/// instant once.
#[utoipa::path(
    post,
    path = "/api/events",
    operation_id = "createEvent",
    tag = "events",
    summary = "Create an event: what, where, when",
    request_body = EventBody,
    security(("session" = [])),
    responses(
        (status = CREATED, description = "The event, nothing for sale yet", body = Event),
        (status = BAD_REQUEST, description = "`name` / `venue` / `city` (1–120 characters, one line, no control or invisible format characters), `startsAt` (RFC 3339 with an offset, in the future, within 10 years), `timeZone` (an IANA name), `description` (at most 2000 characters); `An event with this name, venue and start already exists`", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "tickets.create_event", skip_all, fields(user.id = %user.id))]
pub async fn create_event(
    State(state): State<TicketsState>,
    RequireAuth(user): RequireAuth,
    Json(body): Json<EventBody>,
) -> Result<(StatusCode, Json<Event>), ApiError> {
    let new = NewEvent::parse(&body, Utc::now())?;
    let row = EventRow::new(&new, &user.id);
    let created = if let Some(writer) = &state.writer {
        writer
            .write(move |tx| written::create_event(tx, row))
            .await?
    } else {
        let txn = state.db.begin().await?;
        let created = store::insert_event(&txn, &row).await?;
        if let Some(created) = &created {
            outbox::enqueue(&txn, &created.created_event()).await?;
        }
        state.relay.commit(txn).await?;
        created
    };
    let created = created.ok_or_else(|| ApiError::bad_request(DUPLICATE))?;
    tracing::info!(event.id = %created.id, "event created");
    Ok((StatusCode::CREATED, Json(created.view(Sales::default()))))
}
