//! Money as whole cents; JSON carries it as a number with at most two decimals (`20.5`).
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount in whole cents (of the one currency, USD): ticket prices, order and payment
/// amounts. Exact arithmetic and comparison, never `f64`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(
    feature = "server",
    derive(utoipa::ToSchema),
    schema(
        value_type = f64,
        example = 45.5,
        description = "An amount in US dollars: a number with at most two decimals"
    )
)]
pub struct Money(i64);

impl Money {
    /// The amount of `cents` cents, as stored in the `*_cents` columns.
    pub const fn from_cents(cents: i64) -> Self {
        Self(cents)
    }

    /// The amount in cents, for SQL columns and the payment provider.
    pub const fn cents(self) -> i64 {
        self.0
    }

    /// Parses a decimal amount with at most two decimals, e.g. `"20"`, `"20.5"`, `"20.55"`.
    pub fn parse_decimal(text: &str) -> Option<Self> {
        let text = text.trim();
        let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
        let negative = whole.starts_with('-');
        let digits = whole.trim_start_matches(['-', '+']);
        if digits.is_empty() && fraction.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || fraction.len() > 2
            || !fraction.bytes().all(|b| b.is_ascii_digit())
            || digits.len() > 15
        {
            return None;
        }
        let whole: i64 = if digits.is_empty() {
            0
        } else {
            digits.parse().ok()?
        };
        let fraction: i64 = format!("{fraction:0<2}").parse().ok()?;
        let cents = whole.checked_mul(100)?.checked_add(fraction)?;
        Some(Self(if negative { -cents } else { cents }))
    }

    /// `12.50`-style text for people.
    pub fn to_decimal_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        format!(
            "{sign}{}.{:02}",
            self.0.unsigned_abs() / 100,
            self.0.unsigned_abs() % 100
        )
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Exact for every amount below 2^53 cents; formatting goes through the decimal text.
        let value: f64 = self
            .to_decimal_string()
            .parse()
            .map_err(serde::ser::Error::custom)?;
        if self.0 % 100 == 0 {
            serializer.serialize_i64(self.0 / 100)
        } else {
            serializer.serialize_f64(value)
        }
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(deserializer)?;
        let text = match &value {
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.clone(),
            _ => return Err(serde::de::Error::custom("a price must be a number")),
        };
        Self::parse_decimal(&text)
            .ok_or_else(|| serde::de::Error::custom("a price has at most two decimals"))
    }
}

#[cfg(test)]
mod tests {
    use super::Money;

    #[test]
    fn decimal_text_parses_to_exact_cents() {
        assert_eq!(Money::parse_decimal("20"), Some(Money::from_cents(2000)));
        assert_eq!(Money::parse_decimal("20.5"), Some(Money::from_cents(2050)));
        assert_eq!(Money::parse_decimal("0.07"), Some(Money::from_cents(7)));
        assert_eq!(Money::parse_decimal("-10"), Some(Money::from_cents(-1000)));
        for bad in ["", ".", "1.234", "abc", "1e3", "1.2.3"] {
            assert_eq!(Money::parse_decimal(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn money_serializes_as_a_json_number() {
        assert_eq!(
            serde_json::to_string(&Money::from_cents(2050)).expect("ser"),
            "20.5"
        );
        assert_eq!(
            serde_json::to_string(&Money::from_cents(2000)).expect("ser"),
            "20"
        );
        assert_eq!(
            serde_json::from_str::<Money>("19.99").expect("de"),
            Money::from_cents(1999)
        );
        assert_eq!(Money::from_cents(1999).to_decimal_string(), "19.99");
    }
}
