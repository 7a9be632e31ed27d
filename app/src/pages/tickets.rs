//! Selling a ticket, a ticket's page (where buying starts), and editing one's own ticket.
use common::dto::{SessionUser, Ticket};
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::{LoadError, SignInPrompt};
use crate::components::{form_errors, FormError, TicketForm};
use crate::error::{flatten, Reply};
use crate::flash;
use crate::format::format_money;
use crate::functions::{get_ticket, CreateOrder};
use crate::Session;

#[component]
pub fn NewTicket() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <Title text="Sell a ticket" />
        <div class="card form-card">
            <h1>"Sell a ticket"</h1>
            <Transition fallback=|| view! { <p class="loading"></p> }>
                {move || {
                    session
                        .user
                        .get()
                        .map(|result| match result.ok().flatten() {
                            Some(_) => view! { <TicketForm /> }.into_any(),
                            None => {
                                view! { <SignInPrompt message="Sign in to sell a ticket." /> }
                                    .into_any()
                            }
                        })
                }}
            </Transition>
        </div>
    }
}

/// The ticket named by the `:id` route parameter, reloaded when it changes.
fn ticket_from_route() -> Resource<Reply<Ticket>> {
    let params = use_params_map();
    Resource::new(
        move || params.read().get("id").unwrap_or_default(),
        |id| async move { flatten(get_ticket(id).await) },
    )
}

#[component]
pub fn TicketDetails() -> impl IntoView {
    let session = expect_context::<Session>();
    let ticket = ticket_from_route();
    view! {
        <Transition fallback=|| view! { <p class="loading"></p> }>
            {move || {
                // Both resources are read on every run, so rendering waits for both.
                let user = session.user.get().map(|r| r.ok().flatten());
                ticket
                    .get()
                    .zip(user)
                    .map(|(result, user)| match result {
                        Ok(ticket) => view! { <TicketView ticket user /> }.into_any(),
                        Err(error) => view! { <LoadError error what="Ticket" /> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn TicketView(ticket: Ticket, user: Option<SessionUser>) -> impl IntoView {
    let reserved = ticket.order_id.is_some();
    let is_owner = user.as_ref().is_some_and(|u| u.id == ticket.user_id);
    let badge = if reserved {
        view! { <span class="badge reserved">"Reserved"</span> }.into_any()
    } else {
        view! { <span class="badge for-sale">"For sale"</span> }.into_any()
    };
    let seller_note = if is_owner {
        "You are selling this ticket. You can change it until someone reserves it."
    } else {
        "Sold by a Ticketing member. Purchasing holds it for you alone while you pay."
    };
    // A purchase that failed without JavaScript comes back here, whatever the ticket's state.
    let purchase = flash::take("purchase");
    let action = if reserved {
        let error = form_errors(
            Signal::stored(None::<Result<Reply<()>, ServerFnError>>),
            purchase.as_ref(),
        );
        view! {
            <FormError error all=true />
            <p class="muted">
                "Someone is buying this ticket right now. If they don't pay in time, it goes back on sale."
            </p>
        }
        .into_any()
    } else if is_owner {
        view! {
            <A href=format!("/tickets/{}/edit", ticket.id) attr:class="button secondary">
                "Edit"
            </A>
        }
        .into_any()
    } else if user.is_some() {
        view! { <PurchaseButton ticket_id=ticket.id.clone() flash=purchase /> }.into_any()
    } else {
        view! {
            <A href="/auth/signin" attr:class="button">
                "Sign in to buy"
            </A>
        }
        .into_any()
    };
    view! {
        <Title text=ticket.title.clone() />
        <Meta property="og:title" content=ticket.title.clone() />
        <article class="card ticket-details">
            {badge}
            <h1>{ticket.title}</h1>
            <p class="ticket-price">{format_money(ticket.price)}</p>
            <p class="muted seller-note">{seller_note}</p>
            <div class="actions">{action}</div>
        </article>
    }
}

/// Reserves the ticket by creating an order; the server function then shows that order.
#[component]
fn PurchaseButton(ticket_id: String, flash: Option<flash::Flash>) -> impl IntoView {
    let action = ServerAction::<CreateOrder>::new();
    let error = form_errors(action.value(), flash.as_ref());
    let pending = action.pending();
    view! {
        <ActionForm action attr:class="purchase">
            <input type="hidden" name="ticket_id" value=ticket_id />
            <FormError error all=true />
            <button type="submit" class="button" disabled=move || pending.get()>
                "Purchase"
            </button>
        </ActionForm>
    }
}

#[component]
pub fn EditTicket() -> impl IntoView {
    let session = expect_context::<Session>();
    let ticket = ticket_from_route();
    view! {
        <Title text="Edit ticket" />
        <Transition fallback=|| view! { <p class="loading"></p> }>
            {move || {
                // Both resources are read on every run, so rendering waits for both.
                let user = session.user.get().map(|r| r.ok().flatten());
                ticket
                    .get()
                    .zip(user)
                    .map(|(result, user)| match result {
                        Ok(ticket) => view! { <EditTicketCard ticket user /> }.into_any(),
                        Err(error) => view! { <LoadError error what="Ticket" /> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn EditTicketCard(ticket: Ticket, user: Option<SessionUser>) -> impl IntoView {
    let back = format!("/tickets/{}", ticket.id);
    let body = match user {
        None => view! { <SignInPrompt message="Sign in to edit your ticket." /> }.into_any(),
        Some(user) if user.id != ticket.user_id => view! {
            <div class="form-error" role="alert">
                <p>"Only the seller can edit this ticket."</p>
            </div>
        }
        .into_any(),
        Some(_) if ticket.order_id.is_some() => view! {
            <div class="notice" role="status">
                <p>"Cannot edit a reserved ticket"</p>
            </div>
            <A href=back.clone() attr:class="button secondary">
                "Back to the ticket"
            </A>
        }
        .into_any(),
        Some(_) => view! { <TicketForm ticket=ticket.clone() /> }.into_any(),
    };
    view! {
        <div class="card form-card">
            <h1>"Edit ticket"</h1>
            <p class="muted">
                <A href=back>{ticket.title.clone()}</A>
            </p>
            {body}
        </div>
    }
}
