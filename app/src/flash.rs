//! A form posted without JavaScript gets its errors back through a redirect: the server
//! function keeps them, with the fields' non-secret values, in a short-lived cookie and sends
//! the browser back to the form, whose page shows them once and clears the cookie.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ApiError;

#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
const COOKIE: &str = "form_flash";
/// Longest field value carried back (the cookie must stay well under 4 KB).
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
const MAX_VALUE: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    /// Which form it belongs to: `sign_in`, `ticket`, `purchase`, …
    pub form: String,
    pub error: ApiError,
    pub values: Vec<(String, String)>,
}

impl Flash {
    pub fn value(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
    }
}

/// The errors left for `form` by a post without JavaScript: read (and cleared) on the
/// server, carried to the browser with the page so hydration sees the same form.
pub fn take(form: &'static str) -> Option<Flash> {
    SharedValue::new(move || read(form)).into_inner()
}

#[cfg(not(feature = "ssr"))]
fn read(_form: &str) -> Option<Flash> {
    None
}

#[cfg(feature = "ssr")]
fn read(form: &str) -> Option<Flash> {
    let parts = use_context::<http::request::Parts>()?;
    let raw = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))?;
    let flash: Flash = hex::decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())?;
    if flash.form != form {
        return None;
    }
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.append_header(
            http::header::SET_COOKIE,
            http::HeaderValue::from_static(
                "form_flash=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0",
            ),
        );
    }
    Some(flash)
}

/// Whether the request is a plain HTML form post (no JavaScript): the browser then follows
/// redirects itself and shows whatever page it lands on.
#[cfg(feature = "ssr")]
pub fn is_plain_form_post() -> bool {
    use_context::<http::request::Parts>().is_some_and(|parts| {
        parts
            .headers
            .get(http::header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/html"))
    })
}

/// Keeps `error` and `values` for the next page `form` is rendered on.
#[cfg(feature = "ssr")]
pub fn store(form: &str, error: &ApiError, values: &[(&str, &str)]) {
    let flash = Flash {
        form: form.to_owned(),
        error: error.clone(),
        values: values
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.chars().take(MAX_VALUE).collect()))
            .collect(),
    };
    let Ok(json) = serde_json::to_vec(&flash) else {
        return;
    };
    let secure = use_context::<crate::api::SsrApi>().is_some_and(|api| api.secure_cookies());
    let cookie = format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60{}",
        hex::encode(json),
        if secure { "; Secure" } else { "" }
    );
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&cookie),
    ) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}
