//! The server functions: the web app's whole data layer. During server rendering they run
//! in the web process; after hydration the browser calls the same functions with a POST to
//! `/_fn/…` on the public origin. Either way the body runs on the server and calls the
//! owning service's HTTP API as the visitor (see `api`). Each returns `Result<T, ServiceError>`:
//! a service's refusal is the function's error, which reaches the browser as data (see
//! `transport`). Mutations end with a redirect to the page that shows the outcome; a plain
//! HTML post (no JavaScript) that fails is sent back to its form with the errors (see
//! `flash`).
use common::dto::{
    AdminUser, AdminUsers, Order, Payment, PaymentCreatedResponse, SignedInUser, Ticket, User,
};
use leptos::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::ServiceError;
#[cfg(feature = "ssr")]
use crate::flash::FormId;
use crate::transport::AnswerClient;

/// Under `/_fn`, never under the services' `/api/…` routes.
pub const PREFIX: &str = "/_fn";

/// One page of the tickets for sale, and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketPage {
    pub tickets: Vec<Ticket>,
    pub next: Option<String>,
}

/// An order with what its pages show beside it: the receipt once it is paid, and whether
/// its window has closed by the server's clock (the timestamp is the truth even before the
/// order turns `cancelled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderInfo {
    pub order: Order,
    /// The captured payment, if there is one.
    pub receipt: Option<Payment>,
    pub expired: bool,
}

#[server(prefix = "/_fn", endpoint = "current_user", client = AnswerClient)]
pub async fn current_user() -> Result<Option<SignedInUser>, ServiceError> {
    let answer: common::dto::CurrentUserResponse =
        crate::api::get("/api/users/currentuser").await?;
    Ok(answer.current_user)
}

#[server(prefix = "/_fn", endpoint = "sign_up", client = AnswerClient)]
pub async fn sign_up(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<User, ServiceError> {
    authenticate(
        "/api/users/signup",
        FormId::SignUp,
        "/auth/signup",
        email,
        password,
        next,
    )
    .await
}

#[server(prefix = "/_fn", endpoint = "sign_in", client = AnswerClient)]
pub async fn sign_in(
    email: String,
    password: String,
    next: Option<String>,
) -> Result<User, ServiceError> {
    authenticate(
        "/api/users/signin",
        FormId::SignIn,
        "/auth/signin",
        email,
        password,
        next,
    )
    .await
}

/// Signs up or in through `path`, then goes to `next` (a page of this site) or the start
/// page; the form at `back` keeps the email (never the password) and where to go next.
#[cfg(feature = "ssr")]
async fn authenticate(
    path: &str,
    form: FormId,
    back: &str,
    email: String,
    password: String,
    next: Option<String>,
) -> Result<User, ServiceError> {
    let body = common::dto::Credentials {
        email: email.clone(),
        password,
    };
    let next = next.as_deref().and_then(crate::format::local_path);
    let back = match next {
        Some(next) => format!("{back}?next={}", common::wire::percent_encode(next)),
        None => back.to_owned(),
    };
    let result = crate::api::send(http::Method::POST, path, body).await;
    done(result, form, &back, &[("email", &email)], |_| {
        next.unwrap_or("/").to_owned()
    })
}

#[server(prefix = "/_fn", endpoint = "sign_out", client = AnswerClient)]
pub async fn sign_out() -> Result<(), ServiceError> {
    let _: Result<serde_json::Value, ServiceError> = crate::api::send(
        http::Method::POST,
        "/api/users/signout",
        serde_json::json!({}),
    )
    .await;
    // Signed out or not, the visitor lands on the start page, whose header shows which. A
    // refusal is not returned: the browser would then not follow the redirect.
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/_fn", endpoint = "list_tickets", client = AnswerClient)]
pub async fn list_tickets(
    q: Option<String>,
    cursor: Option<String>,
) -> Result<TicketPage, ServiceError> {
    use common::wire::percent_encode;
    let mut path = "/api/tickets?limit=".to_owned() + &PAGE_SIZE.to_string();
    if let Some(q) = q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        path += &format!("&q={}", percent_encode(q));
    }
    if let Some(cursor) = cursor.as_deref().filter(|c| !c.is_empty()) {
        path += &format!("&cursor={}", percent_encode(cursor));
    }
    let answer = crate::api::call::<Vec<Ticket>>(http::Method::GET, &path, None::<()>).await?;
    Ok(TicketPage {
        tickets: answer.body,
        next: answer.next,
    })
}

/// Tickets per page of the landing page.
#[cfg(feature = "ssr")]
const PAGE_SIZE: u32 = 24;

/// A ticket and whether the visitor is the one holding (or who bought) it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketInfo {
    pub ticket: Ticket,
    /// The ticket's order is the visitor's own (their page links to it).
    pub yours: bool,
}

#[server(prefix = "/_fn", endpoint = "get_ticket", client = AnswerClient)]
pub async fn get_ticket(id: String) -> Result<TicketInfo, ServiceError> {
    let ticket: Ticket =
        crate::api::get(&format!("/api/tickets/{}", crate::api::segment(&id))).await?;
    // Only the order's owner may read it: anyone else (or nobody signed in) is refused.
    let yours = match &ticket.order_id {
        Some(order) => {
            crate::api::get::<Order>(&format!("/api/orders/{}", crate::api::segment(order)))
                .await
                .is_ok()
        }
        _ => false,
    };
    Ok(TicketInfo { ticket, yours })
}

#[server(prefix = "/_fn", endpoint = "create_ticket", client = AnswerClient)]
pub async fn create_ticket(title: String, price: String) -> Result<Ticket, ServiceError> {
    let body = ticket_body(&title, &price);
    let result = crate::api::send(http::Method::POST, "/api/tickets", body).await;
    let values = [("title", title.as_str()), ("price", price.as_str())];
    done(result, FormId::Ticket, "/tickets/new", &values, ticket_page)
}

#[server(prefix = "/_fn", endpoint = "update_ticket", client = AnswerClient)]
pub async fn update_ticket(
    id: String,
    title: String,
    price: String,
) -> Result<Ticket, ServiceError> {
    let page = format!("/tickets/{}", crate::api::segment(&id));
    let body = ticket_body(&title, &price);
    let result = crate::api::send(http::Method::PUT, &format!("/api{page}"), body).await;
    let values = [("title", title.as_str()), ("price", price.as_str())];
    done(
        result,
        FormId::Ticket,
        &format!("{page}/edit"),
        &values,
        ticket_page,
    )
}

/// The seller puts their withdrawn ticket back on sale, then sees it.
#[server(prefix = "/_fn", endpoint = "relist_ticket", client = AnswerClient)]
pub async fn relist_ticket(id: String) -> Result<Ticket, ServiceError> {
    let page = format!("/tickets/{}", crate::api::segment(&id));
    let path = format!("/api{page}/relist");
    let result = crate::api::send(http::Method::POST, &path, serde_json::json!({})).await;
    done(result, FormId::Relist, &page, &[], ticket_page)
}

#[server(prefix = "/_fn", endpoint = "create_order", client = AnswerClient)]
pub async fn create_order(ticket_id: String) -> Result<Order, ServiceError> {
    let body = common::dto::CreateOrderBody {
        ticket_id: serde_json::Value::String(ticket_id.clone()),
    };
    let result = crate::api::send(http::Method::POST, "/api/orders", body).await;
    let back = format!("/tickets/{}", crate::api::segment(&ticket_id));
    done(result, FormId::Purchase, &back, &[], |order: &Order| {
        format!("/orders/{}", crate::api::segment(&order.id))
    })
}

/// The visitor's orders; the completed ones with their receipts.
#[server(prefix = "/_fn", endpoint = "list_orders", client = AnswerClient)]
pub async fn list_orders() -> Result<Vec<OrderInfo>, ServiceError> {
    let orders: Vec<Order> = crate::api::get("/api/orders").await?;
    let infos = orders.into_iter().map(|order| {
        let paid = order.status == common::events::OrderStatus::Complete;
        order_info(order, paid)
    });
    Ok(futures::future::join_all(infos).await)
}

/// One order, with its receipt (or the payment awaiting confirmation).
#[server(prefix = "/_fn", endpoint = "get_order", client = AnswerClient)]
pub async fn get_order(id: String) -> Result<OrderInfo, ServiceError> {
    let path = format!("/api/orders/{}", crate::api::segment(&id));
    let order: Order = crate::api::get(&path).await?;
    let maybe_paid = order.status != common::events::OrderStatus::Cancelled;
    Ok(order_info(order, maybe_paid).await)
}

/// `order` with, when `with_receipt`, its captured payment. The receipt is best effort: an
/// order page still shows when the payments service can't say (or hasn't heard of the order).
#[cfg(feature = "ssr")]
async fn order_info(order: Order, with_receipt: bool) -> OrderInfo {
    use common::dto::PaymentStatus;
    use common::events::OrderStatus;
    let receipt = if with_receipt {
        let path = format!(
            "/api/payments?orderId={}",
            common::wire::percent_encode(&order.id)
        );
        crate::api::get::<Vec<Payment>>(&path)
            .await
            .ok()
            .and_then(|payments| {
                payments
                    .into_iter()
                    .rev()
                    .find(|p| p.status == PaymentStatus::Captured)
            })
    } else {
        None
    };
    let expired = order.status != OrderStatus::Complete
        && crate::format::parse_rfc3339_millis(&order.expires_at)
            .is_some_and(|deadline| deadline <= crate::format::now_millis());
    OrderInfo {
        order,
        receipt,
        expired,
    }
}

/// Pays for an order with a card token (test mode: `tok_visa`, `tok_chargeDeclined`; Stripe
/// mode: the Payment Element's payment method), then shows the order.
#[server(prefix = "/_fn", endpoint = "pay_order", client = AnswerClient)]
pub async fn pay_order(
    order_id: String,
    token: String,
) -> Result<PaymentCreatedResponse, ServiceError> {
    let page = format!("/orders/{}", crate::api::segment(&order_id));
    let result = pay_when_known(&order_id, &token).await;
    if result.is_ok() {
        until_settled(&format!("/api{page}")).await;
    }
    done(result, FormId::Pay, &page, &[("token", &token)], |_| {
        page.clone()
    })
}

/// The payments service learns of an order from `order:created` a moment after it exists,
/// so a 404 is retried for a short while.
#[cfg(feature = "ssr")]
async fn pay_when_known(
    order_id: &str,
    token: &str,
) -> Result<PaymentCreatedResponse, ServiceError> {
    use std::time::Duration;
    let body = common::dto::CreatePaymentBody {
        order_id: order_id.into(),
        token: token.into(),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        match crate::api::send(http::Method::POST, "/api/payments", &body).await {
            Err(error) if error.is_not_found() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            result => return result,
        }
    }
}

/// The order completes when `payment:created` reaches the orders service, a moment after the
/// payment: waiting for it means the buyer lands on a completed order, not on the form they
/// just used (should it take longer, the page says the payment is being confirmed).
#[cfg(feature = "ssr")]
async fn until_settled(order_path: &str) {
    use common::events::OrderStatus;
    use std::time::Duration;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while tokio::time::Instant::now() < deadline {
        match crate::api::get::<Order>(order_path).await {
            Ok(order)
                if matches!(
                    order.status,
                    OrderStatus::Created | OrderStatus::AwaitingPayment
                ) =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            _ => return,
        }
    }
}

#[server(prefix = "/_fn", endpoint = "cancel_order", client = AnswerClient)]
pub async fn cancel_order(order_id: String) -> Result<(), ServiceError> {
    let page = format!("/orders/{}", crate::api::segment(&order_id));
    let result = crate::api::send::<serde_json::Value>(
        http::Method::DELETE,
        &format!("/api{page}"),
        serde_json::json!({}),
    )
    .await
    .map(|_| ());
    done(result, FormId::Cancel, &page, &[], |()| page.clone())
}

/// Admins only: the users whose email contains `email` (all of them, up to a page, when
/// it is empty).
#[server(prefix = "/_fn", endpoint = "find_users", client = AnswerClient)]
pub async fn find_users(email: Option<String>) -> Result<AdminUsers, ServiceError> {
    let search = email.unwrap_or_default();
    crate::api::get(&format!(
        "/api/users?email={}",
        common::wire::percent_encode(search.trim())
    ))
    .await
}

/// The admin page showing the search `email` (where a ban or unban comes back to).
#[cfg(feature = "ssr")]
fn admin_page(email: Option<&str>) -> String {
    match email.map(str::trim).filter(|e| !e.is_empty()) {
        Some(email) => format!("/admin/users?email={}", common::wire::percent_encode(email)),
        None => "/admin/users".to_owned(),
    }
}

/// Admins only: bans user `id` for `reason`, then shows the search `email` again.
#[server(prefix = "/_fn", endpoint = "ban_user", client = AnswerClient)]
pub async fn ban_user(
    id: String,
    reason: String,
    email: Option<String>,
) -> Result<AdminUser, ServiceError> {
    let page = admin_page(email.as_deref());
    let path = format!("/api/users/{}/ban", crate::api::segment(&id));
    let body = common::dto::BanBody {
        reason: reason.clone(),
    };
    let result = crate::api::send(http::Method::POST, &path, body).await;
    let values = [("id", id.as_str()), ("reason", reason.as_str())];
    done(result, FormId::Ban, &page, &values, |_| page.clone())
}

/// Admins only: lifts user `id`'s ban, then shows the search `email` again.
#[server(prefix = "/_fn", endpoint = "unban_user", client = AnswerClient)]
pub async fn unban_user(id: String, email: Option<String>) -> Result<AdminUser, ServiceError> {
    let page = admin_page(email.as_deref());
    let path = format!("/api/users/{}/ban", crate::api::segment(&id));
    let result = crate::api::send(http::Method::DELETE, &path, serde_json::json!({})).await;
    done(result, FormId::Ban, &page, &[("id", id.as_str())], |_| {
        page.clone()
    })
}

/// Ends a mutation: on success, redirect to the page that shows it; on failure of a plain
/// form post, back to the form with its errors (a hydrated form shows them in place).
#[cfg(feature = "ssr")]
fn done<T>(
    result: Result<T, ServiceError>,
    form: FormId,
    back: &str,
    values: &[(&str, &str)],
    next: impl FnOnce(&T) -> String,
) -> Result<T, ServiceError> {
    match &result {
        Ok(value) => leptos_axum::redirect(&next(value)),
        Err(error) if crate::flash::is_plain_form_post() => {
            crate::flash::store(form, error, values);
            leptos_axum::redirect(back);
        }
        Err(_) => {}
    }
    result
}

#[cfg(feature = "ssr")]
fn ticket_page(ticket: &Ticket) -> String {
    format!("/tickets/{}", crate::api::segment(&ticket.id))
}

/// The service validates the fields; a price that reads as money is sent as a number,
/// anything else as typed so the service can say what is wrong with it.
#[cfg(feature = "ssr")]
fn ticket_body(title: &str, price: &str) -> common::dto::TicketBody {
    use common::money::Money;
    let price = price.trim().trim_start_matches('$');
    common::dto::TicketBody {
        title: serde_json::Value::String(title.trim().to_owned()),
        price: Money::parse_decimal(price)
            .and_then(|money| serde_json::to_value(money).ok())
            .unwrap_or_else(|| serde_json::Value::String(price.to_owned())),
    }
}

#[cfg(all(test, feature = "ssr"))]
mod tests {
    use super::ticket_body;

    #[test]
    fn a_price_that_reads_as_money_is_sent_as_a_number() {
        let body = ticket_body(" Concert ", "$20.50");
        assert_eq!(body.title, serde_json::json!("Concert"));
        assert_eq!(body.price, serde_json::json!(20.5));
        assert_eq!(ticket_body("x", "abc").price, serde_json::json!("abc"));
    }
}
