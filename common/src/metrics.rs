//! Process-wide counters of database work, served as `GET /metrics` (Prometheus text) so a
//! benchmark can report statements and commits per operation.
use std::sync::atomic::{AtomicU64, Ordering};

static STATEMENTS: AtomicU64 = AtomicU64::new(0);
static COMMITS: AtomicU64 = AtomicU64::new(0);

/// One SQL statement ran (through sea-orm or the SQLite writer thread).
pub fn statement() {
    STATEMENTS.fetch_add(1, Ordering::Relaxed);
}

/// One transaction committed by the SQLite writer thread (PostgreSQL counts its own:
/// `pg_stat_database.xact_commit`).
pub fn commit() {
    COMMITS.fetch_add(1, Ordering::Relaxed);
}

/// `(statements, commits)` so far.
pub fn snapshot() -> (u64, u64) {
    (
        STATEMENTS.load(Ordering::Relaxed),
        COMMITS.load(Ordering::Relaxed),
    )
}

/// The counters in Prometheus' text format.
pub fn render() -> String {
    let (statements, commits) = snapshot();
    format!(
        "# HELP ticketing_db_statements_total SQL statements run by this process.\n\
         # TYPE ticketing_db_statements_total counter\n\
         ticketing_db_statements_total {statements}\n\
         # HELP ticketing_db_sqlite_commits_total Transactions committed by the SQLite writer threads.\n\
         # TYPE ticketing_db_sqlite_commits_total counter\n\
         ticketing_db_sqlite_commits_total {commits}\n"
    )
}
