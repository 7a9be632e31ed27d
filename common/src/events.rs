//! The events the services exchange: each type knows its subject; payloads follow the course
//! app's fields, with `version` on every ticket and order event.
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::money::Money;

/// Where an event is published: the name a bus routes it by and the outbox stores it under.
/// The wire names are the course app's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Subject {
    /// `ticket:created`, carrying [`TicketCreated`]: tickets → orders.
    #[serde(rename = "ticket:created")]
    TicketCreated,
    /// `ticket:updated`, carrying [`TicketUpdated`]: tickets → orders.
    #[serde(rename = "ticket:updated")]
    TicketUpdated,
    /// `order:created`, carrying [`OrderCreated`]: orders → tickets, expiration, payments.
    #[serde(rename = "order:created")]
    OrderCreated,
    /// `order:cancelled`, carrying [`OrderCancelled`]: orders → tickets, payments.
    #[serde(rename = "order:cancelled")]
    OrderCancelled,
    /// `order:completed`, carrying [`OrderCompleted`]: orders → tickets, payments.
    #[serde(rename = "order:completed")]
    OrderCompleted,
    /// `expiration:complete`, carrying [`ExpirationComplete`]: expiration → orders.
    #[serde(rename = "expiration:complete")]
    ExpirationComplete,
    /// `payment:created`, carrying [`PaymentCreated`]: payments → orders.
    #[serde(rename = "payment:created")]
    PaymentCreated,
    /// `payment:refunded`, carrying [`PaymentRefunded`]: payments → nobody yet (operators).
    #[serde(rename = "payment:refunded")]
    PaymentRefunded,
    /// `user:banned`, carrying [`UserBanned`]: auth → every service and the web tier.
    #[serde(rename = "user:banned")]
    UserBanned,
    /// `user:unbanned`, carrying [`UserUnbanned`]: auth → every service and the web tier.
    #[serde(rename = "user:unbanned")]
    UserUnbanned,
    /// `event:created`, carrying [`EventCreated`]: tickets → nobody yet (the services that
    /// will show events subscribe to it).
    #[serde(rename = "event:created")]
    EventCreated,
}

impl Subject {
    /// Every subject, for turning a stored or received name back into one ([`Subject::parse`]).
    pub const ALL: [Subject; 11] = [
        Self::TicketCreated,
        Self::TicketUpdated,
        Self::OrderCreated,
        Self::OrderCancelled,
        Self::OrderCompleted,
        Self::ExpirationComplete,
        Self::PaymentCreated,
        Self::PaymentRefunded,
        Self::UserBanned,
        Self::UserUnbanned,
        Self::EventCreated,
    ];

    /// The wire name (`ticket:created`), as in JSON, NATS subjects and outbox rows.
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
            Self::UserUnbanned => "user:unbanned",
            Self::EventCreated => "event:created",
        }
    }

    /// The subject with wire name `name` (from an outbox row or a NATS subject); None if unknown.
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
/// id, the key duplicates are dropped by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The event id (a UUID given when it entered the outbox); JetStream's `Nats-Msg-Id`.
    pub id: String,
    /// Which event it is, and so which groups receive it.
    pub subject: Subject,
    /// The event serialized as JSON.
    pub payload: Vec<u8>,
}

/// A typed event payload that knows its subject: what the outbox enqueues and a listener
/// decodes, so publisher and consumer can't disagree on where it travels.
pub trait Event: Serialize + DeserializeOwned + Send + Sync + 'static {
    /// The subject every event of this type is published on.
    const SUBJECT: Subject;
}

/// Where an order stands, as on the wire (events, API) and in the orders and payments
/// services' SQL. `created` and `awaiting:payment` are live (the order holds its ticket);
/// `cancelled` and `complete` are final.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub enum OrderStatus {
    /// Placed and holding its ticket until `expiresAt`, not paid yet: every new order.
    #[serde(rename = "created")]
    Created,
    /// The course app's live status while a payment is under way; nothing here sets it, but
    /// every service treats it as live like `created`.
    #[serde(rename = "awaiting:payment")]
    AwaitingPayment,
    /// Ended without a sale (by its buyer, by expiry or by a newer buyer after it lapsed); the
    /// ticket is released and a captured payment refunded.
    #[serde(rename = "cancelled")]
    Cancelled,
    /// Paid: the ticket is sold to the buyer.
    #[serde(rename = "complete")]
    Complete,
}

impl OrderStatus {
    /// The wire and SQL spelling (`awaiting:payment`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::AwaitingPayment => "awaiting:payment",
            Self::Cancelled => "cancelled",
            Self::Complete => "complete",
        }
    }

    /// The status spelled `name` (a stored column); None if it is none of the four.
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

/// A seller listed a ticket. Published by tickets (`POST /api/tickets`); orders adds it to
/// its replica of tickets so buyers can order it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketCreated {
    /// The ticket's id (a UUID), as in its URL.
    pub id: String,
    /// Always 0: the first version; each later change is announced by a [`TicketUpdated`].
    pub version: i64,
    /// What the ticket is for, as the seller typed it.
    pub title: String,
    /// The asking price, which an order for it is charged.
    pub price: Money,
    /// The seller's user id; orders refuses a seller's order for their own ticket.
    pub user_id: String,
}

impl Event for TicketCreated {
    const SUBJECT: Subject = Subject::TicketCreated;
}

/// A ticket changed: its seller edited it, or an order reserved or released it. Published by
/// tickets; orders applies it to its replica, in version order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketUpdated {
    /// The ticket's id (a UUID), as in its URL.
    pub id: String,
    /// The ticket's version after this change: consumers apply versions in order, each only
    /// on top of the one before (an older one is a duplicate, a newer one waits).
    pub version: i64,
    /// The title after this change.
    pub title: String,
    /// The price after this change.
    pub price: Money,
    /// The seller's user id (never changes).
    pub user_id: String,
    /// The order holding or having bought the ticket; absent while it is free.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Taken off the market (its seller was banned) until the seller relists it: nobody can
    /// order it meanwhile. Absent (false) otherwise.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub withdrawn: bool,
}

impl Event for TicketUpdated {
    const SUBJECT: Subject = Subject::TicketUpdated;
}

/// A seller created an event (a show at a venue and a time) that listings can belong to.
/// Published by tickets (`POST /api/events`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventCreated {
    /// The event's id (a UUID), as in `/api/events/:id`.
    pub id: String,
    /// What the event is called.
    pub name: String,
    /// Where it takes place.
    pub venue: String,
    /// The venue's city.
    pub city: String,
    /// When it starts (RFC 3339, UTC, milliseconds).
    #[serde(with = "timestamp")]
    pub starts_at: DateTime<Utc>,
    /// The IANA time zone it is shown in (`Europe/London`).
    pub time_zone: String,
    /// What the organizer says about it; absent when nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The user who created it.
    pub created_by: String,
}

impl Event for EventCreated {
    const SUBJECT: Subject = Subject::EventCreated;
}

/// The ticket an [`OrderCreated`] is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTicket {
    /// The ticket's id; tickets reserves this ticket for the order.
    pub id: String,
    /// The ticket's price when the order was placed: what payments charges for the order.
    pub price: Money,
}

/// A buyer placed an order (`POST /api/orders`). Published by orders; tickets reserves the
/// ticket until `expiresAt`, expiration schedules the order's expiry, payments keeps a replica
/// of the order to charge it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCreated {
    /// The order's id (a UUID), as in its URL.
    pub id: String,
    /// Always 0: the first version; its end (cancelled or completed) is the next.
    pub version: i64,
    /// Always `created`.
    pub status: OrderStatus,
    /// The buyer's user id; only they may pay for the order.
    pub user_id: String,
    /// When the order stops holding the ticket unless paid; on the wire as [`timestamp`]
    /// writes it (`2026-01-01T12:00:00.000Z`). The timestamp is the truth, whether or not the
    /// expiry event has arrived.
    #[serde(with = "timestamp")]
    pub expires_at: DateTime<Utc>,
    /// The ticket ordered and its price.
    pub ticket: OrderTicket,
}

impl Event for OrderCreated {
    const SUBJECT: Subject = Subject::OrderCreated;
}

/// The ticket an ended order was for (in [`OrderCancelled`] and [`OrderCompleted`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketRef {
    /// The ticket's id.
    pub id: String,
}

/// An order ended without a sale: its buyer cancelled it, it expired, or a newer buyer's order
/// found it lapsed. Published by orders; tickets releases the ticket, payments marks its
/// replica cancelled and refunds a captured charge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCancelled {
    /// The cancelled order's id.
    pub id: String,
    /// The order's version after cancelling (one more than in its `order:created`): payments
    /// applies it only on top of the version before.
    pub version: i64,
    /// The ticket to release, if this order still holds it.
    pub ticket: TicketRef,
    /// The buyer's user id (who the live pages tell). Empty in events published before it
    /// was carried.
    #[serde(default, rename = "userId", skip_serializing_if = "String::is_empty")]
    pub user_id: String,
}

impl Event for OrderCancelled {
    const SUBJECT: Subject = Subject::OrderCancelled;
}

/// An order was paid. Published by orders on [`PaymentCreated`]; tickets marks the ticket
/// sold, payments marks its replica complete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCompleted {
    /// The completed order's id.
    pub id: String,
    /// The order's version after completing (one more than in its `order:created`): payments
    /// applies it only on top of the version before.
    pub version: i64,
    /// The ticket now sold to the buyer.
    pub ticket: TicketRef,
    /// The buyer's user id (who the live pages tell). Empty in events published before it
    /// was carried.
    #[serde(default, rename = "userId", skip_serializing_if = "String::is_empty")]
    pub user_id: String,
}

impl Event for OrderCompleted {
    const SUBJECT: Subject = Subject::OrderCompleted;
}

/// An order's reservation window has closed. Published by expiration at the order's
/// `expiresAt`; orders cancels the order unless it is complete (and waits if it came early).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExpirationComplete {
    /// The order whose window closed.
    pub order_id: String,
}

impl Event for ExpirationComplete {
    const SUBJECT: Subject = Subject::ExpirationComplete;
}

/// A payment was captured: the buyer has paid. Published by payments; orders completes the
/// order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentCreated {
    /// The payment's id (a UUID), as `GET /api/payments` shows it.
    pub id: String,
    /// The order paid for.
    pub order_id: String,
    /// The provider's id for the charge: a Stripe PaymentIntent id (`pi_…`; `pi_test_…` in
    /// test mode).
    pub stripe_id: String,
}

impl Event for PaymentCreated {
    const SUBJECT: Subject = Subject::PaymentCreated;
}

/// A captured payment was given back (its order ended cancelled, or it was refunded at the
/// provider). Published by payments; no service consumes it yet (it is for operators and a
/// future notification service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRefunded {
    /// The refunded payment's id.
    pub id: String,
    /// The order it paid for.
    pub order_id: String,
    /// The provider's id for the charge (a Stripe PaymentIntent id, `pi_…`).
    pub stripe_id: String,
    /// What was given back: the payment's whole amount.
    pub amount: Money,
}

impl Event for PaymentRefunded {
    const SUBJECT: Subject = Subject::PaymentRefunded;
}

/// An admin banned a user. Published by auth; every service refuses the user's access tokens
/// from then on, orders cancels their live orders, tickets withdraws their tickets for sale,
/// and the web tier signs their open pages out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserBanned {
    /// The banned user's id.
    pub user_id: String,
    /// Why, as the admin wrote it (for operators; never shown to other users).
    pub reason: String,
}

impl Event for UserBanned {
    const SUBJECT: Subject = Subject::UserBanned;
}

/// An admin lifted a user's ban. Published by auth; the services accept the user's tokens
/// again (their withdrawn tickets stay withdrawn until relisted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserUnbanned {
    /// The user's id.
    pub user_id: String,
}

impl Event for UserUnbanned {
    const SUBJECT: Subject = Subject::UserUnbanned;
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

    /// Writes `at` as [`format()`] does: serde's half of `#[serde(with = "timestamp")]`.
    pub fn serialize<S: Serializer>(at: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(at))
    }

    /// Reads an instant as [`parse()`] does, refusing a malformed one: serde's other half.
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
            withdrawn: false,
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
