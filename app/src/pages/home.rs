//! The landing page, the explanation of how buying works, and the page for unknown addresses.
use common::dto::{Ticket, TicketStatus};
use common::live::{TicketChange, Topic};
use common::wire::percent_encode;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::{Form, A};
use leptos_router::hooks::use_query_map;

use super::{set_status_not_found, ErrorMessages};
use crate::error::ServiceError;
use crate::format::format_money;
use crate::functions::{list_tickets, TicketPage};
use crate::live::{refresher, use_live, Change};
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
/// searching and paging work the same with and without JavaScript. Hydrated, it follows
/// the listing live: a change is applied to the page where that is certain, else the page
/// is fetched again.
#[component]
fn TicketsForSale() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let signed_in = move || viewer.signed_in().is_some();
    let query = use_query_map();
    let search = move || query.read().get("q").unwrap_or_default();
    let after = move || query.read().get("after");
    let tickets = Resource::new(move || (search(), after()), fetch_page);
    let refresh = refresher(tickets, move || (search(), after()), fetch_page);
    use_live().watch(
        || vec![Topic::Listing],
        move |change| match change {
            Change::Ticket(ticket) => {
                let shown = untrack(|| Shown {
                    searching: !search().trim().is_empty(),
                    first: after().is_none(),
                });
                let outcome = tickets.try_maybe_update(|page| {
                    let outcome = match page {
                        Some(Ok(page)) => apply(page, ticket, shown),
                        _ => Outcome::Refetch,
                    };
                    (outcome == Outcome::Applied, outcome)
                });
                if outcome == Some(Outcome::Refetch) {
                    refresh.run(());
                }
            }
            Change::CatchUp => refresh.run(()),
            Change::Order(_) => {}
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

async fn fetch_page((q, cursor): (String, Option<String>)) -> Result<TicketPage, ServiceError> {
    let q = (!q.trim().is_empty()).then_some(q);
    list_tickets(q, cursor).await
}

/// What a ticket's change did to the page of the listing shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Applied to the page.
    Applied,
    /// Not about this page, or older than what it shows.
    Unchanged,
    /// Where it goes depends on what only the server knows (its place in the order, a
    /// search): fetch the page again.
    Refetch,
}

/// Which page of the listing is shown.
#[derive(Debug, Clone, Copy)]
struct Shown {
    /// A title search is applied (`?q=`).
    searching: bool,
    /// The first page (no `?after=`): where a new ticket goes.
    first: bool,
}

/// Applies `change` to `page` where the result is certain: a ticket that left the market
/// leaves the page, an edit shows in place, a new ticket heads the first page. Where only
/// the server knows (does an edited or new title match the search? where does a released
/// ticket go? it has its place by when it was listed), the page is fetched again.
fn apply(page: &mut TicketPage, change: &TicketChange, shown: Shown) -> Outcome {
    match page.tickets.iter().position(|t| t.id == change.id) {
        Some(at) if page.tickets[at].version >= change.version => Outcome::Unchanged,
        Some(at) if !change.is_for_sale() => {
            page.tickets.remove(at);
            Outcome::Applied
        }
        Some(_) if shown.searching => Outcome::Refetch,
        Some(at) => {
            let ticket = &mut page.tickets[at];
            ticket.title.clone_from(&change.title);
            ticket.price = change.price;
            ticket.version = change.version;
            Outcome::Applied
        }
        None if !change.is_for_sale() => Outcome::Unchanged,
        // New: the newest of all, so it belongs on the first page only.
        None if change.version == 0 && !shown.first => Outcome::Unchanged,
        None if change.version == 0 && !shown.searching => {
            page.tickets.insert(0, listed(change));
            Outcome::Applied
        }
        None => Outcome::Refetch,
    }
}

/// A ticket just listed, as the listing shows it.
fn listed(change: &TicketChange) -> Ticket {
    Ticket {
        id: change.id.clone(),
        title: change.title.clone(),
        price: change.price,
        user_id: change.user_id.clone(),
        version: change.version,
        order_id: None,
        status: TicketStatus::Available,
        reserved_until: None,
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

#[cfg(test)]
mod tests {
    use common::money::Money;

    use super::*;

    const PLAIN: Shown = Shown {
        searching: false,
        first: true,
    };

    fn change(id: &str, version: i64, order_id: Option<&str>) -> TicketChange {
        TicketChange {
            id: id.into(),
            version,
            title: format!("{id} v{version}"),
            price: Money::from_cents(1_000 + version),
            user_id: "seller".into(),
            order_id: order_id.map(Into::into),
            withdrawn: false,
        }
    }

    fn page(ids: &[&str]) -> TicketPage {
        TicketPage {
            tickets: ids.iter().map(|id| listed(&change(id, 1, None))).collect(),
            next: None,
        }
    }

    fn ids(page: &TicketPage) -> Vec<&str> {
        page.tickets.iter().map(|t| t.id.as_str()).collect()
    }

    #[test]
    fn a_reserved_sold_or_withdrawn_ticket_leaves_the_page() {
        let mut shown = page(&["a", "b", "c"]);
        assert_eq!(
            apply(&mut shown, &change("b", 2, Some("o")), PLAIN),
            Outcome::Applied
        );
        let mut withdrawn = change("c", 2, None);
        withdrawn.withdrawn = true;
        assert_eq!(apply(&mut shown, &withdrawn, PLAIN), Outcome::Applied);
        assert_eq!(ids(&shown), ["a"]);
        // Not shown and not for sale: nothing to do, on any page.
        assert_eq!(
            apply(&mut shown, &change("z", 3, Some("o")), PLAIN),
            Outcome::Unchanged
        );
    }

    #[test]
    fn an_edit_shows_in_place_unless_a_search_might_now_exclude_it() {
        let mut shown = page(&["a", "b"]);
        let edit = change("b", 2, None);
        assert_eq!(apply(&mut shown, &edit, PLAIN), Outcome::Applied);
        assert_eq!(shown.tickets[1].title, "b v2");
        assert_eq!(shown.tickets[1].price, Money::from_cents(1_002));
        assert_eq!(shown.tickets[1].version, 2);
        let searching = Shown {
            searching: true,
            first: true,
        };
        assert_eq!(
            apply(&mut shown, &change("a", 2, None), searching),
            Outcome::Refetch
        );
    }

    #[test]
    fn a_change_not_newer_than_the_page_is_ignored() {
        let mut shown = page(&["a"]);
        assert_eq!(
            apply(&mut shown, &change("a", 1, Some("o")), PLAIN),
            Outcome::Unchanged
        );
        assert_eq!(
            apply(&mut shown, &change("a", 0, None), PLAIN),
            Outcome::Unchanged
        );
        assert_eq!(ids(&shown), ["a"]);
    }

    #[test]
    fn a_new_ticket_heads_the_first_page_and_nothing_else() {
        let mut shown = page(&["a"]);
        assert_eq!(
            apply(&mut shown, &change("new", 0, None), PLAIN),
            Outcome::Applied
        );
        assert_eq!(ids(&shown), ["new", "a"]);
        let later = Shown {
            searching: false,
            first: false,
        };
        assert_eq!(
            apply(&mut shown, &change("n2", 0, None), later),
            Outcome::Unchanged
        );
        let searching = Shown {
            searching: true,
            first: true,
        };
        assert_eq!(
            apply(&mut shown, &change("n3", 0, None), searching),
            Outcome::Refetch
        );
    }

    #[test]
    fn a_released_ticket_is_fetched_again_to_find_its_place() {
        let mut shown = page(&["a"]);
        assert_eq!(
            apply(&mut shown, &change("r", 3, None), PLAIN),
            Outcome::Refetch
        );
        assert_eq!(ids(&shown), ["a"]);
    }
}
