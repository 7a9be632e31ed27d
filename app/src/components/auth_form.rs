//! The sign-up / sign-in form: a POST to its server function (so it works before and
//! without hydration, and never puts the password in the address), errors by the fields.
use leptos::prelude::*;
use leptos_router::components::A;

use super::errors::{form_errors, FieldError, FormError};
use crate::error::ApiError;
use crate::flash;
use crate::Session;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    SignUp,
    SignIn,
}

impl AuthMode {
    fn title(self) -> &'static str {
        match self {
            Self::SignUp => "Sign up",
            Self::SignIn => "Sign in",
        }
    }

    fn form(self) -> &'static str {
        match self {
            Self::SignUp => "sign_up",
            Self::SignIn => "sign_in",
        }
    }
}

#[component]
pub fn AuthForm(mode: AuthMode) -> impl IntoView {
    let session = expect_context::<Session>();
    let flash = flash::take(mode.form());
    let email = flash
        .as_ref()
        .and_then(|f| f.value("email"))
        .unwrap_or_default();
    let (other_prompt, other_href, other_label) = match mode {
        AuthMode::SignUp => ("Already have an account?", "/auth/signin", "Sign in"),
        AuthMode::SignIn => ("New to Ticketing?", "/auth/signup", "Create an account"),
    };
    let form = match mode {
        AuthMode::SignUp => {
            let action = session.sign_up;
            let error = form_errors(action.value(), flash.as_ref());
            let pending = action.pending();
            view! {
                <ActionForm action attr:class="form" attr:novalidate=true>
                    <AuthFields mode email error pending />
                </ActionForm>
            }
            .into_any()
        }
        AuthMode::SignIn => {
            let action = session.sign_in;
            let error = form_errors(action.value(), flash.as_ref());
            let pending = action.pending();
            view! {
                <ActionForm action attr:class="form" attr:novalidate=true>
                    <AuthFields mode email error pending />
                </ActionForm>
            }
            .into_any()
        }
    };
    view! {
        <div class="card auth-card">
            <h1>{mode.title()}</h1>
            {form}
            <p class="form-footer">
                {other_prompt} " " <A href=other_href>{other_label}</A>
            </p>
        </div>
    }
}

#[component]
fn AuthFields(
    mode: AuthMode,
    email: String,
    error: Signal<Option<ApiError>>,
    pending: Memo<bool>,
) -> impl IntoView {
    let invalid = move |field: &'static str| {
        move || {
            error
                .with(|e| e.as_ref().and_then(|e| e.field(field)).is_some())
                .to_string()
        }
    };
    view! {
        <div class="field">
            <label for="email">"Email"</label>
            <input
                id="email"
                name="email"
                type="email"
                autocomplete="email"
                required
                value=email
                aria-invalid=invalid("email")
            />
            <FieldError error field="email" />
        </div>
        <div class="field">
            <label for="password">"Password"</label>
            <input
                id="password"
                name="password"
                type="password"
                autocomplete=if mode == AuthMode::SignUp { "new-password" } else { "current-password" }
                required
                aria-invalid=invalid("password")
            />
            <FieldError error field="password" />
        </div>
        <FormError error />
        <button type="submit" class="button" disabled=move || pending.get()>
            {mode.title()}
        </button>
    }
}
