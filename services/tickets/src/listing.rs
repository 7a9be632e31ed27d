//! The queries of the paged lists, parsed: a page size, where the previous page ended, and
//! an optional search. `GET /api/tickets` runs newest first by (created_at, id) and
//! `GET /api/events` soonest first by (starts_at, id), so their cursor is the last row's
//! (timestamp, id); an event's tickets run by price or by seat ([`TicketPosition`]). Every
//! list shares the rules: each name at most once, `limit` 1–200, and the next page in a
//! `Link` header ([`next_link`]).
use axum::extract::Query;
use axum::http::header::LINK;
use axum::http::{HeaderMap, HeaderValue, Uri};
use chrono::{DateTime, Utc};
use common::dto::ErrorItem;
use common::ApiError;

use crate::domain::MAX_TITLE;

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 200;

const LIMIT_INVALID: &str = "Limit must be a whole number from 1 to 200";
const CURSOR_INVALID: &str = "Cursor is not valid; start again from the first page";
const Q_TOO_LONG: &str = "Search must be at most 120 characters";
const Q_CONTROL: &str = "Search must be a single line of text";

/// The request's query as decoded pairs. Decoded by hand: axum's `Query` rejection is plain
/// text, not the envelope. Pairs never fail to decode (bad escapes stay literal, bad UTF-8
/// becomes U+FFFD).
pub fn query_pairs(uri: &Uri) -> Result<Vec<(String, String)>, ApiError> {
    Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|Query(pairs)| pairs)
        .map_err(|_| ApiError::bad_request("Malformed query string"))
}

/// Cuts `rows`, read with one row more than `limit` (which tells whether another page
/// follows), to the page, and answers the page's headers: a `Link` to the next page, made
/// from the page's last row by `next`, while there is one.
pub fn page<T>(
    rows: &mut Vec<T>,
    limit: Limit,
    next: impl FnOnce(&T) -> String,
) -> Result<HeaderMap, ApiError> {
    let mut headers = HeaderMap::new();
    let limit = limit.get() as usize;
    if rows.len() > limit {
        rows.truncate(limit);
        if let Some(last) = rows.last() {
            // Only hex and percent escapes: always a valid header value.
            let link = HeaderValue::from_str(&next(last)).map_err(anyhow::Error::from)?;
            headers.insert(LINK, link);
        }
    }
    Ok(headers)
}

/// A page size from 1 to [`MAX_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    pub(crate) fn parse(raw: &str) -> Result<Self, ErrorItem> {
        // Digits only: `+5`, `-1`, ` 5` and `5.0` are refused rather than guessed at.
        let valid = !raw.is_empty() && raw.len() <= 3 && raw.bytes().all(|b| b.is_ascii_digit());
        raw.parse::<u32>()
            .ok()
            .filter(|n| valid && (1..=MAX_LIMIT).contains(n))
            .map(Self)
            .ok_or_else(|| ErrorItem::field("limit", LIMIT_INVALID))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl Default for Limit {
    fn default() -> Self {
        Self(DEFAULT_LIMIT)
    }
}

/// A position in a (timestamp, id) order: the page after it starts strictly past it. The
/// timestamp is the row's `created_at` in the tickets listing, `starts_at` in events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub created_at: DateTime<Utc>,
    pub id: String,
}

/// Cursors carry these timestamps only: binding anything outside PostgreSQL's range would
/// fail the query, and SQLite compares the stored text, which needs four-digit years.
const LATEST: i64 = 253_402_300_799; // 9999-12-31T23:59:59Z

impl Cursor {
    /// Hex of seconds (8 bytes), nanoseconds (4) and the id: exact to the nanosecond, so
    /// rows written before timestamps were cut to microseconds (SQLite) still round-trip.
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(12 + self.id.len());
        bytes.extend_from_slice(&self.created_at.timestamp().to_be_bytes());
        bytes.extend_from_slice(&self.created_at.timestamp_subsec_nanos().to_be_bytes());
        bytes.extend_from_slice(self.id.as_bytes());
        hex_encode(&bytes)
    }

    pub(crate) fn decode(raw: &str) -> Result<Self, ErrorItem> {
        let invalid = || ErrorItem::field("cursor", CURSOR_INVALID);
        // An id is at most 64 bytes (`could_exist`), so no real cursor is longer.
        if raw.len() > 2 * (12 + 64) {
            return Err(invalid());
        }
        let bytes = hex_decode(raw).ok_or_else(invalid)?;
        if bytes.len() < 12 {
            return Err(invalid());
        }
        let (seconds, rest) = bytes.split_at(8);
        let (nanos, id) = rest.split_at(4);
        let seconds = i64::from_be_bytes(seconds.try_into().map_err(|_| invalid())?);
        let nanos = u32::from_be_bytes(nanos.try_into().map_err(|_| invalid())?);
        let id = String::from_utf8(id.to_vec()).map_err(|_| invalid())?;
        // Nanoseconds past 999,999,999 would be chrono's leap second: never written by us.
        let created_at = Some(seconds)
            .filter(|s| (0..=LATEST).contains(s) && nanos < 1_000_000_000)
            .and_then(|s| DateTime::from_timestamp(s, nanos))
            .ok_or_else(invalid)?;
        if !common::http::could_exist(&id) {
            return Err(invalid());
        }
        Ok(Self { created_at, id })
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Lowercase or uppercase hex, two digits a byte; None for anything else.
fn hex_decode(raw: &str) -> Option<Vec<u8>> {
    let nibble = |b: u8| char::from(b).to_digit(16);
    raw.as_bytes()
        .chunks(2)
        .map(|pair| match *pair {
            [high, low] => u8::try_from(nibble(high)? << 4 | nibble(low)?).ok(),
            _ => None,
        })
        .collect()
}

/// A title search: trimmed, non-empty, at most [`MAX_TITLE`] characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleSearch(String);

impl TitleSearch {
    /// None for an empty (or all-space) search, which means no filter.
    pub(crate) fn parse(raw: &str) -> Result<Option<Self>, ErrorItem> {
        let text = raw.trim();
        if text.chars().any(char::is_control) {
            Err(ErrorItem::field("q", Q_CONTROL))
        } else if text.chars().count() > MAX_TITLE {
            Err(ErrorItem::field("q", Q_TOO_LONG))
        } else if text.is_empty() {
            Ok(None)
        } else {
            Ok(Some(Self(text.to_owned())))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A `LIKE … ESCAPE '\'` pattern matching the text anywhere, its `%`, `_` and `\` literal.
    pub fn like_pattern(&self) -> String {
        let mut pattern = String::with_capacity(self.0.len() + 2);
        pattern.push('%');
        for c in self.0.chars() {
            if matches!(c, '%' | '_' | '\\') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        pattern
    }
}

/// One request for a page of tickets for sale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageQuery {
    pub limit: Limit,
    pub cursor: Option<Cursor>,
    pub q: Option<TitleSearch>,
}

impl PageQuery {
    /// Parses decoded query pairs; unknown names are ignored, and every bad value (or a name
    /// given twice, which different proxies would read differently) is a field error.
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let mut query = Self::default();
        let mut errors = Vec::new();
        for name in ["limit", "cursor", "q"] {
            let value = match single(pairs, name) {
                Ok(Some(value)) => value,
                Ok(None) => continue,
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            };
            let parsed = match name {
                "limit" => Limit::parse(value).map(|l| query.limit = l),
                "cursor" => Cursor::decode(value).map(|c| query.cursor = Some(c)),
                _ => TitleSearch::parse(value).map(|q| query.q = q),
            };
            errors.extend(parsed.err());
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    /// The `Link` header value pointing at the page after `last`, same size and search.
    pub fn next_link(&self, last: &Cursor) -> String {
        let q = self.q.as_ref().map(TitleSearch::as_str);
        next_link(
            "/api/tickets",
            self.limit,
            &last.encode(),
            &[("q", q.unwrap_or_default())],
        )
    }
}

/// The value of name `name` among the decoded query pairs, if given; a field error when it
/// is given twice (proxies and frameworks disagree on which one counts).
pub(crate) fn single<'a>(
    pairs: &'a [(String, String)],
    name: &str,
) -> Result<Option<&'a str>, ErrorItem> {
    let mut values = pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
    match (values.next(), values.next()) {
        (Some(_), Some(_)) => Err(ErrorItem::field(name, format!("Give {name} at most once"))),
        (value, _) => Ok(value.map(String::as_str)),
    }
}

/// A `Link` header value pointing at `path`'s next page: the same size, the cursor, then the
/// non-empty `extra` parameters, percent-encoded (only hex and escapes: a valid header value).
pub fn next_link(path: &str, limit: Limit, cursor: &str, extra: &[(&str, &str)]) -> String {
    let mut target = format!("{path}?limit={}&cursor={cursor}", limit.get());
    for (name, value) in extra.iter().filter(|(_, v)| !v.is_empty()) {
        target.push('&');
        target.push_str(name);
        target.push('=');
        target.push_str(&common::wire::percent_encode(value));
    }
    format!("<{target}>; rel=\"next\"")
}

const DATE_INVALID: &str = "must be a date (YYYY-MM-DD) or an RFC 3339 time, from 1970 to 9999";
const SORT_INVALID: &str = "Sort must be price or seat";

/// One request for a page of upcoming events: a size, a cursor, a search in name, venue and
/// city, and a range on the start (`from` inclusive, `to` inclusive: a date takes in the
/// whole day, in UTC).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsQuery {
    pub limit: Limit,
    pub cursor: Option<Cursor>,
    pub q: Option<TitleSearch>,
    /// Starts at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Starts before this (the end of `to`'s day, or just past its instant).
    pub before: Option<DateTime<Utc>>,
    /// `from` and `to` as given, for the next page's link.
    raw: [String; 2],
}

impl EventsQuery {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let mut query = Self::default();
        let mut errors = Vec::new();
        for name in ["limit", "cursor", "q", "from", "to"] {
            let value = match single(pairs, name) {
                Ok(Some(value)) => value,
                Ok(None) => continue,
                Err(error) => {
                    errors.push(error);
                    continue;
                }
            };
            let parsed = match name {
                "limit" => Limit::parse(value).map(|l| query.limit = l),
                "cursor" => Cursor::decode(value).map(|c| query.cursor = Some(c)),
                "q" => TitleSearch::parse(value).map(|q| query.q = q),
                "from" => bound(name, value, false).map(|at| {
                    query.from = at;
                    query.raw[0] = value.trim().to_owned();
                }),
                _ => bound(name, value, true).map(|at| {
                    query.before = at;
                    query.raw[1] = value.trim().to_owned();
                }),
            };
            errors.extend(parsed.err());
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    /// The `Link` header value pointing at the page after `last`, same size and filters.
    pub fn next_link(&self, last: &Cursor) -> String {
        let q = self.q.as_ref().map(TitleSearch::as_str);
        next_link(
            "/api/events",
            self.limit,
            &last.encode(),
            &[
                ("q", q.unwrap_or_default()),
                ("from", &self.raw[0]),
                ("to", &self.raw[1]),
            ],
        )
    }
}

/// A range bound: a day (its start, or for an end the next day's start) or an RFC 3339
/// instant (for an end, just past it); None when empty.
fn bound(name: &str, raw: &str, end: bool) -> Result<Option<DateTime<Utc>>, ErrorItem> {
    let raw = raw.trim();
    if raw.is_empty() {
        return Ok(None);
    }
    let invalid = || ErrorItem::field(name, format!("{name} {DATE_INVALID}"));
    let at = if let Ok(day) = chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d") {
        let day = if end { day.succ_opt() } else { Some(day) };
        day.and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|t| t.and_utc())
            .ok_or_else(invalid)?
    } else if raw.len() <= 40 {
        let at = common::events::timestamp::parse(raw).map_err(|_| invalid())?;
        if end {
            at + chrono::Duration::microseconds(1)
        } else {
            at
        }
    } else {
        return Err(invalid());
    };
    Some(at)
        .filter(|at| (0..=LATEST + 1).contains(&at.timestamp()))
        .map(Some)
        .ok_or_else(invalid)
}

/// How an event's tickets are ordered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Sort {
    /// Cheapest first, then by id.
    #[default]
    Price,
    /// By section, row and seat as text (unseated first), then by id.
    Seat,
}

impl Sort {
    fn as_str(self) -> &'static str {
        match self {
            Self::Price => "price",
            Self::Seat => "seat",
        }
    }
}

/// Where a page of an event's tickets ended, in the page's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketPosition {
    Price {
        cents: i64,
        id: String,
    },
    /// Section, row and seat (`""` when not given) and the id.
    Seat {
        place: [String; 3],
        id: String,
    },
}

/// Seat parts are one line (no control characters), so NUL separates the cursor's fields.
const SEPARATOR: char = '\0';

impl TicketPosition {
    pub fn encode(&self) -> String {
        let text = match self {
            Self::Price { cents, id } => format!("p{SEPARATOR}{cents}{SEPARATOR}{id}"),
            Self::Seat { place, id } => {
                let [section, row, seat] = place;
                format!("s{SEPARATOR}{section}{SEPARATOR}{row}{SEPARATOR}{seat}{SEPARATOR}{id}")
            }
        };
        hex_encode(text.as_bytes())
    }

    fn decode(raw: &str, sort: Sort) -> Result<Self, ErrorItem> {
        let invalid = || ErrorItem::field("cursor", CURSOR_INVALID);
        // Three seat parts of at most 20 characters (4 bytes each), an id, separators.
        if raw.len() > 2 * (8 + 3 * 80 + 64) {
            return Err(invalid());
        }
        let bytes = hex_decode(raw).ok_or_else(invalid)?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let parts: Vec<&str> = text.split(SEPARATOR).collect();
        let position = match (sort, parts.as_slice()) {
            (Sort::Price, ["p", cents, id]) => Self::Price {
                cents: cents
                    .parse()
                    .ok()
                    .filter(|c| *c > 0 && cents.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(invalid)?,
                id: (*id).to_owned(),
            },
            (Sort::Seat, ["s", section, row, seat, id]) => {
                let place = [*section, *row, *seat];
                if place.iter().any(|p| {
                    p.chars().count() > crate::domain::MAX_SEAT_PART
                        || p.chars().any(char::is_control)
                }) {
                    return Err(invalid());
                }
                Self::Seat {
                    place: place.map(str::to_owned),
                    id: (*id).to_owned(),
                }
            }
            _ => return Err(invalid()),
        };
        match &position {
            Self::Price { id, .. } | Self::Seat { id, .. } if common::http::could_exist(id) => {
                Ok(position)
            }
            _ => Err(invalid()),
        }
    }
}

/// One request for a page of an event's tickets for sale.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventTicketsQuery {
    pub limit: Limit,
    pub sort: Sort,
    pub cursor: Option<TicketPosition>,
}

impl EventTicketsQuery {
    pub fn parse(pairs: &[(String, String)]) -> Result<Self, ApiError> {
        let mut query = Self::default();
        let mut errors = Vec::new();
        let mut get = |name| {
            single(pairs, name)
                .map_err(|e| errors.push(e))
                .ok()
                .flatten()
        };
        let (limit, sort, cursor) = (get("limit"), get("sort"), get("cursor"));
        if let Some(limit) = limit {
            match Limit::parse(limit) {
                Ok(limit) => query.limit = limit,
                Err(e) => errors.push(e),
            }
        }
        match sort.map(str::trim) {
            None | Some("" | "price") => {}
            Some("seat") => query.sort = Sort::Seat,
            Some(_) => errors.push(ErrorItem::field("sort", SORT_INVALID)),
        }
        if let Some(cursor) = cursor {
            match TicketPosition::decode(cursor, query.sort) {
                Ok(position) => query.cursor = Some(position),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(query)
        } else {
            Err(ApiError::Validation(errors))
        }
    }

    /// The `Link` header value pointing at the page after `last` of event `event_id`.
    pub fn next_link(&self, event_id: &str, last: &TicketPosition) -> String {
        let path = format!(
            "/api/events/{}/tickets",
            common::wire::percent_encode(event_id)
        );
        next_link(
            &path,
            self.limit,
            &last.encode(),
            &[("sort", self.sort.as_str())],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn fields(result: Result<PageQuery, ApiError>) -> Vec<String> {
        match result {
            Err(ApiError::Validation(items)) => items.into_iter().filter_map(|i| i.field).collect(),
            other => panic!("expected field errors, got {other:?}"),
        }
    }

    #[test]
    fn defaults_apply_and_unknown_names_are_ignored() {
        let query = PageQuery::parse(&pairs(&[("page", "3"), ("q", "  ")])).expect("valid");
        assert_eq!(query, PageQuery::default());
        assert_eq!(query.limit.get(), 50);
    }

    #[test]
    fn limits_are_whole_numbers_from_1_to_200() {
        for ok in ["1", "50", "200", "007"] {
            assert!(Limit::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "0",
            "201",
            "-1",
            "+5",
            "abc",
            "",
            " 5",
            "5.0",
            "1e2",
            "99999999999",
        ] {
            assert!(Limit::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_cursor_round_trips_to_the_nanosecond() {
        let created_at = DateTime::from_timestamp(1_700_000_000, 123_456_789).expect("a time");
        let cursor = Cursor {
            created_at,
            id: "0b0c7f5e-8a43-4f5e-9a53-1d2b3c4d5e6f".into(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn cursors_that_were_never_handed_out_are_refused() {
        let at = |seconds: i64, nanos: u32, id: &str| {
            let mut bytes = seconds.to_be_bytes().to_vec();
            bytes.extend_from_slice(&nanos.to_be_bytes());
            bytes.extend_from_slice(id.as_bytes());
            bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
        };
        for bad in [
            String::new(),
            "zz".into(),
            format!("+f{}", "00".repeat(13)),
            "abc".into(),
            "00".repeat(11),
            at(-1, 0, "id"),
            at(LATEST + 1, 0, "id"),
            at(1, 1_000_000_000, "id"),
            at(1, 0, ""),
            at(1, 0, "a\u{0}b"),
            at(1, 0, &"x".repeat(65)),
            "é".repeat(20),
        ] {
            assert!(Cursor::decode(&bad).is_err(), "{bad:?}");
        }
        let mut not_utf8 = at(1, 0, "id");
        not_utf8.push_str("ff");
        assert!(Cursor::decode(&not_utf8).is_err());
    }

    #[test]
    fn searches_are_trimmed_single_lines_of_at_most_120_characters() {
        assert_eq!(
            TitleSearch::parse("  Jazz ").expect("valid"),
            Some(TitleSearch("Jazz".into()))
        );
        assert!(TitleSearch::parse(&"é".repeat(120)).is_ok());
        assert!(TitleSearch::parse(&"é".repeat(121)).is_err());
        assert!(TitleSearch::parse("a\u{0}b").is_err());
        assert!(TitleSearch::parse("a\nb").is_err());
    }

    #[test]
    fn like_wildcards_in_a_search_are_literal() {
        let q = TitleSearch("50%_off\\".into());
        assert_eq!(q.like_pattern(), r"%50\%\_off\\%");
    }

    #[test]
    fn every_bad_value_and_repeated_name_is_reported_against_its_field() {
        let errors = fields(PageQuery::parse(&pairs(&[
            ("limit", "0"),
            ("cursor", "nope"),
            ("q", "a\tb"),
        ])));
        assert_eq!(errors, ["limit", "cursor", "q"]);
        let errors = fields(PageQuery::parse(&pairs(&[("limit", "5"), ("limit", "6")])));
        assert_eq!(errors, ["limit"]);
    }

    #[test]
    fn the_next_link_keeps_the_size_and_encodes_the_search() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp(1, 0).expect("a time"),
            id: "x".into(),
        };
        let query = PageQuery {
            limit: Limit(10),
            cursor: None,
            q: Some(TitleSearch("rock & roll/é".into())),
        };
        assert_eq!(
            query.next_link(&cursor),
            format!(
                "</api/tickets?limit=10&cursor={}&q=rock%20%26%20roll%2F%C3%A9>; rel=\"next\"",
                cursor.encode()
            )
        );
    }

    #[test]
    fn event_ranges_take_days_or_instants() {
        let query = EventsQuery::parse(&pairs(&[("from", "2030-01-02"), ("to", "2030-01-02")]))
            .expect("valid");
        assert_eq!(
            query.from,
            Some(DateTime::from_timestamp(1_893_542_400, 0).expect("a time"))
        );
        assert_eq!(
            query.before,
            Some(DateTime::from_timestamp(1_893_628_800, 0).expect("a time"))
        );
        let query =
            EventsQuery::parse(&pairs(&[("to", "2030-01-02T10:00:00+01:00")])).expect("valid");
        assert_eq!(
            query.before,
            Some(DateTime::from_timestamp_micros(1_893_574_800_000_001).expect("a time"))
        );
        let errors = fields(
            EventsQuery::parse(&pairs(&[
                ("from", "tomorrow"),
                ("to", "2030-02-30"),
                ("q", "a\nb"),
            ]))
            .map(|_| PageQuery::default()),
        );
        assert_eq!(errors, ["q", "from", "to"]);
    }

    #[test]
    fn ticket_positions_round_trip_only_in_their_own_sort() {
        let by_price = TicketPosition::Price {
            cents: 1250,
            id: "t1".into(),
        };
        let by_seat = TicketPosition::Seat {
            place: ["Stalls".into(), String::new(), "12é".into()],
            id: "t2".into(),
        };
        assert_eq!(
            TicketPosition::decode(&by_price.encode(), Sort::Price),
            Ok(by_price.clone())
        );
        assert_eq!(
            TicketPosition::decode(&by_seat.encode(), Sort::Seat),
            Ok(by_seat.clone())
        );
        assert!(TicketPosition::decode(&by_price.encode(), Sort::Seat).is_err());
        assert!(TicketPosition::decode(&by_seat.encode(), Sort::Price).is_err());
        assert!(TicketPosition::decode("zz", Sort::Price).is_err());
        let query =
            EventTicketsQuery::parse(&pairs(&[("sort", "seat"), ("limit", "2")])).expect("valid");
        assert_eq!(
            query.next_link("e1", &by_seat),
            format!(
                "</api/events/e1/tickets?limit=2&cursor={}&sort=seat>; rel=\"next\"",
                by_seat.encode()
            )
        );
        assert!(EventTicketsQuery::parse(&pairs(&[("sort", "name")])).is_err());
    }
}
