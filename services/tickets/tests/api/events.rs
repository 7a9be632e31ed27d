//! Events: creating one (`POST /api/events`, `event:created`), the upcoming list with its
//! search, date range and pages, an event's tickets by price and by seat, listings leaving
//! the market when their event starts, and the placeholder event older listings moved to.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use common::bus::decode;
use common::events::{Event, EventCreated};
use common::money::Money;
use common::task::Shutdown;
use common::testing::TestDatabase;
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, EntityTrait};
use sea_orm_migration::MigratorTrait;
use serde_json::{json, Value};
use tickets::store::{self, PLACEHOLDER_EVENT};

use crate::helpers::{field_errors, TestApp};

const DUPLICATE: &str = "An event with this name, venue and start already exists";

/// `days` from now at 20:00 UTC, as RFC 3339 with a `+01:00` offset (21:00 local).
fn start_in(days: i64) -> String {
    let at = (Utc::now() + chrono::Duration::days(days))
        .date_naive()
        .and_hms_opt(20, 0, 0)
        .expect("a time")
        .and_utc();
    at.with_timezone(&chrono::FixedOffset::east_opt(3600).expect("an offset"))
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn utc(rfc3339: &str) -> String {
    DateTime::parse_from_rfc3339(rfc3339)
        .expect("a time")
        .with_timezone(&Utc)
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn body(name: &str, venue: &str, city: &str, starts_at: &str) -> Value {
    json!({
        "name": name, "venue": venue, "city": city,
        "startsAt": starts_at, "timeZone": "Europe/London",
    })
}

impl TestApp {
    async fn create_event(&self, user: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::POST,
            "/api/events",
            Some(&self.cookie(user)),
            Some(body),
        )
        .await
    }

    async fn event(&self, name: &str, venue: &str, city: &str, days: i64) -> Value {
        let (status, event) = self
            .create_event("organizer", body(name, venue, city, &start_in(days)))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{event}");
        event
    }

    async fn listed_for(&self, event: &Value, price: f64, seat: [&str; 3]) -> Value {
        let (status, ticket) = self
            .create(
                "seller",
                json!({
                    "title": "a ticket", "price": price, "eventId": event["id"],
                    "section": seat[0], "row": seat[1], "seat": seat[2],
                }),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{ticket}");
        ticket
    }

    /// Moves the event's start to a moment ago, as time passing would.
    async fn start(&self, event: &Value) {
        use sea_orm::sea_query::Expr;
        use sea_orm::{ColumnTrait, QueryFilter};
        store::event::Entity::update_many()
            .col_expr(
                store::event::Column::StartsAt,
                Expr::value(Utc::now() - chrono::Duration::seconds(1)),
            )
            .filter(store::event::Column::Id.eq(event["id"].as_str().expect("an id")))
            .exec(&self.state.db)
            .await
            .expect("the start moves");
    }
}

fn names(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|e| e["name"].as_str().expect("a name"))
        .collect()
}

#[tokio::test]
async fn a_signed_in_user_creates_an_event_and_its_event_created_is_published() {
    let app = TestApp::spawn().await;
    let (status, _) = app
        .send(
            reqwest::Method::POST,
            "/api/events",
            None,
            Some(body("Gig", "Hall", "Leeds", &start_in(3))),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let mut sub = app
        .bus
        .subscribe("probe", &[EventCreated::SUBJECT])
        .await
        .expect("subscribe");
    let starts_at = start_in(30);
    let mut request = body("  Glastonbury  ", "Worthy Farm", "Pilton", &starts_at);
    request["description"] = json!("Gates at 10.\nBring boots.");
    let (status, event) = app.create_event("organizer", request).await;
    assert_eq!(status, StatusCode::CREATED, "{event}");
    assert_eq!(event["name"], "Glastonbury");
    assert_eq!(event["startsAt"], utc(&starts_at));
    assert_eq!(event["timeZone"], "Europe/London");
    assert_eq!(event["createdBy"], "organizer");
    assert_eq!(event["description"], "Gates at 10.\nBring boots.");
    assert_eq!(
        (
            event["ticketsForSale"].clone(),
            event["lowestPrice"].clone()
        ),
        (json!(0), Value::Null)
    );
    // Shown in its own zone: 20:00 UTC is 21:00 in London in winter, 21:00 in summer too.
    let local = event["startsAtLocal"].as_str().expect("a local start");
    assert_eq!(
        DateTime::parse_from_rfc3339(local)
            .expect("RFC 3339")
            .with_timezone(&Utc),
        DateTime::parse_from_rfc3339(&starts_at)
            .expect("RFC 3339")
            .with_timezone(&Utc)
    );
    let id = event["id"].as_str().expect("an id");
    assert_eq!(
        app.get(&format!("/api/events/{id}")).await,
        (StatusCode::OK, event.clone())
    );

    tokio::spawn(app.state.relay.clone().run(Shutdown::new()));
    let delivery = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("delivered in time")
        .expect("a delivery");
    let created: EventCreated = decode(&delivery.message).expect("an event:created");
    assert_eq!(
        (
            created.id.as_str(),
            created.name.as_str(),
            created.venue.as_str()
        ),
        (id, "Glastonbury", "Worthy Farm")
    );
    assert_eq!(
        created
            .starts_at
            .to_rfc3339_opts(SecondsFormat::Millis, true),
        utc(&starts_at)
    );
    delivery.settle.ack().await.expect("ack");
}

#[tokio::test]
async fn bad_fields_are_field_errors_and_a_duplicate_is_refused() {
    let app = TestApp::spawn().await;
    let start = start_in(10);
    for (change, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x".repeat(121)}), "name"),
        (json!({"venue": null}), "venue"),
        (json!({"city": 3}), "city"),
        (json!({"startsAt": "2001-01-01T00:00:00Z"}), "startsAt"),
        (json!({"startsAt": "next friday"}), "startsAt"),
        (json!({"startsAt": "2031-01-01T20:00:00"}), "startsAt"),
        (json!({"timeZone": "Europe/Atlantis"}), "timeZone"),
        (json!({"description": "x".repeat(2001)}), "description"),
    ] {
        let mut request = body("Gig", "Hall", "Leeds", &start);
        for (k, v) in change.as_object().expect("an object") {
            request[k] = v.clone();
        }
        let (status, errors) = app.create_event("organizer", request).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{change}");
        assert_eq!(field_errors(&errors), [field], "{change}");
    }
    let (status, errors) = app.create_event("organizer", json!({})).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        field_errors(&errors),
        ["name", "venue", "city", "startsAt", "timeZone"]
    );
    assert_eq!(app.pending().await, 0, "nothing was published");

    app.event("Gig", "Hall", "Leeds", 10).await;
    // Same name and venue ignoring case, same instant written in another offset.
    let same_instant = DateTime::parse_from_rfc3339(&start)
        .expect("a time")
        .with_timezone(&chrono::FixedOffset::west_opt(5 * 3600).expect("an offset"))
        .to_rfc3339();
    let (status, errors) = app
        .create_event("someone else", body("GIG", "hall", "York", &same_instant))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{errors}");
    assert_eq!(errors, json!({"errors": [{"message": DUPLICATE}]}));
    assert_eq!(app.pending().await, 1, "only the first event:created");
    // Another start, or another venue, is another event.
    app.event("Gig", "Hall", "Leeds", 11).await;
    app.event("Gig", "Arena", "Leeds", 10).await;
}

#[tokio::test]
async fn hostile_text_is_refused_or_kept_as_text() {
    let app = TestApp::spawn().await;
    for name in ["a\u{202E}b", "a\u{0}b", "line\nbreak", "zero\u{200B}width"] {
        let (status, errors) = app
            .create_event("organizer", body(name, "Hall", "Leeds", &start_in(5)))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name:?}");
        assert_eq!(field_errors(&errors), ["name"], "{name:?}");
    }
    let markup = "<script>alert(1)</script> & \"quotes\" '%_";
    let event = app.event(markup, "<b>Hall</b>", "Leeds", 5).await;
    assert_eq!(event["name"], markup);
    let (_, found) = app.get("/api/events?q=%3Cscript%3E").await;
    assert_eq!(names(found.as_array().expect("a list")), [markup]);
    for (seat, field) in [
        (["\u{202E}A", "1", "2"], "section"),
        (["A", "x".repeat(21).leak(), "2"], "row"),
        (["A", "1", "2\t3"], "seat"),
    ] {
        let (status, errors) = app
            .create(
                "seller",
                json!({"title": "t", "price": 5, "eventId": event["id"],
                       "section": seat[0], "row": seat[1], "seat": seat[2]}),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{seat:?}");
        assert_eq!(field_errors(&errors), [field], "{seat:?}");
    }
    let ticket = app.listed_for(&event, 5.0, ["<i>", "&amp;", "'"]).await;
    assert_eq!(
        (
            ticket["section"].clone(),
            ticket["row"].clone(),
            ticket["seat"].clone()
        ),
        (json!("<i>"), json!("&amp;"), json!("'"))
    );
}

#[tokio::test]
async fn upcoming_events_come_soonest_first_with_what_is_for_sale() {
    let app = TestApp::spawn().await;
    let later = app.event("Later", "Arena", "Manchester", 20).await;
    let sooner = app.event("Sooner", "Hall", "Leeds", 2).await;
    let started = app.event("Started", "Club", "York", 1).await;
    app.listed_for(&sooner, 30.0, ["", "", ""]).await;
    app.listed_for(&sooner, 12.5, ["", "", ""]).await;
    let held = app.listed_for(&sooner, 5.0, ["", "", ""]).await;
    assert_eq!(
        app.reserve(&held, "order-1").await,
        common::bus::Applied::Done
    );
    app.start(&started).await;

    let page = app.page("/api/events").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.link, None);
    let events: Vec<Value> = serde_json::from_str(&page.body).expect("JSON");
    assert_eq!(
        names(&events),
        ["Sooner", "Later"],
        "started and placeholder left out"
    );
    assert_eq!(
        events[0]["ticketsForSale"], 2,
        "the reserved one is not for sale"
    );
    assert_eq!(events[0]["lowestPrice"], 12.5);
    assert_eq!(
        (
            events[1]["ticketsForSale"].clone(),
            events[1]["lowestPrice"].clone()
        ),
        (json!(0), Value::Null)
    );
    assert_eq!(events[1]["id"], later["id"]);

    let (status, shown) = app
        .get(&format!(
            "/api/events/{}",
            sooner["id"].as_str().expect("an id")
        ))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (
            shown["ticketsForSale"].clone(),
            shown["lowestPrice"].clone()
        ),
        (json!(2), json!(12.5))
    );
    assert_eq!(
        app.get("/api/events/no-such-event").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn events_are_searched_by_name_venue_or_city_within_a_date_range() {
    let app = TestApp::spawn().await;
    app.event("Jazz night", "Hall", "Leeds", 3).await;
    app.event("Rock", "Jazz Café", "London", 4).await;
    app.event("Folk", "Barn", "Jazzton", 5).await;
    app.event("Pop", "Arena", "Leeds", 6).await;
    app.event("100% Pop_", "Arena", "Leeds", 7).await;
    let found = |path: &'static str| {
        let app = &app;
        async move {
            let (status, events) = app.get(path).await;
            assert_eq!(status, StatusCode::OK, "{path}: {events}");
            names(events.as_array().expect("a list"))
                .into_iter()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        found("/api/events?q=JAZZ").await,
        ["Jazz night", "Rock", "Folk"]
    );
    assert_eq!(
        found("/api/events?q=leeds").await,
        ["Jazz night", "Pop", "100% Pop_"]
    );
    assert_eq!(
        found("/api/events?q=%25").await,
        ["100% Pop_"],
        "% is literal"
    );
    assert_eq!(
        found("/api/events?q=p_").await,
        ["100% Pop_"],
        "_ is literal"
    );

    let day = |days: i64| {
        (Utc::now() + chrono::Duration::days(days))
            .date_naive()
            .to_string()
    };
    let (from, to) = (day(4), day(6));
    let (status, events) = app.get(&format!("/api/events?from={from}&to={to}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        names(events.as_array().expect("a list")),
        ["Rock", "Folk", "Pop"],
        "whole days"
    );
    let to = utc(&start_in(4)).replace("+00:00", "Z");
    let (_, events) = app.get(&format!("/api/events?to={to}&q=a")).await;
    assert_eq!(
        names(events.as_array().expect("a list")),
        ["Jazz night", "Rock"],
        "an instant is inclusive"
    );

    for (path, field) in [
        ("/api/events?from=soon", "from"),
        ("/api/events?to=2030-13-01", "to"),
        ("/api/events?limit=0", "limit"),
        ("/api/events?cursor=xyz", "cursor"),
        ("/api/events?q=a&q=b", "q"),
    ] {
        app.page(path).await.assert_field_error(field);
    }
}

#[tokio::test]
async fn event_pages_follow_their_links_with_the_filters_kept() {
    let app = TestApp::spawn().await;
    for day in 1..=7 {
        app.event(&format!("Show {day}"), "Hall", "Leeds", day)
            .await;
    }
    app.event("Elsewhere", "Hall", "York", 3).await;
    let mut seen = Vec::new();
    let mut next = Some(format!(
        "/api/events?limit=2&q=show&from={}",
        (Utc::now() + chrono::Duration::days(2)).date_naive()
    ));
    while let Some(path) = next {
        let page = app.page(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let events: Vec<Value> = serde_json::from_str(&page.body).expect("JSON");
        seen.extend(names(&events).into_iter().map(str::to_owned));
        next = page.link.as_deref().map(|link| {
            assert!(link.starts_with("</api/events?limit=2&cursor="), "{link}");
            assert!(link.contains("&q=show&from="), "{link}");
            link.trim_start_matches('<')
                .trim_end_matches(">; rel=\"next\"")
                .to_owned()
        });
        assert!(seen.len() <= 10, "the links never end");
    }
    assert_eq!(
        seen,
        ["Show 2", "Show 3", "Show 4", "Show 5", "Show 6", "Show 7"]
    );
}

#[tokio::test]
async fn an_events_tickets_page_by_price_and_by_seat() {
    let app = TestApp::spawn().await;
    let event = app.event("Opera", "House", "London", 9).await;
    let other = app.event("Ballet", "House", "London", 9).await;
    let listed = [
        (40.0, ["Stalls", "B", "2"]),
        (25.0, ["Circle", "A", "1"]),
        (40.0, ["Stalls", "A", "9"]),
        (10.0, ["", "", ""]),
        (25.0, ["Circle", "A", "2"]),
    ];
    let mut ids = Vec::new();
    for (price, seat) in listed {
        ids.push(
            app.listed_for(&event, price, seat).await["id"]
                .as_str()
                .expect("an id")
                .to_owned(),
        );
    }
    app.listed_for(&other, 1.0, ["", "", ""]).await;
    let id = event["id"].as_str().expect("an id");

    let walk = |sort: &'static str| {
        let app = &app;
        async move {
            let mut seen = Vec::new();
            let mut next = Some(format!("/api/events/{id}/tickets?sort={sort}&limit=2"));
            let mut pages = 0;
            while let Some(path) = next {
                let page = app.page(&path).await;
                assert_eq!(page.status, StatusCode::OK, "{}", page.body);
                let tickets: Vec<Value> = serde_json::from_str(&page.body).expect("JSON");
                assert!(tickets.iter().all(|t| t["eventId"] == id));
                seen.extend(tickets);
                pages += 1;
                next = page.link.as_deref().map(|link| {
                    assert!(
                        link.starts_with(&format!("</api/events/{id}/tickets?limit=2&cursor=")),
                        "{link}"
                    );
                    assert!(
                        link.ends_with(&format!("&sort={sort}>; rel=\"next\"")),
                        "{link}"
                    );
                    link.trim_start_matches('<')
                        .trim_end_matches(">; rel=\"next\"")
                        .to_owned()
                });
                assert!(pages <= 10, "the links never end");
            }
            seen
        }
    };
    let by_price = walk("price").await;
    let prices: Vec<f64> = by_price
        .iter()
        .map(|t| t["price"].as_f64().expect("a price"))
        .collect();
    assert_eq!(prices, [10.0, 25.0, 25.0, 40.0, 40.0]);
    // Equal prices by id.
    let mut tied = [ids[1].clone(), ids[4].clone()];
    tied.sort();
    assert_eq!(
        [by_price[1]["id"].clone(), by_price[2]["id"].clone()],
        [json!(tied[0]), json!(tied[1])]
    );

    let by_seat = walk("seat").await;
    let seats: Vec<String> = by_seat
        .iter()
        .map(|t| {
            format!(
                "{}/{}/{}",
                t["section"].as_str().unwrap_or(""),
                t["row"].as_str().unwrap_or(""),
                t["seat"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        seats,
        ["//", "Circle/A/1", "Circle/A/2", "Stalls/A/9", "Stalls/B/2"]
    );

    // A cursor of one sort is no cursor for the other.
    let page = app
        .page(&format!("/api/events/{id}/tickets?sort=price&limit=2"))
        .await;
    let link = page.link.expect("a next page");
    let cursor = link
        .split("cursor=")
        .nth(1)
        .and_then(|c| c.split('&').next())
        .expect("a cursor");
    app.page(&format!(
        "/api/events/{id}/tickets?sort=seat&cursor={cursor}"
    ))
    .await
    .assert_field_error("cursor");
    app.page(&format!("/api/events/{id}/tickets?sort=name"))
        .await
        .assert_field_error("sort");
    assert_eq!(
        app.page("/api/events/nope/tickets").await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn listings_of_an_event_that_has_started_leave_the_market() {
    let app = TestApp::spawn().await;
    let event = app.event("Tonight", "Club", "Leeds", 1).await;
    let ticket = app.listed_for(&event, 15.0, ["", "", ""]).await;
    let plain = app.created("seller", "no event", 10.0).await;
    assert_eq!(app.listed().await, 2);

    app.start(&event).await;
    let (_, listing) = app.get("/api/tickets").await;
    assert_eq!(listing.as_array().expect("a list").len(), 1);
    assert_eq!(listing[0]["id"], plain["id"]);
    let id = event["id"].as_str().expect("an id");
    assert_eq!(
        app.get(&format!("/api/events/{id}/tickets")).await,
        (StatusCode::OK, json!([]))
    );
    let (_, shown) = app.get(&format!("/api/events/{id}")).await;
    assert_eq!(
        (
            shown["ticketsForSale"].clone(),
            shown["lowestPrice"].clone()
        ),
        (json!(0), Value::Null)
    );
    // The ticket itself is still there to read.
    assert_eq!(app.show(&ticket).await.0, StatusCode::OK);

    // Nothing new for it, and nothing moved to it.
    let (status, errors) = app
        .create(
            "seller",
            json!({"title": "late", "price": 5, "eventId": id}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        errors,
        json!({"errors": [{"field": "eventId", "message": "The event has already started"}]})
    );
    let (status, errors) = app
        .update(
            Some("seller"),
            plain["id"].as_str().expect("an id"),
            json!({"title": "moved", "price": 5, "eventId": id}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(field_errors(&errors), ["eventId"]);
    let (status, errors) = app
        .create(
            "seller",
            json!({"title": "t", "price": 5, "eventId": "no-such-event"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        errors,
        json!({"errors": [{"field": "eventId", "message": "No such event"}]})
    );
}

#[tokio::test]
async fn a_listing_without_an_event_goes_to_the_placeholder_and_an_edit_keeps_its_event_and_seat() {
    let app = TestApp::spawn().await;
    let ticket = app.created("seller", "course app", 10.0).await;
    assert_eq!(ticket["eventId"], PLACEHOLDER_EVENT);
    assert!(ticket.get("section").is_none());
    let (status, placeholder) = app.get(&format!("/api/events/{PLACEHOLDER_EVENT}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(placeholder["name"], "Earlier listings");
    assert_eq!(placeholder["startsAt"], Value::Null);
    assert_eq!(
        (
            placeholder["ticketsForSale"].clone(),
            placeholder["lowestPrice"].clone()
        ),
        (json!(1), json!(10))
    );

    let event = app.event("Moved", "Hall", "Leeds", 4).await;
    let id = ticket["id"].as_str().expect("an id");
    let (status, moved) = app
        .update(
            Some("seller"),
            id,
            json!({"title": "t", "price": 11, "eventId": event["id"], "section": "A", "row": "3"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    assert_eq!(
        (
            moved["eventId"].clone(),
            moved["section"].clone(),
            moved["row"].clone(),
            moved["version"].clone()
        ),
        (event["id"].clone(), json!("A"), json!("3"), json!(1))
    );
    // The course app's edit (title and price only) keeps the event and seat; "" clears a part.
    let (_, kept) = app
        .update(Some("seller"), id, json!({"title": "u", "price": 12}))
        .await;
    assert_eq!(
        (
            kept["eventId"].clone(),
            kept["section"].clone(),
            kept["row"].clone()
        ),
        (event["id"].clone(), json!("A"), json!("3"))
    );
    let (_, cleared) = app
        .update(
            Some("seller"),
            id,
            json!({"title": "u", "price": 12, "row": ""}),
        )
        .await;
    assert_eq!(
        (cleared["section"].clone(), cleared.get("row")),
        (json!("A"), None)
    );
    assert_eq!(app.show(&ticket).await.1, cleared);
}

/// A database at the schema before events, with a ticket in it, migrated: the ticket is
/// still there, for sale, in the placeholder event.
#[tokio::test]
async fn the_events_migration_keeps_existing_tickets_in_the_placeholder() {
    let database = TestDatabase::new().await.expect("a database");
    let db = common::db::connect(&database.url)
        .await
        .expect("it connects");
    // Everything up to m0005_add_withdrawn (the outbox and five of the service's own).
    tickets::migration::Migrator::up(&db, Some(6))
        .await
        .expect("the old schema");
    db.execute_unprepared(
        "INSERT INTO tickets (id, title, price_cents, user_id, version, order_id, created_at, sold) \
         VALUES ('old-1', 'Before events', 2500, 'seller', 3, NULL, '2024-01-01T10:00:00+00:00', FALSE)",
    )
    .await
    .expect("an old ticket");
    tickets::migration::Migrator::up(&db, None)
        .await
        .expect("migrated");
    let row = store::find(&db, "old-1")
        .await
        .expect("a read")
        .expect("still there");
    assert_eq!(
        (
            row.title.as_str(),
            row.price_cents,
            row.version,
            row.event_id.as_str(),
            row.section.as_deref()
        ),
        ("Before events", 2500, 3, PLACEHOLDER_EVENT, None)
    );
    let placeholder = store::find_event(&db, PLACEHOLDER_EVENT)
        .await
        .expect("a read")
        .expect("the placeholder");
    assert_eq!(
        (placeholder.name.as_str(), placeholder.starts_at),
        ("Earlier listings", None)
    );
    let for_sale = store::for_sale(&db, None, None, 10)
        .await
        .expect("the listing");
    assert_eq!(
        for_sale.iter().map(|r| r.id.as_str()).collect::<Vec<_>>(),
        ["old-1"]
    );
    assert_eq!(
        store::event::Entity::find()
            .all(&db)
            .await
            .expect("events")
            .len(),
        1
    );
    let sales = store::sales(&db, &[PLACEHOLDER_EVENT])
        .await
        .expect("sales");
    assert_eq!(
        sales[PLACEHOLDER_EVENT].lowest,
        Some(Money::from_cents(2500).cents())
    );
}
