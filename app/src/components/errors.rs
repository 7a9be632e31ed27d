//! Errors shown in forms: next to their field, or above the buttons; and the errors a form
//! currently has, from its last submission or carried over a no-JavaScript redirect.
use leptos::prelude::*;

use crate::error::ServiceError;
use crate::flash::Flash;

/// The errors of a form whose action's latest value is `value`; until it is submitted
/// (with JavaScript), those `flash` brought back from a post without it.
pub fn form_errors<T: 'static>(
    value: impl With<Value = Option<Result<T, ServiceError>>> + Send + Sync + 'static,
    flash: Option<&Flash>,
) -> Signal<Option<ServiceError>> {
    let carried = flash.map(|f| f.error.clone());
    Signal::derive(move || {
        value.with(|latest| match latest {
            Some(Ok(_)) => None,
            Some(Err(error)) => Some(error.clone()),
            None => carried.clone(),
        })
    })
}

/// A labelled, required input whose id is its name; marked invalid, and followed by the
/// message, when the form's errors name it.
#[component]
pub fn TextField(
    name: &'static str,
    label: &'static str,
    error: Signal<Option<ServiceError>>,
    #[prop(default = "text")] kind: &'static str,
    #[prop(optional)] value: Option<String>,
    #[prop(optional)] autocomplete: Option<&'static str>,
    #[prop(optional)] placeholder: Option<&'static str>,
    #[prop(optional)] inputmode: Option<&'static str>,
    #[prop(optional)] maxlength: Option<&'static str>,
) -> impl IntoView {
    let invalid = move || {
        error
            .with(|e| e.as_ref().and_then(|e| e.field(name)).is_some())
            .to_string()
    };
    view! {
        <div class="field">
            <label for=name>{label}</label>
            <input
                id=name
                name=name
                type=kind
                required
                value=value
                autocomplete=autocomplete
                placeholder=placeholder
                inputmode=inputmode
                maxlength=maxlength
                aria-invalid=invalid
            />
            <FieldError error field=name />
        </div>
    }
}

/// The message for one field, as `p.field-error[data-field=…]`.
#[component]
pub fn FieldError(error: Signal<Option<ServiceError>>, field: &'static str) -> impl IntoView {
    move || {
        error
            .with(|e| e.as_ref().and_then(|e| e.field(field)))
            .map(|message| view! { <p class="field-error" data-field=field>{message}</p> })
    }
}

/// Messages not tied to a field (or, with `all`, every message) as `div.form-error`.
#[component]
pub fn FormError(
    error: Signal<Option<ServiceError>>,
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
