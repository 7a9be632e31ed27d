//! The SQLite writer thread: one OS thread per database file owns its only write connection
//! (`rusqlite`, the same libsqlite3 sqlx links) and runs write jobs from a queue in groups.
//!
//! A group is one `BEGIN IMMEDIATE … COMMIT`; each job runs in a savepoint of it, so a job
//! that fails undoes only itself. A job is answered only after its group's `COMMIT`
//! succeeded, and a failed `COMMIT` fails every job of the group. Jobs are plain closures
//! over a [`Tx`]: no per-statement hand-off between threads, statements prepared once and
//! cached. Outbox rows a job writes ([`Tx::enqueue`]) are handed, in commit order, to the
//! hook the outbox relay installs ([`Writer::on_commit`]) right after the commit.
//!
//! WAL checkpoints run passively on a thread of their own, never on the writer's.
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context as _;
use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Params, Row};

pub use rusqlite;

use crate::bus::Message;
use crate::db::UniqueKey;
use crate::events::Event;

/// Jobs one group takes at most, so a reply never waits behind an unbounded queue.
const MAX_GROUP: usize = 512;
/// How often the checkpointer folds the WAL back into the database.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(500);
/// A safety net only: the checkpointer keeps the WAL far below this (pages).
const WAL_AUTOCHECKPOINT: u32 = 100_000;

/// An outbox row a committed group wrote: its `seq` and the message it carries.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// The row's `seq` in the outbox table: what [`Tx::mark_sent`] marks it sent by.
    pub seq: i64,
    /// The event as the bus carries it (its id is the row's id).
    pub message: Message,
}

type HandOff = Box<dyn Fn(Vec<Outgoing>) + Send + Sync>;
/// What a job leaves to be called once its group has committed (or failed to).
type Reply = Box<dyn FnOnce(Result<(), String>) + Send>;
type Work = Box<dyn FnOnce(&mut Tx<'_>) -> Reply + Send>;

/// A handle on a database file's writer thread; clones share it. The thread ends when the
/// last handle is dropped.
#[derive(Clone)]
pub struct Writer {
    inner: Arc<Inner>,
}

struct Inner {
    jobs: mpsc::Sender<Work>,
    hand_off: Arc<OnceLock<HandOff>>,
    path: PathBuf,
    /// Dropped with the last handle, which stops the checkpointer.
    _stop_checkpoints: mpsc::Sender<()>,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Writer({})", self.inner.path.display())
    }
}

/// The file a `sqlite:` URL names, or None for an in-memory database (which exists once per
/// connection, so a second connection could not share it).
pub fn path_of(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty() || path == ":memory:" || query.contains("mode=memory") {
        return None;
    }
    Some(PathBuf::from(path))
}

fn open(path: &Path) -> anyhow::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .with_context(|| format!("opening {}", path.display()))?;
    // The same settings as the sqlx pools (see `db`), so both kinds of connection agree.
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn)
}

impl Writer {
    /// Starts the writer thread (and its checkpointer) on the database file at `path`, which
    /// must exist and be migrated.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let conn = open(path)?;
        conn.pragma_update(None, "wal_autocheckpoint", WAL_AUTOCHECKPOINT)?;
        // Every job is a savepoint: keep their sub-journals in memory, not in temp files.
        conn.pragma_update(None, "temp_store", "MEMORY")?;
        // The hot pages (recent orders, outbox tail, indexes) stay cached between groups.
        conn.pragma_update(None, "cache_size", -65_536)?;
        conn.set_prepared_statement_cache_capacity(256);
        rusqlite::vtab::array::load_module(&conn)?;
        let checkpoints = open(path)?;

        let (jobs, queue) = mpsc::channel::<Work>();
        let hand_off: Arc<OnceLock<HandOff>> = Arc::new(OnceLock::new());
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let hook = hand_off.clone();
        std::thread::Builder::new()
            .name(format!("sqlite-writer-{name}"))
            .spawn(move || run(conn, queue, hook))
            .context("starting the SQLite writer thread")?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name(format!("sqlite-checkpoint-{name}"))
            .spawn(move || checkpoint(checkpoints, stopped))
            .context("starting the SQLite checkpoint thread")?;
        Ok(Self {
            inner: Arc::new(Inner {
                jobs,
                hand_off,
                path: path.to_owned(),
                _stop_checkpoints: stop,
            }),
        })
    }

    /// Installs what receives each committed group's outbox rows, in commit order (the
    /// outbox relay). Called once; later calls are ignored. Until then rows are left to the
    /// relay's scan.
    pub fn on_commit(&self, hand_off: impl Fn(Vec<Outgoing>) + Send + Sync + 'static) -> bool {
        self.inner.hand_off.set(Box::new(hand_off)).is_ok()
    }

    /// Runs `job` in the next group; its writes are kept if it returns `Ok` (and did not
    /// [`Tx::discard`] them), and the answer comes once the group has committed.
    pub async fn write<T, F>(&self, job: F) -> anyhow::Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tx<'_>) -> anyhow::Result<T> + Send + 'static,
    {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let work: Work = Box::new(move |tx: &mut Tx<'_>| {
            let result = job(tx);
            if result.is_err() {
                tx.discard();
            }
            Box::new(move |committed: Result<(), String>| {
                let result = match (result, committed) {
                    (Ok(value), Ok(())) => Ok(value),
                    (Err(err), _) => Err(err),
                    (Ok(_), Err(why)) => Err(anyhow::anyhow!("the write was rolled back: {why}")),
                };
                let _ = answer.send(result);
            })
        });
        self.inner
            .jobs
            .send(work)
            .map_err(|_| anyhow::anyhow!("the SQLite writer thread has stopped"))?;
        answered.await.map_err(|_| {
            anyhow::anyhow!(
                "the SQLite writer dropped the job (it panicked, or its group could not begin)"
            )
        })?
    }
}

/// The writer thread: takes the first waiting job, then whatever else is waiting (up to
/// [`MAX_GROUP`]), all in one transaction.
fn run(conn: Connection, queue: mpsc::Receiver<Work>, hand_off: Arc<OnceLock<HandOff>>) {
    while let Ok(first) = queue.recv() {
        let mut replies: Vec<Reply> = Vec::new();
        let mut outgoing: Vec<Outgoing> = Vec::new();
        let begun = conn.execute_batch("BEGIN IMMEDIATE");
        let mut broken = begun.as_ref().err().map(ToString::to_string);
        let mut next = Some(first);
        while let Some(work) = next.take() {
            if broken.is_none() {
                if let Err(why) = run_job(&conn, work, &mut replies, &mut outgoing) {
                    broken = Some(why);
                }
            } else {
                // Only the first job can meet a group that failed to begin: not run, its
                // caller hears the job was dropped.
                drop(work);
            }
            // A broken group takes no more jobs: they wait for the next one.
            if replies.len() < MAX_GROUP && broken.is_none() {
                next = queue.try_recv().ok();
            }
        }
        let committed = match broken {
            Some(why) => Err(why),
            None => conn.execute_batch("COMMIT").map_err(|e| e.to_string()),
        };
        match &committed {
            Ok(()) => {
                crate::metrics::commit();
                if !outgoing.is_empty() {
                    if let Some(hand_off) = hand_off.get() {
                        hand_off(outgoing);
                    }
                }
            }
            Err(why) => {
                tracing::warn!(error = %why, jobs = replies.len(), "a write group did not commit; every job in it fails");
                if !conn.is_autocommit() {
                    if let Err(err) = conn.execute_batch("ROLLBACK") {
                        tracing::error!(error = %err, "rolling back a failed write group");
                    }
                }
            }
        }
        for reply in replies {
            reply(committed.clone());
        }
    }
}

/// Runs one job in a savepoint; Err (the group can't commit) when the savepoint itself could
/// not be opened or closed.
fn run_job(
    conn: &Connection,
    work: Work,
    replies: &mut Vec<Reply>,
    outgoing: &mut Vec<Outgoing>,
) -> Result<(), String> {
    conn.execute_batch("SAVEPOINT job")
        .map_err(|e| e.to_string())?;
    let mut tx = Tx {
        conn,
        outgoing: Vec::new(),
        discard: false,
    };
    let reply = std::panic::catch_unwind(AssertUnwindSafe(|| work(&mut tx)));
    let keep = !tx.discard && reply.is_ok();
    let closed = if keep {
        outgoing.append(&mut tx.outgoing);
        conn.execute_batch("RELEASE job")
    } else {
        conn.execute_batch("ROLLBACK TO job; RELEASE job")
    };
    match reply {
        Ok(reply) => replies.push(reply),
        // Its answer channel went with the panic: the caller hears that the job was dropped.
        Err(_) => tracing::error!("a write job panicked; its writes were undone"),
    }
    closed.map_err(|e| e.to_string())
}

fn checkpoint(conn: Connection, stop: mpsc::Receiver<()>) {
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        // PASSIVE never waits for (or blocks) the writer or readers.
        if let Err(err) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::debug!(error = %err, "WAL checkpoint");
        }
    }
}

/// What a job writes through: the group's transaction, inside the job's savepoint.
pub struct Tx<'c> {
    conn: &'c Connection,
    outgoing: Vec<Outgoing>,
    discard: bool,
}

impl Tx<'_> {
    /// Undoes this job's writes when it ends, even though it succeeds (it found nothing to
    /// do after writing, say).
    pub fn discard(&mut self) {
        self.discard = true;
    }

    /// Runs a statement (prepared once per connection); the rows it changed.
    pub fn execute(&self, sql: &'static str, params: impl Params) -> anyhow::Result<usize> {
        crate::metrics::statement();
        Ok(self.conn.prepare_cached(sql)?.execute(params)?)
    }

    /// Like [`Tx::execute`], keeping SQLite's own error (to tell a unique violation).
    pub fn try_execute(
        &self,
        sql: &'static str,
        params: impl Params,
    ) -> Result<usize, rusqlite::Error> {
        crate::metrics::statement();
        self.conn.prepare_cached(sql)?.execute(params)
    }

    /// The first row a query returns, if any.
    pub fn query_opt<T>(
        &self,
        sql: &'static str,
        params: impl Params,
        map: impl FnOnce(&Row<'_>) -> rusqlite::Result<T>,
    ) -> anyhow::Result<Option<T>> {
        crate::metrics::statement();
        Ok(self
            .conn
            .prepare_cached(sql)?
            .query_row(params, map)
            .optional()?)
    }

    /// Every row a query returns.
    pub fn query_all<T>(
        &self,
        sql: &'static str,
        params: impl Params,
        map: impl FnMut(&Row<'_>) -> rusqlite::Result<T>,
    ) -> anyhow::Result<Vec<T>> {
        crate::metrics::statement();
        let mut statement = self.conn.prepare_cached(sql)?;
        let rows = statement.query_map(params, map)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Runs `step` in a savepoint of its own inside this job: its writes are kept when
    /// `keep` says so of its result, else undone, and an error undoes them too.
    pub fn step<T>(
        &mut self,
        step: impl FnOnce(&mut Tx<'_>) -> anyhow::Result<T>,
        keep: impl FnOnce(&T) -> bool,
    ) -> anyhow::Result<T> {
        self.conn.execute_batch("SAVEPOINT step")?;
        let mut inner = Tx {
            conn: self.conn,
            outgoing: Vec::new(),
            discard: false,
        };
        let result = step(&mut inner);
        let kept = !inner.discard && result.as_ref().is_ok_and(keep);
        if kept {
            self.conn.execute_batch("RELEASE step")?;
            self.outgoing.append(&mut inner.outgoing);
        } else {
            self.conn.execute_batch("ROLLBACK TO step; RELEASE step")?;
        }
        result
    }

    /// Writes `event` to the outbox in this transaction; it is handed on when the group
    /// commits (and published by the relay's scan if that never happens). Returns its id.
    pub fn enqueue<E: Event>(&mut self, event: &E) -> anyhow::Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let payload = serde_json::to_string(event).context("serializing an event")?;
        self.execute(
            "INSERT INTO outbox (id, subject, payload, created_at, sent_at) \
             VALUES (?1, ?2, ?3, ?4, NULL)",
            (&id, E::SUBJECT.as_str(), &payload, timestamp(Utc::now())),
        )?;
        self.outgoing.push(Outgoing {
            seq: self.conn.last_insert_rowid(),
            message: Message {
                id: id.clone(),
                subject: E::SUBJECT,
                payload: payload.into_bytes(),
            },
        });
        Ok(id)
    }

    /// Marks these outbox rows sent, in one statement whatever their number.
    pub fn mark_sent(&self, seqs: &[i64]) -> anyhow::Result<usize> {
        let seqs: Vec<rusqlite::types::Value> = seqs.iter().copied().map(Into::into).collect();
        self.execute(
            "UPDATE outbox SET sent_at = ?1 WHERE sent_at IS NULL AND seq IN rarray(?2)",
            (timestamp(Utc::now()), std::rc::Rc::new(seqs)),
        )
    }
}

/// A timestamp as sqlx writes one to SQLite (RFC 3339, `+00:00`, as many fraction digits as
/// it needs), so rows either side writes compare and sort the same.
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// A timestamp read back from a column either side wrote.
pub fn parse_timestamp(text: &str) -> anyhow::Result<DateTime<Utc>> {
    Ok(DateTime::parse_from_rfc3339(text)
        .with_context(|| format!("not a timestamp: {text:?}"))?
        .with_timezone(&Utc))
}

/// True when `err` is a violation of `key` (SQLite names the columns).
pub fn violates(err: &rusqlite::Error, key: UniqueKey) -> bool {
    match err {
        rusqlite::Error::SqliteFailure(failure, Some(message))
            if failure.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            message
                .rsplit_once(':')
                .is_some_and(|(_, columns)| columns.trim() == key.columns)
        }
        _ => false,
    }
}
