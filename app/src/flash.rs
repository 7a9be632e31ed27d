//! A form posted without JavaScript gets its errors back through a redirect: the server
//! function keeps them, with the fields' non-secret values, in a short-lived cookie and sends
//! the browser back to the form, whose page shows them once and clears the cookie. The cookie
//! is signed: one planted by someone else (a sibling subdomain, a shared browser) is ignored
//! rather than shown as our message.
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;

#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
const COOKIE: &str = common::wire::cookie::FORM_FLASH;
/// Longest field value carried back (the cookie must stay well under 4 KB).
#[cfg_attr(not(feature = "ssr"), allow(dead_code))]
const MAX_VALUE: usize = 200;

/// The forms that post to a server function: the function names the form its errors go
/// back to, and the page asks for the errors of the form it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormId {
    SignUp,
    SignIn,
    /// Listing a new ticket or editing one.
    Ticket,
    /// The Purchase button, which creates an order.
    Purchase,
    Pay,
    Cancel,
    /// The seller's Relist button on a withdrawn ticket.
    Relist,
    /// An admin's Ban or Unban button on `/admin/users`.
    Ban,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub form: FormId,
    pub error: ServiceError,
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

/// The key `form_flash` cookies are signed with (a context value of the web tier).
#[cfg(feature = "ssr")]
#[derive(Clone)]
pub struct FlashKey([u8; 32]);

#[cfg(feature = "ssr")]
use hmac::Mac as _;

#[cfg(feature = "ssr")]
type Mac = hmac::Hmac<sha2::Sha256>;

#[cfg(feature = "ssr")]
impl FlashKey {
    /// A key of its own, derived from the site's secret (`JWT_KEY`), so a flash signature
    /// is never a valid signature of anything else.
    pub fn derive(secret: &[u8]) -> Self {
        Self(
            mac_with(secret, &[b"ticketing form_flash cookie key"])
                .finalize()
                .into_bytes()
                .into(),
        )
    }

    fn sign(&self, payload: &str) -> String {
        hex::encode(
            mac_with(&self.0, &[payload.as_bytes()])
                .finalize()
                .into_bytes(),
        )
    }

    /// Whether `signature` (hex) is this key's for `payload`, compared in constant time.
    fn verifies(&self, payload: &str, signature: &str) -> bool {
        hex::decode(signature).is_ok_and(|signature| {
            mac_with(&self.0, &[payload.as_bytes()])
                .verify_slice(&signature)
                .is_ok()
        })
    }
}

#[cfg(feature = "ssr")]
fn mac_with(key: &[u8], parts: &[&[u8]]) -> Mac {
    let mut mac = Mac::new_from_slice(key).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(part);
    }
    mac
}

/// The errors left for `form` by a post without JavaScript: read (and cleared) on the
/// server, carried to the browser with the page so hydration sees the same form.
pub fn take(form: FormId) -> Option<Flash> {
    SharedValue::new(move || read(form)).into_inner()
}

#[cfg(not(feature = "ssr"))]
fn read(_form: FormId) -> Option<Flash> {
    None
}

#[cfg(feature = "ssr")]
fn read(form: FormId) -> Option<Flash> {
    let parts = use_context::<http::request::Parts>()?;
    let raw = parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))?;
    let key = use_context::<FlashKey>()?;
    let genuine = raw
        .split_once('.')
        .filter(|(payload, signature)| key.verifies(payload, signature));
    let Some((payload, _)) = genuine else {
        clear();
        return None;
    };
    let flash: Flash = hex::decode(payload)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())?;
    if flash.form != form {
        return None;
    }
    clear();
    Some(flash)
}

#[cfg(feature = "ssr")]
fn clear() {
    let removal = format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0");
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&removal),
    ) {
        response.append_header(http::header::SET_COOKIE, value);
    }
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
            .is_some_and(|v| v.contains(common::wire::media::HTML))
    })
}

/// Keeps `error` and `values` for the next page `form` is rendered on.
#[cfg(feature = "ssr")]
pub fn store(form: FormId, error: &ServiceError, values: &[(&str, &str)]) {
    let flash = Flash {
        form,
        error: error.clone(),
        values: values
            .iter()
            .map(|(name, value)| ((*name).to_owned(), value.chars().take(MAX_VALUE).collect()))
            .collect(),
    };
    let (Ok(json), Some(key)) = (serde_json::to_vec(&flash), use_context::<FlashKey>()) else {
        return;
    };
    let payload = hex::encode(json);
    let secure = use_context::<crate::api::SsrApi>().is_some_and(|api| api.secure_cookies());
    let cookie = format!(
        "{COOKIE}={payload}.{}; Path=/; HttpOnly; SameSite=Lax; Max-Age=60{}",
        key.sign(&payload),
        if secure { "; Secure" } else { "" }
    );
    if let (Some(response), Ok(value)) = (
        use_context::<leptos_axum::ResponseOptions>(),
        http::HeaderValue::from_str(&cookie),
    ) {
        response.append_header(http::header::SET_COOKIE, value);
    }
}
