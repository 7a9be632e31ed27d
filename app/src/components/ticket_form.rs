//! The form that lists a new ticket or edits one, showing the service's errors by its fields.
use common::dto::Ticket;
use leptos::prelude::*;

use super::errors::{form_errors, FormError, TextField};
use crate::error::ServiceError;
use crate::flash::{self, FormId};
use crate::functions::{CreateTicket, UpdateTicket};

#[component]
pub fn TicketForm(
    /// The ticket to edit; without one the form lists a new ticket.
    #[prop(optional)]
    ticket: Option<Ticket>,
) -> impl IntoView {
    let flash = flash::take(FormId::Ticket);
    let carried = |name: &str| flash.as_ref().and_then(|f| f.value(name));
    let title = carried("title")
        .or_else(|| ticket.as_ref().map(|t| t.title.clone()))
        .unwrap_or_default();
    let price = carried("price")
        .or_else(|| ticket.as_ref().map(|t| t.price.to_decimal_string()))
        .unwrap_or_default();
    match ticket {
        Some(ticket) => {
            let action = ServerAction::<UpdateTicket>::new();
            let error = form_errors(action.value(), flash.as_ref());
            let pending = action.pending();
            view! {
                <ActionForm action attr:class="form" attr:novalidate=true>
                    <input type="hidden" name="id" value=ticket.id />
                    <TicketFields title price error pending label="Save changes" />
                </ActionForm>
            }
            .into_any()
        }
        None => {
            let action = ServerAction::<CreateTicket>::new();
            let error = form_errors(action.value(), flash.as_ref());
            let pending = action.pending();
            view! {
                <ActionForm action attr:class="form" attr:novalidate=true>
                    <TicketFields title price error pending label="List ticket" />
                </ActionForm>
            }
            .into_any()
        }
    }
}

#[component]
fn TicketFields(
    title: String,
    price: String,
    error: Signal<Option<ServiceError>>,
    pending: Memo<bool>,
    label: &'static str,
) -> impl IntoView {
    view! {
        <TextField
            name="title"
            label="Title"
            value=title
            placeholder="Concert, Friday 8pm"
            error
        />
        <TextField
            name="price"
            label="Price ($)"
            value=price
            inputmode="decimal"
            placeholder="20.00"
            error
        />
        <FormError error />
        <button type="submit" class="button" disabled=move || pending.get()>
            {label}
        </button>
    }
}
