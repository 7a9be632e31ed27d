use axum::extract::State;
use axum::http::StatusCode;
use common::auth::RequireAuth;
use common::dto::{CreateOrderBody, Order};
use common::events::{OrderCancelled, OrderCreated, OrderTicket, TicketRef};
use common::money::Money;
use common::{outbox, ApiError, Json};
use sea_orm::TransactionTrait;

use crate::domain::{self, TicketId};
use crate::{store, OrdersState};

pub const ALREADY_RESERVED: &str = "Ticket is already reserved";

/// Reserves a ticket for the caller for the expiration window. The unique index on live
/// orders decides races: of concurrent buyers exactly one insert succeeds.
#[tracing::instrument(name = "orders.create", skip_all, fields(user.id = %user.id))]
pub async fn reserve(
    State(state): State<OrdersState>,
    RequireAuth(user): RequireAuth,
    Json(body): Json<CreateOrderBody>,
) -> Result<(StatusCode, Json<Order>), ApiError> {
    let ticket_id = TicketId::try_from(body)?;
    if !domain::could_exist(ticket_id.as_str())
        || store::find_ticket(&state.read, ticket_id.as_str())
            .await?
            .is_none()
    {
        return Err(ApiError::NotFound);
    }
    let window =
        chrono::Duration::from_std(state.expiration_window).map_err(anyhow::Error::from)?;
    let expires_at = chrono::DateTime::from_timestamp_millis(chrono::Utc::now().timestamp_millis())
        .ok_or_else(|| anyhow::anyhow!("the clock is out of range"))?
        + window;

    // A write comes first so that, on SQLite, the transaction waits for the write lock
    // instead of failing on a read snapshot gone stale. An order whose window has closed no
    // longer holds the ticket, even if its expiry event is still on the way: it is cancelled
    // here, in the same transaction, and its `order:cancelled` leaves before our
    // `order:created`.
    let txn = state.db.begin().await?;
    for lapsed in store::cancel_lapsed(&txn, ticket_id.as_str(), chrono::Utc::now()).await? {
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
    let order = match store::insert_order(&txn, &user.id, ticket_id.as_str(), expires_at).await {
        Ok(order) => order,
        Err(err) if common::db::violates(&err, store::ONE_LIVE_PER_TICKET) => {
            return Err(ApiError::bad_request(ALREADY_RESERVED))
        }
        Err(err) => return Err(err.into()),
    };
    let ticket = store::find_ticket(&txn, &order.ticket_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    let event = OrderCreated {
        id: order.id.clone(),
        version: order.version,
        status: order.status,
        user_id: order.user_id.clone(),
        expires_at: store::iso8601(order.expires_at),
        ticket: OrderTicket {
            id: ticket.id.clone(),
            price: Money::from_cents(ticket.price_cents),
        },
    };
    outbox::enqueue(&txn, &event).await?;
    txn.commit().await?;
    state.relay.poke();
    tracing::info!(order.id = %order.id, ticket.id = %ticket.id, "ticket reserved");
    Ok((StatusCode::CREATED, Json(order.view(&ticket))))
}
