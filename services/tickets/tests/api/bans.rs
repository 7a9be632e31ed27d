//! `user:banned` withdraws the seller's unsold tickets (held ones too; sold ones stand) with a
//! `ticket:updated` each, once; a withdrawn ticket leaves the listing, can't be edited, stays
//! off sale when its hold ends, and comes back only when its seller relists it.

use std::sync::Arc;

use common::events::{TicketUpdated, UserBanned};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use tickets::listeners::{self, Applied};

use crate::helpers::{ids, TestApp};

const SELLER: &str = "banned-seller";
const WITHDRAWN: &str = "Cannot edit a withdrawn ticket; relist it first";
const NOT_WITHDRAWN: &str = "Only a withdrawn ticket can be relisted";
const NOT_SELLER: &str = "Only the ticket's seller can relist it";

fn banned(user_id: &str) -> UserBanned {
    UserBanned {
        user_id: user_id.to_owned(),
        reason: "<b>fraud</b>\u{0} \u{202e}".into(),
    }
}

impl TestApp {
    async fn ban(&self, user_id: &str) -> Applied {
        listeners::withdraw(&self.state, banned(user_id))
            .await
            .expect("user:banned runs")
    }

    /// Every `ticket:updated` in the outbox, oldest first.
    async fn updates(&self) -> Vec<TicketUpdated> {
        use common::outbox::entity as outbox;
        use sea_orm::{EntityTrait, QueryOrder};
        outbox::Entity::find()
            .order_by_asc(outbox::Column::Seq)
            .all(&self.state.db)
            .await
            .expect("the outbox is readable")
            .into_iter()
            .filter(|row| row.subject == "ticket:updated")
            .map(|row| serde_json::from_str(&row.payload).expect("a payload"))
            .collect()
    }

    async fn relist(&self, user: Option<&str>, id: &str) -> (StatusCode, Value) {
        let cookie = user.map(|u| self.cookie(u));
        self.send(
            Method::POST,
            &format!("/api/tickets/{id}/relist"),
            cookie.as_deref(),
            None,
        )
        .await
    }
}

fn id(ticket: &Value) -> &str {
    ticket["id"].as_str().expect("an id")
}

fn message(body: &Value) -> &str {
    let errors = body["errors"].as_array().expect("the error envelope");
    assert_eq!(errors.len(), 1, "{body}");
    errors[0]["message"].as_str().expect("a message")
}

#[tokio::test]
async fn a_banned_sellers_unsold_tickets_are_withdrawn_and_sold_ones_stand() {
    let app = TestApp::spawn().await;
    let listed = app.created(SELLER, "listed", 10.0).await;
    let held = app.created(SELLER, "held", 20.0).await;
    let sold = app.created(SELLER, "sold", 30.0).await;
    let others = app.created("someone-else", "theirs", 40.0).await;
    assert_eq!(app.reserve(&held, "order-held").await, Applied::Done);
    assert_eq!(app.reserve(&sold, "order-sold").await, Applied::Done);
    assert_eq!(app.complete(&sold, "order-sold").await, Applied::Done);
    let before = app.updates().await.len();

    assert_eq!(app.ban(SELLER).await, Applied::Done);

    let shown = app.show(&listed).await.1;
    assert_eq!(
        (shown["status"].as_str(), shown["version"].as_i64()),
        (Some("withdrawn"), Some(1))
    );
    let shown = app.show(&held).await.1;
    assert_eq!(
        (shown["status"].as_str(), shown["version"].as_i64()),
        (Some("withdrawn"), Some(2))
    );
    assert_eq!(shown["orderId"], "order-held", "its buyer still holds it");
    let shown = app.show(&sold).await.1;
    assert_eq!(
        (shown["status"].as_str(), shown["version"].as_i64()),
        (Some("sold"), Some(1))
    );
    assert_eq!(app.show(&others).await.1["status"], "available");

    let updates = app.updates().await.split_off(before);
    let mut withdrawn: Vec<(String, i64, bool)> = updates
        .iter()
        .map(|u| (u.id.clone(), u.version, u.withdrawn))
        .collect();
    withdrawn.sort();
    let mut expected = vec![
        (id(&listed).to_owned(), 1, true),
        (id(&held).to_owned(), 2, true),
    ];
    expected.sort();
    assert_eq!(
        withdrawn, expected,
        "one ticket:updated per withdrawn ticket"
    );
    let held_update = updates.iter().find(|u| u.id == id(&held)).expect("held");
    assert_eq!(held_update.order_id.as_deref(), Some("order-held"));

    let listing = app.get("/api/tickets").await.1;
    assert_eq!(
        ids(listing.as_array().expect("a list")),
        vec![id(&others).to_owned()],
        "withdrawn tickets leave the listing"
    );
}

#[tokio::test]
async fn a_redelivered_ban_changes_nothing() {
    let app = TestApp::spawn().await;
    let ticket = app.created(SELLER, "concert", 10.0).await;
    assert_eq!(app.ban(SELLER).await, Applied::Done);
    let pending = app.pending().await;

    assert_eq!(app.ban(SELLER).await, Applied::Duplicate);

    assert_eq!(app.pending().await, pending, "no new event");
    assert_eq!(app.show(&ticket).await.1["version"], 1);
    assert_eq!(
        app.ban("nobody-in-particular").await,
        Applied::Duplicate,
        "a user with no tickets: nothing to do"
    );
}

#[tokio::test]
async fn a_withdrawn_ticket_whose_hold_ends_stays_off_sale_and_a_paid_one_is_sold() {
    let app = TestApp::spawn().await;
    let released = app.created(SELLER, "released", 10.0).await;
    let paid = app.created(SELLER, "paid", 10.0).await;
    app.reserve(&released, "order-1").await;
    app.reserve(&paid, "order-2").await;
    app.ban(SELLER).await;

    assert_eq!(app.release(&released, "order-1").await, Applied::Done);
    assert_eq!(app.complete(&paid, "order-2").await, Applied::Done);

    let shown = app.show(&released).await.1;
    assert_eq!(shown["status"], "withdrawn");
    assert!(shown.get("orderId").is_none());
    let last = app.updates().await.pop().expect("an update");
    assert_eq!((last.id.as_str(), last.withdrawn), (id(&released), true));
    assert_eq!(app.show(&paid).await.1["status"], "sold", "the sale stands");
    assert_eq!(app.listed().await, 0);
}

#[tokio::test]
async fn the_seller_relists_a_withdrawn_ticket() {
    let app = TestApp::spawn().await;
    let ticket = app.created(SELLER, "concert", 10.0).await;
    app.ban(SELLER).await;
    let (status, body) = app
        .update(
            Some(SELLER),
            id(&ticket),
            json!({ "title": "new", "price": 5 }),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(message(&body), WITHDRAWN);

    let (status, body) = app.relist(Some(SELLER), id(&ticket)).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["version"].as_i64()),
        (Some("available"), Some(2))
    );
    let last = app.updates().await.pop().expect("an update");
    assert_eq!(
        (last.id.as_str(), last.version, last.withdrawn),
        (id(&ticket), 2, false)
    );
    assert_eq!(app.listed().await, 1, "for sale again");
    let (status, body) = app
        .update(
            Some(SELLER),
            id(&ticket),
            json!({ "title": "new", "price": 5 }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "editable again: {body}");
}

#[tokio::test]
async fn relisting_checks_sign_in_existence_ownership_and_withdrawal() {
    let app = TestApp::spawn().await;
    let ticket = app.created(SELLER, "concert", 10.0).await;

    let (status, body) = app.relist(Some(SELLER), id(&ticket)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(message(&body), NOT_WITHDRAWN, "a listed ticket");

    app.ban(SELLER).await;
    let (status, body) = app.relist(None, id(&ticket)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(message(&body), "Not authorized");
    let (status, body) = app.relist(Some("a-stranger"), id(&ticket)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(message(&body), NOT_SELLER);
    for unknown in [
        uuid::Uuid::new_v4().to_string(),
        "%3Cscript%3Ealert(1)%3C%2Fscript%3E".to_owned(),
        "%00%07".to_owned(),
    ] {
        let (status, body) = app.relist(Some(SELLER), &unknown).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}: {body}");
        assert_eq!(message(&body), "Not Found");
    }
    assert_eq!(
        app.show(&ticket).await.1["status"],
        "withdrawn",
        "unchanged"
    );
}

/// The set step PostgreSQL runs a batch of bans through: one statement for every seller in
/// it, a repeat within the batch a duplicate.
#[tokio::test]
async fn a_batch_of_bans_withdraws_each_sellers_tickets_once() {
    use sea_orm::TransactionTrait;
    let app = TestApp::spawn().await;
    let a = app.created("seller-a", "a", 10.0).await;
    let b = app.created("seller-b", "b", 10.0).await;
    let txn = Arc::new(app.state.db.begin().await.expect("a transaction"));

    let set = listeners::users_banned(
        &txn,
        vec![
            banned("seller-a"),
            banned("seller-b"),
            banned("seller-a"),
            banned("seller-c"),
        ],
    )
    .await
    .expect("the set applies");

    let applied: Vec<Applied> = set
        .applied
        .into_iter()
        .map(|a| a.expect("each ban is classified"))
        .collect();
    assert_eq!(
        applied,
        [
            Applied::Done,
            Applied::Done,
            Applied::Duplicate,
            Applied::Duplicate
        ]
    );
    assert_eq!(set.staged.len(), 2, "one ticket:updated each");
    Arc::try_unwrap(txn)
        .unwrap_or_else(|_| panic!("the step kept the transaction"))
        .commit()
        .await
        .expect("commits");
    for ticket in [&a, &b] {
        assert_eq!(app.show(ticket).await.1["status"], "withdrawn");
    }
}

#[tokio::test]
async fn a_ban_on_the_bus_reaches_the_listener() {
    use common::task::{Shutdown, Supervisor};
    let app = TestApp::spawn().await;
    let ticket = app.created(SELLER, "concert", 10.0).await;
    let shutdown = Shutdown::new();
    let task = listeners::listeners(app.state.clone())
        .subscribe(&app.bus, shutdown.clone())
        .await
        .expect("subscribes");
    let mut supervisor = Supervisor::new(shutdown.clone());
    supervisor.add([task]);
    let running = tokio::spawn(supervisor.run());
    let message =
        common::bus::encode(uuid::Uuid::new_v4().to_string(), &banned(SELLER)).expect("encodes");

    app.bus.publish(&message).await.expect("published");

    let withdrawn = common::testing::eventually(std::time::Duration::from_secs(10), || {
        let app = &app;
        let ticket = &ticket;
        async move { (app.show(ticket).await.1["status"] == "withdrawn").then_some(()) }
    })
    .await;
    shutdown.trigger();
    let _ = running.await;
    assert!(withdrawn.is_some(), "the listener withdrew the ticket");
    assert_eq!(app.listed().await, 0);
}
