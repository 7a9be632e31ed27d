//! The distributed bus: one JetStream stream per deployment, durable pull consumers per group
//! (one per subject the group consumes).
use std::time::Duration;

use anyhow::Context as _;
use async_nats::jetstream::{self, consumer, stream, AckKind};
use async_trait::async_trait;
use futures::StreamExt;

use super::{Bus, Delivery, EventBus, Message, Settle, Subscription, Watch, WATCH_CAPACITY};
use crate::events::Subject;

/// JetStream stops redelivering after this many attempts; the listener parks a message on the
/// dead-letter subject before that (its default limit is lower), so this is only a backstop.
pub const MAX_DELIVER: i64 = 10;
/// A delivery not settled within this time is redelivered (a consumer crashed mid-message).
pub const ACK_WAIT: Duration = Duration::from_secs(6);
/// How many messages one subscription pulls ahead: a listener's batch (up to 256) is what is
/// buffered already, so a small pull caps every commit at a few events. Buffered ones are
/// applied well inside [`ACK_WAIT`] (a batch takes milliseconds); if not, they come again
/// and are recognised as duplicates.
const PULL_BATCH: usize = 256;
/// How long the stream keeps messages; the duplicate window is JetStream's default (2 min).
const MAX_AGE: Duration = Duration::from_secs(7 * 24 * 60 * 60);
const REASON_HEADER: &str = "Ticketing-Dead-Reason";

/// The bus on NATS JetStream (when `NATS_URL` is set): one stream per deployment, named after
/// its prefix, holding every event subject and the dead letters.
pub struct JetStreamBus {
    /// The core connection, for watchers' plain subscriptions.
    client: async_nats::Client,
    context: jetstream::Context,
    prefix: String,
    stream: String,
}

/// The stream holding every subject under `prefix`: `prefix` uppercased, made name-safe.
pub fn stream_name(prefix: &str) -> String {
    sanitize(prefix).to_uppercase()
}

/// The NATS subject an event travels on, e.g. `ticketing.ticket:created`.
pub fn nats_subject(prefix: &str, subject: Subject) -> String {
    format!("{prefix}.{subject}")
}

/// Where a message that could not be handled is parked, e.g. `ticketing.dead.ticket:created`.
pub fn dead_letter_subject(prefix: &str, subject: Subject) -> String {
    format!("{prefix}.dead.{subject}")
}

/// Stream and consumer names allow only `[A-Za-z0-9_-]`.
fn sanitize(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl JetStreamBus {
    /// Connects and makes sure the stream for `prefix` exists. `prefix` is one subject token.
    pub async fn connect(url: &str, prefix: &str) -> anyhow::Result<EventBus> {
        anyhow::ensure!(
            !prefix.is_empty() && !prefix.contains(['.', '*', '>', ' ']),
            "the bus prefix must be a single NATS subject token, not {prefix:?}"
        );
        let client = async_nats::ConnectOptions::new()
            .name("ticketing")
            .connect(url)
            .await
            // The URL may carry credentials, so it stays out of the error.
            .context("cannot connect to NATS (NATS_URL)")?;
        let context = jetstream::new(client.clone());
        let stream = stream_name(prefix);
        let subjects = format!("{prefix}.>");
        let existing = context
            .get_or_create_stream(stream::Config {
                name: stream.clone(),
                subjects: vec![subjects.clone()],
                max_age: MAX_AGE,
                ..Default::default()
            })
            .await
            .with_context(|| format!("cannot create the JetStream stream {stream}"))?;
        // Another prefix that sanitises to the same name would leave our subjects uncaptured.
        anyhow::ensure!(
            existing.cached_info().config.subjects.contains(&subjects),
            "the JetStream stream {stream} exists but does not capture {subjects}"
        );
        Ok(std::sync::Arc::new(Self {
            client,
            context,
            prefix: prefix.to_string(),
            stream,
        }))
    }

    /// Sends one message; the returned future resolves when the stream has stored it, so
    /// several can be in flight at once.
    async fn start_send(
        &self,
        subject: String,
        id: &str,
        payload: &[u8],
        reason: Option<&str>,
    ) -> anyhow::Result<impl std::future::Future<Output = anyhow::Result<()>>> {
        let mut publish = jetstream::message::PublishMessage::build()
            .payload(payload.to_vec().into())
            .message_id(id);
        if let Some(reason) = reason {
            publish = publish.header(REASON_HEADER, header_safe(reason).as_str());
        }
        let pending = self
            .context
            .send_publish(subject.clone(), publish)
            .await
            .with_context(|| format!("cannot publish to {subject}"))?;
        let id = id.to_string();
        Ok(async move {
            let ack = pending.await.with_context(|| {
                format!("the stream did not acknowledge a message on {subject}")
            })?;
            if ack.duplicate {
                tracing::debug!(message.id = %id, "duplicate publish dropped by JetStream");
            }
            Ok(())
        })
    }

    async fn send(
        &self,
        subject: String,
        id: &str,
        payload: &[u8],
        reason: Option<&str>,
    ) -> anyhow::Result<()> {
        self.start_send(subject, id, payload, reason).await?.await
    }
}

/// Header values are one line; keep reasons short and printable.
fn header_safe(reason: &str) -> String {
    reason
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(512)
        .collect()
}

#[async_trait]
impl Bus for JetStreamBus {
    async fn publish(&self, message: &Message) -> anyhow::Result<()> {
        self.send(
            nats_subject(&self.prefix, message.subject),
            &message.id,
            &message.payload,
            None,
        )
        .await
    }

    /// Every message goes out before the first acknowledgement is awaited: one round trip
    /// for the batch instead of one per message. The stream stores them in sending order.
    async fn publish_batch(&self, messages: &[Message]) -> (usize, anyhow::Result<()>) {
        let mut acks = Vec::with_capacity(messages.len());
        let mut failed = None;
        for message in messages {
            let subject = nats_subject(&self.prefix, message.subject);
            match self
                .start_send(subject, &message.id, &message.payload, None)
                .await
            {
                Ok(ack) => acks.push(ack),
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            }
        }
        let mut stored = 0;
        for ack in acks {
            if let Err(err) = ack.await {
                return (stored, Err(err));
            }
            stored += 1;
        }
        (stored, failed.map_or(Ok(()), Err))
    }

    /// One durable consumer per group and subject (`{group}_{subject}`), shared by every
    /// caller with that group, merged into one subscription. A consumer per subject rather
    /// than one with several filters: servers before NATS 2.10 ignore `filter_subjects` and
    /// would deliver the whole stream, dead letters included.
    async fn subscribe(
        &self,
        group: &str,
        subjects: &[Subject],
    ) -> anyhow::Result<Box<dyn Subscription>> {
        anyhow::ensure!(
            !subjects.is_empty(),
            "subscribing group {group} to no subjects"
        );
        let mut subjects = subjects.to_vec();
        subjects.sort_by_key(|s| s.as_str());
        subjects.dedup();
        let mut streams = Vec::with_capacity(subjects.len());
        for subject in subjects {
            let name = sanitize(&format!("{group}_{subject}"));
            let config = consumer::pull::Config {
                durable_name: Some(name.clone()),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                max_deliver: MAX_DELIVER,
                filter_subject: nats_subject(&self.prefix, subject),
                ..Default::default()
            };
            let consumer = self
                .context
                .create_consumer_on_stream(config, &self.stream)
                .await
                .with_context(|| {
                    format!(
                        "cannot create the durable consumer {name} on {}",
                        self.stream
                    )
                })?;
            let messages = consumer
                .stream()
                .max_messages_per_batch(PULL_BATCH)
                .messages()
                .await
                .with_context(|| format!("cannot pull from the consumer {name}"))?;
            streams.push(messages);
        }
        Ok(Box::new(JetStreamSubscription {
            messages: futures::stream::select_all(streams),
            prefix: self.prefix.clone(),
        }))
    }

    async fn ready(&self) -> anyhow::Result<()> {
        self.context
            .get_stream(&self.stream)
            .await
            .map(|_| ())
            .with_context(|| format!("JetStream stream {}", self.stream))
    }

    /// A core subscription per subject: the stream captures `{prefix}.>` from ordinary
    /// publishes, so a plain subscriber sees each one as it is stored (a re-send too; the
    /// watcher's consumers tell by version). Forwarded until the last watcher is dropped.
    async fn watch(&self, subjects: &[Subject]) -> anyhow::Result<Watch> {
        let mut subscriptions = Vec::with_capacity(subjects.len());
        for subject in subjects {
            let name = nats_subject(&self.prefix, *subject);
            subscriptions.push(
                self.client
                    .subscribe(name.clone())
                    .await
                    .with_context(|| format!("cannot subscribe to {name}"))?,
            );
        }
        // Once the server has the subscriptions, every later publish reaches them.
        self.client
            .flush()
            .await
            .context("cannot reach NATS to watch")?;
        let (sender, receiver) = tokio::sync::broadcast::channel(WATCH_CAPACITY);
        let prefix = self.prefix.clone();
        tokio::spawn(async move {
            let mut messages = futures::stream::select_all(subscriptions);
            while let Some(message) = messages.next().await {
                let Some(subject) = message
                    .subject
                    .as_str()
                    .strip_prefix(prefix.as_str())
                    .and_then(|rest| rest.strip_prefix('.'))
                    .and_then(Subject::parse)
                else {
                    continue;
                };
                let id = message
                    .headers
                    .as_ref()
                    .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                    .map(|v| v.as_str().to_string())
                    .unwrap_or_default();
                let message = Message {
                    id,
                    subject,
                    payload: message.payload.to_vec(),
                };
                if sender.send(message).is_err() {
                    break; // every watcher is gone: unsubscribe
                }
            }
        });
        Ok(Watch::new(receiver, subjects))
    }

    async fn dead_letter(&self, message: &Message, reason: &str) -> anyhow::Result<()> {
        self.send(
            dead_letter_subject(&self.prefix, message.subject),
            &format!("{}.dead", message.id),
            &message.payload,
            Some(reason),
        )
        .await
    }
}

struct JetStreamSubscription {
    messages: futures::stream::SelectAll<consumer::pull::Stream>,
    prefix: String,
}

impl JetStreamSubscription {
    fn subject_of(&self, nats_subject: &str) -> Option<Subject> {
        nats_subject
            .strip_prefix(self.prefix.as_str())
            .and_then(|rest| rest.strip_prefix('.'))
            .and_then(Subject::parse)
    }
}

#[async_trait]
impl Subscription for JetStreamSubscription {
    async fn next(&mut self) -> Option<Delivery> {
        loop {
            let message = match self.messages.next().await? {
                Ok(message) => message,
                Err(error) => {
                    // Missed heartbeats and reconnects surface here; the stream keeps going.
                    tracing::warn!(error = %error, "pulling from JetStream failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    continue;
                }
            };
            let (attempt, sequence) = match message.info() {
                Ok(info) => (
                    u32::try_from(info.delivered).unwrap_or(u32::MAX).max(1),
                    info.stream_sequence,
                ),
                Err(_) => (1, 0),
            };
            let (message, acker) = message.split();
            let Some(subject) = self.subject_of(message.subject.as_str()) else {
                tracing::error!(nats.subject = %message.subject, "message on an unknown subject; terminating it");
                if let Err(error) = acker.ack_with(AckKind::Term).await {
                    tracing::warn!(error = %error, "cannot terminate a message on an unknown subject");
                }
                continue;
            };
            let id = message
                .headers
                .as_ref()
                .and_then(|h| h.get(async_nats::header::NATS_MESSAGE_ID))
                .map(|v| v.as_str().to_string())
                // Everything we publish carries an id; a foreign message gets its sequence.
                .unwrap_or_else(|| format!("seq-{sequence}"));
            return Some(Delivery {
                message: Message {
                    id,
                    subject,
                    payload: message.payload.to_vec(),
                },
                attempt,
                settle: Box::new(JetStreamSettle { acker }),
            });
        }
    }
}

struct JetStreamSettle {
    acker: jetstream::message::Acker,
}

#[async_trait]
impl Settle for JetStreamSettle {
    async fn ack(self: Box<Self>) -> anyhow::Result<()> {
        // Wait for the server's confirmation, so Ok means the message won't come back.
        self.acker
            .double_ack()
            .await
            .map_err(|e| anyhow::anyhow!("cannot ack: {e}"))
    }

    async fn retry(self: Box<Self>, delay: Duration) -> anyhow::Result<()> {
        self.acker
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(|e| anyhow::anyhow!("cannot nak: {e}"))
    }

    async fn terminate(self: Box<Self>) -> anyhow::Result<()> {
        self.acker
            .ack_with(AckKind::Term)
            .await
            .map_err(|e| anyhow::anyhow!("cannot terminate: {e}"))
    }

    async fn in_progress(&mut self) -> anyhow::Result<()> {
        self.acker
            .ack_with(AckKind::Progress)
            .await
            .map_err(|e| anyhow::anyhow!("cannot mark in progress: {e}"))
    }
}
