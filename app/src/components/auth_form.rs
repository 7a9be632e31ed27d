//! The sign-up / sign-in form, showing the API's errors next to the fields.
use common::dto::Credentials;
use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;

use super::errors::{FieldError, FormError};
use crate::api::{self, ApiError};
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
}

#[component]
pub fn AuthForm(mode: AuthMode) -> impl IntoView {
    let session = expect_context::<Session>();
    let navigate = use_navigate();
    let email = RwSignal::new(String::new());
    let password = RwSignal::new(String::new());
    let error = RwSignal::new(None::<ApiError>);
    let pending = RwSignal::new(false);

    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        if pending.get_untracked() {
            return;
        }
        pending.set(true);
        let credentials = Credentials {
            email: email.get_untracked(),
            password: password.get_untracked(),
        };
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            let result = match mode {
                AuthMode::SignUp => api::sign_up(&credentials).await,
                AuthMode::SignIn => api::sign_in(&credentials).await,
            };
            pending.set(false);
            match result {
                Ok(_) => {
                    error.set(None);
                    session.changed();
                    navigate("/", Default::default());
                }
                Err(err) => error.set(Some(err)),
            }
        });
    };

    let field_error =
        move |field: &'static str| error.with(|e| e.as_ref().and_then(|e| e.field(field)));
    let (other_prompt, other_href, other_label) = match mode {
        AuthMode::SignUp => ("Already have an account?", "/auth/signin", "Sign in"),
        AuthMode::SignIn => ("New to Ticketing?", "/auth/signup", "Create an account"),
    };

    view! {
        <div class="card auth-card">
            <h1>{mode.title()}</h1>
            <form class="form" novalidate on:submit=on_submit>
                <div class="field">
                    <label for="email">"Email"</label>
                    <input
                        id="email"
                        name="email"
                        type="email"
                        autocomplete="email"
                        required
                        aria-invalid=move || field_error("email").is_some().to_string()
                        bind:value=email
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
                        aria-invalid=move || field_error("password").is_some().to_string()
                        bind:value=password
                    />
                    <FieldError error field="password" />
                </div>
                <FormError error />
                <button type="submit" class="button" disabled=move || pending.get()>
                    {mode.title()}
                </button>
            </form>
            <p class="form-footer">
                {other_prompt} " " <A href=other_href>{other_label}</A>
            </p>
        </div>
    }
}
