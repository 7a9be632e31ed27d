//! Parsed request fields: a ticket's title of 1–120 characters, its positive price in cents,
//! its event and seat; an event's name, venue, city, start and time zone.
use chrono::{DateTime, SubsecRound, Utc};
use common::dto::{ErrorItem, EventBody, TicketRequest};
use common::money::Money;
use common::ApiError;

pub const MAX_TITLE: usize = 120;
/// A section, row or seat is at most this many characters.
pub const MAX_SEAT_PART: usize = 20;
pub const MAX_DESCRIPTION: usize = 2000;
/// How far ahead an event may start: further is a typo (a wrong year).
pub const MAX_YEARS_AHEAD: i64 = 10;
/// No ticket sells for more than this (100,000.00); it catches typos like an extra zero.
pub const MAX_PRICE: Money = Money::from_cents(10_000_000);

/// Section, row and seat as a request gives them: for each, None when not given (a new
/// listing has none; an edit keeps what it had), `Some(None)` to clear it (`""`).
pub type SeatChange = [Option<Option<String>>; 3];

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub title: String,
    pub price: Money,
    /// The event asked for (not yet known to exist); None when not given.
    pub event_id: Option<String>,
    pub seat: SeatChange,
}

impl NewTicket {
    /// The seat of a new listing: what was given, nothing else.
    pub fn seat(&self) -> [Option<String>; 3] {
        self.seat.clone().map(Option::flatten)
    }
}

impl TryFrom<TicketRequest> for NewTicket {
    type Error = ApiError;

    fn try_from(body: TicketRequest) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let title = parse_title(&body.title).map_err(|e| errors.push(e)).ok();
        let price = parse_price(&body.price).map_err(|e| errors.push(e)).ok();
        let event_id = match &body.event_id {
            None => None,
            Some(serde_json::Value::String(id)) if common::http::could_exist(id.trim()) => {
                Some(id.trim().to_owned())
            }
            Some(_) => {
                errors.push(ErrorItem::field("eventId", NO_SUCH_EVENT));
                None
            }
        };
        let mut seat: SeatChange = Default::default();
        for (slot, (name, value)) in seat.iter_mut().zip([
            ("section", &body.section),
            ("row", &body.row),
            ("seat", &body.seat),
        ]) {
            if let Some(value) = value {
                match parse_seat_part(name, value) {
                    Ok(part) => *slot = Some(part),
                    Err(e) => errors.push(e),
                }
            }
        }
        match (title, price) {
            (Some(title), Some(price)) if errors.is_empty() => Ok(Self {
                title,
                price,
                event_id,
                seat,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

pub const NO_SUCH_EVENT: &str = "No such event";
pub const EVENT_STARTED: &str = "The event has already started";

fn parse_title(value: &serde_json::Value) -> Result<String, ErrorItem> {
    parse_line("title", "Title", value, MAX_TITLE)
}

/// A required one-line text of at most `max` characters, trimmed: no control characters and
/// nothing invisible ([`is_invisible`]).
fn parse_line(
    field: &str,
    label: &str,
    value: &serde_json::Value,
    max: usize,
) -> Result<String, ErrorItem> {
    let text = value.as_str().map(str::trim).unwrap_or_default();
    match text.chars().count() {
        0 => Err(ErrorItem::field(field, format!("{label} is required"))),
        n if n > max => Err(ErrorItem::field(
            field,
            format!("{label} must be at most {max} characters"),
        )),
        _ if text.chars().any(char::is_control) => Err(ErrorItem::field(
            field,
            format!("{label} must be a single line of text"),
        )),
        _ if text.chars().any(is_invisible) => Err(ErrorItem::field(
            field,
            format!("{label} must not contain invisible or text-direction characters"),
        )),
        _ => Ok(text.to_owned()),
    }
}

/// A section, row or seat: `""` (or all spaces) is none; otherwise a line of at most 20.
fn parse_seat_part(field: &str, value: &serde_json::Value) -> Result<Option<String>, ErrorItem> {
    let label = match field {
        "section" => "Section",
        "row" => "Row",
        _ => "Seat",
    };
    match value {
        serde_json::Value::String(text) if text.trim().is_empty() => Ok(None),
        serde_json::Value::String(_) => parse_line(field, label, value, MAX_SEAT_PART).map(Some),
        // A seat number typed as a number is still a seat.
        serde_json::Value::Number(n) => {
            parse_line(field, label, &n.to_string().into(), MAX_SEAT_PART).map(Some)
        }
        _ => Err(ErrorItem::field(field, format!("{label} must be text"))),
    }
}

/// A new event, every field checked.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub name: String,
    pub venue: String,
    pub city: String,
    /// Whole seconds: a start is never finer, and duplicates compare equal.
    pub starts_at: DateTime<Utc>,
    pub time_zone: chrono_tz::Tz,
    pub description: Option<String>,
}

impl NewEvent {
    /// Parses `body` as of `now` (the start must be after it).
    pub fn parse(body: &EventBody, now: DateTime<Utc>) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let mut line = |field, label, value| {
            parse_line(field, label, value, MAX_TITLE)
                .map_err(|e| errors.push(e))
                .ok()
        };
        let name = line("name", "Name", &body.name);
        let venue = line("venue", "Venue", &body.venue);
        let city = line("city", "City", &body.city);
        let starts_at = parse_start(&body.starts_at, now)
            .map_err(|e| errors.push(e))
            .ok();
        let time_zone = parse_time_zone(&body.time_zone)
            .map_err(|e| errors.push(e))
            .ok();
        let description = match &body.description {
            None => Ok(None),
            Some(value) => parse_description(value),
        }
        .map_err(|e| errors.push(e))
        .ok();
        match (name, venue, city, starts_at, time_zone, description) {
            (
                Some(name),
                Some(venue),
                Some(city),
                Some(starts_at),
                Some(time_zone),
                Some(description),
            ) if errors.is_empty() => Ok(Self {
                name,
                venue,
                city,
                starts_at,
                time_zone,
                description,
            }),
            _ => Err(ApiError::Validation(errors)),
        }
    }
}

fn parse_start(value: &serde_json::Value, now: DateTime<Utc>) -> Result<DateTime<Utc>, ErrorItem> {
    let invalid = || {
        ErrorItem::field(
            "startsAt",
            "Start must be a time with its offset (RFC 3339, like 2030-06-28T19:30:00+01:00)",
        )
    };
    let text = value.as_str().map(str::trim).ok_or_else(invalid)?;
    if text.len() > 40 {
        return Err(invalid());
    }
    let at = common::events::timestamp::parse(text)
        .map_err(|_| invalid())?
        .trunc_subsecs(0);
    if at <= now {
        return Err(ErrorItem::field("startsAt", "Start must be in the future"));
    }
    if at > now + chrono::Duration::days(365 * MAX_YEARS_AHEAD) {
        return Err(ErrorItem::field(
            "startsAt",
            format!("Start must be within the next {MAX_YEARS_AHEAD} years"),
        ));
    }
    Ok(at)
}

fn parse_time_zone(value: &serde_json::Value) -> Result<chrono_tz::Tz, ErrorItem> {
    value
        .as_str()
        .map(str::trim)
        .filter(|name| name.len() <= 64)
        .and_then(|name| name.parse::<chrono_tz::Tz>().ok())
        .ok_or_else(|| {
            ErrorItem::field(
                "timeZone",
                "Time zone must be an IANA time zone name, like Europe/London",
            )
        })
}

/// Several lines allowed (newlines and tabs), but no other control characters and nothing
/// invisible; `""` is none.
fn parse_description(value: &serde_json::Value) -> Result<Option<String>, ErrorItem> {
    let field = "description";
    let text = match value {
        serde_json::Value::Null => return Ok(None),
        serde_json::Value::String(text) => text.trim(),
        _ => return Err(ErrorItem::field(field, "Description must be text")),
    };
    if text.is_empty() {
        Ok(None)
    } else if text.chars().count() > MAX_DESCRIPTION {
        Err(ErrorItem::field(
            field,
            "Description must be at most 2000 characters",
        ))
    } else if text
        .chars()
        .any(|c| (c.is_control() && c != '\n' && c != '\t') || is_invisible(c))
    {
        Err(ErrorItem::field(
            field,
            "Description must not contain control, invisible or text-direction characters",
        ))
    } else {
        Ok(Some(text.to_owned()))
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
        NewTicket::try_from(TicketRequest {
            title,
            price,
            ..Default::default()
        })
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

    fn event(fields: serde_json::Value) -> Result<NewEvent, Vec<String>> {
        let mut body = json!({
            "name": "Glastonbury", "venue": "Worthy Farm", "city": "Pilton",
            "startsAt": "2030-06-28T19:30:00+01:00", "timeZone": "Europe/London",
        });
        for (k, v) in fields.as_object().expect("an object") {
            body[k] = v.clone();
        }
        let body: EventBody = serde_json::from_value(body).expect("a body");
        let now = DateTime::from_timestamp(1_893_456_000, 0).expect("2030-01-01");
        NewEvent::parse(&body, now).map_err(|e| match e {
            ApiError::Validation(items) => items.into_iter().filter_map(|i| i.field).collect(),
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn an_event_starts_in_the_future_in_a_known_zone() {
        let e = event(json!({})).expect("valid");
        assert_eq!(e.starts_at.to_rfc3339(), "2030-06-28T18:30:00+00:00");
        assert_eq!(e.time_zone, chrono_tz::Europe::London);
        for (fields, field) in [
            (json!({"startsAt": "2029-06-28T19:30:00Z"}), "startsAt"),
            (json!({"startsAt": "2030-06-28T19:30:00"}), "startsAt"),
            (json!({"startsAt": "2050-06-28T19:30:00Z"}), "startsAt"),
            (json!({"timeZone": "Mars/Olympus"}), "timeZone"),
            (json!({"timeZone": 1}), "timeZone"),
            (json!({"name": "a\u{202E}b"}), "name"),
            (json!({"venue": ""}), "venue"),
            (json!({"city": "x".repeat(121)}), "city"),
            (json!({"description": "a\u{0}b"}), "description"),
        ] {
            assert_eq!(
                event(fields.clone()).err(),
                Some(vec![field.to_owned()]),
                "{fields}"
            );
        }
        assert!(event(json!({"description": "two\nlines"})).is_ok());
    }

    #[test]
    fn seat_parts_are_short_lines_and_empty_clears() {
        let t = NewTicket::try_from(TicketRequest {
            title: json!("t"),
            price: json!(1),
            section: Some(json!(" Stalls ")),
            row: Some(json!("")),
            seat: Some(json!(12)),
            ..Default::default()
        })
        .expect("valid");
        assert_eq!(
            t.seat,
            [
                Some(Some("Stalls".into())),
                Some(None),
                Some(Some("12".into()))
            ]
        );
        for (section, row) in [
            (json!("x".repeat(21)), json!("A")),
            (json!("A"), json!("a\tb")),
        ] {
            assert!(NewTicket::try_from(TicketRequest {
                title: json!("t"),
                price: json!(1),
                section: Some(section),
                row: Some(row),
                ..Default::default()
            })
            .is_err());
        }
    }
}
