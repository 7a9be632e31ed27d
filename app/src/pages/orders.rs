//! The signed-in user's orders, and one order with the time left to pay for it.
use common::dto::Order;
use common::events::OrderStatus;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::{LoadError, SignInPrompt};
use crate::components::{form_errors, Countdown, FormError};
use crate::error::{flatten, ApiError};
use crate::flash;
use crate::format::{format_money, status_class, status_label};
use crate::functions::{get_order, list_orders, CancelOrder};

#[component]
pub fn Orders() -> impl IntoView {
    let orders = Resource::new(|| (), |_| async { flatten(list_orders().await) });
    view! {
        <Title text="My orders" />
        <h1>"My orders"</h1>
        <Transition fallback=|| view! { <p class="loading"></p> }>
            {move || {
                orders
                    .get()
                    .map(|result| match result {
                        Ok(orders) if orders.is_empty() => {
                            view! {
                                <div class="empty-state">
                                    <p>"You have no orders yet."</p>
                                    <A href="/" attr:class="button">
                                        "Browse tickets"
                                    </A>
                                </div>
                            }
                                .into_any()
                        }
                        Ok(orders) => view! { <OrderTable orders /> }.into_any(),
                        Err(error) => view! { <OrdersError error /> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn OrderTable(orders: Vec<Order>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table orders-table">
                <thead>
                    <tr>
                        <th scope="col">"Ticket"</th>
                        <th scope="col">"Price"</th>
                        <th scope="col">"Status"</th>
                    </tr>
                </thead>
                <tbody>
                    {orders
                        .into_iter()
                        .map(|order| {
                            view! {
                                <tr>
                                    <td>
                                        <A href=format!("/orders/{}", order.id)>
                                            {order.ticket.title}
                                        </A>
                                    </td>
                                    <td>{format_money(order.ticket.price)}</td>
                                    <td>
                                        <StatusPill status=order.status />
                                    </td>
                                </tr>
                            }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
}

#[component]
fn StatusPill(status: OrderStatus) -> impl IntoView {
    view! { <span class=status_class(status)>{status_label(status)}</span> }
}

/// Orders are private: a visitor is asked to sign in.
#[component]
fn OrdersError(error: ApiError) -> impl IntoView {
    if error.is_unauthorized() {
        view! { <SignInPrompt message="Sign in to see your orders." /> }.into_any()
    } else {
        view! { <LoadError error what="Order" /> }.into_any()
    }
}

#[component]
pub fn OrderDetails() -> impl IntoView {
    let params = use_params_map();
    // Cancelling comes back to this page: the order reloads after each attempt.
    let cancel = ServerAction::<CancelOrder>::new();
    let order = Resource::new(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                cancel.version().get(),
            )
        },
        |(id, _)| async move { flatten(get_order(id).await) },
    );
    view! {
        <Title text="Order" />
        <Transition fallback=|| view! { <p class="loading"></p> }>
            {move || {
                order
                    .get()
                    .map(|result| match result {
                        Ok(order) => view! { <OrderView order cancel /> }.into_any(),
                        Err(error) => view! { <OrdersError error /> }.into_any(),
                    })
            }}
        </Transition>
    }
}

#[component]
fn OrderView(order: Order, cancel: ServerAction<CancelOrder>) -> impl IntoView {
    let live = order.status == OrderStatus::Created;
    let outcome = match order.status {
        OrderStatus::Created => None,
        OrderStatus::AwaitingPayment => Some("Your payment is being processed."),
        OrderStatus::Cancelled => {
            Some("This order was cancelled or expired; the ticket went back on sale.")
        }
        OrderStatus::Complete => Some("Paid. The ticket is yours."),
    };
    view! {
        <article class="card order-details">
            <h1>"Your order"</h1>
            <dl class="details">
                <dt>"Ticket"</dt>
                <dd>
                    <A href=format!("/tickets/{}", order.ticket.id)>{order.ticket.title.clone()}</A>
                </dd>
                <dt>"Price"</dt>
                <dd class="ticket-price">{format_money(order.ticket.price)}</dd>
                <dt>"Status"</dt>
                <dd>
                    <StatusPill status=order.status />
                </dd>
            </dl>
            {outcome.map(|text| view! { <p class="muted">{text}</p> })}
            {live
                .then(|| {
                    view! {
                        <Countdown expires_at=order.expires_at.clone() />
                        <div class="notice">
                            <p>
                                "Payment is coming soon. The ticket stays reserved for you until the time runs out."
                            </p>
                        </div>
                        <CancelButton order_id=order.id.clone() action=cancel />
                    }
                })}
        </article>
    }
}

/// Cancels the order (releasing the ticket); the page then shows it cancelled.
#[component]
fn CancelButton(order_id: String, action: ServerAction<CancelOrder>) -> impl IntoView {
    let flash = flash::take("cancel");
    let error = form_errors(action.value(), flash.as_ref());
    let pending = action.pending();
    view! {
        <ActionForm action attr:class="order-actions">
            <input type="hidden" name="order_id" value=order_id />
            <FormError error all=true />
            <button type="submit" class="button danger" disabled=move || pending.get()>
                "Cancel order"
            </button>
        </ActionForm>
    }
}
