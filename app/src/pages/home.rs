//! The landing page, the explanation of how buying works, and the page for unknown addresses.
use common::dto::Ticket;
use common::wire::percent_encode;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

use super::{set_status_not_found, ErrorMessages};
use crate::format::format_money;
use crate::functions::{list_tickets, TicketPage};
use crate::Viewer;

#[component]
pub fn Landing() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let signed_in = move || viewer.signed_in().is_some();
    view! {
        <Title text="" />
        <section class="hero">
            <h1>"Buy and sell tickets, safely"</h1>
            <p class="lead">
                "List the tickets you can't use. Buy the ones you want. When you start a purchase the
                ticket is held for you alone while you pay, so it is never sold twice."
            </p>
            <Transition fallback=|| ()>
                <div class="hero-actions">
                    {move || {
                        if signed_in() {
                            view! {
                                <A href="/how-it-works" attr:class="button">
                                    "See how it works"
                                </A>
                            }
                                .into_any()
                        } else {
                            view! {
                                <A href="/auth/signup" attr:class="button">
                                    "Get started"
                                </A>
                                <A href="/how-it-works" attr:class="button secondary">
                                    "How it works"
                                </A>
                            }
                                .into_any()
                        }
                    }}
                </div>
            </Transition>
        </section>
        <TicketsForSale />
        <section class="features">
            <div class="card feature">
                <h3>"Held while you pay"</h3>
                <p>
                    {format!(
                        "Starting a purchase reserves the ticket for {}. Nobody else can buy it meanwhile.",
                        crate::reservation_window(),
                    )}
                </p>
            </div>
            <div class="card feature">
                <h3>"Never sold twice"</h3>
                <p>"One ticket, one buyer: the marketplace guarantees it even when many people click at once."</p>
            </div>
            <div class="card feature">
                <h3>"Fair to sellers"</h3>
                <p>"Set your price and edit it any time the ticket isn't reserved."</p>
            </div>
        </section>
    }
}

/// One page of the tickets nobody has reserved, newest first, optionally filtered by title
/// (`?q=`); `?after=` continues after the previous page. Plain links and a GET form, so
/// searching and paging work the same with and without JavaScript.
#[component]
fn TicketsForSale() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let signed_in = move || viewer.signed_in().is_some();
    let query = use_query_map();
    let search = move || query.read().get("q").unwrap_or_default();
    let after = move || query.read().get("after");
    let tickets = Resource::new(
        move || (search(), after()),
        |(q, cursor)| async move {
            let q = (!q.trim().is_empty()).then_some(q);
            list_tickets(q, cursor).await
        },
    );
    view! {
        <section class="for-sale" aria-labelledby="for-sale-heading">
            <div class="section-head">
                <h2 id="for-sale-heading">"Tickets for sale"</h2>
                <Transition fallback=|| ()>
                    {move || {
                        signed_in()
                            .then(|| {
                                view! {
                                    <A href="/tickets/new" attr:class="button">
                                        "Sell a ticket"
                                    </A>
                                }
                            })
                    }}
                </Transition>
            </div>
            <Form
                method="GET"
                action="/"
                on_form_data=std::sync::Arc::new(drop_unnamed)
                attr:class="search"
                attr:role="search"
            >
                <label for="q" class="visually-hidden">
                    "Search tickets"
                </label>
                <input
                    id="q"
                    name="q"
                    type="search"
                    maxlength="120"
                    placeholder="Search by title"
                    value=search
                    prop:value=search
                />
                <button type="submit" class="button secondary">
                    "Search"
                </button>
            </Form>
            <Transition fallback=|| view! { <p class="loading"></p> }>
                {move || {
                    tickets
                        .get()
                        .map(|result| match result {
                            Ok(page) => view! { <TicketList page search=search() after=after() /> }.into_any(),
                            Err(error) => view! { <ErrorMessages error /> }.into_any(),
                        })
                }}
            </Transition>
        </section>
    }
}

/// The router's form adds the submit button's pair even when the button has no name, which
/// would end the address in `&=`.
fn drop_unnamed(data: &web_sys::FormData) {
    data.delete("");
}

#[component]
fn TicketList(page: TicketPage, search: String, after: Option<String>) -> impl IntoView {
    let filter = if search.trim().is_empty() {
        String::new()
    } else {
        format!("q={}&", percent_encode(search.trim()))
    };
    if page.tickets.is_empty() {
        let message = match (after.is_some(), filter.is_empty()) {
            (true, _) => "No more tickets.",
            (false, true) => "No tickets are for sale right now.",
            (false, false) => "No tickets match your search.",
        };
        return view! {
            <div class="empty-state">
                <p>{message}</p>
            </div>
        }
        .into_any();
    }
    let first = format!("/?{}", filter.trim_end_matches('&'));
    let more = page
        .next
        .map(|cursor| format!("/?{filter}after={}", percent_encode(&cursor)));
    view! {
        <ul class="ticket-list">
            {page.tickets.into_iter().map(|ticket| view! { <TicketCard ticket /> }).collect_view()}
        </ul>
        <nav class="pager" aria-label="More tickets">
            {after
                .is_some()
                .then(|| {
                    view! {
                        <A href=first attr:class="button secondary">
                            "Newest"
                        </A>
                    }
                })}
            {more
                .map(|href| {
                    view! {
                        <A href=href attr:class="button secondary" attr:rel="next">
                            "More tickets"
                        </A>
                    }
                })}
        </nav>
    }
    .into_any()
}

#[component]
fn TicketCard(ticket: Ticket) -> impl IntoView {
    view! {
        <li class="ticket-card">
            <span class="badge for-sale">"For sale"</span>
            <A href=format!("/tickets/{}", ticket.id) attr:class="ticket-title">
                {ticket.title}
            </A>
            <span class="ticket-price">{format_money(ticket.price)}</span>
        </li>
    }
}

#[component]
pub fn HowItWorks() -> impl IntoView {
    view! {
        <Title text="How it works" />
        <h1>"How it works"</h1>
        <ol class="steps">
            <li>
                <strong>"Sellers list tickets."</strong>
                " Give the event a title and set a price. You can change either until someone reserves it."
            </li>
            <li>
                <strong>"Buyers reserve."</strong>
                {format!(
                    " Pressing Purchase holds the ticket for you for {}; nobody else can order it.",
                    crate::reservation_window(),
                )}
            </li>
            <li>
                <strong>"Pay inside the window."</strong>
                " Pay before the timer runs out and the ticket is yours. If you don't, it is released for others."
            </li>
        </ol>
        <p class="notice">"Your card is only charged for a ticket you actually get."</p>
    }
}

#[component]
pub fn NotFound() -> impl IntoView {
    set_status_not_found();
    view! {
        <Title text="Page not found" />
        <div class="not-found">
            <h1>"Page not found"</h1>
            <p class="muted">"There is nothing at this address."</p>
            <A href="/" attr:class="button">
                "Back to the start"
            </A>
        </div>
    }
}
