//! The pieces of an order's page that aren't about paying: its status pill, the notice that
//! its time ran out, and the button that cancels it.
use common::events::OrderStatus;
use leptos::prelude::*;
use leptos_router::components::A;

use super::errors::{form_errors, FormError};
use crate::flash::{self, FormId};
use crate::format::{status_class, status_label};
use crate::functions::CancelOrder;

/// An order's status as a coloured label.
#[component]
pub fn StatusPill(status: OrderStatus) -> impl IntoView {
    view! { <span class=status_class(status)>{status_label(status)}</span> }
}

/// Said where the payment form was once the order's time ran out.
#[component]
pub fn Expired() -> impl IntoView {
    view! {
        <div class="notice warning order-expired" role="status">
            <p>"This order expired: the time to pay ran out, and the ticket is for sale again."</p>
            <p>
                <A href="/">"Back to the listing"</A>
            </p>
        </div>
    }
}

/// Cancels the order (releasing the ticket); the page then shows it cancelled.
#[component]
pub fn CancelButton(order_id: String, action: ServerAction<CancelOrder>) -> impl IntoView {
    let flash = flash::take(FormId::Cancel);
    let error = form_errors(action.value(), flash.as_ref());
    let pending = action.pending();
    view! {
        <ActionForm action attr:class="order-actions">
            <input type="hidden" name="order_id" value=order_id />
            <FormError error all=true />
            <button type="submit" class="button secondary" disabled=move || pending.get()>
                "Cancel order"
            </button>
        </ActionForm>
    }
}
