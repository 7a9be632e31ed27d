//! Background work and how it stops: the process's [`Shutdown`] signal, a named [`Task`], the
//! [`Supervisor`] that runs tasks until shutdown (a task that dies stops them all; on shutdown
//! each finishes what it is doing before `run` returns), and the thread events are handled on.
use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument as _;

/// The process-wide stop signal; cheap to clone, fires once.
#[derive(Clone, Debug, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    /// A stop signal not yet fired.
    pub fn new() -> Self {
        Self::default()
    }

    /// Fires the signal: every task and server holding a clone starts stopping.
    pub fn trigger(&self) {
        self.0.cancel();
    }

    /// Whether shutdown has begun, for loops that check between steps.
    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    /// Resolves once shutdown has been triggered.
    pub async fn wait(&self) {
        self.0.cancelled().await
    }

    /// An owned future for `axum::serve(..).with_graceful_shutdown`.
    pub fn signalled(&self) -> impl Future<Output = ()> + Send + 'static {
        self.0.clone().cancelled_owned()
    }
}

/// A named background job. It should run until shutdown and then return `Ok`; returning
/// earlier, or with an error, counts as the task dying.
pub struct Task {
    /// What the logs, and the error when it dies, call it.
    pub name: String,
    future: BoxFuture<'static, anyhow::Result<()>>,
}

impl Task {
    /// A task called `name` that runs `future`.
    pub fn new(
        name: impl Into<String>,
        future: impl Future<Output = anyhow::Result<()>> + Send + 'static,
    ) -> Self {
        Self {
            name: name.into(),
            future: Box::pin(future),
        }
    }

    /// A task that runs `step` now and then every `period` until shutdown (a step in hand is
    /// finished first). A failed step is logged and tried again a period later, never ending
    /// the task: a dependency that is down only delays the work.
    pub fn every<F, Fut>(
        name: impl Into<String>,
        period: Duration,
        shutdown: Shutdown,
        mut step: F,
    ) -> Self
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = anyhow::Result<()>> + Send,
    {
        let name = name.into();
        let task = name.clone();
        Self::new(name, async move {
            while !shutdown.is_triggered() {
                if let Err(error) = step().await {
                    tracing::warn!(task, error = format!("{error:#}"), retry_in = ?period, "a periodic step failed");
                }
                tokio::select! {
                    () = shutdown.wait() => {}
                    () = tokio::time::sleep(period) => {}
                }
            }
            tracing::info!(task, "shutting down; stopped");
            Ok(())
        })
    }
}
/// How long shutdown waits for tasks to finish before abandoning them.
const DRAIN: Duration = Duration::from_secs(10);

/// Runs background tasks until shutdown; one dying stops them all.
pub struct Supervisor {
    shutdown: Shutdown,
    tasks: Vec<Task>,
}

impl Supervisor {
    /// A supervisor with no tasks yet, stopping them all on `shutdown`.
    pub fn new(shutdown: Shutdown) -> Self {
        Self {
            shutdown,
            tasks: Vec::new(),
        }
    }

    /// Adds `tasks` to those [`run`](Self::run) spawns.
    pub fn add(&mut self, tasks: impl IntoIterator<Item = Task>) {
        self.tasks.extend(tasks);
    }

    /// Spawns every task and waits. Returns `Ok` after a clean shutdown, or the first task's
    /// death (having triggered shutdown so the rest drain).
    pub async fn run(self) -> anyhow::Result<()> {
        let Self { shutdown, tasks } = self;
        let mut set = JoinSet::new();
        for task in tasks {
            let name = task.name;
            let future = task.future;
            // In the caller's span, so a task's log lines name the process (see `main`).
            set.spawn(async move { (name, future.await) }.in_current_span());
        }
        let mut death: Option<anyhow::Error> = None;
        loop {
            let next = if shutdown.is_triggered() {
                match tokio::time::timeout(DRAIN, set.join_next()).await {
                    Ok(next) => next,
                    Err(_) => {
                        tracing::error!(
                            left = set.len(),
                            "tasks did not finish within {DRAIN:?} of shutdown; abandoning them"
                        );
                        set.abort_all();
                        break;
                    }
                }
            } else {
                tokio::select! {
                    next = set.join_next() => next,
                    () = shutdown.wait() => continue,
                }
            };
            let Some(joined) = next else { break };
            let (name, result) = match joined {
                Ok(ended) => ended,
                Err(err) => (
                    "a task".to_owned(),
                    Err(anyhow::anyhow!("it panicked or was aborted: {err}")),
                ),
            };
            match (result, shutdown.is_triggered()) {
                (Ok(()), true) => tracing::debug!(task = %name, "task finished"),
                (result, _) => {
                    let error = result
                        .err()
                        .unwrap_or_else(|| anyhow::anyhow!("it stopped before shutdown"));
                    let error = error.context(format!("background task {name} died"));
                    tracing::error!(error = format!("{error:#}"), "stopping the process");
                    shutdown.trigger();
                    death.get_or_insert(error);
                }
            }
        }
        match death {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

/// Waits for Ctrl-C or SIGTERM, then triggers `shutdown`.
pub async fn trigger_on_signal(shutdown: Shutdown) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("interrupted; shutting down"),
        () = terminate => tracing::info!("terminated; shutting down"),
        () = shutdown.wait() => return,
    }
    shutdown.trigger();
}

static EVENTS: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();

/// Gives the process's event listeners a thread of their own (a one-worker runtime), so
/// events are applied as they arrive instead of queueing behind every HTTP request on the
/// main runtime's workers: the OS shares the cores between the two, where a listener task
/// among the requests' tasks would get one turn in many. Called once by the binary at start;
/// without it (tests) listeners run on the caller's runtime.
pub fn dedicate_event_thread() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("events")
        .enable_all()
        .build()?;
    // Kept for the whole process (a static is never dropped, which a runtime may not be
    // from inside another).
    let _ = EVENTS.set(runtime);
    Ok(())
}

/// Runs `work` on the event thread when the process has one, else here.
pub async fn on_event_thread<T: Send + 'static>(
    work: impl Future<Output = T> + Send + 'static,
) -> anyhow::Result<T> {
    match EVENTS.get() {
        Some(runtime) => {
            use tracing::Instrument as _;
            Ok(runtime.spawn(work.in_current_span()).await?)
        }
        None => Ok(work.await),
    }
}
#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_task_that_dies_stops_the_others_and_is_reported() {
        let shutdown = Shutdown::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let watcher = shutdown.clone();
        supervisor.add([
            Task::new("steady", async move {
                watcher.wait().await;
                let _ = tx.send("drained");
                Ok(())
            }),
            Task::new("fragile", async { anyhow::bail!("lost its connection") }),
        ]);
        let error = supervisor.run().await.expect_err("the death is reported");
        assert!(format!("{error:#}").contains("fragile"), "{error:#}");
        assert!(shutdown.is_triggered());
        assert_eq!(rx.await.ok(), Some("drained"));
    }

    #[tokio::test]
    async fn shutdown_lets_tasks_finish_their_work() {
        let shutdown = Shutdown::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let watcher = shutdown.clone();
        supervisor.add([Task::new("worker", async move {
            watcher.wait().await;
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = tx.send(());
            Ok(())
        })]);
        let run = tokio::spawn(supervisor.run());
        shutdown.trigger();
        run.await
            .expect("the supervisor does not panic")
            .expect("a clean shutdown");
        assert!(rx.await.is_ok(), "the worker finished before run returned");
    }

    #[tokio::test]
    async fn a_task_ending_early_counts_as_a_death() {
        let shutdown = Shutdown::new();
        let mut supervisor = Supervisor::new(shutdown.clone());
        supervisor.add([Task::new("quitter", async { Ok(()) })]);
        assert!(supervisor.run().await.is_err());
        assert!(shutdown.is_triggered());
    }

    #[tokio::test]
    async fn a_periodic_task_outlives_failed_steps_and_stops_on_shutdown() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let shutdown = Shutdown::new();
        let steps = std::sync::Arc::new(AtomicU32::new(0));
        let counted = steps.clone();
        let task = Task::every(
            "sweeper",
            Duration::from_millis(20),
            shutdown.clone(),
            move || {
                let n = counted.fetch_add(1, Ordering::SeqCst);
                async move {
                    anyhow::ensure!(n % 2 == 1, "step {n} failed");
                    Ok(())
                }
            },
        );
        let mut supervisor = Supervisor::new(shutdown.clone());
        supervisor.add([task]);
        let run = tokio::spawn(supervisor.run());
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while steps.load(Ordering::SeqCst) < 4 {
            assert!(tokio::time::Instant::now() < deadline, "steps keep coming");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        shutdown.trigger();
        run.await
            .expect("the supervisor does not panic")
            .expect("failed steps never end the task");
    }
}
