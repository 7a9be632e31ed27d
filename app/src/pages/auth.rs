//! Signing up, in and out.
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

use crate::api;
use crate::components::{AuthForm, AuthMode};
use crate::Session;

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

#[component]
pub fn SignOut() -> impl IntoView {
    let session = expect_context::<Session>();
    let navigate = use_navigate();
    Effect::new(move |_| {
        let navigate = navigate.clone();
        leptos::task::spawn_local(async move {
            // Signing out locally matters more than the server's answer.
            let _ = api::sign_out().await;
            session.changed();
            navigate(
                "/",
                NavigateOptions {
                    replace: true,
                    ..Default::default()
                },
            );
        });
    });
    view! {
        <Title text="Signing out" />
        <p class="muted loading">"Signing you out…"</p>
    }
}
