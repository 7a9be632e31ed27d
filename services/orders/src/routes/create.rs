use axum::extract::State;
use axum::http::StatusCode;
use common::auth::RequireAuth;
use common::dto::{CreateOrderBody, Order};
use common::events::{OrderCancelled, TicketRef};
use common::{outbox, ApiError, Json};
use sea_orm::TransactionTrait;

use crate::domain::{self, TicketId};
use crate::written::{self, Reserved};
use crate::{store, OrdersState};

pub const ALREADY_RESERVED: &str = "Ticket is already reserved";
pub const OWN_TICKET: &str = "You cannot buy your own ticket";

/// Reserves a ticket for the caller for the expiration window, in one write job on SQLite
/// (one transaction on PostgreSQL). The unique index on live orders decides races: of
/// concurrent buyers exactly one insert succeeds.
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
            }
        }
        None => {
            let reserved =
                reserve_in_transaction(&state, &user.id, ticket_id.as_str(), expires_at).await?;
            state.relay.poke();
            reserved
        }
    };
    tracing::info!(order.id = %order.id, ticket.id = %ticket.id, "ticket reserved");
    Ok((StatusCode::CREATED, Json(order.view(&ticket))))
}

/// [`reserve`] through sea-orm (PostgreSQL): the same steps as [`written::reserve`].
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
    if ticket.is_sold_by(user_id) {
        return Err(ApiError::bad_request(OWN_TICKET));
    }
    for lapsed in store::cancel_lapsed(&txn, ticket_id, chrono::Utc::now()).await? {
        tracing::info!(order.id = %lapsed.id, "cancelled a lapsed order to reserve its ticket again");
        outbox::enqueue(
            &txn,
            &OrderCancelled {
                id: lapsed.id.clone(),
                version: lapsed.version,
                ticket: TicketRef {
                    id: lapsed.ticket_id.clone(),
                },
            },
        )
        .await?;
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
    txn.commit().await?;
    Ok((order, ticket))
}
