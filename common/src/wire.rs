//! How the browser, the web tier and the services spell things on the wire: header, cookie
//! and media-type names, and percent-encoding of URL parts. Plain strings with no server
//! dependency, so the browser build uses the same ones; `common::http` makes typed header
//! names of them.

/// Header names the HTTP standard library has no constant for (lowercase, as sent).
pub mod header {
    /// One request's id: from the gateway to the web tier, from the web tier to the
    /// services it calls, and back in every response.
    pub const REQUEST_ID: &str = "x-request-id";
    /// The client's address as the proxies in front saw it.
    pub const FORWARDED_FOR: &str = "x-forwarded-for";
    /// What the browser says about where a request comes from (`same-origin`, `cross-site`…).
    pub const SEC_FETCH_SITE: &str = "sec-fetch-site";
}

/// Cookie names. The Rust names say what each holds; the wire names are what browsers
/// already store, so they stay.
pub mod cookie {
    /// The access token (a signed JWT), verified locally by every service.
    pub const ACCESS_TOKEN: &str = "session";
    /// The refresh session's id, read only by the auth service.
    pub const REFRESH_SESSION: &str = "refresh";
    /// A no-JavaScript form's errors, carried across its redirect by the web app.
    pub const FORM_FLASH: &str = "form_flash";
}

/// Media types, as `Content-Type` and `Accept` spell them (compare with `starts_with` or
/// `contains`: a header may add parameters or list several).
pub mod media {
    /// API request and response bodies, the error envelope included.
    pub const JSON: &str = "application/json";
    /// Rendered pages: what gets a locked-down CSP, and what a no-JavaScript form accepts.
    pub const HTML: &str = "text/html";
    /// A bare error text, which the API's error layer rewraps in the envelope.
    pub const PLAIN_TEXT: &str = "text/plain";
}

/// Percent-encodes `text` for one URL path segment or query value: everything but RFC 3986's
/// unreserved characters becomes `%XX`, so the result is also safe between the `<>` of a
/// `Link` header.
pub fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Decodes a query value: `%XX` to its byte, `+` to a space; a `%` not followed by two hex
/// digits stays as it is, and bytes that aren't UTF-8 become U+FFFD.
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::{percent_decode, percent_encode};

    #[test]
    fn components_are_percent_encoded() {
        assert_eq!(percent_encode("a b&c/é"), "a%20b%26c%2F%C3%A9");
        assert_eq!(percent_encode("Az09-_.~"), "Az09-_.~");
    }

    #[test]
    fn query_values_are_decoded() {
        assert_eq!(percent_decode("ab%2Dc"), "ab-c");
        assert_eq!(percent_decode("a+b%20c"), "a b c");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%FF"), "\u{FFFD}");
    }

    #[test]
    fn decoding_undoes_encoding() {
        for text in ["plain", "a b&c=d/é", "%+~", ""] {
            assert_eq!(percent_decode(&percent_encode(text)), text);
        }
    }
}
