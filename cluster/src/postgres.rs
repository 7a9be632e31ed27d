//! The cluster's PostgreSQL side: a database per service that owns one, on a server the
//! cluster is given.
use std::collections::BTreeMap;

use anyhow::Context;
use common::testing::TestDatabase;

use crate::options::Databases;
use crate::services;

/// Each service's database URL; fresh databases are dropped with it.
pub(crate) struct ServiceDatabases {
    urls: BTreeMap<&'static str, String>,
    _fresh: Vec<TestDatabase>,
}

impl ServiceDatabases {
    /// One database per service that owns one: kept ones are created when missing, fresh
    /// ones are new for this run.
    pub(crate) async fn set_up(how: &Databases) -> anyhow::Result<Self> {
        let mut urls = BTreeMap::new();
        let mut fresh = Vec::new();
        for service in services::with_database() {
            let url = match how {
                Databases::Kept(admin) => {
                    ensure_database(admin, &format!("ticketing_{}", service.name)).await?
                }
                Databases::Fresh => {
                    let db = TestDatabase::new().await?;
                    anyhow::ensure!(
                        db.is_postgres(),
                        "the cluster needs DATABASE_URL=postgres://…"
                    );
                    let url = db.url.clone();
                    fresh.push(db);
                    url
                }
            };
            urls.insert(service.name, url);
        }
        Ok(Self {
            urls,
            _fresh: fresh,
        })
    }

    /// `service`'s database URL, if it has one.
    pub(crate) fn url(&self, service: &str) -> Option<&str> {
        self.urls.get(service).map(String::as_str)
    }
}

/// `name` on the server `admin` points at, created when missing; its URL.
async fn ensure_database(admin: &str, name: &str) -> anyhow::Result<String> {
    use sea_orm::{ConnectionTrait, Statement};
    let db = common::db::connect(admin).await?;
    let exists = db
        .query_one(Statement::from_sql_and_values(
            db.get_database_backend(),
            "SELECT 1 FROM pg_database WHERE datname = $1",
            [name.into()],
        ))
        .await?
        .is_some();
    if !exists {
        db.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await
            .with_context(|| format!("creating database {name}"))?;
    }
    db.close().await.ok();
    Ok(common::db::with_database(admin, name))
}
