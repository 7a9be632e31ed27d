//! Selling a ticket, a ticket's page (where buying starts), and editing one's own ticket.
use common::dto::{SignedInUser, Ticket, TicketStatus};
use common::live::Topic;
use common::wire::percent_encode;
use leptos::prelude::*;
use leptos_meta::{Meta, Title};
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::{LoadError, SignInPrompt};
use crate::components::{form_errors, FormError, TicketForm};
use crate::error::ServiceError;
use crate::flash::{self, FormId};
use crate::format::{format_money, format_timestamp};
use crate::functions::{get_ticket, CreateOrder, RelistTicket, TicketInfo};
use crate::live::{refresher, use_live, Change};
use crate::Viewer;

#[component]
pub fn NewTicket() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    view! {
        <Title text="Sell a ticket" />
        <div class="card form-card">
            <h1>"Sell a ticket"</h1>
            <Transition fallback=|| view! { <p class="loading"></p> }>
                {move || {
                    viewer
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
fn ticket_from_route() -> Resource<Result<TicketInfo, ServiceError>> {
    Resource::new(ticket_id(), get_ticket)
}

/// The `:id` route parameter.
fn ticket_id() -> impl Fn() -> String + Copy + Send + Sync + 'static {
    let params = use_params_map();
    move || params.read().get("id").unwrap_or_default()
}

/// Keeps the ticket page current: a newer version of the ticket (reserved, released,
/// edited) fetches it again, as do a change of the viewer's own order for it and a reconnect. What it shows besides the ticket (whose
/// order holds it, until when) comes from the server, so the page is fetched, not patched.
fn follow_ticket(ticket: Resource<Result<TicketInfo, ServiceError>>) {
    let id = ticket_id();
    let refresh = refresher(ticket, id, get_ticket);
    use_live().watch(
        move || vec![Topic::Ticket(id())],
        move |change| match change {
            Change::Ticket(change) => {
                let newer = ticket
                    .try_with_untracked(|shown| match shown {
                        Some(Ok(info)) => {
                            info.ticket.id != change.id || info.ticket.version < change.version
                        }
                        _ => true,
                    })
                    .unwrap_or(false);
                if newer {
                    refresh.run(());
                }
            }
            // The viewer's own order for it (a sale sends no ticket change).
            Change::Order(order) if order.ticket_id == untrack(id) => refresh.run(()),
            Change::CatchUp => refresh.run(()),
            Change::Order(_) => {}
        },
    );
}

#[component]
pub fn TicketDetails() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let ticket = ticket_from_route();
    follow_ticket(ticket);
    // Above the view, so its answer outlives the re-render a failed purchase causes.
    let purchase = ServerAction::<CreateOrder>::new();
    let relist = ServerAction::<RelistTicket>::new();
    // A relisted ticket redirects to its own page: show it as it now stands.
    Effect::new(move |_| {
        if relist.value().with(|latest| latest.is_some()) {
            ticket.refetch();
        }
    });
    // A purchase that failed usually means someone else got the ticket first: show the
    // ticket as it stands now, beside the reason.
    Effect::new(move |_| {
        let failed = purchase
            .value()
            .with(|latest| latest.as_ref().is_some_and(Result::is_err));
        if failed {
            ticket.refetch();
        }
    });
    view! {
        <Transition fallback=|| view! { <p class="loading"></p> }>
            {move || {
                // Both resources are read on every run, so rendering waits for both.
                let user = viewer.user.get().map(|r| r.ok().flatten());
                ticket
                    .get()
                    .zip(user)
                    .map(|(result, user)| match result {
                        Ok(info) => view! { <TicketView info user purchase relist /> }.into_any(),
                        Err(error) => view! { <LoadError error what="Ticket" /> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn TicketView(
    info: TicketInfo,
    user: Option<SignedInUser>,
    purchase: ServerAction<CreateOrder>,
    relist: ServerAction<RelistTicket>,
) -> impl IntoView {
    let TicketInfo { ticket, yours } = info;
    let is_owner = user.as_ref().is_some_and(|u| u.id == ticket.user_id);
    let order_href = ticket
        .order_id
        .as_deref()
        .map(|order| format!("/orders/{}", percent_encode(order)));
    let badge = match ticket.status {
        TicketStatus::Available => view! { <span class="badge for-sale">"For sale"</span> },
        TicketStatus::Reserved => view! { <span class="badge reserved">"Reserved"</span> },
        TicketStatus::Sold => view! { <span class="badge sold">"Sold"</span> },
        TicketStatus::Withdrawn => view! { <span class="badge withdrawn">"Withdrawn"</span> },
    };
    let seller_note = match (is_owner, ticket.status) {
        (true, TicketStatus::Sold) => "You sold this ticket.",
        (true, TicketStatus::Withdrawn) => {
            "This ticket was taken off sale. Relist it to sell it again."
        }
        (false, TicketStatus::Withdrawn) => "Its seller has taken this ticket off sale.",
        (true, _) => "You are selling this ticket. You can change it until someone reserves it.",
        (false, TicketStatus::Sold) => "Sold by a Ticketing member.",
        (false, _) => {
            "Sold by a Ticketing member. Purchasing holds it for you alone while you pay."
        }
    };
    // A purchase that failed without JavaScript comes back here, whatever the ticket's state.
    let flash = flash::take(FormId::Purchase);
    let error = form_errors(purchase.value(), flash.as_ref());
    let held_until = ticket
        .reserved_until
        .as_deref()
        .map(format_timestamp)
        .unwrap_or_else(|| "the end of the reservation window".to_owned());
    let action = match (ticket.status, order_href) {
        (TicketStatus::Sold, Some(href)) if yours => view! {
            <p class="notice" role="status">"You bought this ticket."</p>
            <A href=href attr:class="button">
                "View your order"
            </A>
        }
        .into_any(),
        (TicketStatus::Sold, _) => view! {
            <FormError error all=true />
            <p class="muted">"This ticket has been sold."</p>
        }
        .into_any(),
        // A buyer holding a ticket its seller lost may still pay for it.
        (TicketStatus::Reserved | TicketStatus::Withdrawn, Some(href)) if yours => view! {
            <p class="notice" role="status">
                "You are holding this ticket until "
                <time datetime=ticket.reserved_until.clone()>{held_until}</time>
                ". Pay before then to get it."
            </p>
            <A href=href attr:class="button">
                "Pay for your order"
            </A>
        }
        .into_any(),
        (TicketStatus::Reserved, _) => view! {
            <FormError error all=true />
            <p class="muted">
                "Someone is buying this ticket right now. They have until "
                <time datetime=ticket.reserved_until.clone()>{held_until}</time>
                " to pay; if they don't, it goes back on sale."
            </p>
        }
        .into_any(),
        (TicketStatus::Withdrawn, _) if is_owner => view! {
            <RelistButton ticket_id=ticket.id.clone() action=relist />
        }
        .into_any(),
        (TicketStatus::Withdrawn, _) => view! {
            <FormError error all=true />
            <p class="muted">"This ticket is not for sale."</p>
        }
        .into_any(),
        (TicketStatus::Available, _) if is_owner => view! {
            <A href=format!("/tickets/{}/edit", ticket.id) attr:class="button secondary">
                "Edit"
            </A>
        }
        .into_any(),
        (TicketStatus::Available, _) if user.is_some() => view! {
            <PurchaseButton ticket_id=ticket.id.clone() action=purchase error />
        }
        .into_any(),
        (TicketStatus::Available, _) => {
            let next = format!("/tickets/{}", percent_encode(&ticket.id));
            view! {
                <A
                    href=format!("/auth/signin?next={}", percent_encode(&next))
                    attr:class="button"
                >
                    "Sign in to buy"
                </A>
            }
            .into_any()
        }
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
fn PurchaseButton(
    ticket_id: String,
    action: ServerAction<CreateOrder>,
    error: Signal<Option<ServiceError>>,
) -> impl IntoView {
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

/// Puts the seller's withdrawn ticket back on sale; works without JavaScript too.
#[component]
fn RelistButton(ticket_id: String, action: ServerAction<RelistTicket>) -> impl IntoView {
    let pending = action.pending();
    let flash = flash::take(FormId::Relist);
    let error = form_errors(action.value(), flash.as_ref());
    view! {
        <ActionForm action attr:class="relist">
            <input type="hidden" name="id" value=ticket_id />
            <FormError error all=true />
            <button type="submit" class="button" disabled=move || pending.get()>
                "Relist"
            </button>
        </ActionForm>
    }
}

#[component]
pub fn EditTicket() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let ticket = ticket_from_route();
    view! {
        <Title text="Edit ticket" />
        <Transition fallback=|| view! { <p class="loading"></p> }>
            {move || {
                // Both resources are read on every run, so rendering waits for both.
                let user = viewer.user.get().map(|r| r.ok().flatten());
                ticket
                    .get()
                    .zip(user)
                    .map(|(result, user)| match result {
                        Ok(info) => view! { <EditTicketCard ticket=info.ticket user /> }.into_any(),
                        Err(error) => view! { <LoadError error what="Ticket" /> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn EditTicketCard(ticket: Ticket, user: Option<SignedInUser>) -> impl IntoView {
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
                <p>
                    {if ticket.status == TicketStatus::Sold {
                        "Cannot edit a sold ticket"
                    } else {
                        "Cannot edit a reserved ticket"
                    }}
                </p>
            </div>
            <A href=back.clone() attr:class="button secondary">
                "Back to the ticket"
            </A>
        }
        .into_any(),
        Some(_) if ticket.status == TicketStatus::Withdrawn => view! {
            <div class="notice" role="status">
                <p>"Cannot edit a withdrawn ticket; relist it first"</p>
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
