//! Wire types shared by the services and the web app's API client.
use serde::{Deserialize, Serialize};

/// One entry of the error envelope `{"errors":[{"message","field"?}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorItem {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorItem {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: None,
        }
    }

    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

/// The one error shape every endpoint answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub errors: Vec<ErrorItem>,
}

/// `POST /api/users/signup` and `/signin`. Missing fields default to empty so that they are
/// reported as field errors rather than as a malformed body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Credentials {
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub password: String,
}

/// A user as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub email: String,
}

/// The signed-in user as `GET /api/users/currentuser` shows it: the access token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedInUser {
    pub id: String,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CurrentUserResponse {
    pub current_user: Option<SignedInUser>,
}

/// Status for a request whose access token has expired: refresh and retry.
pub const STATUS_TOKEN_EXPIRED: u16 = 498;
/// Status for a refresh whose refresh session has expired or was revoked: sign in again.
pub const STATUS_SESSION_EXPIRED: u16 = 499;

/// A ticket as the API shows it; `orderId` while it is reserved and once it is sold,
/// `reservedUntil` (ISO-8601, UTC) while a buyer holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    pub id: String,
    pub title: String,
    pub price: crate::money::Money,
    pub user_id: String,
    pub version: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(default)]
    pub status: TicketStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_until: Option<String>,
}

/// Where a ticket stands: on the market, held by a buyer who is paying, or paid for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    #[default]
    Available,
    Reserved,
    Sold,
}

/// `POST /api/tickets` and `PUT /api/tickets/:id`. Fields stay loose JSON so that a wrong
/// type is reported against its field rather than as a malformed body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct TicketBody {
    #[serde(default)]
    pub title: serde_json::Value,
    #[serde(default)]
    pub price: serde_json::Value,
}

/// The ticket embedded in an order: the orders service's replica of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderTicketView {
    pub id: String,
    pub title: String,
    pub price: crate::money::Money,
    pub version: i64,
}

/// An order as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub id: String,
    pub status: crate::events::OrderStatus,
    pub user_id: String,
    /// ISO-8601, UTC.
    pub expires_at: String,
    pub ticket: OrderTicketView,
    pub version: i64,
}

/// `POST /api/orders`. Loose JSON so a wrong type is a field error.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrderBody {
    #[serde(default)]
    pub ticket_id: serde_json::Value,
}

/// `POST /api/payments`. Loose JSON so a wrong type is a field error.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreatePaymentBody {
    #[serde(default)]
    pub order_id: serde_json::Value,
    #[serde(default)]
    pub token: serde_json::Value,
}

/// What `POST /api/payments` answers with (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentCreatedResponse {
    pub id: String,
}

/// Where a payment is in its life. `authorizing` and `capturing` are in flight; `captured`
/// is the only state in which the buyer has paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    Authorizing,
    Capturing,
    Captured,
    Refunded,
    Declined,
    Voided,
    Failed,
}

impl PaymentStatus {
    pub const ALL: [PaymentStatus; 7] = [
        Self::Authorizing,
        Self::Capturing,
        Self::Captured,
        Self::Refunded,
        Self::Declined,
        Self::Voided,
        Self::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Authorizing => "authorizing",
            Self::Capturing => "capturing",
            Self::Captured => "captured",
            Self::Refunded => "refunded",
            Self::Declined => "declined",
            Self::Voided => "voided",
            Self::Failed => "failed",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A payment as `GET /api/payments?orderId=…` shows it (the receipt).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    pub id: String,
    pub order_id: String,
    pub amount: crate::money::Money,
    pub currency: String,
    pub status: PaymentStatus,
    /// The provider's id for the charge (a PaymentIntent id); absent until it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_id: Option<String>,
    /// ISO-8601, UTC.
    pub created_at: String,
}
