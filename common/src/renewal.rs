//! Renewal in place: a request whose access token has expired (but is well signed) and which
//! carries a `refresh` cookie is served anyway, for clients with no 498 → refresh → retry
//! logic. [`layer`] (applied by [`crate::service::Builder::finish`] to every service router)
//! asks the auth service's `GET /api/users/currentuser` with the request's cookies through
//! `INTERNAL_API_URL`, which renews the token from the refresh session by auth's own rules
//! (revoked, signed-out or banned sessions are never renewed; the refresh id is not rotated).
//! A renewed token replaces the expired one in the request's `Cookie` header, so the
//! extractors see it, and auth's `Set-Cookie`s go out on the response. Any failure (auth
//! slow, away, or saying no) leaves the request as it was: the handler answers 498 as before.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use axum_extra::extract::cookie::{Cookie, CookieJar};
use futures::future::{BoxFuture, FutureExt as _, Shared};
use http::header::{COOKIE, SET_COOKIE};
use http::HeaderValue;

use crate::auth::{JwtKeys, TokenState};
use crate::settings::Settings;
use crate::wire::cookie::{ACCESS_TOKEN, REFRESH_SESSION};
use crate::wire::header::REQUEST_ID;

/// The auth route that renews (and the one the layer must never ask about itself).
const CURRENT_USER: &str = "/api/users/currentuser";

/// Auth's routes that set the session cookies themselves: renewing before them is wasted.
const OWN_COOKIES: [&str; 5] = [
    CURRENT_USER,
    "/api/users/refresh",
    "/api/users/signin",
    "/api/users/signup",
    "/api/users/signout",
];

/// How long a request waits for auth before it is handled with its expired token.
const ASK_TIMEOUT: Duration = Duration::from_secs(2);

/// `router` renewing expired access tokens in place, when `INTERNAL_API_URL` (or the
/// process's own address, filled in by the binary) says where auth is; as it is otherwise.
pub fn layer(settings: &Settings, router: Router) -> Router {
    let Some(base) = settings.internal_api_url.as_deref() else {
        return router;
    };
    let client = match reqwest::Client::builder()
        .timeout(ASK_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
    {
        Ok(client) => client,
        Err(err) => {
            tracing::error!(error = ?err, "no HTTP client: expired access tokens get 498");
            return router;
        }
    };
    let renewal = Renewal {
        url: format!("{}{CURRENT_USER}", base.trim_end_matches('/')).into(),
        client,
        keys: JwtKeys::from_settings(settings),
        pending: Arc::default(),
    };
    router.layer(axum::middleware::from_fn_with_state(renewal, renew))
}

/// A renewed access token and every `Set-Cookie` auth answered with.
#[derive(Clone)]
struct Renewed {
    token: String,
    set_cookies: Vec<HeaderValue>,
}

type Pending = Shared<BoxFuture<'static, Option<Renewed>>>;

#[derive(Clone)]
struct Renewal {
    url: Arc<str>,
    client: reqwest::Client,
    keys: JwtKeys,
    /// Asks under way, by the cookies asked with: concurrent requests of one client share one.
    pending: Arc<Mutex<HashMap<String, Pending>>>,
}

async fn renew(State(renewal): State<Renewal>, mut request: Request<Body>, next: Next) -> Response {
    if OWN_COOKIES.contains(&request.uri().path()) {
        return next.run(request).await;
    }
    let jar = CookieJar::from_headers(request.headers());
    let expired = jar
        .get(ACCESS_TOKEN)
        .is_some_and(|c| renewal.keys.verify(c.value()) == TokenState::Expired);
    let refresh = jar.get(REFRESH_SESSION).filter(|c| !c.value().is_empty());
    let (true, Some(refresh)) = (expired, refresh) else {
        return next.run(request).await;
    };
    let asked_with = format!(
        "{ACCESS_TOKEN}={}; {REFRESH_SESSION}={}",
        jar.get(ACCESS_TOKEN).map(Cookie::value).unwrap_or_default(),
        refresh.value()
    );
    let request_id = request.headers().get(REQUEST_ID).cloned();
    let Some(renewed) = renewal.renewed(asked_with, request_id).await else {
        return next.run(request).await;
    };
    let cookies: Vec<String> = jar
        .add(Cookie::new(ACCESS_TOKEN, renewed.token.clone()))
        .iter()
        .map(|c| format!("{}={}", c.name(), c.value()))
        .collect();
    let Ok(header) = HeaderValue::from_str(&cookies.join("; ")) else {
        return next.run(request).await;
    };
    request.headers_mut().insert(COOKIE, header);
    let mut response = next.run(request).await;
    // A handler that set the access token itself has the last word.
    let sets_own = response.headers().get_all(SET_COOKIE).iter().any(|v| {
        v.as_bytes()
            .starts_with(format!("{ACCESS_TOKEN}=").as_bytes())
    });
    if !sets_own {
        for value in renewed.set_cookies {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

impl Renewal {
    /// The renewal for `cookies`, joining an ask already under way for the same ones.
    async fn renewed(&self, cookies: String, request_id: Option<HeaderValue>) -> Option<Renewed> {
        let pending = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending
                .entry(cookies.clone())
                .or_insert_with(|| {
                    // Spawned, so the ask finishes (and leaves the map) even if every
                    // request waiting on it goes away.
                    let this = self.clone();
                    let ask = tokio::spawn(async move {
                        let renewed = this.ask(&cookies, request_id).await;
                        let mut pending = this.pending.lock().unwrap_or_else(|p| p.into_inner());
                        pending.remove(&cookies);
                        renewed
                    });
                    async move { ask.await.ok().flatten() }.boxed().shared()
                })
                .clone()
        };
        pending.await
    }

    async fn ask(&self, cookies: &str, request_id: Option<HeaderValue>) -> Option<Renewed> {
        let mut request = self.client.get(&*self.url).header(COOKIE, cookies);
        if let Some(id) = request_id {
            request = request.header(REQUEST_ID, id);
        }
        let response = match request.send().await {
            Ok(response) if response.status().is_success() => response,
            Ok(response) => {
                tracing::warn!(status = %response.status(), "auth did not renew an access token");
                return None;
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not ask auth to renew an access token");
                return None;
            }
        };
        let set_cookies: Vec<HeaderValue> = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .cloned()
            .collect();
        // Only a token that verifies here counts (auth said no, or something else answered).
        let token = set_cookies
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| Cookie::parse(v).ok())
            .find(|c| c.name() == ACCESS_TOKEN)
            .map(|c| c.value().to_owned())
            .filter(|token| matches!(self.keys.verify(token), TokenState::Valid(_)))?;
        Some(Renewed { token, set_cookies })
    }
}
