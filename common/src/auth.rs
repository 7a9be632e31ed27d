//! Access tokens: signing, local verification, and the `CurrentUser` / `RequireAuth` extractors.
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::dto::{SessionUser, ACCESS_COOKIE};
use crate::settings::Settings;
use crate::ApiError;

/// The access token's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub id: String,
    pub email: String,
    pub iat: i64,
    pub exp: i64,
}

impl From<Claims> for SessionUser {
    fn from(c: Claims) -> Self {
        Self {
            id: c.id,
            email: c.email,
            iat: c.iat,
            exp: c.exp,
        }
    }
}

/// Keys and the explicit validation every service uses to check access tokens.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    ttl: Duration,
    cookie_secure: bool,
}

/// What the `session` cookie of a request amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    Missing,
    Valid(Claims),
    Expired,
    /// Tampered, signed with another key, another algorithm, or not a JWT at all.
    Invalid,
}

impl JwtKeys {
    pub fn new(secret: &[u8], ttl: Duration, cookie_secure: bool) -> Self {
        // Only HS256, `exp` required and checked with no leeway: a token is valid until
        // the second it expires, and `alg: none` or RS/ES tokens never verify.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.validate_exp = true;
        validation.set_required_spec_claims(&["exp"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl,
            cookie_secure,
        }
    }

    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(
            settings.jwt_key.expose().as_bytes(),
            settings.access_token_ttl,
            settings.cookie_secure,
        )
    }

    pub fn issue(&self, id: &str, email: &str) -> anyhow::Result<String> {
        Ok(self.issue_with_claims(id, email)?.0)
    }

    /// A fresh token and the claims it carries (to answer with them without decoding it).
    pub fn issue_with_claims(&self, id: &str, email: &str) -> anyhow::Result<(String, Claims)> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            id: id.into(),
            email: email.into(),
            iat: now,
            exp: now + ttl,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    pub fn verify(&self, token: &str) -> TokenState {
        match jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation) {
            Ok(data) => TokenState::Valid(data.claims),
            Err(err)
                if matches!(
                    err.kind(),
                    jsonwebtoken::errors::ErrorKind::ExpiredSignature
                ) =>
            {
                TokenState::Expired
            }
            Err(_) => TokenState::Invalid,
        }
    }

    /// The `session` cookie carrying a fresh access token. It outlives the token itself so
    /// an expired token still reaches the server, which answers 498 and lets the client refresh.
    pub fn access_cookie(&self, token: String, lifetime: Duration) -> Cookie<'static> {
        let mut cookie = base_cookie(ACCESS_COOKIE, token, self.cookie_secure);
        cookie.set_max_age(time::Duration::seconds(
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        ));
        cookie
    }

    /// A `session` cookie that makes the browser drop the access token.
    pub fn expired_access_cookie(&self) -> Cookie<'static> {
        let mut cookie = base_cookie(ACCESS_COOKIE, String::new(), self.cookie_secure);
        cookie.make_removal();
        cookie
    }

    pub fn cookie_secure(&self) -> bool {
        self.cookie_secure
    }

    fn state_of(&self, parts: &Parts) -> TokenState {
        let jar = CookieJar::from_headers(&parts.headers);
        match jar
            .get(ACCESS_COOKIE)
            .map(Cookie::value)
            .filter(|v| !v.is_empty())
        {
            None => TokenState::Missing,
            Some(token) => self.verify(token),
        }
    }
}

fn base_cookie(name: &'static str, value: String, secure: bool) -> Cookie<'static> {
    Cookie::build((name, value))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(secure)
        .build()
}

impl<S> FromRequestParts<S> for TokenState
where
    JwtKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(JwtKeys::from_ref(state).state_of(parts))
    }
}

/// The signed-in user if the request carries a valid access token; anonymous otherwise.
#[derive(Debug, Clone)]
pub struct CurrentUser(pub Option<Claims>);

impl<S> FromRequestParts<S> for CurrentUser
where
    JwtKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        Ok(match JwtKeys::from_ref(state).state_of(parts) {
            TokenState::Valid(claims) => Self(Some(claims)),
            _ => Self(None),
        })
    }
}

/// A signed-in user, or 401 (no usable token) / 498 (token expired: refresh and retry).
#[derive(Debug, Clone)]
pub struct RequireAuth(pub Claims);

impl<S> FromRequestParts<S> for RequireAuth
where
    JwtKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match JwtKeys::from_ref(state).state_of(parts) {
            TokenState::Valid(claims) => Ok(Self(claims)),
            TokenState::Expired => Err(ApiError::TokenExpired),
            TokenState::Missing | TokenState::Invalid => Err(ApiError::NotAuthorized),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(ttl: u64) -> JwtKeys {
        JwtKeys::new(
            b"test-key-test-key-test-key-test!",
            Duration::from_secs(ttl),
            false,
        )
    }

    #[test]
    fn an_issued_token_verifies_with_its_claims() {
        let keys = keys(60);
        let token = keys.issue("u1", "a@b.co").expect("issue");
        match keys.verify(&token) {
            TokenState::Valid(c) => {
                assert_eq!((c.id.as_str(), c.email.as_str()), ("u1", "a@b.co"));
                assert_eq!(c.exp - c.iat, 60);
            }
            other => panic!("expected a valid token, got {other:?}"),
        }
    }

    #[test]
    fn a_token_signed_with_another_key_is_invalid() {
        let token = keys(60).issue("u1", "a@b.co").expect("issue");
        let other = JwtKeys::new(
            b"another-key-another-key-another!",
            Duration::from_secs(60),
            false,
        );
        assert_eq!(other.verify(&token), TokenState::Invalid);
    }

    #[test]
    fn an_alg_none_token_is_invalid() {
        let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
        let body = "eyJpZCI6InUxIiwiZW1haWwiOiJhQGIuY28iLCJpYXQiOjEsImV4cCI6NDEwMjQ0NDgwMH0";
        assert_eq!(
            keys(60).verify(&format!("{header}.{body}.")),
            TokenState::Invalid
        );
    }

    #[test]
    fn garbage_is_invalid() {
        assert_eq!(keys(60).verify("not-a-jwt"), TokenState::Invalid);
    }
}
