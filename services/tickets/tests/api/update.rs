//! `PUT /api/tickets/:id`: existence, sign-in, validity, ownership, and no edits while
//! reserved.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::TestApp;

#[tokio::test]
async fn updating_checks_existence_auth_validity_reservation_and_ownership() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    let id = ticket["id"].as_str().expect("id");
    let valid = json!({ "title": "new title", "price": 100 });

    assert_eq!(
        app.update(Some("owner"), "no-such-ticket", valid.clone())
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.update(None, id, valid.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.update(Some("intruder"), id, valid.clone()).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.update(Some("owner"), id, json!({ "title": "", "price": 20 }))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        app.update(Some("owner"), id, json!({ "title": "x", "price": -10 }))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );

    let (status, updated) = app.update(Some("owner"), id, valid).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            updated["title"].clone(),
            updated["price"].clone(),
            updated["version"].clone()
        ),
        (json!("new title"), json!(100), json!(1))
    );
    assert_eq!(app.get(&format!("/api/tickets/{id}")).await.1, updated);
}

#[tokio::test]
async fn a_reserved_ticket_cannot_be_edited_even_by_a_stranger() {
    let app = TestApp::spawn().await;
    let ticket = app.created("owner", "concert", 20.0).await;
    let id = ticket["id"].as_str().expect("id");
    app.reserve(&ticket, "order-1").await;
    for user in ["owner", "stranger"] {
        let (status, body) = app
            .update(Some(user), id, json!({ "title": "new", "price": 100 }))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(
            body,
            json!({ "errors": [{ "message": "Cannot edit a reserved ticket" }] })
        );
    }
}
