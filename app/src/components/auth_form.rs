//! The sign-up / sign-in form: a POST to its server function (so it works before and
//! without hydration, and never puts the password in the address), errors by the fields.
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_query_map;

use super::errors::{form_errors, FormError, TextField};
use crate::error::ServiceError;
use crate::flash::{self, FormId};
use common::wire::percent_encode;

use crate::format::local_path;
use crate::Viewer;

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

    fn form(self) -> FormId {
        match self {
            Self::SignUp => FormId::SignUp,
            Self::SignIn => FormId::SignIn,
        }
    }
}

#[component]
pub fn AuthForm(mode: AuthMode) -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let flash = flash::take(mode.form());
    let email = flash
        .as_ref()
        .and_then(|f| f.value("email"))
        .unwrap_or_default();
    // Where to go once signed in (`?next=`, a page of this site only), kept when switching
    // between signing in and up.
    let next = use_query_map()
        .read_untracked()
        .get("next")
        .filter(|next| local_path(next).is_some());
    let (other_prompt, other_href, other_label) = match mode {
        AuthMode::SignUp => ("Already have an account?", "/auth/signin", "Sign in"),
        AuthMode::SignIn => ("New to Ticketing?", "/auth/signup", "Create an account"),
    };
    let other_href = match &next {
        Some(next) => format!("{other_href}?next={}", percent_encode(next)),
        None => other_href.to_owned(),
    };
    let form = match mode {
        AuthMode::SignUp => {
            let action = viewer.sign_up;
            let error = form_errors(action.value(), flash.as_ref());
            let pending = action.pending();
            view! {
                <ActionForm action attr:class="form" attr:novalidate=true>
                    <AuthFields mode email next=next.clone() error pending />
                </ActionForm>
            }
            .into_any()
        }
        AuthMode::SignIn => {
            let action = viewer.sign_in;
            let error = form_errors(action.value(), flash.as_ref());
            let pending = action.pending();
            view! {
                <ActionForm action attr:class="form" attr:novalidate=true>
                    <AuthFields mode email next error pending />
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
    next: Option<String>,
    error: Signal<Option<ServiceError>>,
    pending: Memo<bool>,
) -> impl IntoView {
    let password_autocomplete = match mode {
        AuthMode::SignUp => "new-password",
        AuthMode::SignIn => "current-password",
    };
    view! {
        {next.map(|next| view! { <input type="hidden" name="next" value=next /> })}
        <TextField name="email" label="Email" kind="email" value=email autocomplete="email" error />
        <TextField
            name="password"
            label="Password"
            kind="password"
            autocomplete=password_autocomplete
            error
        />
        <FormError error />
        <button type="submit" class="button" disabled=move || pending.get()>
            {mode.title()}
        </button>
    }
}
