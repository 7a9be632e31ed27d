//! A local stand-in for Stripe's API: PaymentIntent create/capture/cancel and refunds, with
//! Stripe's test tokens and idempotency keys, recording every request so tests can check
//! what the adapter sent.
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use axum::{Form, Json, Router};
use serde_json::{json, Value};

pub const SECRET_KEY: &str = "sk_test_standin";

#[derive(Debug, Clone)]
pub struct Recorded {
    pub path: String,
    pub authorization: Option<String>,
    pub idempotency_key: Option<String>,
    pub params: Vec<(String, String)>,
}

impl Recorded {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug, Clone)]
pub struct Intent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub order_id: String,
    pub payment_id: String,
    /// Stripe's words: requires_capture, succeeded, canceled.
    pub status: String,
    pub refunded: bool,
}

#[derive(Default)]
struct Inner {
    requests: Vec<Recorded>,
    intents: Vec<Intent>,
    replies: HashMap<String, (StatusCode, Value)>,
    broken: bool,
}

#[derive(Clone, Default)]
pub struct StandIn {
    inner: Arc<Mutex<Inner>>,
    pub base: String,
}

impl StandIn {
    pub async fn start() -> Self {
        let mut standin = Self::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port");
        standin.base = format!(
            "http://127.0.0.1:{}",
            listener.local_addr().expect("bound").port()
        );
        let app = Router::new().fallback(handle).with_state(standin.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        standin
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().expect("the stand-in's lock")
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.inner().requests.clone()
    }

    pub fn intents_for(&self, order_id: &str) -> Vec<Intent> {
        self.inner()
            .intents
            .iter()
            .filter(|i| i.order_id == order_id)
            .cloned()
            .collect()
    }

    /// From now on every request answers 500, as an outage would.
    pub fn break_down(&self) {
        self.inner().broken = true;
    }
}

fn error(status: StatusCode, kind: &str, message: &str) -> (StatusCode, Value) {
    (status, json!({"error": {"type": kind, "message": message}}))
}

async fn handle(
    State(standin): State<StandIn>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    Form(params): Form<Vec<(String, String)>>,
) -> impl IntoResponse {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let recorded = Recorded {
        path: uri.path().to_owned(),
        authorization: header("authorization"),
        idempotency_key: header("idempotency-key"),
        params,
    };
    let mut inner = standin.inner();
    inner.requests.push(recorded.clone());
    let (status, body) = answer(&mut inner, &method, &recorded);
    (status, Json(body))
}

fn answer(inner: &mut Inner, method: &Method, request: &Recorded) -> (StatusCode, Value) {
    if inner.broken {
        return error(StatusCode::INTERNAL_SERVER_ERROR, "api_error", "down");
    }
    if request.authorization.as_deref() != Some(&format!("Bearer {SECRET_KEY}")) {
        return error(
            StatusCode::UNAUTHORIZED,
            "invalid_request_error",
            "Invalid API Key provided",
        );
    }
    if method == Method::GET {
        return retrieve(inner, request);
    }
    if method != Method::POST {
        return error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "Unrecognized request URL",
        );
    }
    // Stripe replays the first answer to a key.
    if let Some(key) = &request.idempotency_key {
        if let Some(reply) = inner.replies.get(key) {
            return reply.clone();
        }
    }
    let reply = route(inner, request);
    if let Some(key) = &request.idempotency_key {
        inner.replies.insert(key.clone(), reply.clone());
    }
    reply
}

fn route(inner: &mut Inner, request: &Recorded) -> (StatusCode, Value) {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "payment_intents"] => create(inner, request),
        ["v1", "payment_intents", id, action] => {
            let Some(intent) = inner.intents.iter_mut().find(|i| i.id == *id) else {
                return error(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    "No such payment_intent",
                );
            };
            let to = match *action {
                "capture" => "succeeded",
                "cancel" => "canceled",
                _ => {
                    return error(
                        StatusCode::NOT_FOUND,
                        "invalid_request_error",
                        "Unrecognized request URL",
                    )
                }
            };
            if intent.status != "requires_capture" {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    &format!("This PaymentIntent's status is {}", intent.status),
                );
            }
            intent.status = to.into();
            (
                StatusCode::OK,
                json!({"id": intent.id, "object": "payment_intent", "status": intent.status}),
            )
        }
        ["v1", "refunds"] => {
            let id = request.param("payment_intent").unwrap_or_default();
            let Some(intent) = inner.intents.iter_mut().find(|i| i.id == id) else {
                return error(
                    StatusCode::NOT_FOUND,
                    "invalid_request_error",
                    "No such payment_intent",
                );
            };
            if intent.status != "succeeded" || intent.refunded {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "Nothing to refund",
                );
            }
            intent.refunded = true;
            (
                StatusCode::OK,
                json!({"id": format!("re_{}", uuid::Uuid::new_v4().simple()), "object": "refund", "status": "succeeded", "payment_intent": id}),
            )
        }
        _ => error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "Unrecognized request URL",
        ),
    }
}

fn create(inner: &mut Inner, request: &Recorded) -> (StatusCode, Value) {
    let token = request
        .param("payment_method")
        .or_else(|| request.param("payment_method_data[card][token]"))
        .unwrap_or_default();
    let Some(amount) = request.param("amount").and_then(|a| a.parse::<i64>().ok()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Missing required param: amount.",
        );
    };
    if request.param("capture_method") != Some("manual") || request.param("confirm") != Some("true")
    {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            "Expected a confirmed manual-capture intent",
        );
    }
    match token {
        "tok_visa" | "pm_card_visa" => {}
        "tok_chargeDeclined" | "pm_card_chargeDeclined" => {
            return error(
                StatusCode::PAYMENT_REQUIRED,
                "card_error",
                "Your card was declined.",
            )
        }
        other => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("No such token: '{other}'"),
            )
        }
    }
    let intent = Intent {
        id: format!("pi_{}", uuid::Uuid::new_v4().simple()),
        amount,
        currency: request.param("currency").unwrap_or_default().to_owned(),
        order_id: request
            .param("metadata[order_id]")
            .unwrap_or_default()
            .to_owned(),
        payment_id: request
            .param("metadata[payment_id]")
            .unwrap_or_default()
            .to_owned(),
        status: "requires_capture".into(),
        refunded: false,
    };
    inner.intents.push(intent.clone());
    (
        StatusCode::OK,
        json!({"id": intent.id, "object": "payment_intent", "amount": amount, "currency": intent.currency, "status": intent.status}),
    )
}

/// An intent as `GET` shows it, with `latest_charge` expanded once it was captured.
fn shown(intent: &Intent) -> Value {
    let charge = (intent.status == "succeeded").then(|| json!({"refunded": intent.refunded}));
    json!({"id": intent.id, "object": "payment_intent", "amount": intent.amount, "status": intent.status, "latest_charge": charge})
}

/// `GET /v1/payment_intents/{id}` and `GET /v1/payment_intents/search` (only the query
/// `metadata['payment_id']:'…'`, which is all the adapter asks).
fn retrieve(inner: &Inner, request: &Recorded) -> (StatusCode, Value) {
    let segments: Vec<&str> = request.path.trim_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "payment_intents", "search"] => {
            let query = request.param("query").unwrap_or_default();
            let Some(payment_id) = query
                .strip_prefix("metadata['payment_id']:'")
                .and_then(|rest| rest.strip_suffix('\''))
            else {
                return error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request_error",
                    "Unsupported search query",
                );
            };
            let data: Vec<Value> = inner
                .intents
                .iter()
                .filter(|i| i.payment_id == payment_id)
                .map(shown)
                .collect();
            (
                StatusCode::OK,
                json!({"object": "search_result", "data": data}),
            )
        }
        ["v1", "payment_intents", id] => match inner.intents.iter().find(|i| i.id == *id) {
            Some(intent) => (StatusCode::OK, shown(intent)),
            None => error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "No such payment_intent",
            ),
        },
        _ => error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "Unrecognized request URL",
        ),
    }
}
