//! Pieces shared by the pages.
mod auth_form;
mod countdown;
mod errors;
mod layout;
mod ticket_form;

pub use auth_form::{AuthForm, AuthMode};
pub use countdown::Countdown;
pub use errors::{form_errors, FormError};
pub use layout::{Footer, Header};
pub use ticket_form::TicketForm;
