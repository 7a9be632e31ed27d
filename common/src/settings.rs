//! Typed configuration, read once from the environment. The variables are listed once for
//! people, in the README's configuration table; [`VARIABLES`] is their `ticketing --help`
//! text, and a test keeps the table, this list and what is read in step.
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

/// A secret that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret read from the environment or a file.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one call that needs it (signing, hashing, an API key).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// What a deployment's names start with unless `NATS_PREFIX` / `REDIS_PREFIX` say otherwise:
/// its JetStream subjects (and, uppercased, its stream) and its Redis keys.
pub const DEFAULT_PREFIX: &str = "ticketing";

/// Every setting of a Ticketing process, one field per environment variable; `main` loads
/// it once ([`Settings::from_env`]) and every service gets a copy.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `LEPTOS_SITE_ADDR`: where the web process (and all-in-one) listens.
    pub site_addr: SocketAddr,
    /// `DATA_DIR`: SQLite files and generated secrets of the all-in-one mode.
    pub data_dir: PathBuf,
    /// `DATABASE_URL`: one service's database; unset means SQLite under `data_dir`.
    pub database_url: Option<String>,
    /// `DATABASE_MAX_CONNECTIONS`: the most connections each service's pool opens (default
    /// [`crate::db::DEFAULT_POOL_POSTGRES`] on PostgreSQL, [`crate::db::DEFAULT_POOL_SQLITE`] on SQLite).
    pub database_max_connections: Option<u32>,
    /// `NATS_URL`: JetStream server; unset means the in-process bus.
    pub nats_url: Option<String>,
    /// `NATS_PREFIX` (default `ticketing`): the subject prefix, and uppercased the stream, of
    /// a deployment on JetStream, so two deployments sharing a NATS server (or a benchmark
    /// beside a dev system) never share consumers.
    pub nats_prefix: String,
    /// `REDIS_URL`: unset means embedded stores.
    pub redis_url: Option<String>,
    /// `REDIS_PREFIX` (default `ticketing`): the start of every key a deployment keeps in a
    /// shared Redis, so two deployments (or parallel tests) never see each other's queues.
    pub redis_prefix: String,
    /// `JWT_KEY`: HMAC key for access tokens; generated into `data_dir` when unset.
    pub jwt_key: Secret,
    /// `EXPIRATION_WINDOW_SECONDS`: how long a reservation lasts.
    pub expiration_window: Duration,
    /// `COOKIE_SECURE`: mark cookies `Secure` (behind HTTPS).
    pub cookie_secure: bool,
    /// `TRUST_PROXY`: a proxy we run appends the client's address to `X-Forwarded-For`, so
    /// its last entry is the client (otherwise the header is ignored).
    pub trust_proxy: bool,
    /// `STRIPE_SECRET_KEY`: use the real Stripe API instead of the test-mode provider.
    pub stripe_secret_key: Option<Secret>,
    /// `STRIPE_API_BASE`: where the Stripe adapter sends requests.
    pub stripe_api_base: String,
    /// `PAYMENT_STALE_SECONDS`: how long a payment may sit in flight (authorizing or
    /// capturing) before the payments service counts it as abandoned and settles it itself.
    /// Longer than any live attempt: provider calls time out at 30 s.
    pub payment_stale_after: Duration,
    /// `STRIPE_WEBHOOK_SECRET`: verifies `Stripe-Signature` on `POST /api/payments/webhook`.
    pub stripe_webhook_secret: Option<Secret>,
    /// `STRIPE_PUBLISHABLE_KEY`: lets the pay page use Stripe's Payment Element.
    pub stripe_publishable_key: Option<String>,
    /// `INTERNAL_API_URL`: where the web process's server-side code calls the API, and
    /// where services ask auth to renew an expired access token; unset means the process's
    /// own address (known once its listener is bound).
    pub internal_api_url: Option<String>,
    /// `ACCESS_TOKEN_SECONDS` (default 900): lifetime of an access token.
    pub access_token_ttl: Duration,
    /// `REFRESH_SESSION_SECONDS` (default 30 days): lifetime of a refresh session.
    pub refresh_ttl: Duration,
    /// `REFRESH_REUSE_GRACE_SECONDS` (default 10): how long a refresh id retired by rotation
    /// still answers (tabs refreshing at once) before presenting it revokes its sign-in.
    pub refresh_reuse_grace: Duration,
    /// `LIVE_SOCKETS_PER_ADDRESS` (default [`DEFAULT_LIVE_SOCKETS_PER_ADDRESS`]): the most
    /// live-channel WebSockets one client address may hold open on a web process.
    pub live_sockets_per_address: usize,
    /// `ADMIN_EMAILS`: who may ban and unban users, as lower-cased, trimmed emails (see
    /// [`Settings::is_admin`]).
    pub admin_emails: Vec<String>,
}

/// How many live sockets one client address may hold unless `LIVE_SOCKETS_PER_ADDRESS`
/// says otherwise: a browser's tabs, with room for a household behind one address.
pub const DEFAULT_LIVE_SOCKETS_PER_ADDRESS: usize = 16;

/// Every environment variable the `ticketing` binary reads, in the README table's order: a
/// name, then its line in `ticketing --help` (see [`usage`]).
pub const VARIABLES: &str = "\
LEPTOS_SITE_ADDR             listen address (default 127.0.0.1:3000)
DATA_DIR                     SQLite files and generated secrets of all-in-one (default ./data)
DATABASE_URL                 postgres://... for the service (one database, or schema, per service)
DATABASE_MAX_CONNECTIONS     most connections per service (default 8)
NATS_URL                     JetStream server (required when services run as separate processes)
NATS_PREFIX                  this deployment's subject prefix on JetStream (default ticketing)
REDIS_URL                    refresh sessions, sign-in throttling, signed-out tokens, expiry queue
REDIS_PREFIX                 start of this deployment's Redis keys (default ticketing)
JWT_KEY                      access-token key; required outside all-in-one (same in every process)
EXPIRATION_WINDOW_SECONDS    how long a reservation lasts (default 900)
COOKIE_SECURE                true behind HTTPS: Secure cookies, HSTS (default false)
TRUST_PROXY                  true when your proxy appends the client to X-Forwarded-For
ACCESS_TOKEN_SECONDS         lifetime of an access token (default 900)
REFRESH_SESSION_SECONDS      lifetime of a refresh session (default 30 days)
REFRESH_REUSE_GRACE_SECONDS  how long a retired refresh id still answers (default 10)
ADMIN_EMAILS                 comma-separated emails of the admins (may ban users)
STRIPE_SECRET_KEY            use the real Stripe API (default: the test-mode provider)
STRIPE_API_BASE              where the Stripe adapter sends requests
STRIPE_WEBHOOK_SECRET        verifies POST /api/payments/webhook (unset: no such route)
STRIPE_PUBLISHABLE_KEY       lets the pay page use Stripe's Payment Element
PAYMENT_STALE_SECONDS        how long a payment may stay in flight (default 90)
LIVE_SOCKETS_PER_ADDRESS     most live WebSockets per client address (default 16)
INTERNAL_API_URL             where `web` and the services call the API (required for `web`)
RUST_LOG                     log filter (default info)
LOG_FORMAT                   json for one JSON object per log line (default: text)
";

/// The `Environment:` part of `ticketing --help`: [`VARIABLES`], indented.
pub fn usage() -> String {
    let mut text = String::from("Environment (README.md, \"Configuration\", says more):\n");
    for line in VARIABLES.lines() {
        text.push_str("  ");
        text.push_str(line);
        text.push('\n');
    }
    text
}

/// `ADMIN_EMAILS` read: split on commas, trimmed, lower-cased, empty entries dropped.
pub fn admin_emails(list: &str) -> Vec<String> {
    list.split(',')
        .map(|email| email.trim().to_lowercase())
        .filter(|email| !email.is_empty())
        .collect()
}

const DEFAULT_SITE_ADDR: &str = "127.0.0.1:3000";
const JWT_KEY_FILE: &str = "jwt.key";

impl Settings {
    /// Reads the environment; generates and stores `JWT_KEY` under `DATA_DIR` when unset.
    pub fn from_env() -> anyhow::Result<Self> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let site_addr: SocketAddr = var("LEPTOS_SITE_ADDR")
            .unwrap_or_else(|| DEFAULT_SITE_ADDR.into())
            .parse()
            .context("LEPTOS_SITE_ADDR must be host:port, e.g. 127.0.0.1:3000")?;
        let data_dir = PathBuf::from(var("DATA_DIR").unwrap_or_else(|| "./data".into()));
        let jwt_key = match var("JWT_KEY") {
            Some(key) => Secret::new(key),
            None => load_or_create_jwt_key(&data_dir)?,
        };
        let seconds = |name: &str, default: u64| -> anyhow::Result<Duration> {
            match var(name) {
                None => Ok(Duration::from_secs(default)),
                Some(v) => v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .map(Duration::from_secs)
                    .with_context(|| format!("{name} must be a positive whole number of seconds")),
            }
        };
        let flag = |name: &str| match var(name).as_deref() {
            None | Some("false") | Some("0") => Ok(false),
            Some("true") | Some("1") => Ok(true),
            Some(other) => anyhow::bail!("{name} must be true or false, not {other:?}"),
        };
        let cookie_secure = flag("COOKIE_SECURE")?;
        let trust_proxy = flag("TRUST_PROXY")?;
        Ok(Self {
            internal_api_url: var("INTERNAL_API_URL")
                .map(|url| url.trim_end_matches('/').to_owned()),
            site_addr,
            data_dir,
            database_url: var("DATABASE_URL"),
            database_max_connections: match var("DATABASE_MAX_CONNECTIONS") {
                None => None,
                Some(v) => Some(
                    v.trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|n| (1..=1000).contains(n))
                        .context(
                            "DATABASE_MAX_CONNECTIONS must be a whole number from 1 to 1000",
                        )?,
                ),
            },
            nats_url: var("NATS_URL"),
            nats_prefix: var("NATS_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into()),
            redis_url: var("REDIS_URL"),
            redis_prefix: var("REDIS_PREFIX").unwrap_or_else(|| DEFAULT_PREFIX.into()),
            jwt_key,
            expiration_window: seconds("EXPIRATION_WINDOW_SECONDS", 900)?,
            cookie_secure,
            trust_proxy,
            stripe_secret_key: var("STRIPE_SECRET_KEY").map(Secret::new),
            stripe_api_base: var("STRIPE_API_BASE")
                .unwrap_or_else(|| "https://api.stripe.com".into())
                .trim_end_matches('/')
                .to_owned(),
            payment_stale_after: seconds("PAYMENT_STALE_SECONDS", 90)?,
            stripe_webhook_secret: var("STRIPE_WEBHOOK_SECRET").map(Secret::new),
            stripe_publishable_key: var("STRIPE_PUBLISHABLE_KEY"),
            access_token_ttl: seconds("ACCESS_TOKEN_SECONDS", 15 * 60)?,
            refresh_ttl: seconds("REFRESH_SESSION_SECONDS", 30 * 24 * 60 * 60)?,
            refresh_reuse_grace: seconds("REFRESH_REUSE_GRACE_SECONDS", 10)?,
            live_sockets_per_address: match var("LIVE_SOCKETS_PER_ADDRESS") {
                None => DEFAULT_LIVE_SOCKETS_PER_ADDRESS,
                Some(v) => v
                    .trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=1_000_000).contains(n))
                    .context("LIVE_SOCKETS_PER_ADDRESS must be a whole number from 1 to 1000000")?,
            },
            admin_emails: admin_emails(var("ADMIN_EMAILS").as_deref().unwrap_or_default()),
        })
    }

    /// Settings for tests: no environment, a given data directory and key.
    pub fn for_tests(data_dir: PathBuf) -> Self {
        Self {
            site_addr: ([127, 0, 0, 1], 0).into(),
            data_dir,
            database_url: None,
            database_max_connections: None,
            nats_url: None,
            nats_prefix: DEFAULT_PREFIX.into(),
            redis_url: None,
            redis_prefix: DEFAULT_PREFIX.into(),
            jwt_key: Secret::new(hex::encode(rand::random::<[u8; 32]>())),
            expiration_window: Duration::from_secs(900),
            cookie_secure: false,
            trust_proxy: false,
            stripe_secret_key: None,
            stripe_api_base: "https://api.stripe.com".into(),
            payment_stale_after: Duration::from_secs(90),
            stripe_webhook_secret: None,
            stripe_publishable_key: None,
            internal_api_url: None,
            access_token_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 60 * 60),
            refresh_reuse_grace: Duration::from_secs(10),
            live_sockets_per_address: DEFAULT_LIVE_SOCKETS_PER_ADDRESS,
            admin_emails: Vec::new(),
        }
    }

    /// Whether `email` is one of `ADMIN_EMAILS` (compared case-insensitively).
    pub fn is_admin(&self, email: &str) -> bool {
        let email = email.trim().to_lowercase();
        self.admin_emails.contains(&email)
    }

    /// The database of one service: `DATABASE_URL`, or its own SQLite file under `DATA_DIR`.
    /// A SQLite `DATABASE_URL` names a file per service too (`app.db` → `app-orders.db`), so
    /// services never share tables; on PostgreSQL each takes its own schema instead.
    pub fn database_url_for(&self, service: &str) -> anyhow::Result<String> {
        if let Some(url) = &self.database_url {
            if !url.starts_with("sqlite:") {
                return Ok(url.clone());
            }
            let (path, query) = url
                .split_once('?')
                .map_or((url.as_str(), None), |(p, q)| (p, Some(q)));
            let path = match path.strip_suffix(".db") {
                Some(stem) => format!("{stem}-{service}.db"),
                None => format!("{path}-{service}"),
            };
            return Ok(match query {
                Some(query) => format!("{path}?{query}"),
                None => path,
            });
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("cannot create DATA_DIR {}", self.data_dir.display()))?;
        Ok(format!(
            "sqlite://{}?mode=rwc",
            self.data_dir.join(format!("{service}.db")).display()
        ))
    }
}

fn load_or_create_jwt_key(data_dir: &Path) -> anyhow::Result<Secret> {
    let path = data_dir.join(JWT_KEY_FILE);
    if let Ok(existing) = std::fs::read_to_string(&path) {
        let key = existing.trim();
        if !key.is_empty() {
            return Ok(Secret::new(key));
        }
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create DATA_DIR {}", data_dir.display()))?;
    let key = hex::encode(rand::random::<[u8; 32]>());
    write_private(&path, &key).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Secret::new(key))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_generated_jwt_key_is_kept_across_starts() {
        let dir = std::env::temp_dir().join(format!("ticketing-settings-{}", std::process::id()));
        let first = load_or_create_jwt_key(&dir).expect("create key");
        let second = load_or_create_jwt_key(&dir).expect("read key");
        assert_eq!(first.expose(), second.expose());
        assert_eq!(first.expose().len(), 64);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn admin_emails_are_trimmed_lower_cased_and_compared_case_insensitively() {
        let mut settings = Settings::for_tests(PathBuf::from("/tmp/x"));
        settings.admin_emails = admin_emails(" Ada@Example.com ,, bob@example.com,");
        assert_eq!(
            settings.admin_emails,
            ["ada@example.com", "bob@example.com"]
        );
        assert!(settings.is_admin("ADA@example.COM"));
        assert!(!settings.is_admin("eve@example.com"));
        assert!(admin_emails("").is_empty());
    }

    #[test]
    fn every_service_gets_its_own_sqlite_file() {
        let mut settings = Settings::for_tests(PathBuf::from("/tmp/x"));
        settings.database_url = Some("sqlite:///srv/app.db?mode=rwc".into());
        assert_eq!(
            settings.database_url_for("orders").expect("a url"),
            "sqlite:///srv/app-orders.db?mode=rwc"
        );
        settings.database_url = Some("postgres://u@h/db".into());
        assert_eq!(
            settings.database_url_for("orders").expect("a url"),
            "postgres://u@h/db"
        );
    }

    #[test]
    fn secrets_never_print() {
        assert_eq!(format!("{:?}", Secret::new("hunter2")), "Secret(***)");
    }

    /// The names in the README's configuration table: its rows' first cells.
    fn readme_variables() -> BTreeSet<String> {
        let readme = std::fs::read_to_string(repo_file("README.md")).expect("README.md");
        let section = readme
            .split("\n## Configuration\n")
            .nth(1)
            .expect("a Configuration section in README.md");
        let section = section.split("\n## ").next().unwrap_or(section);
        section
            .lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|row| row.split_once('`'))
            .map(|(name, _)| name.to_owned())
            .collect()
    }

    /// The names read by string literal in `source`, as the first argument of one of `calls`.
    fn names_read(source: &str, calls: &[&str]) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for call in calls {
            let opening = format!("{call}(\"");
            for (at, _) in source.match_indices(&opening) {
                let rest = &source[at + opening.len()..];
                let name = rest.split('"').next().unwrap_or_default();
                let is_variable = !name.is_empty()
                    && name
                        .chars()
                        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
                if is_variable {
                    names.insert(name.to_owned());
                }
            }
        }
        names
    }

    /// Fails naming the variables only one side has.
    fn same(names: &BTreeSet<String>, what: &str, listed: &BTreeSet<String>) {
        let missing: Vec<_> = names.difference(listed).collect();
        let extra: Vec<_> = listed.difference(names).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "{what} and settings::VARIABLES differ: only in {what}: {missing:?}; \
             only in VARIABLES: {extra:?}"
        );
    }

    fn repo_file(path: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
    }

    /// What the binary reads: [`Settings::from_env`], and the few variables the server crate
    /// reads itself (logging, the key check). A new variable must reach the README table and
    /// `--help` too, or this fails.
    #[test]
    fn the_readme_table_the_help_text_and_the_settings_name_the_same_variables() {
        let names: Vec<&str> = VARIABLES
            .lines()
            .filter_map(|line| line.split_whitespace().next())
            .collect();
        let listed: BTreeSet<String> = names.iter().map(|name| (*name).to_owned()).collect();
        assert_eq!(listed.len(), names.len(), "a variable listed twice");
        assert_eq!(
            names.len(),
            VARIABLES.lines().count(),
            "a blank line in VARIABLES"
        );
        same(
            &readme_variables(),
            "the README's configuration table",
            &listed,
        );

        let mut read = names_read(include_str!("settings.rs"), &["var", "seconds", "flag"]);
        let server = repo_file("server/src");
        for entry in std::fs::read_dir(&server).expect("server/src") {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|ext| ext == "rs") {
                let source = std::fs::read_to_string(&path).expect("a source file");
                read.extend(names_read(&source, &["env::var", "env::var_os"]));
                // tracing's filter reads RUST_LOG itself.
                if source.contains("EnvFilter::try_from_default_env") {
                    read.insert("RUST_LOG".to_owned());
                }
            }
        }
        same(&read, "what the binary reads", &listed);

        let help = usage();
        for name in names {
            assert!(
                help.contains(&format!("  {name} ")),
                "{name} missing from --help"
            );
        }
    }
}
