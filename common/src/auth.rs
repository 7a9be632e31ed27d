//! Access tokens: signing, local verification, the deny-list of revoked token ids, and the
//! `CurrentUser` / `RequireAuth` extractors.
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum_extra::extract::cookie::{Cookie, CookieJar, SameSite};
use fred::prelude::{Expiration, KeysInterface, Pool};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::bans::BannedUsers;
use crate::dto::SignedInUser;
use crate::settings::Settings;
use crate::wire::cookie::ACCESS_TOKEN as ACCESS_TOKEN_COOKIE;
use crate::ApiError;

/// The access token's payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The signed-in user's id, which the services key that user's data by.
    pub id: String,
    /// The user's email at sign-in, for showing who is signed in.
    pub email: String,
    /// When the token was issued (Unix seconds).
    pub iat: i64,
    /// When the token stops verifying (Unix seconds); a revocation lasts until then.
    pub exp: i64,
    /// The token's own id, what a revocation names. Empty only in tokens issued before
    /// tokens carried one (they are never revoked, and expire on their own).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub jti: String,
    /// The sign-in it was issued under (the one that started its refresh sessions): revoking
    /// that ends every token the sign-in was given. Empty for tokens issued outside a sign-in.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub sid: String,
}

impl From<Claims> for SignedInUser {
    fn from(c: Claims) -> Self {
        Self {
            id: c.id,
            email: c.email,
            iat: c.iat,
            exp: c.exp,
            is_admin: false,
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
    deny: DenyList,
    /// The users this service has recorded as banned (see [`crate::bans`]).
    banned: BannedUsers,
}

/// What the access token a request carries amounts to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenState {
    /// The request carries no access token.
    Missing,
    /// Well signed and unexpired (and, from [`JwtKeys::check`], not revoked): its claims.
    Valid(Claims),
    /// Well signed but past its expiry: the client should refresh and retry.
    Expired,
    /// Tampered, signed with another key, another algorithm, or not a JWT at all.
    Invalid,
    /// Well signed and unexpired, but revoked (its user signed out).
    Revoked,
    /// Well signed and unexpired, but its user is banned.
    Suspended,
    /// Well signed, but the deny-list could not be asked (Redis is away): not to be trusted,
    /// not to be thrown away either.
    Unchecked,
}

impl JwtKeys {
    /// Keys for `secret` issuing tokens that live `ttl`, in cookies `Secure` if `cookie_secure`.
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
            deny: DenyList::Embedded,
            banned: BannedUsers::default(),
        }
    }

    /// The configured keys with the process's own deny-list: enough to issue and verify.
    pub fn from_settings(settings: &Settings) -> Self {
        Self::new(
            settings.jwt_key.expose().as_bytes(),
            settings.access_token_ttl,
            settings.cookie_secure,
        )
    }

    /// The configured keys checking the deny-list every service shares: Redis's (`redis`,
    /// connected from `REDIS_URL`) when configured, else this process's.
    pub fn with_deny_list(settings: &Settings, redis: Option<Pool>) -> Self {
        let mut keys = Self::from_settings(settings);
        if let Some(pool) = redis {
            keys.deny = DenyList::Redis {
                pool,
                prefix: settings.redis_prefix.as_str().into(),
            };
        }
        keys
    }

    /// [`with_deny_list`](Self::with_deny_list) connecting to `REDIS_URL` itself.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        let redis = crate::redis::connect_configured(settings).await?;
        Ok(Self::with_deny_list(settings, redis))
    }

    /// These keys, refusing the users in `banned` (the service's recorded bans).
    pub fn with_banned(mut self, banned: BannedUsers) -> Self {
        self.banned = banned;
        self
    }

    /// Refuses every token of the user `id` from now on (until [`unban`](Self::unban)): in
    /// this process at once, and in every service through Redis's ban key when configured.
    pub async fn ban(&self, id: &str) -> anyhow::Result<()> {
        self.banned.insert(id);
        if let DenyList::Redis { pool, prefix } = &self.deny {
            let key = format!("{prefix}:auth:{}", DenyList::ban_key(id));
            pool.set::<(), _, _>(key, 1, None, None, false).await?;
        }
        Ok(())
    }

    /// Ends [`ban`](Self::ban).
    pub async fn unban(&self, id: &str) -> anyhow::Result<()> {
        self.banned.remove(id);
        if let DenyList::Redis { pool, prefix } = &self.deny {
            let key = format!("{prefix}:auth:{}", DenyList::ban_key(id));
            pool.del::<(), _>(key).await?;
        }
        Ok(())
    }

    /// Ends the token `claims` came from before its expiry, in every service at once.
    pub async fn revoke(&self, claims: &Claims) -> anyhow::Result<()> {
        self.deny
            .add(DenyList::token_key(&claims.jti), claims.exp)
            .await
    }

    /// Ends every token issued under the sign-in `sid` so far (kept for one token lifetime,
    /// after which none of them is left).
    pub async fn revoke_sign_in(&self, sid: &str) -> anyhow::Result<()> {
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let until = chrono::Utc::now().timestamp() + ttl;
        self.deny.add(DenyList::sign_in_key(sid), until).await
    }

    /// A fresh access token for the user `id`, issued outside any sign-in.
    pub fn issue(&self, id: &str, email: &str) -> anyhow::Result<String> {
        Ok(self.issue_with_claims(id, email)?.0)
    }

    /// A fresh token and the claims it carries (to answer with them without decoding it).
    pub fn issue_with_claims(&self, id: &str, email: &str) -> anyhow::Result<(String, Claims)> {
        self.issue_for_sign_in(id, email, "")
    }

    /// [`issue_with_claims`](Self::issue_with_claims) under the sign-in `sid`.
    pub fn issue_for_sign_in(
        &self,
        id: &str,
        email: &str,
        sid: &str,
    ) -> anyhow::Result<(String, Claims)> {
        let now = chrono::Utc::now().timestamp();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            id: id.into(),
            email: email.into(),
            iat: now,
            exp: now + ttl,
            jti: uuid::Uuid::new_v4().simple().to_string(),
            sid: sid.into(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// `token` by its signature and expiry alone; [`check`](Self::check) asks the deny-list too.
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

    /// The cookie carrying a fresh access token. It outlives the token itself so
    /// an expired token still reaches the server, which answers 498 and lets the client refresh.
    pub fn access_cookie(&self, token: String, lifetime: Duration) -> Cookie<'static> {
        let mut cookie = base_cookie(ACCESS_TOKEN_COOKIE, token, self.cookie_secure);
        cookie.set_max_age(time::Duration::seconds(
            i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        ));
        cookie
    }

    /// The access token's cookie, expired: the browser drops the token.
    pub fn expired_access_cookie(&self) -> Cookie<'static> {
        let mut cookie = base_cookie(ACCESS_TOKEN_COOKIE, String::new(), self.cookie_secure);
        cookie.make_removal();
        cookie
    }

    /// Whether the cookies it makes are marked `Secure` (sent over HTTPS only).
    pub fn cookie_secure(&self) -> bool {
        self.cookie_secure
    }

    /// [`verify`](Self::verify), then the recorded bans and the deny-list for a token that
    /// verifies.
    pub async fn check(&self, token: &str) -> TokenState {
        match self.verify(token) {
            TokenState::Valid(claims) if self.banned.contains(&claims.id) => TokenState::Suspended,
            TokenState::Valid(claims) => match self.deny.refuses(&claims).await {
                Ok(Refusal::None) => TokenState::Valid(claims),
                Ok(Refusal::Revoked) => TokenState::Revoked,
                Ok(Refusal::Banned) => TokenState::Suspended,
                Err(err) => {
                    tracing::error!(error = ?err, "could not ask the token deny-list");
                    TokenState::Unchecked
                }
            },
            other => other,
        }
    }

    async fn state_of(&self, parts: &Parts) -> TokenState {
        let jar = CookieJar::from_headers(&parts.headers);
        match jar
            .get(ACCESS_TOKEN_COOKIE)
            .map(Cookie::value)
            .filter(|v| !v.is_empty())
        {
            None => TokenState::Missing,
            Some(token) => self.check(token).await,
        }
    }
}

/// Revoked token ids, each kept until its token would have expired anyway.
#[derive(Clone)]
enum DenyList {
    /// This process's: every service of the all-in-one process shares it.
    Embedded,
    /// `{REDIS_PREFIX}:auth:revoked:{jti}` per token and `…:auth:revoked-sign-in:{sid}` per
    /// sign-in, each expiring when no token it names can be left; `…:auth:banned:{user id}`
    /// per banned user, until the unban.
    Redis { pool: Pool, prefix: Arc<str> },
}

/// Why the deny-list refuses a token, if it does.
#[derive(Debug, PartialEq, Eq)]
enum Refusal {
    None,
    Revoked,
    Banned,
}

/// The embedded list: entry → when it can go (Unix seconds).
static EMBEDDED_DENY_LIST: LazyLock<Mutex<HashMap<String, i64>>> = LazyLock::new(Mutex::default);

impl DenyList {
    /// The entry naming one token; none when it has no id (it can't be revoked alone).
    fn token_key(jti: &str) -> Option<String> {
        (!jti.is_empty()).then(|| format!("revoked:{jti}"))
    }

    /// The entry naming one sign-in; none for a token issued outside one.
    fn sign_in_key(sid: &str) -> Option<String> {
        (!sid.is_empty()).then(|| format!("revoked-sign-in:{sid}"))
    }

    /// The entry naming a banned user (Redis only: embedded bans are [`BannedUsers`]).
    fn ban_key(id: &str) -> String {
        format!("banned:{id}")
    }

    /// Lists `entry` until `until` (Unix seconds).
    async fn add(&self, entry: Option<String>, until: i64) -> anyhow::Result<()> {
        let now = chrono::Utc::now().timestamp();
        let left = until - now;
        let Some(entry) = entry.filter(|_| left > 0) else {
            return Ok(());
        };
        match self {
            Self::Embedded => {
                let mut list = EMBEDDED_DENY_LIST.lock().unwrap_or_else(|p| p.into_inner());
                list.retain(|_, exp| *exp > now);
                list.insert(entry, until);
            }
            Self::Redis { pool, prefix } => {
                pool.set::<(), _, _>(
                    format!("{prefix}:auth:{entry}"),
                    1,
                    Some(Expiration::EX(left)),
                    None,
                    false,
                )
                .await?;
            }
        }
        Ok(())
    }

    /// Whether the token or its sign-in is listed, or (on Redis) its user banned: one round
    /// trip on Redis.
    async fn refuses(&self, claims: &Claims) -> anyhow::Result<Refusal> {
        let entries: Vec<String> = [Self::token_key(&claims.jti), Self::sign_in_key(&claims.sid)]
            .into_iter()
            .flatten()
            .collect();
        Ok(match self {
            Self::Embedded => {
                let now = chrono::Utc::now().timestamp();
                let list = EMBEDDED_DENY_LIST.lock().unwrap_or_else(|p| p.into_inner());
                if entries
                    .iter()
                    .any(|e| list.get(e).is_some_and(|exp| *exp > now))
                {
                    Refusal::Revoked
                } else {
                    Refusal::None
                }
            }
            Self::Redis { pool, prefix } => {
                // The ban key first: MGET tells which one is there, in one command.
                let keys: Vec<String> = std::iter::once(Self::ban_key(&claims.id))
                    .chain(entries)
                    .map(|e| format!("{prefix}:auth:{e}"))
                    .collect();
                let found: Vec<Option<i64>> = pool.mget(keys).await?;
                match found.split_first() {
                    Some((Some(_), _)) => Refusal::Banned,
                    Some((None, rest)) if rest.iter().any(Option::is_some) => Refusal::Revoked,
                    _ => Refusal::None,
                }
            }
        })
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
        Ok(JwtKeys::from_ref(state).state_of(parts).await)
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
        Ok(match JwtKeys::from_ref(state).state_of(parts).await {
            TokenState::Valid(claims) => Self(Some(claims)),
            _ => Self(None),
        })
    }
}

/// What a banned user's requests are refused with (403).
pub const ACCOUNT_SUSPENDED: &str = "Account suspended";

/// A signed-in user, or 401 (no usable token) / 403 (its user is banned) / 498 (token
/// expired: refresh and retry).
#[derive(Debug, Clone)]
pub struct RequireAuth(pub Claims);

impl<S> FromRequestParts<S> for RequireAuth
where
    JwtKeys: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match JwtKeys::from_ref(state).state_of(parts).await {
            TokenState::Valid(claims) => Ok(Self(claims)),
            TokenState::Expired => Err(ApiError::AccessTokenExpired),
            TokenState::Suspended => Err(ApiError::Forbidden(ACCOUNT_SUSPENDED.into())),
            TokenState::Missing | TokenState::Invalid | TokenState::Revoked => {
                Err(ApiError::NotAuthorized)
            }
            TokenState::Unchecked => Err(ApiError::Unavailable(
                "Sign-in can't be checked right now; try again shortly".into(),
            )),
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

    #[tokio::test]
    async fn a_revoked_token_is_refused_and_others_are_not() {
        let keys = keys(60);
        let (token, claims) = keys.issue_with_claims("u1", "a@b.co").expect("issue");
        let (other, _) = keys.issue_with_claims("u1", "a@b.co").expect("issue");
        assert_ne!(claims.jti, "", "every token has an id");

        keys.revoke(&claims).await.expect("revoke");

        assert_eq!(keys.check(&token).await, TokenState::Revoked);
        assert!(matches!(keys.check(&other).await, TokenState::Valid(_)));
        // The signature alone still checks out: only the list knows.
        assert!(matches!(keys.verify(&token), TokenState::Valid(_)));
    }

    #[tokio::test]
    async fn revoking_a_sign_in_ends_every_token_issued_under_it() {
        let keys = keys(60);
        let sid = uuid::Uuid::new_v4().to_string();
        let (first, _) = keys.issue_for_sign_in("u1", "a@b.co", &sid).expect("issue");
        let (second, _) = keys.issue_for_sign_in("u1", "a@b.co", &sid).expect("issue");
        let (elsewhere, _) = keys
            .issue_for_sign_in("u1", "a@b.co", "other")
            .expect("issue");

        keys.revoke_sign_in(&sid).await.expect("revoke");

        assert_eq!(keys.check(&first).await, TokenState::Revoked);
        assert_eq!(keys.check(&second).await, TokenState::Revoked);
        assert!(matches!(keys.check(&elsewhere).await, TokenState::Valid(_)));
    }

    #[tokio::test]
    async fn a_banned_users_tokens_are_suspended_until_the_unban() {
        let banned = BannedUsers::default();
        let keys = keys(60).with_banned(banned.clone());
        let user = uuid::Uuid::new_v4().to_string();
        let (token, _) = keys.issue_with_claims(&user, "a@b.co").expect("issue");
        let (other, _) = keys.issue_with_claims("u2", "b@b.co").expect("issue");

        keys.ban(&user).await.expect("ban");
        assert_eq!(keys.check(&token).await, TokenState::Suspended);
        assert!(banned.contains(&user), "the service's set is the keys' set");
        assert!(matches!(keys.check(&other).await, TokenState::Valid(_)));

        keys.unban(&user).await.expect("unban");
        assert!(matches!(keys.check(&token).await, TokenState::Valid(_)));
    }

    #[test]
    fn garbage_is_invalid() {
        assert_eq!(keys(60).verify("not-a-jwt"), TokenState::Invalid);
    }
}
