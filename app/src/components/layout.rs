//! The header and footer around every page.
use leptos::prelude::*;
use leptos_router::components::A;

use crate::Viewer;

#[component]
pub fn Header() -> impl IntoView {
    let viewer = expect_context::<Viewer>();
    let sign_out = viewer.sign_out;
    let account = move || {
        viewer.user.get().map(|result| match result.ok().flatten() {
            Some(user) => view! {
                <A href="/tickets/new" attr:class="nav-link">
                    "Sell a ticket"
                </A>
                <A href="/orders" attr:class="nav-link">
                    "My orders"
                </A>
                {user
                    .is_admin
                    .then(|| {
                        view! {
                            <A href="/admin/users" attr:class="nav-link">
                                "Users"
                            </A>
                        }
                    })}
                <span class="user-email" data-testid="user-email" title=user.email.clone()>
                    {user.email.clone()}
                </span>
                <ActionForm action=sign_out attr:class="nav-form">
                    <button type="submit" class="nav-link link-button">
                        "Sign out"
                    </button>
                </ActionForm>
            }
            .into_any(),
            None => view! {
                <A href="/auth/signup" attr:class="nav-link">
                    "Sign up"
                </A>
                <A href="/auth/signin" attr:class="nav-link button">
                    "Sign in"
                </A>
            }
            .into_any(),
        })
    };
    view! {
        <header class="site-header">
            <div class="site-header-inner">
                <A href="/" attr:class="brand">
                    "Ticketing"
                </A>
                <nav class="nav" aria-label="Main">
                    <A href="/how-it-works" attr:class="nav-link">
                        "How it works"
                    </A>
                    <Transition fallback=|| ()>{account}</Transition>
                </nav>
            </div>
        </header>
    }
}

#[component]
pub fn Footer() -> impl IntoView {
    view! {
        <footer class="site-footer">
            <div class="container">
                "Ticketing · tickets are held for you while you pay, and never sold twice."
            </div>
        </footer>
    }
}
