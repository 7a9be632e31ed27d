//! Small pieces every service's test harness calls: sending a request and reading its JSON
//! whatever the status, and naming a JSON object's fields.
use reqwest::{RequestBuilder, StatusCode};
use serde_json::Value;

/// Sends `request` and returns its status and body as JSON (`Null` when the body is empty or
/// not JSON), for tests that look at both.
pub async fn send_for_json(request: RequestBuilder) -> (StatusCode, Value) {
    let response = request
        .send()
        .await
        .expect("the request reaches the server");
    let status = response.status();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The field names of a JSON object, sorted: what a reply exposes, to compare with a list.
pub fn keys_of(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}
