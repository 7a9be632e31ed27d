//! The viewer: who is looking at the page, signed in or not. Loaded once per page on the
//! server, and again after each sign-in, sign-up or sign-out (the actions live here so the
//! header and the forms share them).
use common::dto::SignedInUser;
use leptos::prelude::*;

use crate::error::ServiceError;
use crate::functions::{current_user, SignIn, SignOut, SignUp};

/// The page's context of who is signed in, provided by `App` to every page.
#[derive(Clone, Copy)]
pub struct Viewer {
    /// The signed-in user, `None` for a visitor.
    pub user: Resource<Result<Option<SignedInUser>, ServiceError>>,
    pub sign_in: ServerAction<SignIn>,
    pub sign_up: ServerAction<SignUp>,
    pub sign_out: ServerAction<SignOut>,
}

impl Viewer {
    pub fn new() -> Self {
        let sign_in = ServerAction::<SignIn>::new();
        let sign_up = ServerAction::<SignUp>::new();
        let sign_out = ServerAction::<SignOut>::new();
        // Loaded once per page; the browser reloads it after each sign-in, sign-up or
        // sign-out (effects only run there), so rendering on the server tracks nothing.
        let user = Resource::new(|| (), |_| current_user());
        Effect::new(move |seen: Option<(usize, usize, usize)>| {
            let versions = (
                sign_in.version().get(),
                sign_up.version().get(),
                sign_out.version().get(),
            );
            if seen.is_some_and(|seen| seen != versions) {
                user.refetch();
            }
            versions
        });
        Self {
            user,
            sign_in,
            sign_up,
            sign_out,
        }
    }

    /// The signed-in user, once loaded (tracks the resource).
    pub fn signed_in(&self) -> Option<SignedInUser> {
        self.user.get().and_then(|r| r.ok().flatten())
    }
}

impl Default for Viewer {
    fn default() -> Self {
        Self::new()
    }
}
