//! `GET /api/events`: upcoming events, soonest first, a page at a time.
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use chrono::Utc;
use common::dto::{ErrorBody, Event};
use common::{ApiError, Json};

use crate::listing::{self, EventsQuery};
use crate::{store, TicketsState};

/// One page of events that have not started, soonest first, each with what is for sale; a
/// `Link: <…>; rel="next"` header points at the next page while there is one. The
/// placeholder `Earlier listings` never starts and is not listed (it is at
/// `/api/events/:id`).
#[utoipa::path(
    get,
    path = "/api/events",
    operation_id = "listEvents",
    tag = "events",
    summary = "Upcoming events, soonest first, a page at a time",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200,
            description = "How many events (default 50)"),
        ("cursor" = Option<String>, Query,
            description = "Where the page starts: the `cursor` of the previous answer's `Link`"),
        ("q" = Option<String>, Query, max_length = 120,
            description = "Only events whose name, venue or city contains this text (case-insensitive; `%` and `_` literal)"),
        ("from" = Option<String>, Query,
            description = "Only events starting at or after this: a date (`YYYY-MM-DD`, from its start in UTC) or an RFC 3339 time"),
        ("to" = Option<String>, Query,
            description = "Only events starting at or before this: a date (`YYYY-MM-DD`, to its end in UTC) or an RFC 3339 time"),
    ),
    responses(
        (status = OK, description = "The page; each parameter at most once", body = [Event],
            headers(("Link" = String,
                description = "`</api/events?limit=N&cursor=C[&q=…][&from=…][&to=…]>; rel=\"next\"` while another page follows"))),
        (status = BAD_REQUEST, description = "A bad `limit`, `cursor`, `q`, `from` or `to`, or one given twice (`field` names it)", body = ErrorBody),
    )
)]
pub async fn list_events(
    State(state): State<TicketsState>,
    uri: Uri,
) -> Result<(HeaderMap, Json<Vec<Event>>), ApiError> {
    let query = EventsQuery::parse(&listing::query_pairs(&uri)?)?;
    let fetch = u64::from(query.limit.get()) + 1;
    let mut rows = store::upcoming(&state.read, Utc::now(), &query, fetch).await?;
    let headers = listing::page(&mut rows, query.limit, |last| {
        query.next_link(&last.cursor())
    })?;
    let ids: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let mut sales = store::sales(&state.read, &ids).await?;
    let events = rows
        .into_iter()
        .map(|row| {
            let sold = sales.remove(&row.id).unwrap_or_default();
            row.view(sold)
        })
        .collect();
    Ok((headers, Json(events)))
}
