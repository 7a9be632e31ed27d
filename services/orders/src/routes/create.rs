use axum::extract::State;
use axum::http::StatusCode;
use common::auth::RequireAuth;
use common::dto::{CreateOrderBody, Order};
use common::events::{OrderCreated, OrderTicket};
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
        || store::find_ticket(&state.db, ticket_id.as_str())
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

    // The insert comes first so that, on SQLite, the transaction waits for the write lock
    // instead of failing on a read snapshot gone stale.
    let txn = state.db.begin().await?;
    let order = match store::insert_order(&txn, &user.id, ticket_id.as_str(), expires_at).await {
        Ok(order) => order,
        Err(err) if common::db::is_unique_violation(&err) => {
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
