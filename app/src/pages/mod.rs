//! The app's pages.
mod admin;
mod auth;
mod home;
mod orders;
mod tickets;

use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_location;

use crate::error::ServiceError;

pub use admin::AdminUsers;
pub use auth::{SignIn, SignOut, SignUp};
pub use home::{HowItWorks, Landing, NotFound};
pub use orders::{OrderDetails, Orders};
pub use tickets::{EditTicket, NewTicket, TicketDetails};

/// A load that failed: "not found" (answered with 404 on the server) or the API's messages.
#[component]
fn LoadError(
    error: ServiceError,
    /// What was being loaded, capitalised: "Ticket".
    what: &'static str,
) -> impl IntoView {
    if error.is_not_found() {
        set_status_not_found();
        view! {
            <div class="empty-state">
                <h1>{format!("{what} not found")}</h1>
                <p>"It may have been removed, or the address is wrong."</p>
                <A href="/" attr:class="button">
                    "Back to the start"
                </A>
            </div>
        }
        .into_any()
    } else {
        view! { <ErrorMessages error /> }.into_any()
    }
}

/// Every message of a failed call.
#[component]
fn ErrorMessages(error: ServiceError) -> impl IntoView {
    view! {
        <div class="form-error" role="alert">
            {error.messages().into_iter().map(|m| view! { <p>{m}</p> }).collect_view()}
        </div>
    }
}

/// What a visitor sees where a signed-in user would act; signing in comes back here.
#[component]
fn SignInPrompt(message: &'static str) -> impl IntoView {
    let location = use_location();
    let query = location.search.get_untracked();
    let here = match query.trim_start_matches('?') {
        "" => location.pathname.get_untracked(),
        query => format!("{}?{query}", location.pathname.get_untracked()),
    };
    let href = format!("/auth/signin?next={}", common::wire::percent_encode(&here));
    view! {
        <div class="empty-state">
            <p>{message}</p>
            <A href=href attr:class="button">
                "Sign in"
            </A>
        </div>
    }
}

/// Answers 404 when rendering on the server; nothing in the browser.
fn set_status_not_found() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
}
