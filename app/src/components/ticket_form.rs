//! The form that lists a new ticket or edits one, showing the API's errors by its fields.
use common::dto::{Ticket, TicketBody};
use common::money::Money;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::{FieldError, FormError};
use crate::api::{self, ApiError};

#[component]
pub fn TicketForm(
    /// The ticket to edit; without one the form lists a new ticket.
    #[prop(optional)]
    ticket: Option<Ticket>,
) -> impl IntoView {
    let navigate = use_navigate();
    let ticket_id = ticket.as_ref().map(|t| t.id.clone());
    let title = RwSignal::new(ticket.as_ref().map(|t| t.title.clone()).unwrap_or_default());
    let price = RwSignal::new(
        ticket
            .as_ref()
            .map(|t| t.price.to_decimal_string())
            .unwrap_or_default(),
    );
    let error = RwSignal::new(None::<ApiError>);
    let pending = RwSignal::new(false);
    let submit_label = if ticket_id.is_some() {
        "Save changes"
    } else {
        "List ticket"
    };

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        let body = ticket_body(&title.get_untracked(), &price.get_untracked());
        let navigate = navigate.clone();
        let ticket_id = ticket_id.clone();
        leptos::task::spawn_local(async move {
            let result = match &ticket_id {
                Some(id) => api::update_ticket(id, &body).await,
                None => api::create_ticket(&body).await,
            };
            pending.set(false);
            match result {
                Ok(ticket) => {
                    error.set(None);
                    navigate(&format!("/tickets/{}", ticket.id), Default::default());
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };
    let invalid = move |field: &'static str| {
        move || {
            error
                .with(|e| e.as_ref().and_then(|e| e.field(field)).is_some())
                .to_string()
        }
    };

    view! {
        <form class="form" novalidate on:submit=on_submit>
            <div class="field">
                <label for="title">"Title"</label>
                <input
                    id="title"
                    name="title"
                    type="text"
                    maxlength="120"
                    placeholder="Concert, Friday 8pm"
                    required
                    aria-invalid=invalid("title")
                    bind:value=title
                />
                <FieldError error field="title" />
            </div>
            <div class="field">
                <label for="price">"Price ($)"</label>
                <input
                    id="price"
                    name="price"
                    type="text"
                    inputmode="decimal"
                    placeholder="20.00"
                    required
                    aria-invalid=invalid("price")
                    bind:value=price
                />
                <FieldError error field="price" />
            </div>
            <FormError error />
            <button type="submit" class="button" disabled=move || pending.get()>
                {submit_label}
            </button>
        </form>
    }
}

/// The API validates the fields; a price that reads as money is sent as a number, anything
/// else as typed so the API can say what is wrong with it.
fn ticket_body(title: &str, price: &str) -> TicketBody {
    let price = price.trim().trim_start_matches('$');
    TicketBody {
        title: serde_json::Value::String(title.trim().to_owned()),
        price: Money::parse_decimal(price)
            .and_then(|money| serde_json::to_value(money).ok())
            .unwrap_or_else(|| serde_json::Value::String(price.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::ticket_body;

    #[test]
    fn a_price_that_reads_as_money_is_sent_as_a_number() {
        let body = ticket_body(" Concert ", "$20.50");
        assert_eq!(body.title, serde_json::json!("Concert"));
        assert_eq!(body.price, serde_json::json!(20.5));
        assert_eq!(ticket_body("x", "abc").price, serde_json::json!("abc"));
    }
}
