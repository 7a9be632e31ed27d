use axum::extract::State;
use axum::http::StatusCode;
use common::auth::RequireAuth;
use common::dto::{CreatePaymentBody, ErrorBody, PaymentCreatedResponse};
use common::{ApiError, Json};

use crate::domain::PayRequest;
use crate::{charge, PaymentsState};

/// Charges the caller for their order: 201 `{id}` once the money is captured.
#[utoipa::path(
    post,
    path = "/api/payments",
    operation_id = "createPayment",
    tag = "payments",
    summary = "Pay for one of the caller's live orders; its ticket is sold to them",
    request_body = CreatePaymentBody,
    security(("session" = [])),
    responses(
        (status = CREATED, description = "Paid: the money is captured; the order becomes `complete` a moment later", body = PaymentCreatedResponse),
        (status = BAD_REQUEST, description = "`orderId` / `token`; `Cannot pay for a cancelled order`; `Order has expired`; `Order is already paid`; `A payment for this order is in progress`; an unknown card token", body = ErrorBody),
        (status = UNAUTHORIZED, description = "Not signed in, or someone else's order", body = ErrorBody),
        (status = PAYMENT_REQUIRED, description = "The card was declined: the provider's message; the buyer may try again", body = ErrorBody),
        (status = NOT_FOUND, description = "No such order", body = ErrorBody),
        (status = SERVICE_UNAVAILABLE, description = "The payment provider did not answer; nothing was charged (or the hold was released)", body = ErrorBody),
    )
)]
#[tracing::instrument(name = "payments.create", skip_all, fields(user.id = %user.id))]
pub async fn create_payment(
    State(state): State<PaymentsState>,
    RequireAuth(user): RequireAuth,
    Json(body): Json<CreatePaymentBody>,
) -> Result<(StatusCode, Json<PaymentCreatedResponse>), ApiError> {
    let request = PayRequest::try_from(body)?;
    let payment = charge::pay(&state, &user.id, request).await?;
    Ok((
        StatusCode::CREATED,
        Json(PaymentCreatedResponse { id: payment.id }),
    ))
}
