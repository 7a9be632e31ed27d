//! The events the services exchange: each type knows its subject; payloads follow the course
//! app's fields, with `version` on every ticket and order event.
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::money::Money;

/// Where an event is published. The wire names are the course app's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Subject {
    #[serde(rename = "ticket:created")]
    TicketCreated,
    #[serde(rename = "ticket:updated")]
    TicketUpdated,
    #[serde(rename = "order:created")]
    OrderCreated,
    #[serde(rename = "order:cancelled")]
    OrderCancelled,
    #[serde(rename = "order:completed")]
    OrderCompleted,
    #[serde(rename = "expiration:complete")]
    ExpirationComplete,
    #[serde(rename = "payment:created")]
    PaymentCreated,
    #[serde(rename = "payment:refunded")]
    PaymentRefunded,
    #[serde(rename = "user:banned")]
    UserBanned,
}

impl Subject {
    pub const ALL: [Subject; 9] = [
        Self::TicketCreated,
        Self::TicketUpdated,
        Self::OrderCreated,
        Self::OrderCancelled,
        Self::OrderCompleted,
        Self::ExpirationComplete,
        Self::PaymentCreated,
        Self::PaymentRefunded,
        Self::UserBanned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::TicketCreated => "ticket:created",
            Self::TicketUpdated => "ticket:updated",
            Self::OrderCreated => "order:created",
            Self::OrderCancelled => "order:cancelled",
            Self::OrderCompleted => "order:completed",
            Self::ExpirationComplete => "expiration:complete",
            Self::PaymentCreated => "payment:created",
            Self::PaymentRefunded => "payment:refunded",
            Self::UserBanned => "user:banned",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for Subject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A typed event payload that knows its subject.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    const SUBJECT: Subject;
}

/// Order statuses as they appear on the wire and in SQL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    #[serde(rename = "created")]
    Created,
    #[serde(rename = "awaiting:payment")]
    AwaitingPayment,
    #[serde(rename = "cancelled")]
    Cancelled,
    #[serde(rename = "complete")]
    Complete,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::AwaitingPayment => "awaiting:payment",
            Self::Cancelled => "cancelled",
            Self::Complete => "complete",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Created,
            Self::AwaitingPayment,
            Self::Cancelled,
            Self::Complete,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketCreated {
    pub id: String,
    pub version: i64,
    pub title: String,
    pub price: Money,
    pub user_id: String,
}

impl Event for TicketCreated {
    const SUBJECT: Subject = Subject::TicketCreated;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketUpdated {
    pub id: String,
    pub version: i64,
    pub title: String,
    pub price: Money,
    pub user_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
}

impl Event for TicketUpdated {
    const SUBJECT: Subject = Subject::TicketUpdated;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTicket {
    pub id: String,
    pub price: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    pub id: String,
    pub version: i64,
    pub status: OrderStatus,
    pub user_id: String,
    /// When the reservation lapses; on the wire as [`timestamp`] writes it.
    #[serde(with = "timestamp")]
    pub expires_at: DateTime<Utc>,
    pub ticket: OrderTicket,
}

impl Event for OrderCreated {
    const SUBJECT: Subject = Subject::OrderCreated;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRef {
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    pub id: String,
    pub version: i64,
    pub ticket: TicketRef,
}

impl Event for OrderCancelled {
    const SUBJECT: Subject = Subject::OrderCancelled;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCompleted {
    pub id: String,
    pub version: i64,
    pub ticket: TicketRef,
}

impl Event for OrderCompleted {
    const SUBJECT: Subject = Subject::OrderCompleted;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationComplete {
    pub order_id: String,
}

impl Event for ExpirationComplete {
    const SUBJECT: Subject = Subject::ExpirationComplete;
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentCreated {
    pub id: String,
    pub order_id: String,
    pub stripe_id: String,
}

impl Event for PaymentCreated {
    const SUBJECT: Subject = Subject::PaymentCreated;
}

/// A captured payment was given back (its order ended cancelled, or it was refunded at the
/// provider); `amount` is what was refunded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRefunded {
    pub id: String,
    pub order_id: String,
    pub stripe_id: String,
    pub amount: Money,
}

impl Event for PaymentRefunded {
    const SUBJECT: Subject = Subject::PaymentRefunded;
}

/// Instants as events carry them: RFC 3339 in UTC with milliseconds and a `Z`
/// (`2026-01-01T12:00:00.000Z`, as JavaScript's `toISOString` writes them); read back from
/// any RFC 3339 offset. For `#[serde(with = "timestamp")]`.
pub mod timestamp {
    use chrono::{DateTime, SecondsFormat, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    /// `at` as the wire writes it (below a millisecond is cut off).
    pub fn format(at: &DateTime<Utc>) -> String {
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// An RFC 3339 instant, in UTC.
    pub fn parse(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
        DateTime::parse_from_rfc3339(text).map(|at| at.with_timezone(&Utc))
    }

    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(at))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(|err| {
            serde::de::Error::custom(format!("a malformed timestamp {text:?}: {err}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_round_trip_through_their_wire_names() {
        for subject in Subject::ALL {
            assert_eq!(Subject::parse(subject.as_str()), Some(subject));
            assert_eq!(
                serde_json::to_string(&subject).expect("serializes"),
                format!("\"{subject}\"")
            );
        }
    }

    #[test]
    fn a_ticket_updated_payload_has_the_course_fields() {
        let event = TicketUpdated {
            id: "t1".into(),
            version: 2,
            title: "concert".into(),
            price: Money::from_cents(2050),
            user_id: "u1".into(),
            order_id: None,
        };
        let json = serde_json::to_value(&event).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"id":"t1","version":2,"title":"concert","price":20.5,"userId":"u1"})
        );
    }

    fn order_created(expires_at: DateTime<Utc>) -> OrderCreated {
        OrderCreated {
            id: "o1".into(),
            version: 0,
            status: OrderStatus::Created,
            user_id: "u1".into(),
            expires_at,
            ticket: OrderTicket {
                id: "t1".into(),
                price: Money::from_cents(2050),
            },
        }
    }

    /// The bytes other services (and the course app's) read: milliseconds and a `Z`.
    #[test]
    fn an_order_created_carries_expires_at_as_rfc_3339_with_milliseconds() {
        let at = DateTime::from_timestamp_millis(1_767_268_800_250).expect("in range");
        let wire = serde_json::to_string(&order_created(at)).expect("serializes");
        assert_eq!(
            wire,
            r#"{"id":"o1","version":0,"status":"created","userId":"u1","expiresAt":"2026-01-01T12:00:00.250Z","ticket":{"id":"t1","price":20.5}}"#
        );
        let read: OrderCreated = serde_json::from_str(&wire).expect("deserializes");
        assert_eq!(read.expires_at, at);
        let whole = DateTime::from_timestamp(1_767_268_800, 0).expect("in range");
        assert_eq!(timestamp::format(&whole), "2026-01-01T12:00:00.000Z");
    }

    #[test]
    fn expires_at_is_read_from_any_rfc_3339_offset_and_nothing_else() {
        let at = |text: &str| {
            let mut json =
                serde_json::to_value(order_created(DateTime::UNIX_EPOCH)).expect("serializes");
            json["expiresAt"] = serde_json::Value::from(text);
            serde_json::from_value::<OrderCreated>(json).map(|e| e.expires_at)
        };
        let noon = DateTime::from_timestamp(1_767_268_800, 0).expect("in range");
        assert_eq!(at("2026-01-01T12:00:00Z").expect("parses"), noon);
        assert_eq!(at("2026-01-01T13:00:00+01:00").expect("parses"), noon);
        let err = at("next tuesday").expect_err("not a timestamp");
        assert!(err.to_string().contains("next tuesday"), "{err}");
    }
}
