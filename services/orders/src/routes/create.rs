use axum::extract::State;
use axum::http::StatusCode;
use common::auth::RequireAuth;
use common::dto::{CreateOrderBody, ErrorBody, Order};
use common::{outbox, ApiError, Json};
use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::domain::{self, TicketId};
use crate::store::Placed;
use crate::written::{self, Reserved};
use crate::{store, OrdersState};

pub const ALREADY_RESERVED: &str = "Ticket is already reserved";
pub const OWN_TICKET: &str = "You cannot buy your own ticket";
pub const WITHDRAWN: &str = "Ticket has been withdrawn from sale";

/// Reserves a ticket for the caller for the expiration window, in one write job on SQLite
/// (one transaction on PostgreSQL). The unique index on live orders decides races: of
/// concurrent buyers exactly one insert succeeds.
#[utoipa::path(
    post,
    path = "/api/orders",
    operation_id = "createOrder",
    tag = "orders",
    summary = "Reserve a ticket for the expiration window (15 minutes by default)",
    request_body = CreateOrderBody,
    security(("session" = [])),
    responses(
        (status = CREATED, description = "The order, `created`, holding its ticket until `expiresAt`", body = Order),
        (status = BAD_REQUEST, description = "`ticketId`; `Ticket is already reserved`; `You cannot buy your own ticket`; `Ticket has been withdrawn from sale`", body = ErrorBody),
        (status = NOT_FOUND, description = "No such ticket", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "orders.create", skip_all, fields(user.id = %user.id))]
pub async fn reserve(
    State(state): State<OrdersState>,
    RequireAuth(user): RequireAuth,
    Json(body): Json<CreateOrderBody>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    let ticket_id = TicketId::try_from(body)?;
    if !domain::could_exist(ticket_id.as_str()) {
        return Err(ApiError::NotFound);
    }
    let window =
        chrono::Duration::from_std(state.expiration_window).map_err(anyhow::Error::from)?;
    let expires_at = chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis())
        .ok_or_else(|| anyhow::anyhow!("the clock is out of range"))?
        + window;
    let (order, ticket) = match &state.writer {
        Some(writer) => {
            let (user_id, ticket_id) = (user.id.clone(), ticket_id.as_str().to_owned());
            let reserved = writer
                .write(move |tx| written::reserve(tx, &user_id, &ticket_id, expires_at))
                .await?;
            match reserved {
                Reserved::Order(order, ticket) => (order, ticket),
                Reserved::NoTicket => return Err(ApiError::NotFound),
                Reserved::Taken => return Err(ApiError::bad_request(ALREADY_RESERVED)),
                Reserved::OwnTicket => return Err(ApiError::bad_request(OWN_TICKET)),
                Reserved::Withdrawn => return Err(ApiError::bad_request(WITHDRAWN)),
            }
        }
        None if state.db.get_database_backend() == sea_orm::DbBackend::Postgres => {
            reserve_placed(&state, &user.id, ticket_id.as_str(), expires_at).await?
        }
        None => reserve_in_transaction(&state, &user.id, ticket_id.as_str(), expires_at).await?,
    };
    tracing::info!(order.id = %order.id, ticket.id = %ticket.id, "ticket reserved");
    Ok((StatusCode::CREATED, Json(order.view(&ticket))))
}

/// How often a reservation reads the ticket again when the replica changed under it (another
/// buyer's reservation reached it, or a new price) before it gives up as contested.
const PLACE_ATTEMPTS: usize = 3;

/// [`reserve`] on PostgreSQL: the ticket read, then the order and its `order:created` row in
/// one statement — two round trips, no transaction, the event handed to the relay at once.
/// Only when a live order holds the ticket does a transaction look for a lapsed one to cancel.
async fn reserve_placed(
    state: &OrdersState,
    user_id: &str,
    ticket_id: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<(store::OrderRecord, store::TicketRow), ApiError> {
    for _ in 0..PLACE_ATTEMPTS {
        let ticket = store::find_ticket(&state.db, ticket_id)
            .await?
            .ok_or(ApiError::NotFound)?;
        // The insert below is guarded by this version, so a withdrawal landing meanwhile
        // makes it read the ticket again.
        if ticket.withdrawn {
            return Err(ApiError::bad_request(WITHDRAWN));
        }
        if ticket.is_sold_by(user_id) {
            return Err(ApiError::bad_request(OWN_TICKET));
        }
        let order = store::OrderRecord::new(user_id, ticket_id, expires_at);
        let created = outbox::message(&order.created_event(&ticket))?;
        let now = chrono::Utc::now();
        match store::place_order(&state.db, &order, ticket.version, &created, now).await? {
            Placed::Inserted => state.relay.committed(vec![created]),
            Placed::Changed => continue,
            Placed::Taken => {
                if !replace_lapsed(state, &order, &ticket, created).await? {
                    continue;
                }
            }
        }
        return Ok((order, ticket));
    }
    Err(ApiError::bad_request(ALREADY_RESERVED))
}

/// The ticket is held: if the holder's window has closed (its expiry event may still be on
/// the way, but the timestamp decides), cancels it and places `order` in one transaction, the
/// `order:cancelled` before the `order:created`, both handed to the relay once committed; false
/// when the ticket changed meanwhile (read it again).
async fn replace_lapsed(
    state: &OrdersState,
    order: &store::OrderRecord,
    ticket: &store::TicketRow,
    created: common::bus::Message,
) -> Result<bool, ApiError> {
    let txn = state.db.begin().await?;
    let lapsed = store::cancel_lapsed(&txn, &ticket.id, chrono::Utc::now()).await?;
    if lapsed.is_empty() {
        return Err(ApiError::bad_request(ALREADY_RESERVED));
    }
    let mut staged = Vec::with_capacity(lapsed.len() + 1);
    for lapsed in lapsed {
        tracing::info!(order.id = %lapsed.id, "cancelled a lapsed order to reserve its ticket again");
        staged.push(outbox::stage(&txn, &lapsed.cancelled_event()).await?);
    }
    match store::place_order(&txn, order, ticket.version, &created, chrono::Utc::now()).await? {
        Placed::Inserted => {}
        // Rolled back as `txn` drops.
        Placed::Taken => return Err(ApiError::bad_request(ALREADY_RESERVED)),
        Placed::Changed => return Ok(false),
    }
    staged.push(created);
    state.relay.commit_with(txn, staged, false).await?;
    Ok(true)
}

/// [`reserve`] through sea-orm on a backend other than PostgreSQL without a writer thread:
/// the same steps as [`written::reserve`].
async fn reserve_in_transaction(
    state: &OrdersState,
    user_id: &str,
    ticket_id: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> Result<(store::OrderRecord, store::TicketRow), ApiError> {
    // An order whose window has closed no longer holds the ticket, even if its expiry event
    // is still on the way: it is cancelled here, in the same transaction, and its
    // `order:cancelled` leaves before our `order:created`.
    let txn = state.db.begin().await?;
    let ticket = store::find_ticket(&txn, ticket_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if ticket.withdrawn {
        return Err(ApiError::bad_request(WITHDRAWN));
    }
    if ticket.is_sold_by(user_id) {
        return Err(ApiError::bad_request(OWN_TICKET));
    }
    for lapsed in store::cancel_lapsed(&txn, ticket_id, chrono::Utc::now()).await? {
        tracing::info!(order.id = %lapsed.id, "cancelled a lapsed order to reserve its ticket again");
        outbox::enqueue(&txn, &lapsed.cancelled_event()).await?;
    }
    let order = match store::insert_order(&txn, user_id, ticket_id, expires_at).await {
        Ok(order) => order,
        Err(err) if common::db::violates(&err, store::ONE_LIVE_PER_TICKET) => {
            return Err(ApiError::bad_request(ALREADY_RESERVED))
        }
        Err(err) => return Err(err.into()),
    };
    let event = order.created_event(&ticket);
    outbox::enqueue(&txn, &event).await?;
    state.relay.commit(txn).await?;
    Ok((order, ticket))
}
