//! Wire types shared by the services and the web app's API client.
use serde::{Deserialize, Serialize};

/// One entry of the error envelope `{"errors":[{"message","field"?}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ErrorItem {
    /// What is wrong, in words a user can read (`"Title is required"`).
    pub message: String,
    /// The request field it concerns, as spelled in the body (`"ticketId"`); absent when the
    /// error is about the request as a whole.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorItem {
    /// An error about the request as a whole.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: None,
        }
    }

    /// An error about one field of the request body or query (`field` as the client spells it).
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            field: Some(field.into()),
        }
    }
}

/// The one error shape every endpoint answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Every problem found, so a form can show them all at once; never empty.
    pub errors: Vec<ErrorItem>,
}

/// `POST /api/users/signup` and `/signin`. Missing fields default to empty so that they are
/// reported as field errors rather than as a malformed body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct Credentials {
    /// The account's email address, as typed.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(required = true, format = Email, example = "fan@example.com"))]
    pub email: String,
    /// The password in clear text (4 to 20 characters); auth keeps only its hash.
    #[serde(default)]
    #[cfg_attr(
        feature = "server",
        schema(required = true, min_length = 4, max_length = 20)
    )]
    pub password: String,
}

/// A user as the API shows it: what sign-up, sign-in and refresh answer with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct User {
    /// The user's id (a UUID): the `userId` on their tickets and orders.
    pub id: String,
    /// The email address they signed up with.
    pub email: String,
}

/// The signed-in user as `GET /api/users/currentuser` shows it: the access token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct SignedInUser {
    /// The signed-in user's id (a UUID), from the token's `id` claim.
    pub id: String,
    /// The signed-in user's email address, as the token carries it.
    pub email: String,
    /// When the access token was issued, in seconds since the Unix epoch.
    pub iat: i64,
    /// When the access token expires, in seconds since the Unix epoch.
    pub exp: i64,
    /// Whether the user is an admin (`ADMIN_EMAILS`); absent from older answers.
    #[serde(default, rename = "isAdmin")]
    pub is_admin: bool,
}

/// `POST /api/users/:id/ban`'s body: why (one line, 1 to 500 characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct BanBody {
    /// The admin's reason, kept with the ban and sent with `user:banned`.
    #[cfg_attr(feature = "server", schema(min_length = 1, max_length = 500))]
    pub reason: String,
}

/// A user as the admin API shows it: who, and whether (since when, why) they are banned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AdminUser {
    /// The user's id (a UUID).
    pub id: String,
    /// Their email address.
    pub email: String,
    /// When they were banned (ISO-8601, UTC); null while they are not.
    pub banned_at: Option<String>,
    /// The admin's reason for the ban; null while they are not banned.
    pub ban_reason: Option<String>,
}

/// `GET /api/users?email=`: the users found, by email, at most [`ADMIN_USERS_PAGE`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct AdminUsers {
    /// The users whose email contains the search.
    pub users: Vec<AdminUser>,
}

/// The most users `GET /api/users` answers with.
pub const ADMIN_USERS_PAGE: u64 = 50;

/// What `GET /api/users/currentuser` answers with: `{"currentUser": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CurrentUserResponse {
    /// The signed-in user; null for a visitor without a valid access token.
    pub current_user: Option<SignedInUser>,
}

/// Status for a request whose access token has expired: refresh and retry.
pub const STATUS_TOKEN_EXPIRED: u16 = 498;
/// Status for a refresh whose refresh session has expired or was revoked: sign in again.
pub const STATUS_SESSION_EXPIRED: u16 = 499;

/// A ticket as the API shows it; `orderId` while it is reserved and once it is sold,
/// `reservedUntil` (ISO-8601, UTC) while a buyer holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Ticket {
    /// The ticket's id (a UUID), as in `/api/tickets/:id`.
    pub id: String,
    /// What the ticket is for, as its seller typed it (trimmed, at most 120 characters).
    pub title: String,
    /// The asking price.
    pub price: crate::money::Money,
    /// The seller's user id.
    pub user_id: String,
    /// Bumped by every change (edit, reservation, release), as in `ticket:updated`.
    pub version: i64,
    /// The order holding the ticket or that bought it; absent while it is available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    /// Available, reserved, sold or withdrawn; read as available when absent.
    #[serde(default)]
    pub status: TicketStatus,
    /// When the holder's reservation ends (ISO-8601, UTC), while it is reserved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reserved_until: Option<String>,
}

/// Where a ticket stands: on the market, held by a buyer who is paying, paid for, or
/// withdrawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum TicketStatus {
    /// Nobody holds it: it can be ordered, and its seller can edit it.
    #[default]
    Available,
    /// A live order holds it until `reservedUntil`; others can't order it meanwhile.
    Reserved,
    /// Its order was paid; it stays with the buyer.
    Sold,
    /// Taken off the market when its seller was banned, until the seller relists it
    /// (`POST /api/tickets/:id/relist`). A buyer already holding it may still pay.
    Withdrawn,
}

/// `POST /api/tickets` and `PUT /api/tickets/:id`. Fields stay loose JSON so that a wrong
/// type is reported against its field rather than as a malformed body.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "server",
    derive(utoipa::ToSchema),
    schema(description = "A ticket as its seller lists or edits it")
)]
pub struct TicketBody {
    /// The title: a non-empty single line of text, at most 120 characters.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = String, required = true, min_length = 1, max_length = 120, example = "Glastonbury Saturday"))]
    pub title: serde_json::Value,
    /// The price: a number or decimal string above 0 with at most two decimals.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = f64, required = true, exclusive_minimum = 0, maximum = 100000, multiple_of = 0.01, example = 45.5))]
    pub price: serde_json::Value,
}

/// `POST /api/tickets` and `PUT /api/tickets/:id` as the tickets service reads them:
/// [`TicketBody`]'s title and price, and optionally the event and the seat. Loose JSON, so a
/// wrong type is reported against its field.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "server",
    derive(utoipa::ToSchema),
    schema(
        description = "A ticket as its seller lists or edits it: what, how much, for which event and seat"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct TicketRequest {
    /// The title: a non-empty single line of text, at most 120 characters.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = String, required = true, min_length = 1, max_length = 120, example = "Glastonbury Saturday"))]
    pub title: serde_json::Value,
    /// The price: a number or decimal string above 0 with at most two decimals.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = f64, required = true, exclusive_minimum = 0, maximum = 100000, multiple_of = 0.01, example = 45.5))]
    pub price: serde_json::Value,
    /// The event the ticket is for (an id from `/api/events`), which must not have started.
    /// Absent on a new listing: the placeholder event `Earlier listings`; absent on an edit:
    /// the ticket stays where it is.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<String>))]
    pub event_id: Option<serde_json::Value>,
    /// The section (one line, at most 20 characters); on an edit absent keeps it, `""` clears it.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, max_length = 20, example = "Stalls"))]
    pub section: Option<serde_json::Value>,
    /// The row, like `section`.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, max_length = 20, example = "F"))]
    pub row: Option<serde_json::Value>,
    /// The seat, like `section`.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, max_length = 20, example = "12"))]
    pub seat: Option<serde_json::Value>,
}

/// A ticket as the tickets service shows it: [`Ticket`]'s fields, the event it is for, and
/// its seat where the seller gave one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TicketDetails {
    /// The ticket's own fields, at the same level as the rest.
    #[serde(flatten)]
    pub ticket: Ticket,
    /// The event the ticket is for (`/api/events/:id`); listings older than events belong to
    /// the placeholder event `Earlier listings`.
    pub event_id: String,
    /// The section, when the seller gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub section: Option<String>,
    /// The row, when the seller gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row: Option<String>,
    /// The seat, when the seller gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seat: Option<String>,
}

/// `POST /api/events`. Loose JSON, so a wrong type is a field error.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "server",
    derive(utoipa::ToSchema),
    schema(description = "An event: what, where, when")
)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    /// The event's name: one line, 1 to 120 characters.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = String, required = true, min_length = 1, max_length = 120, example = "Glastonbury Saturday"))]
    pub name: serde_json::Value,
    /// The venue: one line, 1 to 120 characters.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = String, required = true, min_length = 1, max_length = 120, example = "Worthy Farm"))]
    pub venue: serde_json::Value,
    /// The city: one line, 1 to 120 characters.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = String, required = true, min_length = 1, max_length = 120, example = "Pilton"))]
    pub city: serde_json::Value,
    /// When it starts: RFC 3339 with an offset, in the future.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = String, required = true, format = DateTime, example = "2030-06-28T19:30:00+01:00"))]
    pub starts_at: serde_json::Value,
    /// The IANA time zone it is shown in.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = String, required = true, example = "Europe/London"))]
    pub time_zone: serde_json::Value,
    /// What the organizer says about it: at most 2000 characters, lines allowed.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = Option<String>, max_length = 2000))]
    pub description: Option<serde_json::Value>,
}

/// An event as the API shows it, with what is for sale for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// The event's id (a UUID), as in `/api/events/:id`.
    pub id: String,
    /// What it is called.
    pub name: String,
    /// Where it takes place.
    pub venue: String,
    /// The venue's city.
    pub city: String,
    /// When it starts (ISO-8601, UTC, milliseconds); null only for the placeholder event
    /// `Earlier listings`, which never starts.
    pub starts_at: Option<String>,
    /// The same instant in the event's own zone (RFC 3339 with that zone's offset then).
    pub starts_at_local: Option<String>,
    /// The IANA time zone it is shown in (`Europe/London`).
    pub time_zone: String,
    /// What the organizer says about it; absent when nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The user who created it.
    pub created_by: String,
    /// When it was created (ISO-8601, UTC).
    pub created_at: String,
    /// How many of its tickets are for sale now.
    pub tickets_for_sale: u64,
    /// The cheapest of them; null when none is for sale.
    pub lowest_price: Option<crate::money::Money>,
}

/// The ticket embedded in an order: the orders service's replica of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct OrderTicketView {
    /// The ticket's id, as in `/api/tickets/:id`.
    pub id: String,
    /// The ticket's title, as the orders service's replica last heard it.
    pub title: String,
    /// The ticket's price: what paying for the order charges.
    pub price: crate::money::Money,
    /// The replica's version of the ticket (the last `ticket:*` event applied).
    pub version: i64,
}

/// An order as the API shows it (`POST /api/orders`, `GET /api/orders`, `GET /api/orders/:id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// The order's id (a UUID), as in `/api/orders/:id`.
    pub id: String,
    /// Where the order stands: live (`created`) until it is paid or cancelled.
    pub status: crate::events::OrderStatus,
    /// The buyer's user id.
    pub user_id: String,
    /// When the order stops holding its ticket unless paid (ISO-8601, UTC, milliseconds).
    pub expires_at: String,
    /// The ticket ordered.
    pub ticket: OrderTicketView,
    /// The order's version: 0 when placed, one more when it ended, as in its events.
    pub version: i64,
}

/// `POST /api/orders`. Loose JSON so a wrong type is a field error.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "server",
    derive(utoipa::ToSchema),
    schema(description = "The ticket to reserve")
)]
#[serde(rename_all = "camelCase")]
pub struct CreateOrderBody {
    /// The id of the ticket to reserve: a non-empty string.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = String, required = true, min_length = 1))]
    pub ticket_id: serde_json::Value,
}

/// `POST /api/payments`. Loose JSON so a wrong type is a field error.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[cfg_attr(
    feature = "server",
    derive(utoipa::ToSchema),
    schema(description = "The order to pay, and the card to pay with")
)]
#[serde(rename_all = "camelCase")]
pub struct CreatePaymentBody {
    /// The id of the order to pay: a non-empty string.
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = String, required = true, min_length = 1))]
    pub order_id: serde_json::Value,
    /// The card: a Stripe token or payment method id (`tok_visa`, `pm_card_visa` in test mode).
    #[serde(default)]
    #[cfg_attr(feature = "server", schema(value_type = String, required = true, min_length = 1, example = "tok_visa"))]
    pub token: serde_json::Value,
}

/// What `POST /api/payments` answers with (201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
pub struct PaymentCreatedResponse {
    /// The new payment's id, as `GET /api/payments?orderId=…` lists it.
    pub id: String,
}

/// Where a payment is in its life. `authorizing` and `capturing` are in flight; `captured`
/// is the only state in which the buyer has paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum PaymentStatus {
    /// Asking the provider for a hold on the card; no money has moved yet.
    Authorizing,
    /// The hold is granted and the order claimed; capturing the held amount.
    Capturing,
    /// Paid: the money is taken and `payment:created` published.
    Captured,
    /// Was captured, then given back (its order ended cancelled, or a refund at the provider).
    Refunded,
    /// The provider declined the card; the buyer may try again.
    Declined,
    /// A hold was released uncaptured (the order was no longer payable).
    Voided,
    /// Authorizing or capturing failed at the provider, or it held nothing; no money was taken.
    Failed,
}

impl PaymentStatus {
    /// Every status, for turning a stored one back into a value ([`PaymentStatus::parse`]).
    pub const ALL: [PaymentStatus; 7] = [
        Self::Authorizing,
        Self::Capturing,
        Self::Captured,
        Self::Refunded,
        Self::Declined,
        Self::Voided,
        Self::Failed,
    ];

    /// The wire and SQL spelling (`authorizing`).
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

    /// The status spelled `name` (a stored column); None if it is none of these.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

/// A payment as `GET /api/payments?orderId=…` lists it (the receipt), oldest first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "server", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The payment's id (a UUID).
    pub id: String,
    /// The order it pays for.
    pub order_id: String,
    /// What is charged: the order's ticket price.
    pub amount: crate::money::Money,
    /// ISO 4217 code, lowercase as Stripe writes it (`usd`).
    pub currency: String,
    /// Where the payment is in its life; only `captured` means paid.
    pub status: PaymentStatus,
    /// The provider's id for the charge (a PaymentIntent id); absent until it answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stripe_id: Option<String>,
    /// When the payment was started (ISO-8601, UTC).
    pub created_at: String,
}
