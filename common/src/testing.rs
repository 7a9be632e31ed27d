//! Test helpers: each integration test gets a database of its own, on SQLite by default or on
//! PostgreSQL when `DATABASE_URL` points at a server (a fresh database per test).
use anyhow::Context;
use sea_orm::ConnectionTrait;

/// A database URL private to one test, and what keeps it alive.
pub struct TestDatabase {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

impl TestDatabase {
    pub async fn new() -> anyhow::Result<Self> {
        match std::env::var("DATABASE_URL")
            .ok()
            .filter(|u| u.starts_with("postgres"))
        {
            Some(server) => {
                let name = format!("t_{}", uuid::Uuid::new_v4().simple());
                let admin = crate::db::connect(&server).await?;
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .context("creating the test database")?;
                admin.close().await.ok();
                let url = match server.rfind('/') {
                    Some(slash) if slash > server.find("://").map_or(0, |i| i + 2) => {
                        let (base, rest) = server.split_at(slash);
                        let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
                        format!("{base}/{name}{query}")
                    }
                    _ => format!("{}/{name}", server.trim_end_matches('/')),
                };
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

    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres")
    }
}

/// `REDIS_URL` when the suite runs against Redis.
pub fn redis_url() -> Option<String> {
    std::env::var("REDIS_URL")
        .ok()
        .filter(|u| !u.trim().is_empty())
}
