//! Parsed ticket fields: a title of 1–120 characters and a positive price in cents.
use common::dto::{ErrorItem, TicketBody};
use common::money::Money;
use common::ApiError;

pub const MAX_TITLE: usize = 120;
/// No ticket sells for more than this (100,000.00); it catches typos like an extra zero.
pub const MAX_PRICE: Money = Money::from_cents(10_000_000);

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub title: String,
    pub price: Money,
}

impl TryFrom<TicketBody> for NewTicket {
    type Error = ApiError;

    fn try_from(body: TicketBody) -> Result<Self, ApiError> {
        let title = parse_title(&body.title);
        let price = parse_price(&body.price);
        match (title, price) {
            (Ok(title), Ok(price)) => Ok(Self { title, price }),
            (title, price) => Err(ApiError::Validation(
                title.err().into_iter().chain(price.err()).collect(),
            )),
        }
    }
}

fn parse_title(value: &serde_json::Value) -> Result<String, ErrorItem> {
    let title = value.as_str().map(str::trim).unwrap_or_default();
    match title.chars().count() {
        0 => Err(ErrorItem::field("title", "Title is required")),
        n if n > MAX_TITLE => Err(ErrorItem::field(
            "title",
            "Title must be at most 120 characters",
        )),
        _ if title.chars().any(char::is_control) => Err(ErrorItem::field(
            "title",
            "Title must be a single line of text",
        )),
        _ if title.chars().any(is_invisible) => Err(ErrorItem::field(
            "title",
            "Title must not contain invisible or text-direction characters",
        )),
        _ => Ok(title.to_owned()),
    }
}

/// Characters that change how text shows without showing themselves, so a title could read
/// differently from what is stored and searched: Unicode's format characters (category Cf,
/// as of Unicode 15.1: bidi controls, zero-width spaces and joiners, soft hyphen, BOM, tags…)
/// and the line/paragraph separators. Control characters are `char::is_control`'s.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

fn parse_price(value: &serde_json::Value) -> Result<Money, ErrorItem> {
    let text = match value {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) => s.clone(),
        _ => return Err(ErrorItem::field("price", "Price must be greater than 0")),
    };
    match Money::parse_decimal(&text) {
        None if text.contains('.') && text.split('.').nth(1).is_some_and(|f| f.len() > 2) => Err(
            ErrorItem::field("price", "Price can have at most two decimals"),
        ),
        Some(price) if price.cents() > 0 && price <= MAX_PRICE => Ok(price),
        Some(price) if price > MAX_PRICE => {
            Err(ErrorItem::field("price", "Price must be at most 100000"))
        }
        _ => Err(ErrorItem::field("price", "Price must be greater than 0")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(title: serde_json::Value, price: serde_json::Value) -> Result<NewTicket, ApiError> {
        NewTicket::try_from(TicketBody { title, price })
    }

    #[test]
    fn a_valid_ticket_parses_with_its_price_in_cents() {
        let t = parse(json!(" concert "), json!(20.5)).expect("valid");
        assert_eq!((t.title.as_str(), t.price.cents()), ("concert", 2050));
        assert_eq!(
            parse(json!("x"), json!("10"))
                .expect("numeric string")
                .price
                .cents(),
            1000
        );
    }

    #[test]
    fn bad_titles_and_prices_are_field_errors() {
        for (title, price) in [
            (json!(""), json!(10)),
            (json!(null), json!(10)),
            (json!("x".repeat(121)), json!(10)),
            (json!("t"), json!(0)),
            (json!("t"), json!(-10)),
            (json!("t"), json!(null)),
            (json!("t"), json!("abc")),
            (json!("t"), json!(1.234)),
            (json!("t"), json!(100_000.01)),
            (json!(7), json!(true)),
            (json!("a\u{0}b"), json!(10)),
            (json!("a\u{85}b"), json!(10)),
            (json!("abc\u{202E}fdp.exe"), json!(10)),
            (json!("a\u{200B}b"), json!(10)),
            (json!("\u{FEFF}ab"), json!(10)),
            (json!("a\u{2066}b\u{2069}"), json!(10)),
            (json!("a\u{AD}b"), json!(10)),
            (json!("a\u{E0041}"), json!(10)),
            (json!("a\u{2028}b"), json!(10)),
        ] {
            assert!(
                matches!(
                    parse(title.clone(), price.clone()),
                    Err(ApiError::Validation(_))
                ),
                "{title} {price}"
            );
        }
    }
}
