//! Parsed request values: handlers only ever see a valid `Email` or `Password`.
use common::dto::ErrorItem;

/// A syntactically valid email address; `key()` is its case-insensitive identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const INVALID: &'static str = "Email must be valid";

    pub fn parse(raw: &str) -> Result<Self, ErrorItem> {
        let email = raw.trim();
        let valid = email.len() <= 254
            && email_address::EmailAddress::is_valid(email)
            && email.rsplit_once('@').is_some_and(|(_, domain)| {
                domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            });
        if valid {
            Ok(Self(email.to_owned()))
        } else {
            Err(ErrorItem::field("email", Self::INVALID))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

/// A new password: 4 to 20 characters once surrounding spaces are trimmed.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    pub const LENGTH: &'static str = "Password must be between 4 and 20 characters";
    pub const MISSING: &'static str = "You must supply a password";

    pub fn parse_new(raw: &str) -> Result<Self, ErrorItem> {
        let trimmed = raw.trim();
        match trimmed.chars().count() {
            4..=20 => Ok(Self(trimmed.to_owned())),
            _ => Err(ErrorItem::field("password", Self::LENGTH)),
        }
    }

    /// A password offered at sign-in: anything non-empty (old rules may have differed).
    pub fn parse_given(raw: &str) -> Result<Self, ErrorItem> {
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.len() > 1024 {
            Err(ErrorItem::field("password", Self::MISSING))
        } else {
            Ok(Self(trimmed.to_owned()))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Collects every field's error so a form can show them all at once.
pub fn both<A, B>(
    a: Result<A, ErrorItem>,
    b: Result<B, ErrorItem>,
) -> Result<(A, B), common::ApiError> {
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (a, b) => Err(common::ApiError::Validation(
            a.err().into_iter().chain(b.err()).collect(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_validated_and_keyed_case_insensitively() {
        assert_eq!(
            Email::parse(" Test@Example.COM ").expect("valid").key(),
            "test@example.com"
        );
        for bad in ["", "alskdflaskjfd", "a@b", "a@.com", "@x.com", "a b@x.com"] {
            assert!(Email::parse(bad).is_err(), "{bad:?} should be invalid");
        }
    }

    #[test]
    fn passwords_must_be_4_to_20_characters_after_trimming() {
        assert!(Password::parse_new("p").is_err());
        assert!(Password::parse_new("  abc  ").is_err());
        assert!(Password::parse_new("abcd").is_ok());
        assert!(Password::parse_new(&"x".repeat(20)).is_ok());
        assert!(Password::parse_new(&"x".repeat(21)).is_err());
        assert!(Password::parse_new("ééééé").is_ok());
    }
}
