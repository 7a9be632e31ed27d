//! The API's errors shown in forms: next to their field, or above the buttons.
use leptos::prelude::*;

use crate::api::ApiError;

/// The message for one field, as `p.field-error[data-field=…]`.
#[component]
pub fn FieldError(error: RwSignal<Option<ApiError>>, field: &'static str) -> impl IntoView {
    move || {
        error
            .with(|e| e.as_ref().and_then(|e| e.field(field)))
            .map(|message| view! { <p class="field-error" data-field=field>{message}</p> })
    }
}

/// Messages not tied to a field (or, with `all`, every message) as `div.form-error`.
#[component]
pub fn FormError(
    error: RwSignal<Option<ApiError>>,
    /// Also show field messages: for actions that have no fields of their own.
    #[prop(optional)]
    all: bool,
) -> impl IntoView {
    move || {
        error
            .with(|e| {
                e.as_ref()
                    .map(|e| if all { e.messages() } else { e.general() })
                    .filter(|messages| !messages.is_empty())
            })
            .map(|messages| {
                view! {
                    <div class="form-error" role="alert">
                        {messages.into_iter().map(|m| view! { <p>{m}</p> }).collect_view()}
                    </div>
                }
            })
    }
}
