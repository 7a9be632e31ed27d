//! Paying for an order and showing that it was paid: the test-card form, Stripe's Payment
//! Element form (chosen by [`StripeMode`]), and the receipt in full or as one line.
use common::dto::Payment;
use common::money::Money;
use leptos::prelude::*;

use super::errors::{form_errors, FormError};
use crate::flash;
use crate::format::{format_money, format_timestamp};
use crate::functions::PayOrder;

/// The test-mode provider's cards (Stripe's test tokens) the buyer chooses from.
pub const TEST_CARDS: [(&str, &str); 2] = [
    ("tok_visa", "Visa •••• 4242 — succeeds"),
    ("tok_chargeDeclined", "Visa •••• 0002 — declined"),
];

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
pub fn PayForm(
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
pub fn Receipt(payment: Payment) -> impl IntoView {
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
pub fn ReceiptLine(payment: Payment) -> impl IntoView {
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
