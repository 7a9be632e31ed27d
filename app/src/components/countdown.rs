//! The time left to pay for an order, ticking every second once the page is hydrated.
use std::time::Duration;

use leptos::prelude::*;

use crate::format::{format_remaining, now_millis, parse_rfc3339_millis};

#[component]
pub fn Countdown(
    /// When the reservation ends (RFC 3339).
    expires_at: String,
    /// Set once the browser's clock passes the deadline, so the page can say the order expired.
    #[prop(optional)]
    expired: Option<RwSignal<bool>>,
) -> impl IntoView {
    let deadline = parse_rfc3339_millis(&expires_at);
    let now = RwSignal::new(now_millis());
    let tick = move || {
        let time = now_millis();
        now.set(time);
        if let (Some(flag), Some(deadline)) = (expired, deadline) {
            if deadline <= time && !flag.get_untracked() {
                flag.set(true);
            }
        }
    };
    // Effects only run in the browser, so the server renders the time left once.
    Effect::new(move |_| {
        tick();
        if let Ok(handle) = set_interval_with_handle(tick, Duration::from_secs(1)) {
            on_cleanup(move || handle.clear());
        }
    });
    let left = move || deadline.map(|d| d - now.get());
    // The same elements whatever the time, so hydrating right at the deadline still matches.
    let label = move || match left() {
        Some(ms) if ms > 0 => "Time left to pay:",
        _ => "Reservation:",
    };
    let value = move || match left() {
        Some(ms) if ms > 0 => format_remaining(ms),
        Some(_) => "Order expired".to_owned(),
        None => "unknown".to_owned(),
    };
    view! {
        <p class="order-timer">
            <span class="muted">{label}</span>
            " "
            <span class="countdown" role="timer" data-expires-at=expires_at>
                {value}
            </span>
        </p>
    }
}
