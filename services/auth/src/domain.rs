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

/// A user id in a path: a UUID, as auth issues them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserId(String);

impl UserId {
    pub const INVALID: &'static str = "User id must be valid";

    pub fn parse(raw: &str) -> Result<Self, ErrorItem> {
        uuid::Uuid::parse_str(raw)
            .map(|id| Self(id.hyphenated().to_string()))
            .map_err(|_| ErrorItem::field("id", Self::INVALID))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why an admin bans someone: one line of 1 to 500 characters once trimmed, no control
/// characters (it lands in logs and on the admin page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BanReason(String);

impl BanReason {
    pub const REQUIRED: &'static str = "A reason is required";
    pub const TOO_LONG: &'static str = "Reason must be at most 500 characters";
    pub const CONTROL: &'static str = "Reason must be one line without control characters";

    pub fn parse(raw: &str) -> Result<Self, ErrorItem> {
        let reason = raw.trim();
        let error = |message| Err(ErrorItem::field("reason", message));
        if reason.is_empty() {
            error(Self::REQUIRED)
        } else if reason.chars().count() > 500 {
            error(Self::TOO_LONG)
        } else if reason.chars().any(char::is_control) {
            error(Self::CONTROL)
        } else {
            Ok(Self(reason.to_owned()))
        }
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// `GET /api/users?email=`: a part of an email to look for (at most 254 characters, no
/// control characters); empty lists every user, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailSearch(String);

impl EmailSearch {
    pub const INVALID: &'static str =
        "Search must be at most 254 characters without control characters";

    pub fn parse(raw: &str) -> Result<Self, ErrorItem> {
        let search = raw.trim();
        if search.chars().count() > 254 || search.chars().any(char::is_control) {
            Err(ErrorItem::field("email", Self::INVALID))
        } else {
            Ok(Self(search.to_lowercase()))
        }
    }

    /// The `LIKE` pattern matching lower-cased emails containing the search (its own `%`, `_`
    /// and `\` taken literally).
    pub fn pattern(&self) -> String {
        let mut pattern = String::from("%");
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

#[cfg(test)]
mod ban_tests {
    use super::*;

    #[test]
    fn a_reason_is_one_trimmed_line_of_at_most_500_characters() {
        assert_eq!(
            BanReason::parse("  spam  ").map(BanReason::into_inner),
            Ok("spam".into())
        );
        assert!(BanReason::parse("   ").is_err());
        assert!(BanReason::parse(&"é".repeat(500)).is_ok());
        assert!(BanReason::parse(&"é".repeat(501)).is_err());
        assert!(BanReason::parse("two\nlines").is_err());
        assert!(BanReason::parse("bell\u{7}").is_err());
    }

    #[test]
    fn a_user_id_is_a_uuid_and_a_search_is_literal() {
        assert!(UserId::parse("not-a-uuid").is_err());
        assert!(UserId::parse(&uuid::Uuid::new_v4().to_string()).is_ok());
        assert_eq!(
            EmailSearch::parse(" A_%b ").map(|s| s.pattern()),
            Ok("%a\\_\\%b%".into())
        );
        assert!(EmailSearch::parse("a\u{0}").is_err());
    }
}
