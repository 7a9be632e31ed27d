//! A stand-in for Stripe's servers, in the test's own process: the cluster's payments
//! processes pay through their real Stripe adapter (`STRIPE_API_BASE` points here), and the
//! record of every charge outlives the processes the test kills — as Stripe's would. It
//! answers PaymentIntent create (confirmed, manual capture), capture, cancel, retrieve and
//! search by `metadata['payment_id']`, and refunds; it replays the first answer to an
//! idempotency key, and takes [`LATENCY`] over each answer, so a payment is in flight long
//! enough to be killed mid-way.
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Form, Json, Router};
use serde_json::{json, Value};

pub const SECRET_KEY: &str = "sk_test_cluster_standin";
/// A network round trip to a payment provider, roughly.
const LATENCY: Duration = Duration::from_millis(150);

struct Intent {
    id: String,
    order_id: String,
    payment_id: String,
    /// Stripe's words: requires_capture, succeeded, canceled.
    status: &'static str,
    refunded: bool,
}

#[derive(Default)]
struct Inner {
    intents: Vec<Intent>,
    replies: HashMap<String, (StatusCode, Value)>,
}

/// What the provider holds for one order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Money {
    /// Captured and not refunded.
    pub kept: usize,
    /// Authorized, neither captured nor voided.
    pub held: usize,
}

#[derive(Clone, Default)]
pub struct StandIn {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
}

impl StandIn {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let standin = Self {
            base: format!("http://127.0.0.1:{}", listener.local_addr()?.port()),
            ..Self::default()
        };
        let app = Router::new().fallback(handle).with_state(standin.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(standin)
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The money per order, as the provider sees it.
    pub fn money(&self) -> BTreeMap<String, Money> {
        let mut money: BTreeMap<String, Money> = BTreeMap::new();
        for intent in &self.inner().intents {
            let entry = money.entry(intent.order_id.clone()).or_default();
            match intent.status {
                "succeeded" if !intent.refunded => entry.kept += 1,
                "requires_capture" => entry.held += 1,
                _ => {}
            }
        }
        money
    }
}

fn error(status: StatusCode, message: &str) -> (StatusCode, Value) {
    (
        status,
        json!({"error": {"type": "invalid_request_error", "message": message}}),
    )
}

async fn handle(
    State(standin): State<StandIn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> impl IntoResponse {
    tokio::time::sleep(LATENCY).await;
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let (status, body) = if header("authorization") != Some(&format!("Bearer {SECRET_KEY}")) {
        error(StatusCode::UNAUTHORIZED, "Invalid API Key provided")
    } else {
        let key = header("idempotency-key").map(str::to_owned);
        let mut inner = standin.inner();
        match key.as_ref().and_then(|k| inner.replies.get(k)) {
            Some(reply) => reply.clone(),
            None => {
                let param = |name: &str| {
                    params
                        .iter()
                        .find(|(k, _)| k == name)
                        .map(|(_, v)| v.as_str())
                };
                let reply = answer(&mut inner, &method, uri.path(), &param);
                if let Some(key) = key {
                    inner.replies.insert(key, reply.clone());
                }
                reply
            }
        }
    };
    (status, Json(body))
}

fn shown(intent: &Intent) -> Value {
    let charge = (intent.status == "succeeded").then(|| json!({"refunded": intent.refunded}));
    json!({"id": intent.id, "object": "payment_intent", "status": intent.status, "latest_charge": charge})
}

fn answer<'a>(
    inner: &mut Inner,
    method: &Method,
    path: &str,
    param: &dyn Fn(&str) -> Option<&'a str>,
) -> (StatusCode, Value) {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("POST", ["v1", "payment_intents"]) => {
            let token = param("payment_method_data[card][token]").or(param("payment_method"));
            if !matches!(token, Some("tok_visa" | "pm_card_visa")) {
                return error(StatusCode::PAYMENT_REQUIRED, "Your card was declined.");
            }
            let intent = Intent {
                id: format!("pi_{}", uuid::Uuid::new_v4().simple()),
                order_id: param("metadata[order_id]").unwrap_or_default().to_owned(),
                payment_id: param("metadata[payment_id]").unwrap_or_default().to_owned(),
                status: "requires_capture",
                refunded: false,
            };
            let body = shown(&intent);
            inner.intents.push(intent);
            (StatusCode::OK, body)
        }
        ("POST", ["v1", "payment_intents", id, action]) => {
            let Some(intent) = inner.intents.iter_mut().find(|i| i.id == *id) else {
                return error(StatusCode::NOT_FOUND, "No such payment_intent");
            };
            let to = match *action {
                "capture" => "succeeded",
                "cancel" => "canceled",
                _ => return error(StatusCode::NOT_FOUND, "Unrecognized request URL"),
            };
            if intent.status != "requires_capture" {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!("This PaymentIntent's status is {}", intent.status),
                );
            }
            intent.status = to;
            (StatusCode::OK, shown(intent))
        }
        ("POST", ["v1", "refunds"]) => {
            let id = param("payment_intent").unwrap_or_default();
            match inner.intents.iter_mut().find(|i| i.id == id) {
                Some(intent) if intent.status == "succeeded" && !intent.refunded => {
                    intent.refunded = true;
                    (
                        StatusCode::OK,
                        json!({"id": format!("re_{}", uuid::Uuid::new_v4().simple()), "object": "refund", "status": "succeeded"}),
                    )
                }
                _ => error(StatusCode::BAD_REQUEST, "Nothing to refund"),
            }
        }
        ("GET", ["v1", "payment_intents", "search"]) => {
            let query = param("query").unwrap_or_default();
            let wanted = query
                .strip_prefix("metadata['payment_id']:'")
                .and_then(|rest| rest.strip_suffix('\''));
            let data: Vec<Value> = inner
                .intents
                .iter()
                .filter(|i| Some(i.payment_id.as_str()) == wanted)
                .map(shown)
                .collect();
            (
                StatusCode::OK,
                json!({"object": "search_result", "data": data}),
            )
        }
        ("GET", ["v1", "payment_intents", id]) => {
            match inner.intents.iter().find(|i| i.id == *id) {
                Some(intent) => (StatusCode::OK, shown(intent)),
                None => error(StatusCode::NOT_FOUND, "No such payment_intent"),
            }
        }
        _ => error(StatusCode::NOT_FOUND, "Unrecognized request URL"),
    }
}
