//! `GET /api/events/:id/tickets`: an event's tickets for sale, by price or by seat.
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use chrono::Utc;
use common::dto::{ErrorBody, TicketDetails};
use common::extract::Path;
use common::{ApiError, Json};

use crate::listing::{self, EventTicketsQuery};
use crate::{store, TicketsState};

/// One page of the event's tickets for sale (none once it has started), cheapest first or
/// by seat; a `Link: <…>; rel="next"` header points at the next page while there is one.
#[utoipa::path(
    get,
    path = "/api/events/{id}/tickets",
    operation_id = "listEventTickets",
    tag = "events",
    summary = "An event's tickets for sale, by price or by seat, a page at a time",
    params(
        ("id" = String, Path, description = "The event's id"),
        ("sort" = Option<String>, Query, pattern = "^(price|seat)$",
            description = "`price` (cheapest first; the default) or `seat` (by section, row and seat, as text; unseated first)"),
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200,
            description = "How many tickets (default 50)"),
        ("cursor" = Option<String>, Query,
            description = "Where the page starts: the `cursor` of the previous answer's `Link` (for the same `sort`)"),
    ),
    responses(
        (status = OK, description = "The page; each parameter at most once", body = [TicketDetails],
            headers(("Link" = String,
                description = "`</api/events/{id}/tickets?limit=N&cursor=C&sort=…>; rel=\"next\"` while another page follows"))),
        (status = BAD_REQUEST, description = "A bad `sort`, `limit` or `cursor`, or one given twice (`field` names it)", body = ErrorBody),
        (status = NOT_FOUND, description = "No such event", body = ErrorBody),
    )
)]
pub async fn list_event_tickets(
    State(state): State<TicketsState>,
    Path(id): Path<String>,
    uri: Uri,
) -> Result<(HeaderMap, Json<Vec<TicketDetails>>), ApiError> {
    let query = EventTicketsQuery::parse(&listing::query_pairs(&uri)?)?;
    let event = super::show_event::find(&state, &id).await?;
    if event.started(Utc::now()) {
        return Ok((HeaderMap::new(), Json(Vec::new())));
    }
    let mut rows = store::event_tickets(
        &state.read,
        &event.id,
        query.sort,
        query.cursor.as_ref(),
        u64::from(query.limit.get()) + 1,
    )
    .await?;
    let headers = listing::page(&mut rows, query.limit, |last| {
        query.next_link(&event.id, &last.position(query.sort))
    })?;
    Ok((
        headers,
        Json(rows.into_iter().map(TicketDetails::from).collect()),
    ))
}
