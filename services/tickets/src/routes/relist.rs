//! `POST /api/tickets/:id/relist`: the seller puts a withdrawn ticket back on the market.
use axum::extract::State;
use common::auth::RequireAuth;
use common::dto::{ErrorBody, TicketDetails};
use common::extract::Path;
use common::{outbox, ApiError, Json};
use sea_orm::TransactionTrait;

use crate::written::{self, Relisted};
use crate::{store, TicketsState};

pub const NOT_WITHDRAWN: &str = "Only a withdrawn ticket can be relisted";
pub const NOT_SELLER: &str = "Only the ticket's seller can relist it";

/// Clears the withdrawal (version + 1) and announces it with `ticket:updated`; the ticket is
/// for sale again unless a buyer still holds it.
#[utoipa::path(
    post,
    path = "/api/tickets/{id}/relist",
    operation_id = "relistTicket",
    tag = "tickets",
    summary = "Put a withdrawn ticket back on the market (its seller only)",
    params(("id" = String, Path, description = "The ticket's id")),
    security(("session" = [])),
    responses(
        (status = OK, description = "The ticket, version + 1, for sale again unless a buyer still holds it", body = TicketDetails),
        (status = BAD_REQUEST, description = "`Only a withdrawn ticket can be relisted`", body = ErrorBody),
        (status = FORBIDDEN, description = "`Only the ticket's seller can relist it`, or the account is suspended", body = ErrorBody),
        (status = NOT_FOUND, description = "No such ticket", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "tickets.relist", skip_all, fields(ticket.id = %id, user.id = %user.id))]
pub async fn relist_ticket(
    State(state): State<TicketsState>,
    RequireAuth(user): RequireAuth,
    Path(id): Path<String>,
) -> Result<Json<TicketDetails>, ApiError> {
    if !common::http::could_exist(&id) {
        return Err(ApiError::NotFound);
    }
    if let Some(writer) = &state.writer {
        let user_id = user.id.clone();
        let relisted = writer
            .write(move |tx| written::relist(tx, &id, &user_id))
            .await?;
        return match relisted {
            Relisted::Done(row) => Ok(Json((*row).into())),
            Relisted::NotFound => Err(ApiError::NotFound),
            Relisted::NotOwner => Err(ApiError::Forbidden(NOT_SELLER.into())),
            Relisted::NotWithdrawn => Err(ApiError::bad_request(NOT_WITHDRAWN)),
        };
    }
    let current = store::find(&state.db, &id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if current.user_id != user.id {
        return Err(ApiError::Forbidden(NOT_SELLER.into()));
    }
    if current.withdrawn_at.is_none() {
        return Err(ApiError::bad_request(NOT_WITHDRAWN));
    }
    let txn = state.db.begin().await?;
    let Some(relisted) = store::relist(&txn, &current).await? else {
        // Reserved, released or relisted between our read and our write.
        return Err(ApiError::bad_request(
            "The ticket changed meanwhile; reload and try again",
        ));
    };
    outbox::enqueue(&txn, &relisted.updated_event()).await?;
    state.relay.commit(txn).await?;
    tracing::info!("ticket relisted");
    Ok(Json(relisted.into()))
}
