//! `GET /api/tickets/:id`.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn an_unknown_ticket_is_404() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/api/tickets/5f1e0a0a0a0a0a0a0a0a0a0a").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body, json!({ "errors": [{ "message": "Not Found" }] }));
}
