//! The consumer loop: take the deliveries already waiting, run each by the kind of its step
//! (solo, batched, set or written), and settle them once what they wrote has committed.
use futures::FutureExt;
use tracing::Instrument;

use super::super::{Delivery, EventBus, Subscription};
use super::batch::Batch;
use super::settle::{delivery_span, run_step, settle_by};
use super::{Handler, Listeners, Outcome};
use crate::service::Shutdown;

/// Deliveries already waiting that one batch takes at most: a PostgreSQL transaction's, and
/// a writer-thread job's. A set step applies its share in a few statements, so a batch this
/// large is one commit for hundreds of events.
const MAX_BATCH: usize = 256;
const MAX_WRITTEN_BATCH: usize = 512;

impl<S: Clone + Send + Sync + 'static> Listeners<S> {
    /// Handles the deliveries at hand in order: batched and set steps share a transaction,
    /// settled once it commits (a set step takes each unbroken run of its subject at once);
    /// a solo step first commits what came before it, and so does a step that breaks the
    /// batch (the deliveries after it start a new one).
    async fn process_all(&self, deliveries: Vec<Delivery>, bus: &EventBus) {
        let mut batch = Batch::default();
        let mut done: Vec<(Delivery, Outcome)> = Vec::new();
        let mut written: Vec<Delivery> = Vec::new();
        let mut run: Vec<Delivery> = Vec::new();
        for mut delivery in deliveries {
            let handler = self.handlers.get(&delivery.message.subject);
            if let Some(Handler::Written(_)) = handler {
                written.push(delivery);
                continue;
            }
            self.settle_written(std::mem::take(&mut written), bus).await;
            if let Some(Handler::Set(_)) = handler {
                if run
                    .first()
                    .is_some_and(|d| d.message.subject != delivery.message.subject)
                {
                    self.run_set(&mut batch, &mut run, &mut done, bus).await;
                }
                run.push(delivery);
                continue;
            }
            self.run_set(&mut batch, &mut run, &mut done, bus).await;
            match handler {
                Some(Handler::Batched(_)) => {
                    let work = self.in_batch(&mut batch, delivery.message.clone());
                    let outcome = run_step(work, delivery.settle.as_mut()).await;
                    done.push((delivery, outcome));
                    if batch.broken {
                        self.settle_batch(
                            std::mem::take(&mut batch),
                            std::mem::take(&mut done),
                            bus,
                        )
                        .await;
                    }
                }
                handler => {
                    self.settle_batch(std::mem::take(&mut batch), std::mem::take(&mut done), bus)
                        .await;
                    let span = delivery_span(self.group, &delivery);
                    async {
                        let outcome = match handler {
                            Some(Handler::Solo(handler)) => {
                                let work = handler(self.state.clone(), delivery.message.clone());
                                run_step(work, delivery.settle.as_mut()).await
                            }
                            _ => self.unhandled(&delivery.message),
                        };
                        let Delivery {
                            message,
                            attempt,
                            settle,
                        } = delivery;
                        settle_by(outcome, &message, attempt, settle, bus, &self.options).await;
                    }
                    .instrument(span)
                    .await;
                }
            }
        }
        self.settle_written(written, bus).await;
        self.run_set(&mut batch, &mut run, &mut done, bus).await;
        self.settle_batch(batch, done, bus).await;
    }

    /// Applies a run of one set step's deliveries in the batch (settled with it).
    async fn run_set(
        &self,
        batch: &mut Batch,
        run: &mut Vec<Delivery>,
        done: &mut Vec<(Delivery, Outcome)>,
        bus: &EventBus,
    ) {
        if run.is_empty() {
            return;
        }
        let deliveries = std::mem::take(run);
        let messages = deliveries.iter().map(|d| d.message.clone()).collect();
        let outcomes = self.in_batch_set(batch, messages).await;
        done.extend(deliveries.into_iter().zip(outcomes));
        if batch.broken {
            self.settle_batch(std::mem::take(batch), std::mem::take(done), bus)
                .await;
        }
    }

    /// Runs waiting written deliveries as one write job, then settles each by its outcome.
    async fn settle_written(&self, deliveries: Vec<Delivery>, bus: &EventBus) {
        if deliveries.is_empty() {
            return;
        }
        let messages = deliveries.iter().map(|d| d.message.clone()).collect();
        let outcomes = self.written(messages).await;
        self.settle_all(deliveries.into_iter().zip(outcomes).collect(), bus)
            .await;
    }

    /// Commits the batch, then settles each delivery by its outcome (a done one as failed if
    /// the batch did not commit, so it comes back).
    async fn settle_batch(&self, batch: Batch, done: Vec<(Delivery, Outcome)>, bus: &EventBus) {
        if done.is_empty() && batch.txn.is_none() {
            return;
        }
        let committed = self.finish(batch).await;
        let settled = done
            .into_iter()
            .map(|(delivery, outcome)| match &committed {
                Ok(()) => (delivery, outcome),
                Err(err) => (delivery, outcome.undone(err)),
            })
            .collect();
        self.settle_all(settled, bus).await;
    }

    /// Takes what is waiting (up to [`MAX_BATCH`]) and handles it, until the bus closes or
    /// `shutdown` fires (between batches: the one in hand is finished and settled).
    pub(super) async fn consume(
        &self,
        mut sub: Box<dyn Subscription>,
        bus: &EventBus,
        shutdown: &Shutdown,
    ) {
        tracing::info!(listener = self.group, "listening");
        loop {
            let first = tokio::select! {
                biased;
                () = shutdown.wait() => {
                    tracing::info!(listener = self.group, "shutting down; listener stopped");
                    return;
                }
                delivery = sub.next() => delivery,
            };
            let Some(first) = first else { break };
            let mut deliveries = vec![first];
            let mut closed = false;
            // Only what is already here: a batch never waits for more to arrive.
            let most = if self.writing.is_some() {
                MAX_WRITTEN_BATCH
            } else {
                MAX_BATCH
            };
            while (self.batching.is_some() || self.writing.is_some()) && deliveries.len() < most {
                match sub.next().now_or_never() {
                    Some(Some(delivery)) => deliveries.push(delivery),
                    Some(None) => {
                        closed = true;
                        break;
                    }
                    None => break,
                }
            }
            self.process_all(deliveries, bus).await;
            if closed {
                break;
            }
        }
        tracing::info!(listener = self.group, "bus closed; listener stopped");
    }
}
