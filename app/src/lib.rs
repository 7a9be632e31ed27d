//! Ticketing's web app: rendered on the server, hydrated in the browser.
//!
//! `functions` holds the server functions (the only way pages reach data) and `error` what
//! they fail with; `api` is the HTTP client they call the services with (server only),
//! `transport` the one the browser calls them with; `flash` carries a no-JavaScript form's
//! errors across its redirect, `viewer` who is looking at the page (signed in or not),
//! `live` the socket that tells a hydrated page what changed; `pages` compose the views of
//! `components`.
#![forbid(unsafe_code)]

#[cfg(feature = "ssr")]
pub mod api;
mod assets;
mod components;
pub mod error;
mod flash;
mod format;
pub mod functions;
mod live;
mod pages;
pub mod transport;
mod viewer;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

pub use components::StripeMode;
use components::{Footer, Header};
#[cfg(feature = "ssr")]
pub use flash::FlashKey;
use pages::{
    AdminUsers, EditTicket, HowItWorks, Landing, NewTicket, NotFound, OrderDetails, Orders, SignIn,
    SignOut, SignUp, TicketDetails,
};
pub use viewer::Viewer;

/// How long a reservation lasts, in seconds (`EXPIRATION_WINDOW_SECONDS`), provided by the
/// server; the browser learns it from the page.
#[derive(Debug, Clone, Copy)]
pub struct ReservationWindow(pub u64);

/// The reservation window in words, read on the server and carried to the browser with the
/// page so hydration renders the same text.
fn reservation_window() -> String {
    let seconds =
        SharedValue::new(|| use_context::<ReservationWindow>().map_or(900, |w| w.0)).into_inner();
    format::format_duration(seconds)
}

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let stylesheet = assets::stylesheet_href(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="description" content="Ticketing: buy and sell tickets safely." />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" id="leptos" href=stylesheet />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    provide_context(Viewer::new());
    // One socket per tab, opened once hydrated; the pages say what they show.
    provide_context(live::Live::new());
    // Effects only run in the browser: this marks the page as hydrated (tests wait on it).
    Effect::new(|_| mark_hydrated());

    // Async: the server waits for data before answering, so pages read fine without JS
    // and cookies refreshed during rendering reach the browser.
    view! {
        <Title formatter=page_title />
        <Router>
            <div class="page">
                <Header />
                <main class="container">
                    <Routes fallback=|| view! { <NotFound /> }>
                        <Route path=path!("/") view=Landing ssr=SsrMode::Async />
                        <Route path=path!("/how-it-works") view=HowItWorks ssr=SsrMode::Async />
                        <Route path=path!("/auth/signup") view=SignUp ssr=SsrMode::Async />
                        <Route path=path!("/auth/signin") view=SignIn ssr=SsrMode::Async />
                        <Route path=path!("/auth/signout") view=SignOut ssr=SsrMode::Async />
                        <Route path=path!("/tickets/new") view=NewTicket ssr=SsrMode::Async />
                        <Route path=path!("/tickets/:id") view=TicketDetails ssr=SsrMode::Async />
                        <Route path=path!("/tickets/:id/edit") view=EditTicket ssr=SsrMode::Async />
                        <Route path=path!("/orders") view=Orders ssr=SsrMode::Async />
                        <Route path=path!("/orders/:id") view=OrderDetails ssr=SsrMode::Async />
                        <Route path=path!("/admin/users") view=AdminUsers ssr=SsrMode::Async />
                    </Routes>
                </main>
                <Footer />
            </div>
        </Router>
    }
}

/// The document title. leptos_meta writes it into the server's HTML as it is, so the
/// server escapes it (the browser sets `document.title`, which is text, from the raw value).
fn page_title(page: String) -> String {
    let title = if page.is_empty() {
        "Ticketing".to_owned()
    } else {
        format!("{page} · Ticketing")
    };
    if cfg!(feature = "ssr") {
        format::escape_html(&title)
    } else {
        title
    }
}

fn mark_hydrated() {
    #[cfg(feature = "hydrate")]
    if let Some(body) = document().body() {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}
