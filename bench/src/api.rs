//! The few API calls the benchmarks make.
use anyhow::bail;
use serde_json::{json, Value};

/// Signs up `<name>-<pid>@bench.example` and returns its cookies as a `Cookie` header value.
pub async fn sign_up(client: &reqwest::Client, base: &str, name: &str) -> anyhow::Result<String> {
    let email = format!("{name}-{}@bench.example", std::process::id());
    let response = client
        .post(format!("{base}/api/users/signup"))
        .json(&json!({ "email": email, "password": "secret1" }))
        .send()
        .await?;
    let reply = common::testing::Reply::read(response).await;
    if reply.status != 201 {
        bail!("signup failed: {}", reply.status);
    }
    let cookie = reply.cookie_header();
    Ok(cookie)
}

/// POSTs a JSON body with the given cookies; returns the status and the JSON body (or null).
pub async fn post(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    cookie: &str,
    body: Value,
) -> anyhow::Result<(u16, Value)> {
    let response = client
        .post(format!("{base}{path}"))
        .header("cookie", cookie)
        .json(&body)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}
