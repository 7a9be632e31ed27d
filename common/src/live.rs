//! The live channel: what travels on the web tier's WebSocket (`GET /live`) between a
//! hydrated page and the web process that serves it. JSON text frames, one message each.
//!
//! The page says what it shows ([`ClientMessage::Watch`]); the server pushes the ticket
//! events of what it watches and the order events of the signed-in viewer's own orders
//! ([`ServerMessage`]). A message says *what changed*; a page that needs more than the
//! message carries refetches through its server function, as it does after a reconnect.
use serde::{Deserialize, Serialize};

use crate::events::OrderStatus;
use crate::money::Money;

/// The path of the WebSocket endpoint, on the site's own origin.
pub const PATH: &str = "/live";

/// What a page watches. Order events need no topic: a signed-in socket always gets its
/// owner's.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "topic", content = "id", rename_all = "camelCase")]
pub enum Topic {
    /// Every ticket event: the listing.
    Listing,
    /// The events of one ticket (its page).
    Ticket(String),
}

/// From the page to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ClientMessage {
    /// Replaces the set of topics the socket watches (the page navigated).
    Watch {
        /// The topics, at most [`MAX_TOPICS`].
        topics: Vec<Topic>,
    },
}

/// The most topics one socket may watch; more is refused (the socket is closed).
pub const MAX_TOPICS: usize = 64;

/// From the server to the page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum ServerMessage {
    /// A ticket was listed (`ticket:created`) or changed (`ticket:updated`: edited, reserved,
    /// released, sold, withdrawn). Sent to sockets watching the listing or this ticket.
    Ticket(TicketChange),
    /// One of the viewer's orders changed. Sent only to its buyer's sockets.
    Order(OrderChange),
    /// The viewer's sign-in ended (banned): the page drops what it shows of them and
    /// reloads as a visitor. The server closes the socket after it.
    SignedOut,
}

/// A ticket as its latest event left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TicketChange {
    /// The ticket's id.
    pub id: String,
    /// Its version after the change: a page ignores a change not newer than what it shows.
    pub version: i64,
    /// Its title.
    pub title: String,
    /// Its price.
    pub price: Money,
    /// The seller's user id.
    pub user_id: String,
    /// The order holding or having bought it; absent while it is for sale.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Taken off the market (its seller was banned).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub withdrawn: bool,
}

impl TicketChange {
    /// Whether the listing shows it: free and not withdrawn.
    pub fn is_for_sale(&self) -> bool {
        self.order_id.is_none() && !self.withdrawn
    }
}

/// An order as its latest event left it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderChange {
    /// The order's id.
    pub id: String,
    /// Its version after the change.
    pub version: i64,
    /// Where it stands now (`created`, `cancelled`, `complete`).
    pub status: OrderStatus,
    /// The ticket it is for.
    pub ticket_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_have_a_stable_wire_shape() {
        let watch = ClientMessage::Watch {
            topics: vec![Topic::Listing, Topic::Ticket("t1".into())],
        };
        assert_eq!(
            serde_json::to_value(&watch).expect("serializes"),
            serde_json::json!({"type":"watch","topics":[{"topic":"listing"},{"topic":"ticket","id":"t1"}]})
        );
        assert_eq!(
            serde_json::to_value(ServerMessage::SignedOut).expect("serializes"),
            serde_json::json!({"type":"signedOut"})
        );
        let order = ServerMessage::Order(OrderChange {
            id: "o1".into(),
            version: 1,
            status: OrderStatus::Complete,
            ticket_id: "t1".into(),
        });
        assert_eq!(
            serde_json::to_value(order).expect("serializes"),
            serde_json::json!({"type":"order","id":"o1","version":1,"status":"complete","ticketId":"t1"})
        );
    }
}
