//! `POST /api/tickets`: who may list, what a valid title and price are, and what a new
//! ticket looks like.

use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{field_errors, TestApp};

#[tokio::test]
async fn creating_a_ticket_requires_a_signed_in_user_before_validation() {
    let app = TestApp::spawn().await;
    let (status, body) = app
        .send(reqwest::Method::POST, "/api/tickets", None, Some(json!({})))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body, json!({ "errors": [{ "message": "Not authorized" }] }));
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            "/api/tickets",
            Some("session=garbage"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_invalid_title_or_price_is_a_field_error() {
    let app = TestApp::spawn().await;
    for (body, field) in [
        (json!({ "title": "", "price": 10 }), "title"),
        (json!({ "price": 10 }), "title"),
        (json!({ "title": "x".repeat(121), "price": 10 }), "title"),
        (json!({ "title": "concert", "price": -10 }), "price"),
        (json!({ "title": "concert", "price": 0 }), "price"),
        (json!({ "title": "concert" }), "price"),
        (json!({ "title": "concert", "price": "ten" }), "price"),
        (json!({ "title": "concert", "price": 10.555 }), "price"),
        (json!({ "title": "concert", "price": 1_000_000 }), "price"),
    ] {
        let (status, errors) = app.create("seller", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(field_errors(&errors), vec![field.to_owned()], "{body}");
    }
    let (status, errors) = app.create("seller", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_errors(&errors),
        vec!["title".to_owned(), "price".to_owned()]
    );
    assert_eq!(
        app.get("/api/tickets").await.1,
        json!([]),
        "nothing was written"
    );
    assert_eq!(app.pending().await, 0, "no event was written");
}

/// Text that displays differently from what is stored (bidi overrides, zero-width and other
/// invisible format characters) is refused on `title`, when listing and when editing.
#[tokio::test]
async fn titles_with_invisible_or_bidi_characters_are_a_field_error() {
    let app = TestApp::spawn().await;
    let ticket = app.created("seller", "concert", 20.0).await;
    let id = ticket["id"].as_str().expect("id");
    for title in [
        "abc\u{202E}fdp.exe",
        "con\u{200B}cert",
        "\u{FEFF}concert",
        "con\u{2066}cert\u{2069}",
        "con\u{00AD}cert",
        "con\u{200D}cert",
        "con\u{0085}cert",
    ] {
        let body = json!({ "title": title, "price": 10 });
        let (status, errors) = app.create("seller", body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(field_errors(&errors), ["title"], "{body}");
        let (status, errors) = app.update(Some("seller"), id, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(field_errors(&errors), ["title"], "{body}");
    }
    assert_eq!(
        app.get(&format!("/api/tickets/{id}")).await.1["title"],
        "concert"
    );
    // Visible non-ASCII text is still a title.
    app.created("seller", "Café 🎉 العربية", 10.0).await;
}

#[tokio::test]
async fn a_valid_ticket_is_created_at_version_0_and_owned_by_its_seller() {
    let app = TestApp::spawn().await;
    let ticket = app.created("seller", "concert", 20.5).await;
    assert_eq!(ticket["title"], "concert");
    assert_eq!(ticket["price"], json!(20.5));
    assert_eq!(ticket["userId"], "seller");
    assert_eq!(ticket["version"], 0);
    assert!(ticket.get("orderId").is_none());
    let (status, shown) = app
        .get(&format!(
            "/api/tickets/{}",
            ticket["id"].as_str().expect("id")
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown, ticket);
}
