//! Batched and set steps: the deliveries at hand share one database transaction, each
//! batched step in a savepoint of its own, committed before any of them is settled.
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use anyhow::Context as _;
use futures::FutureExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, TransactionTrait};

use super::super::Message;
use super::{Handler, Listeners, Outcome};

/// The transaction a batched step writes through (each step in a savepoint of its own).
pub type Txn = Arc<DatabaseTransaction>;

/// The database batched steps share a transaction on, and what to do after each commit.
pub(super) struct Batching {
    pub(super) db: DatabaseConnection,
    pub(super) after_commit: Arc<dyn Fn() + Send + Sync>,
    /// Takes what set steps staged, after the commit; poked when other steps wrote.
    pub(super) relay: Option<crate::outbox::Relay>,
}

/// The transaction the batched deliveries at hand share. Once a step fails, or a savepoint
/// can't be opened or closed, it is *broken*: the error may be the connection's, and sqlx's
/// savepoint bookkeeping can't be trusted after a failed savepoint (a failed `SAVEPOINT`
/// lowers its depth, after which `COMMIT` is skipped and reports success — the writes of
/// the steps already done would be lost while their deliveries are acked). A broken batch is
/// rolled back and its done deliveries are retried.
#[derive(Default)]
pub(super) struct Batch {
    /// Shared with set steps while they run; theirs again once they return.
    pub(super) txn: Option<Txn>,
    pub(super) broken: bool,
    /// What set steps staged for the relay.
    pub(super) staged: Vec<Message>,
    /// A step other than a set step was done (its outbox rows, if any, wait for a scan).
    pub(super) unstaged: bool,
}

impl Batch {
    /// The batch's transaction, begun on `db` if this is its first step.
    async fn begin(&mut self, db: &DatabaseConnection) -> anyhow::Result<Txn> {
        if let Some(txn) = &self.txn {
            return Ok(txn.clone());
        }
        let txn = Arc::new(db.begin().await.context("beginning a batch")?);
        self.txn = Some(txn.clone());
        Ok(txn)
    }

    fn broken_by(&mut self, err: anyhow::Error) -> Outcome {
        self.broken = true;
        Outcome::Failed(err)
    }
}

/// Rolls back a broken batch's transaction. On PostgreSQL a plain `ROLLBACK` goes first, as
/// sqlx may no longer know it is in a transaction; its own rollback on drop then finds none
/// (a warning) or fails, and a connection whose rollback failed is closed, not reused.
/// SQLite's connections are in-process and can't break this way; there a `ROLLBACK` sqlx
/// didn't send would throw its depth off, so the drop alone rolls back.
async fn abandon(txn: DatabaseTransaction) {
    if txn.get_database_backend() == sea_orm::DbBackend::Postgres {
        if let Err(err) = txn.execute_unprepared("ROLLBACK").await {
            tracing::debug!(error = %err, "rolling back a broken batch");
        }
    }
    drop(txn);
}

impl<S: Clone + Send + Sync + 'static> Listeners<S> {
    /// Runs a batched step in a savepoint of the batch's transaction (begun if need be);
    /// keeps its writes only if it is done. A step that fails breaks the batch (see [`Batch`]).
    pub(super) async fn in_batch(&self, batch: &mut Batch, message: Message) -> Outcome {
        let (Some(Handler::Batched(handler)), Some(batching)) =
            (self.handlers.get(&message.subject), &self.batching)
        else {
            return self.unhandled(&message);
        };
        let txn = match batch.begin(&batching.db).await {
            Ok(txn) => txn,
            Err(err) => return Outcome::Failed(err),
        };
        let savepoint = match txn.begin().await {
            Ok(savepoint) => Arc::new(savepoint),
            Err(err) => {
                return batch
                    .broken_by(anyhow::Error::new(err).context("opening a step's savepoint"))
            }
        };
        let work = handler(self.state.clone(), savepoint.clone(), message);
        let outcome = AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Outcome::Failed(anyhow::anyhow!("the handler panicked")));
        let Ok(savepoint) = Arc::try_unwrap(savepoint) else {
            return batch.broken_by(anyhow::anyhow!("a step kept its transaction"));
        };
        let settled = match &outcome {
            Outcome::Done => {
                batch.unstaged = true;
                savepoint.commit().await
            }
            Outcome::Failed(_) => {
                // Its error may have come from the connection itself: nothing after it in
                // this transaction can be trusted, so the batch ends here.
                let _ = savepoint.rollback().await;
                batch.broken = true;
                return outcome;
            }
            Outcome::Retry | Outcome::Reject(_) => savepoint.rollback().await,
        };
        match settled {
            Ok(()) => outcome,
            Err(err) => {
                batch.broken_by(anyhow::Error::new(err).context("closing a step's savepoint"))
            }
        }
    }

    /// Runs a set step on `messages` (all of its subject) in the batch's transaction (begun
    /// if need be); an error of the step breaks the batch.
    pub(super) async fn in_batch_set(
        &self,
        batch: &mut Batch,
        messages: Vec<Message>,
    ) -> Vec<Outcome> {
        let count = messages.len();
        let failed = |err: &anyhow::Error| {
            (0..count)
                .map(|_| Outcome::Failed(anyhow::anyhow!("{err:#}")))
                .collect::<Vec<_>>()
        };
        let Some(message) = messages.first() else {
            return Vec::new();
        };
        let (Some(Handler::Set(handler)), Some(batching)) =
            (self.handlers.get(&message.subject), &self.batching)
        else {
            return messages.iter().map(|m| self.unhandled(m)).collect();
        };
        let txn = match batch.begin(&batching.db).await {
            Ok(txn) => txn,
            Err(err) => return failed(&err),
        };
        let work = handler(self.state.clone(), txn, messages);
        let result = AssertUnwindSafe(work)
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the set step panicked")));
        match result {
            Ok((outcomes, staged)) => {
                batch.staged.extend(staged);
                outcomes
            }
            Err(err) => {
                batch.broken = true;
                failed(&err)
            }
        }
    }

    /// Commits the batch's transaction, unless a step broke it: then it is rolled back and
    /// the error says so.
    pub(super) async fn finish(&self, batch: Batch) -> anyhow::Result<()> {
        let (Some(txn), Some(batching)) = (batch.txn, &self.batching) else {
            return Ok(());
        };
        let txn = match Arc::try_unwrap(txn) {
            Ok(txn) => txn,
            // A step kept a handle on it: dropping ours leaves it to roll back once the
            // last one goes, and nothing of the batch is kept.
            Err(_) => anyhow::bail!("a step kept the batch's transaction"),
        };
        if batch.broken {
            abandon(txn).await;
            anyhow::bail!("a step failed, so the batch it was in was rolled back");
        }
        txn.commit().await.context("committing a batch of events")?;
        (batching.after_commit)();
        if let Some(relay) = &batching.relay {
            relay.committed(batch.staged);
            if batch.unstaged {
                relay.poke();
            }
        }
        Ok(())
    }
}
