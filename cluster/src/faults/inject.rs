//! The faults the test injects, one a round, and what it does after the flows to let the
//! system recover (a killed orders replica is started again; the others recover on their own
//! or within [`inject`]).
use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use super::flows::World;
use super::ledger::Connections;
use super::WINDOW_SECONDS;
use crate::{services, Cluster};

/// After both payments replicas are ready again, nginx must route to them within this.
const GATEWAY_BACK_WITHIN: Duration = Duration::from_secs(3);

#[derive(Debug, Clone, Copy)]
pub(super) enum Fault {
    KillOrdersReplica,
    RestartNats,
    KillExpiration,
    DropDatabaseConnections,
    KillBothPayments,
}

impl Fault {
    /// Every fault, in the order of the rounds.
    pub(super) const ALL: [Fault; 5] = [
        Fault::KillOrdersReplica,
        Fault::RestartNats,
        Fault::KillExpiration,
        Fault::DropDatabaseConnections,
        Fault::KillBothPayments,
    ];
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::KillOrdersReplica => "kill -9 of orders-1 mid-flow",
            Self::RestartNats => "NATS server restart mid-flow (down 2 s)",
            Self::KillExpiration => {
                "kill -9 of expiration with reservations pending, restart after the window"
            }
            Self::DropDatabaseConnections => {
                "pg_terminate_backend on every service's connections, twice"
            }
            Self::KillBothPayments => {
                "kill -9 of both payments replicas with payments in flight, restarted at once"
            }
        })
    }
}

/// Injects `fault` into the round that began at `started`.
pub(super) async fn inject(
    cluster: &mut Cluster,
    world: &World,
    dbs: &Connections,
    fault: Fault,
    started: Instant,
) -> anyhow::Result<()> {
    let at = |ms: u64| started + Duration::from_millis(ms);
    let say = |what: &str| println!("   {:>5.2} s  {what}", started.elapsed().as_secs_f64());
    match fault {
        Fault::KillOrdersReplica => {
            tokio::time::sleep_until(at(400).into()).await;
            cluster.kill("orders-1").await?;
            say("kill -9 orders-1");
        }
        Fault::RestartNats => {
            tokio::time::sleep_until(at(400).into()).await;
            say("stopping NATS");
            cluster.restart_nats(Duration::from_secs(2)).await?;
            say("NATS is back");
        }
        Fault::KillExpiration => {
            tokio::time::sleep_until(at(1500).into()).await;
            cluster.kill("expiration").await?;
            say("kill -9 expiration");
            // The window of what was reserved so far passes while it is down.
            tokio::time::sleep(Duration::from_secs(WINDOW_SECONDS + 1)).await;
            let took = cluster.restart("expiration").await?;
            say(&format!(
                "expiration restarted (ready in {:.1} s)",
                took.as_secs_f64()
            ));
        }
        Fault::DropDatabaseConnections => {
            let admin = std::env::var("DATABASE_URL").context("DATABASE_URL")?;
            let admin = common::db::connect(&admin).await?;
            for ms in [300, 1200] {
                tokio::time::sleep_until(at(ms).into()).await;
                let dropped = terminate_backends(&admin, cluster).await?;
                say(&format!(
                    "pg_terminate_backend: {dropped} service connections dropped"
                ));
            }
            admin.close().await.ok();
        }
        Fault::KillBothPayments => {
            // Mid-payment for certain: as soon as payments are in flight.
            let deadline = started + Duration::from_secs(WINDOW_SECONDS - 3);
            while in_flight(dbs).await?.len() < 2 {
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "no payments were in flight to kill"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            cluster.kill("payments-1").await?;
            cluster.kill("payments-2").await?;
            say("kill -9 payments-1 and payments-2");
            let stuck = in_flight(dbs).await?;
            say(&format!(
                "{} payments left in flight: {}",
                stuck.len(),
                stuck.join(", ")
            ));
            let took = cluster.restart_all(&["payments-1", "payments-2"]).await?;
            let ready = Instant::now();
            say(&format!(
                "payments-1 and payments-2 restarted (ready in {:.2} s)",
                took.as_secs_f64()
            ));
            let back = gateway_back(world, ready).await?;
            say(&format!(
                "nginx routes to payments {:.2} s after the replicas were ready",
                back.as_secs_f64()
            ));
            anyhow::ensure!(
                back <= GATEWAY_BACK_WITHIN,
                "nginx took {:.1} s to route to the restarted payments replicas",
                back.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Payments in flight now, as `id (status)`.
async fn in_flight(dbs: &Connections) -> anyhow::Result<Vec<String>> {
    use sea_orm::{ConnectionTrait, Statement};
    let sql = "SELECT id::text AS id, status FROM payments.payments \
               WHERE status IN ('authorizing', 'capturing')";
    let rows = dbs
        .payments
        .query_all(Statement::from_string(
            dbs.payments.get_database_backend(),
            sql,
        ))
        .await?;
    rows.iter()
        .map(|row| {
            Ok(format!(
                "{} ({})",
                row.try_get::<String>("", "id")?,
                row.try_get::<String>("", "status")?
            ))
        })
        .collect()
}

/// How long after `ready` nginx answers a payments request with the service's own answer
/// (anything but a 5xx), polling every 50 ms.
async fn gateway_back(world: &World, ready: Instant) -> anyhow::Result<Duration> {
    let buyer = world.buyers.first().context("a buyer")?;
    let url = format!(
        "{}/api/payments?orderId={}",
        world.base,
        uuid::Uuid::new_v4()
    );
    loop {
        let answered = world
            .http
            .get(&url)
            .header("cookie", &buyer.cookie)
            .send()
            .await
            .is_ok_and(|r| !r.status().is_server_error());
        if answered {
            return Ok(ready.elapsed());
        }
        if ready.elapsed() > Duration::from_secs(30) {
            bail!("nginx did not route to payments within 30 s of the replicas being ready");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub(super) async fn recover(cluster: &mut Cluster, fault: Fault) -> anyhow::Result<()> {
    if let Fault::KillOrdersReplica = fault {
        let took = cluster.restart("orders-1").await?;
        println!(
            "   orders-1 restarted (ready in {:.1} s)",
            took.as_secs_f64()
        );
    }
    Ok(())
}

async fn terminate_backends(
    admin: &sea_orm::DatabaseConnection,
    cluster: &Cluster,
) -> anyhow::Result<u64> {
    use sea_orm::{ConnectionTrait, Statement};
    let names: Vec<String> = services::with_database()
        .filter_map(|s| cluster.database_url(s.name))
        .filter_map(|url| url.rsplit('/').next())
        .map(|name| format!("'{}'", name.split('?').next().unwrap_or(name)))
        .collect();
    let sql = format!(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname IN ({}) AND pid <> pg_backend_pid()",
        names.join(", ")
    );
    let row = admin
        .query_one(Statement::from_string(admin.get_database_backend(), sql))
        .await?
        .context("a count")?;
    Ok(row.try_get::<i64>("", "n")? as u64)
}
