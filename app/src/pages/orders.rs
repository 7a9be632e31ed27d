//! The signed-in user's orders, and one order: the time left to pay for it, the payment form,
//! and the receipt once it is paid.
use std::time::Duration;

use common::dto::Payment;
use common::events::OrderStatus;
use common::money::Money;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_params_map;

use super::{LoadError, SignInPrompt};
use crate::components::{form_errors, Countdown, FormError};
use crate::error::{flatten, ApiError, Reply};
use crate::flash;
use crate::format::{format_money, format_timestamp, status_class, status_label};
use crate::functions::{get_order, list_orders, CancelOrder, OrderInfo, PayOrder};

/// The test-mode provider's cards (Stripe's test tokens) the buyer chooses from.
const TEST_CARDS: [(&str, &str); 2] = [
    ("tok_visa", "Visa •••• 4242 — succeeds"),
    ("tok_chargeDeclined", "Visa •••• 0002 — declined"),
];

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

/// What the page's actions share across reloads of the order.
#[derive(Clone, Copy)]
struct OrderActions {
    pay: ServerAction<PayOrder>,
    cancel: ServerAction<CancelOrder>,
    /// The chosen test card, kept when the order reloads after a declined payment.
    card: RwSignal<String>,
    order: Resource<Reply<OrderInfo>>,
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
        |(id, _, _)| async move { flatten(get_order(id).await) },
    );
    // A payment that failed without JavaScript comes back here with the card it used.
    let pay_flash = flash::take("pay");
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

#[component]
fn Expired() -> impl IntoView {
    view! {
        <div class="notice warning order-expired" role="status">
            <p>"This order expired: the time to pay ran out, and the ticket is for sale again."</p>
            <p>
                <A href="/">"Back to the listing"</A>
            </p>
        </div>
    }
}

/// Stripe's publishable key when the site takes real cards (`STRIPE_PUBLISHABLE_KEY`),
/// provided by the server; the browser learns it from the page.
#[derive(Debug, Clone, Default)]
pub struct StripeMode(pub Option<String>);

/// The publishable key, read on the server and carried to the browser with the page, so
/// hydration renders the same form.
fn stripe_key() -> Option<String> {
    SharedValue::new(|| use_context::<StripeMode>().and_then(|mode| mode.0)).into_inner()
}

/// Stripe mode: Stripe's Payment Element collects the card in its own frame; the glue
/// script (`/stripe-pay.js`) turns it into a PaymentMethod id in `token` before the form
/// posts, so the same server function charges it.
#[component]
fn StripePayForm(
    order_id: String,
    price: Money,
    key: String,
    action: ServerAction<PayOrder>,
    flash: Option<flash::Flash>,
) -> impl IntoView {
    let error = form_errors(action.value(), flash.as_ref());
    let pending = action.pending();
    let nonce = leptos::nonce::use_nonce();
    view! {
        <ActionForm
            action
            attr:class="pay-form stripe-pay-form"
            attr:data-stripe-key=key
            attr:data-amount=price.cents().to_string()
        >
            <input type="hidden" name="order_id" value=order_id />
            <input type="hidden" name="token" value="" />
            <div class="payment-element" data-payment-element=""></div>
            <p class="form-error stripe-error" role="alert" hidden=""></p>
            <FormError error all=true />
            <button type="submit" class="button" disabled=move || pending.get()>
                {move || {
                    if pending.get() {
                        "Paying…".to_owned()
                    } else {
                        format!("Pay {}", format_money(price))
                    }
                }}
            </button>
        </ActionForm>
        <script nonce=nonce.clone() src="https://js.stripe.com/v3/" async=""></script>
        <script nonce=nonce src="/stripe-pay.js" async=""></script>
    }
}

/// Test mode: the buyer picks one of Stripe's test cards; no real money moves.
#[component]
fn PayForm(
    order_id: String,
    price: Money,
    action: ServerAction<PayOrder>,
    card: RwSignal<String>,
    flash: Option<flash::Flash>,
) -> impl IntoView {
    if let Some(key) = stripe_key() {
        return view! { <StripePayForm order_id price key action flash /> }.into_any();
    }
    let error = form_errors(action.value(), flash.as_ref());
    let pending = action.pending();
    view! {
        <ActionForm action attr:class="pay-form">
            <input type="hidden" name="order_id" value=order_id />
            <fieldset class="test-cards">
                <legend>"Pay with a test card"</legend>
                <p class="muted">"Test mode: no real money moves."</p>
                {TEST_CARDS
                    .into_iter()
                    .map(|(token, label)| {
                        view! {
                            <label class="choice">
                                <input
                                    type="radio"
                                    name="token"
                                    value=token
                                    checked=move || card.get() == token
                                    on:change=move |_| card.set(token.to_owned())
                                />
                                <span>{label}</span>
                            </label>
                        }
                    })
                    .collect_view()}
            </fieldset>
            <FormError error all=true />
            <button type="submit" class="button" disabled=move || pending.get()>
                {move || {
                    if pending.get() {
                        "Paying…".to_owned()
                    } else {
                        format!("Pay {}", format_money(price))
                    }
                }}
            </button>
        </ActionForm>
    }
    .into_any()
}

/// What was paid, when, and the payment's id.
#[component]
fn Receipt(payment: Payment) -> impl IntoView {
    view! {
        <section class="receipt" aria-label="Receipt">
            <h2>"Receipt"</h2>
            <dl class="details">
                <dt>"Amount paid"</dt>
                <dd class="receipt-amount">{amount(&payment)}</dd>
                <dt>"Paid at"</dt>
                <dd>
                    <time datetime=payment.created_at.clone()>
                        {format_timestamp(&payment.created_at)}
                    </time>
                </dd>
                <dt>"Payment id"</dt>
                <dd>
                    <code class="payment-id">{payment.id}</code>
                </dd>
            </dl>
        </section>
    }
}

/// The receipt in a row of "My orders".
#[component]
fn ReceiptLine(payment: Payment) -> impl IntoView {
    view! {
        <span class="receipt-amount">{amount(&payment)}</span>
        " · "
        <time datetime=payment.created_at.clone()>{format_timestamp(&payment.created_at)}</time>
        " · "
        <code class="payment-id">{payment.id}</code>
    }
}

/// `$20.50 USD`.
fn amount(payment: &Payment) -> String {
    format!(
        "{} {}",
        format_money(payment.amount),
        payment.currency.to_uppercase()
    )
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
            <button type="submit" class="button secondary" disabled=move || pending.get()>
                "Cancel order"
            </button>
        </ActionForm>
    }
}
