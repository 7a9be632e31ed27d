//! Signing up, in and out.
use leptos::prelude::*;
use leptos_meta::Title;

use crate::components::{AuthForm, AuthMode};
use crate::Viewer;

#[component]
pub fn SignUp() -> impl IntoView {
    view! {
        <Title text="Sign up" />
        <AuthForm mode=AuthMode::SignUp />
    }
}

#[component]
pub fn SignIn() -> impl IntoView {
    view! {
        <Title text="Sign in" />
        <AuthForm mode=AuthMode::SignIn />
    }
}

/// Signing out changes state, so it is a POST (a link could be followed by anyone's page).
#[component]
pub fn SignOut() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    view! {
        <Title text="Sign out" />
        <div class="card auth-card">
            <h1>"Sign out"</h1>
            <ActionForm action=viewer.sign_out attr:class="form">
                <p class="muted">"Sign out of Ticketing on this browser?"</p>
                <button type="submit" class="button">
                    "Sign out"
                </button>
            </ActionForm>
        </div>
    }
}
