//! Test helpers: each integration test gets a database of its own, on SQLite by default or on
//! PostgreSQL when `DATABASE_URL` points at a server (a fresh database per test), and a bus of
//! its own; `http` serves a service and reads its responses.
use anyhow::Context;
use sea_orm::ConnectionTrait;

use crate::dto::ErrorItem;

pub mod harness;
mod http;

pub use http::{
    apply_set_cookies, assert_cookie_attributes, eventually, is_removal, unique_email,
    with_cookies, Served, TestResponse,
};

/// A database URL private to one test, and what keeps it alive.
pub struct TestDatabase {
    /// The database's URL, for the test's settings.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    /// A fresh database on `DATABASE_URL`'s PostgreSQL server, else a temporary SQLite file.
    pub async fn new() -> anyhow::Result<Self> {
        match std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        {
            Some(server) => {
                let now = chrono::Utc::now().timestamp();
                let name = format!("t_{now}_{}", uuid::Uuid::new_v4().simple());
                let admin = crate::db::connect(&server).await?;
                drop_stale_databases(&admin, now).await;
                // Concurrent CREATE DATABASEs from one template can collide ("source database
                // is being accessed by other users"); a moment later they succeed.
                let mut attempt = 0;
                loop {
                    attempt += 1;
                    match admin
                        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                        .await
                    {
                        Ok(_) => break,
                        Err(err) if attempt < 10 => {
                            tracing::debug!(error = %err, "creating the test database; retrying");
                            tokio::time::sleep(std::time::Duration::from_millis(100 * attempt))
                                .await;
                        }
                        Err(err) => return Err(err).context("creating the test database"),
                    }
                }
                admin.close().await.ok();
                let url = crate::db::with_database(&server, &name);
                Ok(Self { url, _dir: None })
            }
            None => {
                let dir = tempfile::tempdir().context("creating a temporary directory")?;
                let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
                Ok(Self {
                    url,
                    _dir: Some(dir),
                })
            }
        }
    }

    /// Whether it is on PostgreSQL, for tests whose SQL or expectations differ there.
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

/// Test databases are never dropped by the test that made them (it may still be closing);
/// the next run drops those more than an hour old, so they don't pile up.
async fn drop_stale_databases(admin: &sea_orm::DatabaseConnection, now: i64) {
    use sea_orm::{ConnectionTrait, Statement};
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let sql = "SELECT datname FROM pg_database WHERE datname LIKE 't\\_%'";
    let Ok(rows) = admin
        .query_all(Statement::from_string(admin.get_database_backend(), sql))
        .await
    else {
        return;
    };
    for row in rows {
        let Ok(name) = row.try_get::<String>("", "datname") else {
            continue;
        };
        let created = name.split('_').nth(1).and_then(|t| t.parse::<i64>().ok());
        if created.is_none_or(|t| now - t > 3600) {
            let _ = admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                .await;
        }
    }
}

/// Settings for one test: its own data directory and database, and Redis when the suite
/// runs against it. Keep the value alive for the test's duration.
pub struct TestEnv {
    /// The settings to start the service under test with.
    pub settings: crate::settings::Settings,
    /// The test's database, which `settings` points at.
    pub db: TestDatabase,
    /// The data directory `settings` names; removed when the value is dropped.
    pub dir: tempfile::TempDir,
}

impl TestEnv {
    /// Settings on a fresh data directory and database (and Redis if `REDIS_URL` is set).
    pub async fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temporary data directory");
        let db = TestDatabase::new().await.expect("a fresh test database");
        let mut settings = crate::settings::Settings::for_tests(dir.path().to_path_buf());
        settings.database_url = Some(db.url.clone());
        settings.redis_url = redis_url();
        settings.redis_prefix = format!("test-{}", uuid::Uuid::new_v4().simple());
        Self { settings, db, dir }
    }
}

/// `REDIS_URL` when the suite runs against Redis.
pub fn redis_url() -> Option<String> {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}

/// The bus a test runs against: JetStream on its own stream (a random prefix, so parallel
/// tests never see each other's messages) when `NATS_URL` is set, else the in-process bus.
pub async fn test_bus() -> crate::bus::EventBus {
    match std::env::var("NATS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
    {
        Some(url) => {
            drop_stale_streams(&url).await;
            let prefix = format!("test{}", uuid::Uuid::new_v4().simple());
            crate::bus::JetStreamBus::connect(&url, &prefix)
                .await
                .expect("JetStream answers at NATS_URL")
        }
        None => crate::bus::InProcessBus::new(),
    }
}

/// Test streams are left for JetStream to hold while a test finishes; the next run deletes
/// those more than 15 minutes old, so they don't pile up.
async fn drop_stale_streams(url: &str) {
    use futures::StreamExt;
    static DONE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if DONE.swap(true, std::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let Ok(client) = async_nats::connect(url).await else {
        return;
    };
    let js = async_nats::jetstream::new(client);
    let names: Vec<String> = js
        .stream_names()
        .filter_map(|n| async move { n.ok() })
        .collect()
        .await;
    let cutoff = time::OffsetDateTime::now_utc() - time::Duration::minutes(15);
    for name in names.into_iter().filter(|n| n.starts_with("TEST")) {
        if let Ok(stream) = js.get_stream(&name).await {
            if stream.cached_info().created < cutoff {
                let _ = js.delete_stream(&name).await;
            }
        }
    }
}

/// The error envelope of a response, checked precisely: `{"errors":[{"message","field"?}, …]}`
/// and nothing else, non-empty, with a JSON content type. Panics (failing the test) otherwise.
pub fn error_envelope(content_type: Option<&str>, body: &str) -> Vec<ErrorItem> {
    assert!(
        content_type.is_some_and(|t| t.starts_with(crate::wire::media::JSON)),
        "an error must be JSON, got content type {:?} for {:?}",
        content_type,
        body
    );
    let value: serde_json::Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("body is not JSON ({e}): {body:?}"));
    let object = value
        .as_object()
        .unwrap_or_else(|| panic!("envelope is not an object: {value}"));
    assert_eq!(
        object.keys().collect::<Vec<_>>(),
        ["errors"],
        "envelope has other keys: {value}"
    );
    let items = object["errors"]
        .as_array()
        .unwrap_or_else(|| panic!("`errors` is not an array: {value}"));
    assert!(!items.is_empty(), "`errors` is empty: {value}");
    items
        .iter()
        .map(|item| {
            let item = item
                .as_object()
                .unwrap_or_else(|| panic!("an error is not an object: {value}"));
            assert!(
                item.keys().all(|k| k == "message" || k == "field"),
                "an error has keys other than message/field: {value}"
            );
            let message = item
                .get("message")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_else(|| panic!("an error has no string `message`: {value}"));
            assert!(
                !message.trim().is_empty(),
                "an error message is empty: {value}"
            );
            let field = item.get("field").map(|f| {
                f.as_str()
                    .unwrap_or_else(|| panic!("`field` is not a string: {value}"))
                    .to_owned()
            });
            ErrorItem {
                message: message.to_owned(),
                field,
            }
        })
        .collect()
}

/// `token` (an access token issued under `settings`' key) with its expiry moved into the
/// past: well signed and expired, as a client holds it once its lifetime is over.
pub fn expired_access_token(settings: &crate::settings::Settings, token: &str) -> String {
    use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
    let key = settings.jwt_key.expose().as_bytes();
    let mut validation = Validation::new(Algorithm::HS256);
    validation.validate_exp = false;
    let mut claims = jsonwebtoken::decode::<crate::auth::Claims>(
        token,
        &DecodingKey::from_secret(key),
        &validation,
    )
    .expect("a token signed with the configured key")
    .claims;
    claims.exp = chrono::Utc::now().timestamp() - 60;
    claims.iat = claims.exp - 900;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(key),
    )
    .expect("a token encodes")
}
