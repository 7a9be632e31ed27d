//! Who is signed in, loaded once per page on the server and refreshed after sign-in/out.
use common::dto::SessionUser;
use leptos::prelude::*;

use crate::api::{self, ApiError};

#[derive(Clone, Copy)]
pub struct Session {
    pub user: Resource<Result<Option<SessionUser>, ApiError>>,
    version: RwSignal<u64>,
}

impl Session {
    pub fn new() -> Self {
        let version = RwSignal::new(0_u64);
        let user = Resource::new(move || version.get(), |_| api::current_user());
        Self { user, version }
    }

    /// Reloads the current user (after signing in or out).
    pub fn changed(&self) {
        self.version.update(|v| *v += 1);
    }
}

impl Default for Session {
    fn default() -> Self {
        Self::new()
    }
}
