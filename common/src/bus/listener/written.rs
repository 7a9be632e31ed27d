//! Written steps: the deliveries at hand as one job of a SQLite writer thread, each step in
//! a savepoint of its own, answered once the job's group has committed.
use std::sync::Arc;

use super::super::Message;
use super::{Handler, Listeners, Outcome, WrittenStep};
use crate::sqlite::Writer;

/// The SQLite writer thread that steps registered with [`Listeners::on_written`] run on.
pub(super) struct Writing {
    pub(super) writer: Writer,
    pub(super) after_commit: Arc<dyn Fn() + Send + Sync>,
}

impl<S: Clone + Send + Sync + 'static> Listeners<S> {
    /// Runs the written steps of `messages` as one job on the writer thread, each in a
    /// savepoint of its own; their outcomes in order once the job's group committed (every
    /// done one failed if it did not).
    pub(super) async fn written(&self, messages: Vec<Message>) -> Vec<Outcome> {
        let Some(writing) = &self.writing else {
            return messages.iter().map(|m| self.unhandled(m)).collect();
        };
        let steps: Vec<(Option<Arc<WrittenStep<S>>>, Message)> = messages
            .into_iter()
            .map(|message| {
                let step = match self.handlers.get(&message.subject) {
                    Some(Handler::Written(step)) => Some(step.clone()),
                    _ => None,
                };
                (step, message)
            })
            .collect();
        let count = steps.len();
        let state = self.state.clone();
        let group = self.group;
        let job = writing.writer.write(move |tx| {
            Ok(steps
                .into_iter()
                .map(|(step, message)| match step {
                    Some(step) => step(&state, tx, &message),
                    None => {
                        Outcome::Reject(format!("{group} has no listener for {}", message.subject))
                    }
                })
                .collect::<Vec<_>>())
        });
        match job.await {
            Ok(outcomes) => {
                (writing.after_commit)();
                outcomes
            }
            Err(err) => (0..count)
                .map(|_| Outcome::Failed(anyhow::anyhow!("{err:#}")))
                .collect(),
        }
    }
}
