//! A process's own copy of every message of some subjects ([`super::Bus::watch`]): the
//! fan-out the web tier's live channel is fed by, beside the groups' shared queues.
use std::collections::HashSet;

use tokio::sync::broadcast;

use super::Message;
use crate::events::Subject;

/// How many messages a watcher may fall behind before it misses some.
pub const WATCH_CAPACITY: usize = 16_384;

/// What a [`Watch`] yields next.
#[derive(Debug)]
pub enum Watched {
    /// The next message of a watched subject.
    Message(Message),
    /// The watcher fell behind and this many messages are gone: whoever it feeds must catch
    /// up another way (the live channel closes its sockets, and pages refetch).
    Missed(u64),
}

/// A stream of every message of the watched subjects, from [`super::Bus::watch`].
pub struct Watch {
    receiver: broadcast::Receiver<Message>,
    subjects: HashSet<Subject>,
}

impl Watch {
    /// Watches what `receiver` gets, keeping only `subjects`.
    pub fn new(receiver: broadcast::Receiver<Message>, subjects: &[Subject]) -> Self {
        Self {
            receiver,
            subjects: subjects.iter().copied().collect(),
        }
    }

    /// The next message or gap; None once the bus is gone.
    pub async fn next(&mut self) -> Option<Watched> {
        loop {
            match self.receiver.recv().await {
                Ok(message) if self.subjects.contains(&message.subject) => {
                    return Some(Watched::Message(message))
                }
                Ok(_) => continue,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    return Some(Watched::Missed(missed))
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }
}
