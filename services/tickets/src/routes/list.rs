use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use common::dto::{ErrorBody, TicketDetails};
use common::{ApiError, Json};

use crate::listing::{self, PageQuery};
use crate::{store, TicketsState};

/// One page of tickets for sale (reserved ones, withdrawn ones and those of events that have
/// started are left out), newest first; a `Link: <…>;
/// rel="next"` header points at the next page while there is one.
#[utoipa::path(
    get,
    path = "/api/tickets",
    operation_id = "listTickets",
    tag = "tickets",
    summary = "Tickets for sale, newest first, a page at a time",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200,
            description = "How many tickets (default 50)"),
        ("cursor" = Option<String>, Query,
            description = "Where the page starts: the `cursor` of the previous answer's `Link`"),
        ("q" = Option<String>, Query, max_length = 120,
            description = "Only titles containing this text (case-insensitive; `%` and `_` literal)"),
    ),
    responses(
        (status = OK, description = "The page; each parameter at most once", body = [TicketDetails],
            headers(("Link" = String,
                description = "`</api/tickets?limit=N&cursor=C[&q=…]>; rel=\"next\"` while another page follows"))),
        (status = BAD_REQUEST, description = "A bad `limit`, `cursor` or `q`, or one given twice (`field` names it)", body = ErrorBody),
    )
)]
pub async fn list_tickets(
    State(state): State<TicketsState>,
    uri: Uri,
) -> Result<(HeaderMap, Json<Vec<TicketDetails>>), ApiError> {
    let query = PageQuery::parse(&listing::query_pairs(&uri)?)?;
    // One row more than asked for tells whether another page follows.
    let mut rows = store::for_sale(
        &state.read,
        query.cursor.as_ref(),
        query.q.as_ref(),
        u64::from(query.limit.get()) + 1,
    )
    .await?;
    let headers = listing::page(&mut rows, query.limit, |last| {
        query.next_link(&last.cursor())
    })?;
    Ok((
        headers,
        Json(rows.into_iter().map(TicketDetails::from).collect()),
    ))
}
