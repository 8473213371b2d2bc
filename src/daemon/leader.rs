//! Leader election for running ebb on several hosts: a background task keeps
//! (or waits for) the DynamoDB lease, and a [`LeaderHandle`] answers "may this
//! instance act now, and with which fencing token?" for the loop. Off unless
//! the daemon config has a `[leader_election]` table.

use super::config::DaemonConfig;
use super::lease::{Lease, LeaseTiming, Step};
use super::lease_table::LeaseTable;
use super::shard_lease::{ShardLeases, ShardRole, shard_of};
use crate::actuator::{Actuator, ActuatorError};
use crate::group::GroupState;
use crate::lock::lock;
use anyhow::Context;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// `[leader_election]` in the daemon config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaderElectionConfig {
    /// DynamoDB table holding the lease (partition key `lease`, a string).
    pub table: String,
    /// The lease's key: instances sharing one act as one.
    #[serde(default = "default_lease_name")]
    pub lease_name: String,
    /// A standby takes over after the lease went unrenewed this long.
    #[serde(with = "crate::duration", default = "default_lease_duration")]
    pub lease_duration: Duration,
    /// How often the leader renews (and a standby looks).
    #[serde(with = "crate::duration", default = "default_renew_interval")]
    pub renew_interval: Duration,
    /// The leader stops acting this long after its last successful renewal
    /// was sent; must be shorter than `lease_duration`. Default: two thirds
    /// of it.
    #[serde(with = "crate::duration::option", default)]
    pub renew_deadline: Option<Duration>,
    /// This instance's name in the lease. Default: hostname-pid.
    #[serde(default)]
    pub holder_id: Option<String>,
    /// Create the table (on-demand billing) when it is missing.
    #[serde(default)]
    pub create_table: bool,
    /// `single`: one instance acts on every target, the others wait.
    /// `shards`: targets hash into `shards` shards, and every instance
    /// acts on the targets of the shard leases it holds.
    #[serde(default)]
    pub mode: ElectionMode,
    /// Shard mode: how many shards (one lease item each). Every host must
    /// use the same number.
    #[serde(default = "default_shards")]
    pub shards: u32,
    /// Shard mode: how many shards held by other hosts this one evaluates
    /// in standby as well, so that taking one of them over is warm.
    #[serde(default)]
    pub warm_shards: u32,
}

/// How the work is split between instances sharing a lease table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ElectionMode {
    /// One lease: its holder acts on everything.
    #[default]
    Single,
    /// One lease per shard of targets.
    Shards,
}

fn default_shards() -> u32 {
    64
}

fn default_lease_name() -> String {
    "ebb".to_string()
}
fn default_lease_duration() -> Duration {
    Duration::from_secs(15)
}
fn default_renew_interval() -> Duration {
    Duration::from_secs(3)
}

impl LeaderElectionConfig {
    /// The timing rules, checked (`leader_election.*` fields named on error).
    pub fn timing(&self) -> Result<LeaseTiming, String> {
        let deadline = self.renew_deadline.unwrap_or(self.lease_duration * 2 / 3);
        LeaseTiming::new(self.lease_duration, self.renew_interval, deadline)
            .map_err(|e| format!("leader_election: {e}"))
    }

    /// The id this instance holds the lease under: `holder_id`, or `host-pid`.
    pub fn holder(&self) -> String {
        self.holder_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", hostname(), std::process::id()))
    }

    /// Checks the fields the lease timing does not: a table and a lease name.
    pub fn validate(&self) -> Result<(), String> {
        if self.table.trim().is_empty() {
            return Err("leader_election.table: must name a DynamoDB table".into());
        }
        if self.lease_name.is_empty() {
            return Err("leader_election.lease_name: must not be empty".into());
        }
        if self.holder_id.as_deref().is_some_and(str::is_empty) {
            return Err("leader_election.holder_id: must not be empty".into());
        }
        if self.mode == ElectionMode::Shards && self.warm_shards >= self.shards {
            return Err(format!(
                "leader_election.warm_shards: must be less than shards ({})",
                self.shards
            ));
        }
        self.timing().map(|_| ())
    }
}

/// The machine's name, for the default holder id and the records.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unknown-host".to_string())
}

/// Asks whether this instance may act. Cheap: reads the shared lease state
/// against the monotonic clock, so an evaluation checks it right before each
/// Auto Scaling call.
#[derive(Debug, Clone)]
pub struct LeaderHandle {
    leases: Leases,
}

/// The lease state the election task keeps up to date.
#[derive(Debug, Clone)]
enum Leases {
    /// `mode = "single"`: one lease for every target.
    Single(Arc<Mutex<Lease>>),
    /// `mode = "shards"`: one lease per shard of targets.
    Shards(Arc<Mutex<ShardLeases>>),
}

impl LeaderHandle {
    /// The fencing token while this instance is the acting leader (single
    /// mode; in shard mode, see [`LeaderHandle::role`]).
    pub fn acting(&self) -> Option<u64> {
        match &self.leases {
            Leases::Single(lease) => lock(lease).acting(Instant::now()),
            Leases::Shards(_) => None,
        }
    }

    /// What this instance does with `target` now: act on it (with the
    /// fencing token of its lease), evaluate it in standby, or leave it to
    /// another host (shard mode only).
    pub fn role(&self, target: &str) -> ShardRole {
        match &self.leases {
            Leases::Single(lease) => match lock(lease).acting(Instant::now()) {
                Some(token) => ShardRole::Acting(token),
                None => ShardRole::Warm,
            },
            Leases::Shards(leases) => {
                let leases = lock(leases);
                leases.role(shard_of(target, leases.shards()), Instant::now())
            }
        }
    }

    /// What the live record notes about the lease it was acted under.
    pub fn fencing_note(&self, target: &str, token: u64) -> String {
        match &self.leases {
            Leases::Single(_) => format!("leader {}, fencing token {token}", self.holder()),
            Leases::Shards(leases) => {
                let shard = shard_of(target, lock(leases).shards());
                format!(
                    "shard {shard} held by {}, fencing token {token}",
                    self.holder()
                )
            }
        }
    }

    /// The id this instance holds the lease under.
    pub fn holder(&self) -> String {
        match &self.leases {
            Leases::Single(lease) => lock(lease).holder().to_string(),
            Leases::Shards(leases) => lock(leases).holder().to_string(),
        }
    }

    /// Who holds the lease as far as this instance knows (single mode).
    pub fn known_holder(&self) -> Option<String> {
        match &self.leases {
            Leases::Single(lease) => lock(lease).record().map(|r| r.holder.clone()),
            Leases::Shards(_) => None,
        }
    }
}

/// An actuator that asks the lease right before every change, so an
/// instance whose renew deadline passed during an evaluation does not act,
/// nor one whose lease changed hands meanwhile (its token is stale). Reads
/// pass through.
#[derive(Debug, Clone)]
pub struct Fenced<A> {
    inner: A,
    leader: LeaderHandle,
    /// The token the evaluation started under.
    token: u64,
}

impl<A> Fenced<A> {
    /// `inner`, changing capacity only while the lease the evaluation
    /// started under (`token`) is still this instance's and current.
    pub fn new(inner: A, leader: LeaderHandle, token: u64) -> Fenced<A> {
        Fenced {
            inner,
            leader,
            token,
        }
    }
}

impl<A: Actuator + Send> Actuator for Fenced<A> {
    fn describe(
        &mut self,
        groups: &[String],
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl std::future::Future<Output = Result<HashMap<String, GroupState>, ActuatorError>> + Send
    {
        self.inner.describe(groups, now)
    }

    fn set_desired(
        &mut self,
        group: &str,
        desired: u32,
    ) -> impl std::future::Future<Output = Result<(), ActuatorError>> + Send {
        let role = self.leader.role(group);
        let token = self.token;
        let call = self.inner.set_desired(group, desired);
        async move {
            match role {
                ShardRole::Acting(now) if now == token => call.await,
                ShardRole::Acting(now) => Err(ActuatorError::other(format!(
                    "not sent: the lease changed hands during the evaluation (fencing token {token} is stale, now {now})"
                ))),
                _ => Err(ActuatorError::other(
                    "not sent: this instance's leader lease ran out during the evaluation"
                        .to_string(),
                )),
            }
        }
    }

    fn refresh_before_scale_in(
        &mut self,
        group: &str,
        now: chrono::DateTime<chrono::Utc>,
    ) -> impl std::future::Future<Output = Option<crate::group::InstanceRefresh>> + Send {
        self.inner.refresh_before_scale_in(group, now)
    }
}

/// The running election: the handle, and the task keeping the lease.
pub struct Election {
    /// What the daemon asks the election: is this instance the acting leader, and under which
    /// token.
    pub handle: LeaderHandle,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Election {
    /// Starts the task. The instance is a standby until the task has won the
    /// lease.
    pub fn start(table: LeaseTable, lease: Lease) -> Election {
        let lease = Arc::new(Mutex::new(lease));
        let handle = LeaderHandle {
            leases: Leases::Single(lease.clone()),
        };
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(keep(table, lease, stopped));
        Election { handle, stop, task }
    }

    /// Starts shard mode's task: every shard lease read each renew
    /// interval, held ones renewed, free ones taken toward a fair share.
    /// The instance acts on no shard until the task has won its lease.
    pub fn start_shards(table: LeaseTable, leases: ShardLeases) -> Election {
        let leases = Arc::new(Mutex::new(leases));
        let handle = LeaderHandle {
            leases: Leases::Shards(leases.clone()),
        };
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(super::shard_election::keep_shards(table, leases, stopped));
        Election { handle, stop, task }
    }

    /// Stops the task, releasing the lease when this instance holds it so a
    /// standby takes over at once.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

impl Election {
    /// Ends the task at once without releasing the lease, as a crash would:
    /// the handle stops acting at the renew deadline, and a standby takes
    /// over after the lease duration.
    pub fn abort(self) {
        self.task.abort();
    }
}

/// The lease-keeping loop: one step per renew interval.
async fn keep(table: LeaseTable, lease: Arc<Mutex<Lease>>, mut stopped: watch::Receiver<bool>) {
    let handle = LeaderHandle {
        leases: Leases::Single(lease.clone()),
    };
    let timing = lock(&lease).timing();
    // One call may take up to the interval, so renewals keep their pace.
    let call_limit = timing.renew_interval();
    let mut was_acting = None;
    loop {
        let step = lock(&lease).plan(Instant::now());
        run_step(&table, &lease, &step, call_limit).await;
        let acting = handle.acting();
        if acting != was_acting {
            match acting {
                Some(token) => tracing::info!(
                    holder = %handle.holder(),
                    fencing_token = token,
                    table = table.table(),
                    "leader election: this instance is the leader"
                ),
                None => tracing::warn!(
                    holder = %handle.holder(),
                    leader = handle.known_holder().as_deref().unwrap_or("nobody"),
                    "leader election: this instance is a standby"
                ),
            }
            was_acting = acting;
        }
        tokio::select! {
            _ = tokio::time::sleep(timing.renew_interval()) => {}
            _ = stopped.changed() => break,
        }
    }
    let release = lock(&lease).release();
    if let Some(step) = release {
        run_step(&table, &lease, &step, call_limit).await;
        tracing::info!(holder = %handle.holder(), "leader election: lease released");
    }
}

/// Carries out one step and feeds its answer to the lease.
async fn run_step(table: &LeaseTable, lease: &Mutex<Lease>, step: &Step, limit: Duration) {
    let sent = Instant::now();
    match step {
        Step::Read => match tokio::time::timeout(limit, table.read()).await {
            Ok(Ok(current)) => lock(lease).read(Instant::now(), current),
            Ok(Err(e)) => tracing::warn!(error = %e, "leader election: cannot read the lease"),
            Err(_) => tracing::warn!("leader election: reading the lease timed out"),
        },
        write => match tokio::time::timeout(limit, table.write(write)).await {
            Ok(Ok(outcome)) => lock(lease).written(write, sent, Instant::now(), outcome),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "leader election: lease write failed");
                lock(lease).unanswered(write, sent);
            }
            Err(_) => {
                tracing::warn!("leader election: lease write timed out");
                lock(lease).unanswered(write, sent);
            }
        },
    }
}

/// Joins the leader election: the lease table (created when asked to), and
/// the task keeping the lease. The instance starts as a standby.
pub(super) async fn start_election(
    config: &DaemonConfig,
    settings: &LeaderElectionConfig,
) -> anyhow::Result<Election> {
    let sdk = super::aws::sdk_config(&config.aws, None).await;
    let table = LeaseTable::new(
        aws_sdk_dynamodb::Client::new(&sdk),
        &settings.table,
        &settings.lease_name,
    );
    if settings.create_table {
        table
            .create_table_if_missing()
            .await
            .context("leader_election.create_table")?;
    }
    let timing = settings.timing().map_err(anyhow::Error::msg)?;
    let holder = settings.holder();
    if settings.mode == ElectionMode::Shards {
        tracing::info!(
            holder = %holder,
            table = %settings.table,
            shards = settings.shards,
            warm_shards = settings.warm_shards,
            lease_duration = %humantime::format_duration(timing.duration()),
            "leader election on, shard mode: acting on no shard until this instance holds its lease"
        );
        let leases = ShardLeases::new(&holder, timing, settings.shards, settings.warm_shards);
        return Ok(Election::start_shards(table, leases));
    }
    tracing::info!(
        holder = %holder,
        table = %settings.table,
        lease = %settings.lease_name,
        lease_duration = %humantime::format_duration(timing.duration()),
        "leader election on: standby until this instance holds the lease"
    );
    Ok(Election::start(table, Lease::new(holder, timing)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<LeaderElectionConfig, String> {
        let c: LeaderElectionConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        c.validate().map(|()| c)
    }

    #[test]
    fn defaults_and_checks() {
        let c = config("table = \"ebb-lease\"").unwrap();
        let t = c.timing().unwrap();
        assert_eq!(t.duration(), Duration::from_secs(15));
        assert_eq!(t.renew_deadline(), Duration::from_secs(10));
        assert_eq!(t.renew_interval(), Duration::from_secs(3));
        assert_eq!(c.lease_name, "ebb");
        let holder = c.holder();
        assert!(
            holder.ends_with(&format!("-{}", std::process::id())),
            "{holder}"
        );

        let e = config("table = \"t\"\nlease_duration = \"10s\"\nrenew_deadline = \"10s\"")
            .unwrap_err();
        assert!(e.contains("leader_election: renew_deadline"), "{e}");
        let e = config("table = \"t\"\nrenew_interval = \"12s\"").unwrap_err();
        assert!(e.contains("renew_interval"), "{e}");
        let e = config("table = \"\"").unwrap_err();
        assert!(e.contains("leader_election.table"), "{e}");
        assert!(config("table = \"t\"\nlease = \"x\"").is_err());
    }
}
