//! `/admin/users`: admins find users by email and ban (with a reason) or unban them. A GET
//! search form and an `ActionForm` per user, so it all works without JavaScript; a visitor
//! is asked to sign in, and anyone else who isn't an admin is told it is for admins (403).
use common::dto::AdminUser;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::{ErrorMessages, SignInPrompt};
use crate::components::{form_errors, FormError};
use crate::error::ServiceError;
use crate::flash::{self, Flash, FormId};
use crate::format::format_timestamp;
use crate::functions::{find_users, BanUser, UnbanUser};

#[component]
pub fn AdminUsers() -> impl IntoView {
    let query = use_query_map();
    let search = move || query.read().get("email").unwrap_or_default();
    let ban = ServerAction::<BanUser>::new();
    let unban = ServerAction::<UnbanUser>::new();
    let users = Resource::new(
        move || (search(), ban.version().get(), unban.version().get()),
        |(email, _, _)| find_users(Some(email)),
    );
    // A ban or unban that failed without JavaScript comes back here with its errors.
    let flash = flash::take(FormId::Ban);
    view! {
        <Title text="Users · Admin" />
        <h1>"Users"</h1>
        <Transition fallback=|| view! { <p class="loading"></p> }>
            {move || {
                let flash = flash.clone();
                users
                    .get()
                    .map(|result| match result {
                        Ok(found) => {
                            let ban_error = form_errors(ban.value(), flash.as_ref());
                            let unban_error = form_errors(unban.value(), None);
                            view! {
                                <SearchForm search=search() />
                                <FormError error=ban_error all=true />
                                <FormError error=unban_error all=true />
                                <UserTable users=found.users search=search() ban unban flash />
                            }
                                .into_any()
                        }
                        Err(error) => view! { <AdminError error search=search() /> }.into_any(),
                    })
            }}
        </Transition>
    }
}

/// A plain GET form: the search is in the address, with or without JavaScript.
#[component]
fn SearchForm(search: String) -> impl IntoView {
    view! {
        <form method="get" action="/admin/users" class="search" role="search">
            <label for="email" class="visually-hidden">
                "Search users by email"
            </label>
            <input
                id="email"
                name="email"
                type="search"
                maxlength="254"
                placeholder="Search by email"
                value=search
            />
            <button type="submit" class="button secondary">
                "Search"
            </button>
        </form>
    }
}

#[component]
fn UserTable(
    users: Vec<AdminUser>,
    search: String,
    ban: ServerAction<BanUser>,
    unban: ServerAction<UnbanUser>,
    flash: Option<Flash>,
) -> impl IntoView {
    if users.is_empty() {
        return view! { <p class="muted">"No users match."</p> }.into_any();
    }
    view! {
        <div class="table-wrap">
            <table class="table users-table">
                <thead>
                    <tr>
                        <th scope="col">"Email"</th>
                        <th scope="col">"State"</th>
                        <th scope="col">"Action"</th>
                    </tr>
                </thead>
                <tbody>
                    {users
                        .into_iter()
                        .map(|user| {
                            // Only the form the flash came from shows its errors.
                            let flash = flash
                                .clone()
                                .filter(|f| f.value("id").as_deref() == Some(user.id.as_str()));
                            view! { <UserRow user search=search.clone() ban unban flash /> }
                        })
                        .collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

#[component]
fn UserRow(
    user: AdminUser,
    search: String,
    ban: ServerAction<BanUser>,
    unban: ServerAction<UnbanUser>,
    flash: Option<Flash>,
) -> impl IntoView {
    let AdminUser {
        id,
        email,
        banned_at,
        ban_reason,
    } = user;
    let state = match &banned_at {
        Some(at) => view! {
            <span class="badge sold">"Banned"</span>
            <span class="muted">
                " since " <time datetime=at.clone()>{format_timestamp(at)}</time> ": "
                {ban_reason.clone().unwrap_or_default()}
            </span>
        }
        .into_any(),
        None => view! { <span class="badge for-sale">"Active"</span> }.into_any(),
    };
    // The forms' children are closures of their own: they get copies.
    let form_id = id.clone();
    let action = if banned_at.is_some() {
        view! {
            <ActionForm action=unban attr:class="inline-form">
                <input type="hidden" name="id" value=form_id.clone() />
                <input type="hidden" name="email" value=search.clone() />
                <button type="submit" class="button secondary">
                    "Unban"
                </button>
            </ActionForm>
        }
        .into_any()
    } else {
        // A failed ban without JavaScript keeps its reason in its own row.
        let reason = flash
            .as_ref()
            .and_then(|f| f.value("reason"))
            .unwrap_or_default();
        let field = format!("reason-{id}");
        let label = format!("Reason for banning {email}");
        view! {
            <ActionForm action=ban attr:class="inline-form" attr:novalidate=true>
                <input type="hidden" name="id" value=form_id.clone() />
                <input type="hidden" name="email" value=search.clone() />
                <label for=field.clone() class="visually-hidden">
                    {label.clone()}
                </label>
                <input
                    id=field
                    name="reason"
                    type="text"
                    required
                    maxlength="500"
                    placeholder="Reason"
                    value=reason
                />
                <button type="submit" class="button danger">
                    "Ban"
                </button>
            </ActionForm>
        }
        .into_any()
    };
    view! {
        <tr data-user-id=id.clone()>
            <td data-label="Email">{email.clone()}</td>
            <td data-label="State">{state}</td>
            <td data-label="Action">{action}</td>
        </tr>
    }
}

/// Visitors are asked to sign in; signed-in non-admins are told the page is for admins.
#[component]
fn AdminError(error: ServiceError, search: String) -> impl IntoView {
    if error.is_unauthorized() {
        view! { <SignInPrompt message="Sign in as an admin to manage users." /> }.into_any()
    } else if error.is_forbidden() {
        set_status_forbidden();
        view! {
            <div class="empty-state">
                <h2>"Admins only"</h2>
                <p>"This page is for the site's admins."</p>
            </div>
        }
        .into_any()
    } else {
        // A search the service refused: say why, and offer the search again.
        view! {
            <SearchForm search />
            <ErrorMessages error />
        }
        .into_any()
    }
}

/// Answers 403 when rendering on the server; nothing in the browser.
fn set_status_forbidden() {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::FORBIDDEN);
    }
}
