//! The events the services exchange: each type knows its subject; payloads follow the course
//! app's fields, with `version` on every ticket and order event.
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

/// An event as it travels (the bus carries it, an outbox row stores it): its id is the event
/// id, the key duplicates are dropped by; its payload is the event's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub id: String,
    pub subject: Subject,
    pub payload: Vec<u8>,
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
    /// ISO-8601, UTC.
    pub expires_at: String,
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
}
