//! Parsed order requests: the id of the ticket a buyer wants to reserve, and ids in paths.
use common::dto::CreateOrderBody;
use common::ApiError;

pub use common::http::could_exist;

/// A ticket id that was provided. Whether such a ticket exists is the replica's business.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketId(String);

impl TicketId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<CreateOrderBody> for TicketId {
    type Error = ApiError;

    fn try_from(body: CreateOrderBody) -> Result<Self, ApiError> {
        match body.ticket_id.as_str().map(str::trim) {
            Some(id) if !id.is_empty() => Ok(Self(id.to_owned())),
            _ => Err(ApiError::field("ticketId", "TicketId must be provided")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(value: serde_json::Value) -> Result<TicketId, ApiError> {
        TicketId::try_from(CreateOrderBody { ticket_id: value })
    }

    #[test]
    fn a_non_empty_string_is_a_ticket_id() {
        assert_eq!(parse(json!(" abc ")).expect("valid").as_str(), "abc");
    }

    #[test]
    fn missing_empty_or_non_string_ids_are_field_errors() {
        for value in [
            json!(null),
            json!(""),
            json!("   "),
            json!(42),
            json!(["a"]),
        ] {
            assert!(
                matches!(parse(value.clone()), Err(ApiError::Validation(_))),
                "{value}"
            );
        }
    }
}
