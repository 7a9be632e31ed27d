//! Parsed payment requests: which order to pay and with what card token.
use common::dto::{CreatePaymentBody, ErrorItem};
use common::ApiError;

pub use common::http::could_exist;

/// Longer than any token or payment method id Stripe hands out.
const MAX_TOKEN: usize = 255;

/// A request to pay: both fields present. Whether the order exists is the replica's business,
/// whether the token is a card the provider's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayRequest {
    pub order_id: String,
    pub token: String,
}

impl TryFrom<CreatePaymentBody> for PayRequest {
    type Error = ApiError;

    fn try_from(body: CreatePaymentBody) -> Result<Self, ApiError> {
        let order_id = provided(&body.order_id);
        let token = provided(&body.token);
        let mut errors = Vec::new();
        if order_id.is_none() {
            errors.push(ErrorItem::field("orderId", "OrderId must be provided"));
        }
        match token {
            None => errors.push(ErrorItem::field("token", "Token must be provided")),
            Some(t) if t.len() > MAX_TOKEN || !t.bytes().all(|b| b.is_ascii_graphic()) => {
                errors.push(ErrorItem::field("token", "Token is not a valid card token"))
            }
            Some(_) => {}
        }
        match (order_id, token) {
            (Some(order_id), Some(token)) if errors.is_empty() => Ok(Self {
                order_id: order_id.to_owned(),
                token: token.to_owned(),
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

fn provided(value: &serde_json::Value) -> Option<&str> {
    value.as_str().map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(
        order_id: serde_json::Value,
        token: serde_json::Value,
    ) -> Result<PayRequest, ApiError> {
        PayRequest::try_from(CreatePaymentBody { order_id, token })
    }

    fn fields(result: Result<PayRequest, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(items)) => items.into_iter().filter_map(|i| i.field).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn both_fields_present_make_a_request() {
        let request = parse(json!(" o1 "), json!("tok_visa")).expect("valid");
        assert_eq!(
            (request.order_id.as_str(), request.token.as_str()),
            ("o1", "tok_visa")
        );
    }

    #[test]
    fn every_missing_or_empty_field_is_reported() {
        assert_eq!(
            fields(parse(json!(null), json!(null))),
            ["orderId", "token"]
        );
        assert_eq!(fields(parse(json!(""), json!("tok_visa"))), ["orderId"]);
        assert_eq!(fields(parse(json!("o1"), json!("  "))), ["token"]);
        assert_eq!(
            fields(parse(json!(7), json!(["tok"]))),
            ["orderId", "token"]
        );
    }

    #[test]
    fn a_token_that_no_provider_could_issue_is_a_field_error() {
        assert_eq!(
            fields(parse(json!("o1"), json!("x".repeat(300)))),
            ["token"]
        );
        assert_eq!(fields(parse(json!("o1"), json!("tok visa"))), ["token"]);
    }
}
