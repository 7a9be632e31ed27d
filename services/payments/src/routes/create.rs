use axum::extract::State;
use axum::http::StatusCode;
use common::auth::RequireAuth;
use common::dto::{CreatePaymentBody, PaymentCreatedResponse};
use common::{ApiError, Json};

use crate::domain::PayRequest;
use crate::{charge, PaymentsState};

/// Charges the caller for their order: 201 `{id}` once the money is captured.
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
