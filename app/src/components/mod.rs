//! The pieces pages are made of, one concern per file: the header and footer (`layout`),
//! forms and how they show errors (`auth_form`, `ticket_form`, `errors`), and an order's
//! parts (`countdown`, `order`, `payment`). A component lives here once it is more than a
//! page's own markup; the pages in `crate::pages` compose them.
mod auth_form;
mod countdown;
mod errors;
mod layout;
mod order;
mod payment;
mod ticket_form;

pub use auth_form::{AuthForm, AuthMode};
pub use countdown::Countdown;
pub use errors::{form_errors, FormError};
pub use layout::{Footer, Header};
pub use order::{CancelButton, Expired, StatusPill};
pub use payment::{PayForm, Receipt, ReceiptLine, StripeMode, TEST_CARDS};
pub use ticket_form::TicketForm;
