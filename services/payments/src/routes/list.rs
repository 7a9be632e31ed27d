use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use common::auth::RequireAuth;
use common::dto::{ErrorBody, Payment};
use common::{ApiError, Json};

use crate::domain::could_exist;
use crate::{store, PaymentsState};

/// The payments of one of the caller's orders, oldest first (the receipt).
#[utoipa::path(
    get,
    path = "/api/payments",
    operation_id = "listPayments",
    tag = "payments",
    summary = "The payments of one of the caller's orders, oldest first (the receipt)",
    params(("orderId" = String, Query, description = "The order's id")),
    security(("session" = [])),
    responses(
        (status = OK, description = "Its payments; only a `captured` one means paid", body = [Payment]),
        (status = BAD_REQUEST, description = "`orderId` missing, empty or given twice", body = ErrorBody),
        (status = UNAUTHORIZED, description = "Not signed in, or someone else's order", body = ErrorBody),
        (status = NOT_FOUND, description = "No such order", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "payments.list", skip_all, fields(user.id = %user.id))]
pub async fn list_payments(
    State(state): State<PaymentsState>,
    RequireAuth(user): RequireAuth,
    query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Vec<Payment>>, ApiError> {
    let order_id = match query {
        Ok(Query(pairs)) => {
            let mut ids = pairs
                .into_iter()
                .filter(|(k, _)| k == "orderId")
                .map(|(_, v)| v);
            match (ids.next(), ids.next()) {
                (Some(id), None) if !id.trim().is_empty() => id.trim().to_owned(),
                _ => return Err(ApiError::field("orderId", "OrderId must be provided once")),
            }
        }
        Err(_) => return Err(ApiError::field("orderId", "OrderId must be provided once")),
    };
    if !could_exist(&order_id) {
        return Err(ApiError::NotFound);
    }
    let order = store::find_order(&state.db, &order_id)
        .await?
        .ok_or(ApiError::NotFound)?;
    if order.user_id != user.id {
        return Err(ApiError::NotAuthorized);
    }
    let payments = store::payments_for(&state.db, &order.id).await?;
    Ok(Json(
        payments.iter().map(store::PaymentRecord::view).collect(),
    ))
}
