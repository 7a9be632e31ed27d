//! argon2id hashing, run on the blocking pool so it never stalls the async runtime.
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

use crate::domain::Password;

pub async fn hash(password: Password) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.expose().as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))
    })
    .await?
}

/// Checks `password` against `stored`; with no stored hash it still does the work, so an
/// unknown email takes as long to refuse as a wrong password.
pub async fn verify(password: Password, stored: Option<String>) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let stored = stored.unwrap_or_else(|| DUMMY_HASH.to_owned());
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        Ok(Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok()
            && stored != DUMMY_HASH)
    })
    .await?
}

// argon2id hash of a random string nobody knows, with the default parameters.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$1Yd6rXx0cB1n0Ubq1p6l8o2h6s1s9Qm1n3GqWJc0xgQ";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_hash_verifies_only_its_own_password() {
        let good = Password::parse_new("secret1").expect("valid");
        let stored = hash(good.clone()).await.expect("hash");
        assert!(stored.starts_with("$argon2id$"));
        assert!(verify(good, Some(stored.clone())).await.expect("verify"));
        let bad = Password::parse_given("secret2").expect("given");
        assert!(!verify(bad, Some(stored)).await.expect("verify"));
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies() {
        let any = Password::parse_given("whatever").expect("given");
        assert!(!verify(any, None).await.expect("verify"));
    }
}
