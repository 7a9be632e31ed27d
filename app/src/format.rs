//! Text for people: money, order statuses and the time left on a reservation.
use common::events::OrderStatus;
use common::money::Money;

/// `$20.50`.
pub fn format_money(money: Money) -> String {
    let text = money.to_decimal_string();
    match text.strip_prefix('-') {
        Some(amount) => format!("-${amount}"),
        None => format!("${text}"),
    }
}

/// Text safe to place between tags or in a quoted attribute.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The status pill's label.
pub fn status_label(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Created => "Created",
        OrderStatus::AwaitingPayment => "Awaiting payment",
        OrderStatus::Cancelled => "Cancelled",
        OrderStatus::Complete => "Complete",
    }
}

/// The status pill's classes: `status status-awaiting-payment`.
pub fn status_class(status: OrderStatus) -> String {
    format!("status status-{}", status.as_str().replace(':', "-"))
}

/// `14:05` for fourteen minutes and five seconds (rounded up, so `0:00` only at the end).
pub fn format_remaining(millis: i64) -> String {
    let seconds = (millis.max(0) + 999) / 1000;
    format!("{}:{:02}", seconds / 60, seconds % 60)
}

/// `path` if it is a path on this site to return to after signing in: it starts with one
/// `/` (not `//` or `/\`, which browsers read as another host) and is printable ASCII without
/// backslashes. Anything else would make the sign-in form an open redirect.
pub fn local_path(path: &str) -> Option<&str> {
    let rest = path.strip_prefix('/')?;
    let safe = !rest.starts_with('/')
        && path.len() <= 2_000
        && path.bytes().all(|b| b.is_ascii_graphic() && b != b'\\');
    safe.then_some(path)
}

/// A configured span of time in words: `15 minutes`, `1 hour 30 minutes`, `6 seconds`.
pub fn format_duration(seconds: u64) -> String {
    let parts = [
        (seconds / 3_600, "hour"),
        (seconds % 3_600 / 60, "minute"),
        (seconds % 60, "second"),
    ];
    let words: Vec<String> = parts
        .into_iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n} {unit}{}", if n == 1 { "" } else { "s" }))
        .collect();
    if words.is_empty() {
        "0 seconds".to_owned()
    } else {
        words.join(" ")
    }
}

/// Milliseconds since the Unix epoch, now: from the browser's clock after hydration and from
/// the server's while rendering (`SystemTime` is not available in the browser).
pub fn now_millis() -> i64 {
    #[cfg(feature = "hydrate")]
    {
        leptos::web_sys::js_sys::Date::now() as i64
    }
    #[cfg(not(feature = "hydrate"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }
}

/// Parses an RFC 3339 timestamp (`2026-11-24T02:15:00.123Z`, `…+01:00`) into milliseconds
/// since the Unix epoch. Hand-rolled to keep a date library out of the wasm bundle.
pub fn parse_rfc3339_millis(text: &str) -> Option<i64> {
    let text = text.trim();
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = text.get(range)?;
        if digits.bytes().all(|b| b.is_ascii_digit()) {
            digits.parse().ok()
        } else {
            None
        }
    };
    let bytes = text.as_bytes();
    let separators_ok = bytes.get(4) == Some(&b'-')
        && bytes.get(7) == Some(&b'-')
        && matches!(bytes.get(10), Some(b'T' | b't' | b' '))
        && bytes.get(13) == Some(&b':')
        && bytes.get(16) == Some(&b':');
    if !separators_ok {
        return None;
    }
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let mut rest = text.get(19..)?;
    let mut millis = 0;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let padded = format!("{:0<3}", &fraction[..digits.min(3)]);
        millis = padded.parse::<i64>().ok()?;
        rest = &fraction[digits..];
    }
    let offset_minutes = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first() {
                Some(b'+') => 1,
                Some(b'-') => -1,
                _ => return None,
            };
            let (hours, minutes) = rest.get(1..)?.split_once(':')?;
            if hours.len() != 2 || minutes.len() != 2 {
                return None;
            }
            let hours: i64 = hours.parse().ok()?;
            let minutes: i64 = minutes.parse().ok()?;
            sign * (hours * 60 + minutes)
        }
    };
    let days = days_from_civil(year, month, day);
    let seconds = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_minutes * 60;
    Some(seconds * 1_000 + millis)
}

/// `2026-11-24 02:15:07 UTC` for an RFC 3339 timestamp (the text as it is if it doesn't parse).
pub fn format_timestamp(text: &str) -> String {
    let Some(millis) = parse_rfc3339_millis(text) else {
        return text.to_owned();
    };
    let seconds = millis.div_euclid(1_000);
    let (days, time) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        time / 3_600,
        time % 3_600 / 60,
        time % 60
    )
}

/// The date of a day counted from 1970-01-01 (the inverse of `days_from_civil`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(
            escape_html(r#"</title><img src=x onerror="a('1')">&"#),
            "&lt;/title&gt;&lt;img src=x onerror=&quot;a(&#39;1&#39;)&quot;&gt;&amp;"
        );
    }

    #[test]
    fn money_is_shown_in_dollars_and_cents() {
        assert_eq!(format_money(Money::from_cents(2050)), "$20.50");
        assert_eq!(format_money(Money::from_cents(7)), "$0.07");
        assert_eq!(format_money(Money::from_cents(-100)), "-$1.00");
    }

    #[test]
    fn status_classes_replace_the_colon() {
        assert_eq!(
            status_class(OrderStatus::AwaitingPayment),
            "status status-awaiting-payment"
        );
        assert_eq!(status_class(OrderStatus::Created), "status status-created");
    }

    #[test]
    fn only_paths_of_this_site_are_returned_to() {
        for good in ["/", "/tickets/abc", "/?q=x&after=y"] {
            assert_eq!(local_path(good), Some(good));
        }
        for bad in [
            "",
            "https://evil.example/",
            "//evil.example",
            "/\\evil.example",
            "/\tevil",
            "/%0a",
            "javascript:alert(1)",
            "tickets",
            "/ x",
            "/\u{202e}x",
        ] {
            let decoded = bad.replace("%0a", "\n");
            assert_eq!(local_path(&decoded), None, "{bad:?}");
        }
    }

    #[test]
    fn durations_read_as_words() {
        assert_eq!(format_duration(900), "15 minutes");
        assert_eq!(format_duration(6), "6 seconds");
        assert_eq!(format_duration(5_400), "1 hour 30 minutes");
        assert_eq!(format_duration(61), "1 minute 1 second");
    }

    #[test]
    fn remaining_time_is_minutes_and_seconds_rounded_up() {
        assert_eq!(format_remaining(15 * 60 * 1000), "15:00");
        assert_eq!(format_remaining(65_001), "1:06");
        assert_eq!(format_remaining(1), "0:01");
        assert_eq!(format_remaining(-5), "0:00");
    }

    #[test]
    fn timestamps_are_shown_in_utc() {
        assert_eq!(
            format_timestamp("2026-11-24T03:15:07.123+01:00"),
            "2026-11-24 02:15:07 UTC"
        );
        assert_eq!(
            format_timestamp("2000-02-29T23:59:59Z"),
            "2000-02-29 23:59:59 UTC"
        );
        assert_eq!(
            format_timestamp("1970-01-01T00:00:00Z"),
            "1970-01-01 00:00:00 UTC"
        );
        assert_eq!(format_timestamp("soon"), "soon");
    }

    #[test]
    fn rfc3339_timestamps_parse_to_epoch_millis() {
        assert_eq!(parse_rfc3339_millis("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_millis("2026-11-24T02:15:00.123Z"),
            Some(1_795_486_500_123)
        );
        assert_eq!(
            parse_rfc3339_millis("2026-11-24T03:15:00.123+01:00"),
            Some(1_795_486_500_123)
        );
        assert_eq!(
            parse_rfc3339_millis("2000-02-29T12:00:00.5Z"),
            Some(951_825_600_500)
        );
        for bad in [
            "",
            "yesterday",
            "2026-13-01T00:00:00Z",
            "2026-11-24T02:15:00.Z",
            "2026-11-24",
        ] {
            assert_eq!(parse_rfc3339_millis(bad), None, "{bad:?}");
        }
    }
}
