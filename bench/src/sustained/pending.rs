//! What the consumers still had to do when the load stopped: on JetStream, each durable
//! consumer's messages not yet delivered plus those delivered but not yet acknowledged,
//! summed per group (one group per service); and each outbox's rows not yet marked sent (a
//! row handed to the bus at commit is marked in bulk a moment later, so it may still count
//! here after its event was delivered). Everything is connected beforehand, so the reading
//! is one round of queries, taken as the last request returns and before anything waits for
//! the lag.
use std::collections::BTreeMap;

use anyhow::Context;
use async_nats::jetstream;
use futures::StreamExt;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use super::Target;

/// The services that publish through an outbox.
const OUTBOXES: [&str; 4] = ["tickets", "orders", "payments", "expiration"];

pub struct Pending {
    /// The deployment's stream, on JetStream.
    stream: Option<jetstream::stream::Stream>,
    outboxes: Vec<(&'static str, DatabaseConnection, String)>,
}

/// One reading. None where a figure could not be read.
pub struct Counts {
    /// Per group; None on the in-process bus (it keeps no count to ask for).
    consumers: Option<Option<BTreeMap<String, u64>>>,
    /// Per service.
    unsent: Vec<(&'static str, Option<i64>)>,
}

impl Pending {
    pub async fn open(system: &Target) -> anyhow::Result<Self> {
        let stream = match system.nats() {
            Some((url, prefix)) => {
                let client = async_nats::connect(url)
                    .await
                    .context("connecting to NATS to read the consumers")?;
                let name = common::bus::stream_name(prefix);
                let stream = jetstream::new(client)
                    .get_stream(&name)
                    .await
                    .with_context(|| format!("the JetStream stream {name}"))?;
                Some(stream)
            }
            None => None,
        };
        let mut outboxes = Vec::with_capacity(OUTBOXES.len());
        for service in OUTBOXES {
            let db = common::db::connect(&system.url(service)?).await?;
            outboxes.push((service, db, system.table(service, "outbox")));
        }
        Ok(Self { stream, outboxes })
    }

    pub async fn read(&self) -> Counts {
        let consumers = async {
            let stream = self.stream.as_ref()?;
            Some(per_group(stream).await.ok())
        };
        let unsent = futures::future::join_all(self.outboxes.iter().map(
            |(service, db, table)| async move {
                let sql = format!("SELECT COUNT(*) AS n FROM {table} WHERE sent_at IS NULL");
                let row = db
                    .query_one(Statement::from_string(db.get_database_backend(), sql))
                    .await;
                let n = row.ok().flatten().and_then(|r| r.try_get("", "n").ok());
                (*service, n)
            },
        ));
        let (consumers, unsent) = tokio::join!(consumers, unsent);
        Counts { consumers, unsent }
    }

    pub async fn close(self) {
        for (_, db, _) in self.outboxes {
            db.close().await.ok();
        }
    }
}

/// `num_pending + num_ack_pending` of every consumer of the stream, by group: a consumer is
/// named `{group}_{subject}`, and groups hold no underscore.
async fn per_group(stream: &jetstream::stream::Stream) -> anyhow::Result<BTreeMap<String, u64>> {
    let mut groups = BTreeMap::new();
    let mut consumers = stream.consumers();
    while let Some(info) = consumers.next().await {
        let info = info?;
        let group = info.name.split_once('_').map_or(&*info.name, |(g, _)| g);
        *groups.entry(group.to_owned()).or_default() +=
            info.num_pending + info.num_ack_pending as u64;
    }
    Ok(groups)
}

impl Counts {
    /// Each figure: `consumers: tickets-service 0, …; unsent outbox rows: tickets 0, …`.
    pub fn detail(&self) -> String {
        let consumers = match &self.consumers {
            None => "— (the in-process bus)".to_owned(),
            Some(None) => "not readable".to_owned(),
            Some(Some(groups)) if groups.is_empty() => "none".to_owned(),
            Some(Some(groups)) => list(groups.iter().map(|(g, n)| (g.as_str(), Some(*n as i64)))),
        };
        format!(
            "consumers (unread + unacknowledged): {consumers}; outbox rows not marked sent: {}",
            list(self.unsent.iter().map(|(s, n)| (*s, *n)))
        )
    }

    /// For the summary table: the consumers' total, and the outboxes'.
    pub fn totals(&self) -> (String, String) {
        let consumers = match &self.consumers {
            Some(Some(groups)) => groups.values().sum::<u64>().to_string(),
            _ => "—".to_owned(),
        };
        let unsent = self
            .unsent
            .iter()
            .map(|(_, n)| *n)
            .sum::<Option<i64>>()
            .map_or("—".to_owned(), |n| n.to_string());
        (consumers, unsent)
    }

    /// Whether anything was pending (to tell a backlog left by an earlier run apart).
    pub fn any(&self) -> bool {
        let consumers = matches!(&self.consumers, Some(Some(g)) if g.values().any(|n| *n > 0));
        consumers || self.unsent.iter().any(|(_, n)| n.unwrap_or(0) > 0)
    }
}

fn list<'a>(figures: impl Iterator<Item = (&'a str, Option<i64>)>) -> String {
    figures
        .map(|(name, n)| match n {
            Some(n) => format!("{name} {n}"),
            None => format!("{name} —"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}
