//! Typed events in and out of bus messages.
use anyhow::Context as _;

use super::Message;
use crate::events::Event;

/// A typed event out of a message, checking it travelled on the event's subject.
pub fn decode<E: Event>(message: &Message) -> anyhow::Result<E> {
    anyhow::ensure!(
        message.subject == E::SUBJECT,
        "expected a {} message, got {}",
        E::SUBJECT,
        message.subject
    );
    serde_json::from_slice(&message.payload)
        .with_context(|| format!("malformed {} payload (message {})", E::SUBJECT, message.id))
}

/// A message carrying `event`; `id` is the event id, the key duplicates are dropped by.
pub fn encode<E: Event>(id: String, event: &E) -> anyhow::Result<Message> {
    let payload = serde_json::to_vec(event)
        .with_context(|| format!("cannot serialize a {} event", E::SUBJECT))?;
    Ok(Message {
        id,
        subject: E::SUBJECT,
        payload,
    })
}
