//! The orders pages: the signed-in user's orders, and one order — the time left to pay for
//! it, the payment form, and the receipt once it is paid (their parts are in
//! `crate::components`). Hydrated, both follow the viewer's orders live.
use std::time::Duration;

use common::events::OrderStatus;
use common::money::Money;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::{LoadError, SignInPrompt};
use crate::components::{
    CancelButton, Countdown, Expired, PayForm, Receipt, ReceiptLine, StatusPill, TEST_CARDS,
};
use crate::error::ServiceError;
use crate::flash::{self, FormId};
use crate::format::format_money;
use crate::functions::{get_order, list_orders, CancelOrder, OrderInfo, PayOrder};
use crate::live::{refresher, use_live, Change};

#[component]
pub fn Orders() -> impl IntoView {
    let orders = Resource::new(|| (), |_| list_orders());
    // Any change of the viewer's orders (one placed in another tab, one that ended).
    let refresh = refresher(orders, || (), |_| list_orders());
    use_live().watch(Vec::new, move |change| match change {
        Change::Order(_) | Change::CatchUp => refresh.run(()),
        Change::Ticket(_) => {}
    });
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
fn OrderTable(orders: Vec<OrderInfo>) -> impl IntoView {
    view! {
        <div class="table-wrap">
            <table class="table orders-table">
                <thead>
                    <tr>
                        <th scope="col">"Ticket"</th>
                        <th scope="col">"Price"</th>
                        <th scope="col">"Status"</th>
                        <th scope="col">"Receipt"</th>
                    </tr>
                </thead>
                <tbody>
                    {orders
                        .into_iter()
                        .map(|OrderInfo { order, receipt, .. }| {
                            // data-label: the column's name, shown by the cards on narrow screens.
                            view! {
                                <tr>
                                    <td data-label="Ticket">
                                        <A href=format!("/orders/{}", order.id)>
                                            {order.ticket.title}
                                        </A>
                                    </td>
                                    <td data-label="Price">{format_money(order.ticket.price)}</td>
                                    <td data-label="Status">
                                        <StatusPill status=order.status />
                                    </td>
                                    <td class="receipt-cell" data-label="Receipt">
                                        {match receipt {
                                            Some(payment) => {
                                                view! { <ReceiptLine payment /> }.into_any()
                                            }
                                            None => view! { <span class="muted">"—"</span> }.into_any(),
                                        }}
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

/// Orders are private: a visitor is asked to sign in.
#[component]
fn OrdersError(error: ServiceError) -> impl IntoView {
    if error.is_unauthorized() {
        view! { <SignInPrompt message="Sign in to see your orders." /> }.into_any()
    } else {
        view! { <LoadError error what="Order" /> }.into_any()
    }
}

/// What the page's actions share across reloads of the order.
#[derive(Clone, Copy)]
struct OrderActions {
    pay: ServerAction<PayOrder>,
    cancel: ServerAction<CancelOrder>,
    /// The chosen test card, kept when the order reloads after a declined payment.
    card: RwSignal<String>,
    order: Resource<Result<OrderInfo, ServiceError>>,
}

#[component]
pub fn OrderDetails() -> impl IntoView {
    let params = use_params_map();
    // Paying and cancelling come back to this page: the order reloads after each attempt.
    let pay = ServerAction::<PayOrder>::new();
    let cancel = ServerAction::<CancelOrder>::new();
    let order = Resource::new(
        move || {
            (
                params.read().get("id").unwrap_or_default(),
                pay.version().get(),
                cancel.version().get(),
            )
        },
        |(id, _, _)| get_order(id),
    );
    follow_order(order, pay, cancel);
    // A payment that failed without JavaScript comes back here with the card it used.
    let pay_flash = flash::take(FormId::Pay);
    let card = pay_flash
        .as_ref()
        .and_then(|f| f.value("token"))
        .filter(|token| TEST_CARDS.iter().any(|(t, _)| t == token))
        .unwrap_or_else(|| TEST_CARDS[0].0.to_owned());
    let actions = OrderActions {
        pay,
        cancel,
        card: RwSignal::new(card),
        order,
    };
    view! {
        <Title text="Order" />
        <Transition fallback=|| view! { <p class="loading"></p> }>
            {move || {
                let pay_flash = pay_flash.clone();
                order
                    .get()
                    .map(|result| match result {
                        Ok(info) => view! { <OrderView info actions pay_flash /> }.into_any(),
                        Err(error) => view! { <OrdersError error /> }.into_any(),
                    })
            }}
        </Transition>
    }
}

/// Keeps the order page current: a newer version of this order (paid, cancelled, expired)
/// fetches it again, receipt and all, as does a reconnect.
fn follow_order(
    order: Resource<Result<OrderInfo, ServiceError>>,
    pay: ServerAction<PayOrder>,
    cancel: ServerAction<CancelOrder>,
) {
    let params = use_params_map();
    // The actions' versions are part of the key: an answer fetched before a payment
    // landed must not replace the one fetched after it.
    let key = move || {
        (
            params.read().get("id").unwrap_or_default(),
            pay.version().get(),
            cancel.version().get(),
        )
    };
    let refresh = refresher(order, key, |(id, _, _)| get_order(id));
    use_live().watch(Vec::new, move |change| match change {
        Change::Order(change) => {
            let newer = order
                .try_with_untracked(|shown| match shown {
                    Some(Ok(info)) => {
                        info.order.id == change.id && info.order.version < change.version
                    }
                    _ => false,
                })
                .unwrap_or(false);
            if newer {
                refresh.run(());
            }
        }
        Change::CatchUp => refresh.run(()),
        Change::Ticket(_) => {}
    });
}

#[component]
fn OrderView(
    info: OrderInfo,
    actions: OrderActions,
    pay_flash: Option<flash::Flash>,
) -> impl IntoView {
    let OrderInfo {
        order,
        receipt,
        expired,
    } = info;
    let body = match (order.status, receipt) {
        (OrderStatus::Complete, receipt) => view! {
            <div class="notice success" role="status">
                <p>"Paid. The ticket is yours."</p>
            </div>
            {receipt.map(|payment| view! { <Receipt payment /> })}
        }
        .into_any(),
        // Paid, and the order completes a moment later: check again until it has.
        (OrderStatus::Created | OrderStatus::AwaitingPayment, Some(payment)) => {
            Effect::new(move |_| {
                if let Ok(handle) = set_timeout_with_handle(
                    move || actions.order.refetch(),
                    Duration::from_secs(1),
                ) {
                    on_cleanup(move || handle.clear());
                }
            });
            view! {
                <div class="notice" role="status">
                    <p>"Payment received — confirming…"</p>
                    <p>
                        <A href=format!("/orders/{}", order.id)>"Check again"</A>
                    </p>
                </div>
                <Receipt payment />
            }
            .into_any()
        }
        _ if expired => view! {
            <Countdown expires_at=order.expires_at.clone() />
            <Expired />
        }
        .into_any(),
        (OrderStatus::Cancelled, _) => view! {
            <p class="muted">"This order was cancelled; the ticket went back on sale."</p>
        }
        .into_any(),
        (OrderStatus::Created | OrderStatus::AwaitingPayment, None) => {
            view! { <PayOrCancel order_id=order.id.clone() expires_at=order.expires_at.clone() price=order.ticket.price actions pay_flash /> }
                .into_any()
        }
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
            {body}
        </article>
    }
}

/// An open order: the time left, the payment form and the cancel button; once the browser's
/// clock passes the deadline, the expired message instead (and the order reloads, to show it
/// cancelled).
#[component]
fn PayOrCancel(
    order_id: String,
    expires_at: String,
    price: Money,
    actions: OrderActions,
    pay_flash: Option<flash::Flash>,
) -> impl IntoView {
    let expired = RwSignal::new(false);
    Effect::new(move |_| {
        if expired.get() {
            if let Ok(handle) =
                set_timeout_with_handle(move || actions.order.refetch(), Duration::from_secs(2))
            {
                on_cleanup(move || handle.clear());
            }
        }
    });
    view! {
        <Countdown expires_at expired />
        {move || {
            if expired.get() {
                view! { <Expired /> }.into_any()
            } else {
                view! {
                    <PayForm
                        order_id=order_id.clone()
                        price
                        action=actions.pay
                        card=actions.card
                        flash=pay_flash.clone()
                    />
                    <CancelButton order_id=order_id.clone() action=actions.cancel />
                }
                    .into_any()
            }
        }}
    }
}
