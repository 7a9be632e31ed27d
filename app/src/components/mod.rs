//! Pieces shared by the pages.
mod auth_form;
mod layout;

pub use auth_form::{AuthForm, AuthMode};
pub use layout::{Footer, Header};
