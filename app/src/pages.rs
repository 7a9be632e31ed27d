//! The app's pages.
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;
use leptos_router::hooks::use_navigate;
use leptos_router::NavigateOptions;

use crate::api;
use crate::components::{AuthForm, AuthMode};
use crate::Session;

#[component]
pub fn Landing() -> impl IntoView {
    let session = expect_context::<Session>();
    let signed_in = move || session.user.get().and_then(|r| r.ok().flatten()).is_some();
    view! {
        <Title text="" />
        <section class="hero">
            <h1>"Buy and sell tickets, safely"</h1>
            <p class="lead">
                "List the tickets you can't use. Buy the ones you want. When you start a purchase the
                ticket is held for you alone while you pay, so it is never sold twice."
            </p>
            <Transition fallback=|| ()>
                <div class="hero-actions">
                    {move || {
                        if signed_in() {
                            view! {
                                <A href="/how-it-works" attr:class="button">
                                    "See how it works"
                                </A>
                            }
                                .into_any()
                        } else {
                            view! {
                                <A href="/auth/signup" attr:class="button">
                                    "Get started"
                                </A>
                                <A href="/how-it-works" attr:class="button secondary">
                                    "How it works"
                                </A>
                            }
                                .into_any()
                        }
                    }}
                </div>
            </Transition>
        </section>
        <section class="features">
            <div class="card feature">
                <h3>"Held while you pay"</h3>
                <p>"Starting a purchase reserves the ticket for 15 minutes. Nobody else can buy it meanwhile."</p>
            </div>
            <div class="card feature">
                <h3>"Never sold twice"</h3>
                <p>"One ticket, one buyer: the marketplace guarantees it even when many people click at once."</p>
            </div>
            <div class="card feature">
                <h3>"Fair to sellers"</h3>
                <p>"Set your price and edit it any time the ticket isn't reserved."</p>
            </div>
        </section>
    }
}

#[component]
pub fn HowItWorks() -> impl IntoView {
    view! {
        <Title text="How it works" />
        <h1>"How it works"</h1>
        <ol class="steps">
            <li>
                <strong>"Sellers list tickets."</strong>
                " Give the event a title and set a price. You can change either until someone reserves it."
            </li>
            <li>
                <strong>"Buyers reserve."</strong>
                " Pressing Purchase holds the ticket for you for 15 minutes; nobody else can order it."
            </li>
            <li>
                <strong>"Pay inside the window."</strong>
                " Pay before the timer runs out and the ticket is yours. If you don't, it is released for others."
            </li>
        </ol>
        <p class="notice">"Your card is only charged for a ticket you actually get."</p>
    }
}

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

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Page not found" />
        <div class="not-found">
            <h1>"Page not found"</h1>
            <p class="muted">"There is nothing at this address."</p>
            <A href="/" attr:class="button">
                "Back to the start"
            </A>
        </div>
    }
}
