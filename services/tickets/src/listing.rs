//! The query of `GET /api/tickets`, parsed: a page size, where the previous page ended, and
//! an optional title search. Pages run newest first by (created_at, id), so a cursor is just
//! the last row's position in that order.
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

/// A page size from 1 to [`MAX_LIMIT`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(u32);

impl Limit {
    fn parse(raw: &str) -> Result<Self, ErrorItem> {
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

/// A position in the newest-first order: the page after it starts strictly past it.
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
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn decode(raw: &str) -> Result<Self, ErrorItem> {
        let invalid = || ErrorItem::field("cursor", CURSOR_INVALID);
        // An id is at most 64 bytes (`could_exist`), so no real cursor is longer.
        if raw.len() > 2 * (12 + 64) {
            return Err(invalid());
        }
        let nibble = |b: u8| char::from(b).to_digit(16);
        let bytes = raw
            .as_bytes()
            .chunks(2)
            .map(|pair| match *pair {
                [high, low] => u8::try_from(nibble(high)? << 4 | nibble(low)?).ok(),
                _ => None,
            })
            .collect::<Option<Vec<u8>>>()
            .ok_or_else(invalid)?;
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

/// A title search: trimmed, non-empty, at most [`MAX_TITLE`] characters, one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TitleSearch(String);

impl TitleSearch {
    /// None for an empty (or all-space) search, which means no filter.
    fn parse(raw: &str) -> Result<Option<Self>, ErrorItem> {
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
            let mut values = pairs.iter().filter(|(n, _)| n == name).map(|(_, v)| v);
            let (Some(value), extra) = (values.next(), values.next()) else {
                continue;
            };
            if extra.is_some() {
                errors.push(ErrorItem::field(name, format!("Give {name} at most once")));
                continue;
            }
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
        let mut target = format!(
            "/api/tickets?limit={}&cursor={}",
            self.limit.get(),
            last.encode()
        );
        if let Some(q) = &self.q {
            target.push_str("&q=");
            target.push_str(&common::wire::percent_encode(q.as_str()));
        }
        format!("<{target}>; rel=\"next\"")
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
}
