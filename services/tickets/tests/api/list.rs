//! `GET /api/tickets`: only tickets for sale, newest first, in pages that follow `next`
//! links, searched by title.

use reqwest::StatusCode;
use serde_json::{json, Value};
use tickets::listeners::Applied;

use crate::helpers::{ids, Page, TestApp};

#[tokio::test]
async fn the_list_shows_only_tickets_for_sale() {
    let app = TestApp::spawn().await;
    let first = app.created("a", "one", 20.0).await;
    app.created("b", "two", 20.0).await;
    app.created("c", "three", 20.0).await;
    assert_eq!(
        app.get("/api/tickets")
            .await
            .1
            .as_array()
            .expect("a list")
            .len(),
        3
    );
    assert_eq!(app.reserve(&first, "order-1").await, Applied::Done);
    let titles: Vec<Value> = app
        .get("/api/tickets")
        .await
        .1
        .as_array()
        .expect("a list")
        .iter()
        .map(|t| t["title"].clone())
        .collect();
    assert_eq!(titles, vec![json!("three"), json!("two")], "newest first");
}

#[tokio::test]
async fn the_list_is_newest_first_50_by_default_and_at_most_200_a_page() {
    let app = TestApp::spawn().await;
    app.seed(201).await;
    let all = app.for_sale_newest_first().await;

    let first = app.page("/api/tickets").await;
    assert_eq!(first.ids(), all[..50], "the 50 newest");
    assert!(
        first.next().is_some_and(|n| n.contains("limit=50&")),
        "{:?}",
        first.link
    );
    let most = app.page("/api/tickets?limit=200").await;
    assert_eq!(most.ids(), all[..200]);
    let rest = app.page(&most.next().expect("a next page")).await;
    assert_eq!(rest.ids(), all[200..]);
    assert_eq!(rest.link, None, "the last page has no Link");
    assert_eq!(app.page("/api/tickets?limit=7").await.ids(), all[..7]);
}

#[tokio::test]
async fn following_next_links_walks_every_ticket_once_newest_first() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for i in 0..23 {
        created.push(app.created("seller", &format!("show {i}"), 10.0).await);
    }
    let newest_first: Vec<String> = ids(&created).into_iter().rev().collect();
    assert_eq!(app.for_sale_newest_first().await, newest_first);

    let pages = app.walk("/api/tickets?limit=5").await;
    assert_eq!(
        pages.iter().map(Vec::len).collect::<Vec<_>>(),
        [5, 5, 5, 5, 3]
    );
    assert_eq!(pages.concat(), newest_first, "no gaps, no repeats");

    // A page that happens to end the list exactly has no Link either.
    let pages = app.walk("/api/tickets?limit=23").await;
    assert_eq!((pages.len(), &pages[0]), (1, &newest_first));
    let pages = app.walk("/api/tickets?limit=22").await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [22, 1]);
    // Unknown parameters are ignored.
    assert_eq!(
        app.page("/api/tickets?page=9&sort=asc").await.ids(),
        newest_first
    );
}

#[tokio::test]
async fn pages_neither_skip_nor_repeat_while_tickets_are_listed_and_reserved() {
    let app = TestApp::spawn().await;
    let mut tickets = Vec::new();
    for i in 1..=9 {
        tickets.push(app.created("seller", &format!("t{i}"), 10.0).await);
    }
    let title = |id: &String| {
        tickets.iter().find(|t| t["id"] == id.as_str()).map_or_else(
            || "new".to_owned(),
            |t| t["title"].as_str().expect("a title").to_owned(),
        )
    };

    let first = app.page("/api/tickets?limit=3").await;
    assert_eq!(
        first.ids().iter().map(title).collect::<Vec<_>>(),
        ["t9", "t8", "t7"]
    );
    // Between pages: new tickets land at the head, one already shown and one not yet shown
    // are reserved through the order listener.
    app.created("seller", "t10", 10.0).await;
    app.created("seller", "t11", 10.0).await;
    assert_eq!(app.reserve(&tickets[7], "order-t8").await, Applied::Done);
    assert_eq!(app.reserve(&tickets[5], "order-t6").await, Applied::Done);

    let second = app.page(&first.next().expect("a second page")).await;
    assert_eq!(
        second.ids().iter().map(title).collect::<Vec<_>>(),
        ["t5", "t4", "t3"]
    );
    app.created("seller", "t12", 10.0).await;
    assert_eq!(app.reserve(&tickets[0], "order-t1").await, Applied::Done);

    let third = app.page(&second.next().expect("a third page")).await;
    assert_eq!(third.ids().iter().map(title).collect::<Vec<_>>(), ["t2"]);
    assert_eq!(third.link, None);
}

#[tokio::test]
async fn q_matches_titles_ignoring_case_with_wildcards_taken_literally() {
    let app = TestApp::spawn().await;
    for title in [
        "Jazz Night",
        "late JAZZ brunch",
        "Rock",
        "50% off",
        "500 off",
        "a_b",
        "axb",
        "back\\slash",
        "backslash",
    ] {
        app.created("seller", title, 10.0).await;
    }
    let titles = |page: &Page| -> Vec<String> {
        page.tickets()
            .iter()
            .map(|t| t["title"].as_str().expect("a title").to_owned())
            .collect()
    };

    assert_eq!(
        titles(&app.page("/api/tickets?q=jazz").await),
        ["late JAZZ brunch", "Jazz Night"]
    );
    assert_eq!(
        titles(&app.page("/api/tickets?q=%20%20jAzZ%20N%20").await),
        ["Jazz Night"],
        "trimmed"
    );
    assert_eq!(titles(&app.page("/api/tickets?q=50%25").await), ["50% off"]);
    assert_eq!(titles(&app.page("/api/tickets?q=A_B").await), ["a_b"]);
    assert_eq!(
        titles(&app.page("/api/tickets?q=%5C").await),
        ["back\\slash"]
    );
    assert_eq!(titles(&app.page("/api/tickets?q=%25").await), ["50% off"]);
    assert!(titles(&app.page("/api/tickets?q=nothing").await).is_empty());
    assert_eq!(
        app.page("/api/tickets?q=").await.tickets().len(),
        9,
        "no filter"
    );
    assert_eq!(
        app.page("/api/tickets?q=+").await.tickets().len(),
        9,
        "no filter"
    );

    // The next page keeps the search.
    let first = app.page("/api/tickets?q=%20OFF&limit=1").await;
    assert_eq!(titles(&first), ["500 off"]);
    let next = first.next().expect("a next page");
    assert!(next.ends_with("&q=OFF"), "{next}");
    let second = app.page(&next).await;
    assert_eq!(second.link, None);
    assert_eq!(titles(&second), ["50% off"]);

    let first = app.page("/api/tickets?q=b%C3%A0%20%26%2F&limit=1").await;
    assert_eq!(first.link, None, "nothing matches");
}

#[tokio::test]
async fn encoded_searches_survive_the_next_link() {
    let app = TestApp::spawn().await;
    for title in ["rock & roll/é 1", "rock & roll/é 2", "rock & roll 3"] {
        app.created("seller", title, 10.0).await;
    }
    let first = app
        .page("/api/tickets?limit=1&q=ROCK%20%26%20ROLL%2F%C3%A9")
        .await;
    let next = first.next().expect("a next page");
    assert!(next.ends_with("&q=ROCK%20%26%20ROLL%2F%C3%A9"), "{next}");
    let pages = app
        .walk("/api/tickets?limit=1&q=ROCK%20%26%20ROLL%2F%C3%A9")
        .await;
    assert_eq!(pages.len(), 2, "{pages:?}");
}

#[tokio::test]
async fn bad_list_parameters_are_400_against_their_field() {
    let app = TestApp::spawn().await;
    app.seed(3).await;
    let valid_cursor = {
        let page = app.page("/api/tickets?limit=1").await;
        let next = page.next().expect("a next page");
        next.split("cursor=").nth(1).expect("a cursor").to_owned()
    };
    assert_eq!(
        app.page(&format!("/api/tickets?cursor={valid_cursor}"))
            .await
            .status,
        StatusCode::OK
    );

    let long = "x".repeat(121);
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=abc", "limit"),
        ("limit=-1", "limit"),
        ("limit=", "limit"),
        ("limit=1.5", "limit"),
        ("limit=%2B5", "limit"),
        ("limit=99999999999999999999", "limit"),
        ("limit=5&limit=6", "limit"),
        ("cursor=", "cursor"),
        ("cursor=garbage", "cursor"),
        ("cursor=zz", "cursor"),
        ("cursor=00", "cursor"),
        ("cursor=%00", "cursor"),
        ("cursor=ffffffffffffffff0000000078", "cursor"),
        (&format!("cursor={valid_cursor}0"), "cursor"),
        (&format!("cursor={valid_cursor}00"), "cursor"),
        ("q=a%00b", "q"),
        ("q=a%0Ab", "q"),
        ("q=a%7Fb", "q"),
        (&format!("q={long}"), "q"),
    ] {
        let page = app.page(&format!("/api/tickets?{query}")).await;
        page.assert_field_error(field);
        assert_eq!(page.link, None, "{query}");
    }
    // All at once: one error per field.
    let page = app.page("/api/tickets?limit=0&cursor=x&q=%01").await;
    assert_eq!(page.status, StatusCode::BAD_REQUEST);
    let fields: Vec<Option<String>> =
        common::testing::error_envelope(page.content_type.as_deref(), &page.body)
            .into_iter()
            .map(|e| e.field)
            .collect();
    assert_eq!(
        fields,
        [
            Some("limit".into()),
            Some("cursor".into()),
            Some("q".into())
        ]
    );
    // 120 characters is fine, and so are invalid escapes and bad UTF-8 in a search.
    for query in [
        format!("q={}", "x".repeat(120)),
        "q=%ZZ".into(),
        "q=%FF".into(),
    ] {
        let page = app.page(&format!("/api/tickets?{query}")).await;
        assert_eq!(page.status, StatusCode::OK, "{query}: {}", page.body);
    }
}
