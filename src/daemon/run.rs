//! The long-running daemon behind `ebb run`.
//!
//! One task owns everything mutable: the targets, the decisions log, the saved
//! state. It sleeps until the next target is due, then hands every idle
//! target due within `batch_window` (per region) to a batch task: one batched
//! metric fetch and one batched group read, then each target evaluated and
//! applied on its own task, so a slow SetDesiredCapacity for one target does
//! not hold up another. A target's evaluator travels with its evaluation and
//! comes back when it is done, so a target never has two evaluations at once,
//! and a slow batch never delays targets that are not in it.
//!
//! Signals: SIGTERM/SIGINT stop scheduling, wait for the evaluations in
//! flight, save the state and return. SIGHUP re-reads the policy directory
//! (a broken file keeps that target's old policy) and reopens the decisions
//! log.
//!
//! Every record also goes to [`Operations`]: alert rules, ebb's own metrics
//! and health, and systemd (READY=1 before the first tick, STATUS=, and a
//! heartbeat each time the loop goes round for the watchdog).

use super::accounts::{self, ClientKey};
use super::aws::{RegionClients, account_clients_with_metrics};
use super::batch::{Done, Finished, Report, run_batch};
use super::config::DaemonConfig;
use super::decisions_log::DecisionsLog;
use super::leader::{Election, LeaderElectionConfig, hostname};
use super::lease::Lease;
use super::lease_table::LeaseTable;
use super::ops::Operations;
use super::policies::{DirContents, LoadedPolicy, read_dir};
use super::state::{SavedState, StateStore};
use super::state_lock::StateDirLock;
use crate::alert::ReloadFailure;
use crate::decision::{Action, DecisionRecord, ReloadFailedRecord};
use crate::evaluator::TargetEvaluator;
use crate::governor::GovernorState;
use crate::governor_memory::GovernorMemory;
use crate::policy_file::{ConflictAction, PolicyFile};
use anyhow::{Context, bail};
use chrono::Utc;
use rand::Rng;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// One target as the daemon keeps it.
struct Slot {
    policy: LoadedPolicy,
    /// `None` while an evaluation of this target is in flight.
    evaluator: Option<TargetEvaluator>,
    /// A reloaded policy to swap in when the evaluation in flight returns.
    replacement: Option<LoadedPolicy>,
    /// Removed from the policy directory while in flight: drop on return.
    removed: bool,
    /// Why the last reload of this target's policy file failed (the old
    /// policy stays): a notice on each of its records until a reload works.
    reload_failed: Option<ReloadFailedRecord>,
    next_due: Instant,
    /// The group's own scaling policies and scheduled actions, as last read
    /// (at start and reload).
    conflicts: Vec<String>,
}

impl Slot {
    fn new(policy: LoadedPolicy, evaluator: TargetEvaluator, next_due: Instant) -> Slot {
        Slot {
            policy,
            evaluator: Some(evaluator),
            replacement: None,
            removed: false,
            reload_failed: None,
            next_due,
            conflicts: Vec::new(),
        }
    }

    fn interval(&self) -> Duration {
        self.policy.file.target.interval
    }

    fn client_key(&self, accounts: &accounts::Accounts) -> ClientKey {
        ClientKey::of(&self.policy.file.target, accounts)
    }
}

/// The daemon.
pub struct Daemon {
    config: DaemonConfig,
    dry_run: bool,
    slots: BTreeMap<String, Slot>,
    clients: HashMap<ClientKey, RegionClients>,
    log: DecisionsLog,
    store: StateStore,
    saved: SavedState,
    state_dirty: bool,
    in_flight: usize,
    tx: mpsc::UnboundedSender<Finished>,
    rx: mpsc::UnboundedReceiver<Finished>,
    ops: Operations,
    /// With leader election on: acts only while holding the lease.
    election: Option<Election>,
    /// Which instance writes the records: the election's holder id, or
    /// `host:pid`.
    instance: String,
    /// Held for the daemon's life: one daemon per state directory.
    _state_lock: StateDirLock,
}

impl Daemon {
    /// Loads the policies (every file must be valid at start), opens the log,
    /// and restores each target's state: from the state file, or else from
    /// the group's scaling activities.
    pub async fn start(config: DaemonConfig, dry_run: bool) -> anyhow::Result<Daemon> {
        // First, before anything is opened or bound: a second daemon on the
        // same state directory stops here, naming the one running.
        let host = hostname();
        let state_lock = StateDirLock::acquire(&config.state_dir, &host)?;
        let mut contents = read_dir(&config.policy_dir).map_err(|e| anyhow::anyhow!("{e}"))?;
        contents.refuse_unknown_accounts(&config.accounts);
        if !contents.invalid.is_empty() {
            let errors: Vec<String> = contents
                .invalid
                .values()
                .flatten()
                .map(ToString::to_string)
                .collect();
            bail!("invalid policy files:\n{}", errors.join("\n"));
        }
        if contents.valid.is_empty() {
            bail!(
                "no policy files (*.toml) in {}",
                config.policy_dir.display()
            );
        }
        let log = DecisionsLog::open(&config.decisions_log).with_context(|| {
            format!(
                "cannot open the decisions log {}",
                config.decisions_log.display()
            )
        })?;
        let mut store = StateStore::new(&config.state_dir);
        let saved = match store.load() {
            Ok(saved) => saved,
            Err(e) => {
                // A corrupt file must not stop scaling; cooldowns come back
                // from the activity history instead.
                tracing::error!(error = %e, "ignoring the state file");
                None
            }
        };
        let have_state_file = saved.is_some();
        let saved = saved.unwrap_or_default();
        let mut ops = Operations::start(&config.alerts, &config.telemetry, &config.aws).await?;
        ops.restore_alerts(&saved.alerts);
        let election = match &config.leader_election {
            Some(settings) => Some(start_election(&config, settings).await?),
            None => None,
        };
        let instance = match &config.leader_election {
            Some(settings) => settings.holder(),
            None => format!("{host}:{}", std::process::id()),
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let mut daemon = Daemon {
            dry_run: dry_run || config.dry_run,
            config,
            slots: BTreeMap::new(),
            clients: HashMap::new(),
            log,
            store,
            saved,
            state_dirty: false,
            in_flight: 0,
            tx,
            rx,
            ops,
            election,
            instance,
            _state_lock: state_lock,
        };
        for policy in contents.valid.values() {
            let key = ClientKey::of(&policy.file.target, &daemon.config.accounts);
            daemon.ensure_clients(key).await;
        }
        let unsaved: Vec<&PolicyFile> = contents
            .valid
            .iter()
            .filter(|(group, _)| !daemon.saved.targets.contains_key(*group))
            .map(|(_, policy)| &policy.file)
            .collect();
        let mut reconstructed = daemon.reconstruct_states(&unsaved, have_state_file).await;
        let now = Instant::now();
        for (group, policy) in contents.valid {
            let mut evaluator = evaluator_for(&policy, &daemon.saved);
            if daemon.saved.memory(&group).is_none() {
                let reconstructed = reconstructed.remove(&group).unwrap_or_default();
                evaluator.restore_memory(GovernorMemory::new(reconstructed, None));
            }
            let next_due = now + daemon.jitter();
            daemon
                .slots
                .insert(group, Slot::new(policy, evaluator, next_due));
        }
        tracing::info!(
            targets = daemon.slots.len(),
            dry_run = daemon.dry_run,
            policy_dir = %daemon.config.policy_dir.display(),
            decisions_log = %daemon.log.path().display(),
            state_file = %daemon.store.path().display(),
            "ebb daemon started"
        );
        daemon.read_own_scaling().await;
        daemon.declare_targets();
        Ok(daemon)
    }

    /// Runs until SIGTERM or SIGINT.
    pub async fn run(mut self) -> anyhow::Result<()> {
        let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
        let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
        let mut sighup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
        // Proof of life for the systemd watchdog even when no target is due.
        let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.ops.ready();
        loop {
            self.ops.beat();
            let wake = self
                .slots
                .values()
                .filter(|s| s.evaluator.is_some())
                .map(|s| s.next_due)
                .min()
                .unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            tokio::select! {
                _ = heartbeat.tick() => {}
                _ = tokio::time::sleep_until(wake) => self.dispatch_due().await,
                Some(done) = self.rx.recv() => {
                    self.finish(done);
                    // Take every result already waiting before saving once.
                    while let Ok(done) = self.rx.try_recv() {
                        self.finish(done);
                    }
                    self.save_state();
                }
                _ = sighup.recv() => self.reload().await,
                _ = sigterm.recv() => { tracing::info!("SIGTERM: finishing evaluations in flight"); break; }
                _ = sigint.recv() => { tracing::info!("SIGINT: finishing evaluations in flight"); break; }
            }
        }
        while self.in_flight > 0 {
            match self.rx.recv().await {
                Some(done) => self.finish(done),
                None => break,
            }
        }
        self.save_state();
        if let Some(election) = self.election.take() {
            // After the last evaluation: a standby may act from now on.
            election.stop().await;
        }
        self.ops.shutdown().await;
        tracing::info!("ebb daemon stopped");
        Ok(())
    }

    fn jitter(&self) -> Duration {
        let max = self.config.jitter.as_millis() as u64;
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(0..=max))
    }

    async fn ensure_clients(&mut self, key: ClientKey) {
        if !self.clients.contains_key(&key) {
            let clients = account_clients_with_metrics(
                &self.config.aws,
                &self.config.accounts,
                &key,
                self.ops.aws_interceptor(),
            )
            .await;
            self.clients.insert(key, clients);
        }
    }

    /// With no saved state for a target, the last scaling time comes from the
    /// group's activity history, so a fresh state dir does not reset
    /// cooldowns. A few groups are read at once, to start quickly without
    /// bursting into the API's rate limits.
    async fn reconstruct_states(
        &self,
        files: &[&PolicyFile],
        have_state_file: bool,
    ) -> HashMap<String, GovernorState> {
        const AT_ONCE: usize = 8;
        let limit = Arc::new(tokio::sync::Semaphore::new(AT_ONCE));
        let mut tasks = tokio::task::JoinSet::new();
        for file in files {
            let key = ClientKey::of(&file.target, &self.config.accounts);
            let actuator = self.clients[&key].actuator.clone();
            let group = file.target.group.clone();
            let limit = Arc::clone(&limit);
            tasks.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let found = actuator.last_scaling(&group).await;
                (group, found)
            });
        }
        let mut states = HashMap::new();
        while let Some(joined) = tasks.join_next().await {
            let Ok((group, found)) = joined else { continue };
            let mut state = GovernorState::default();
            match found {
                Ok(Some((at, action))) => {
                    tracing::info!(
                        target_group = %group,
                        at = %at,
                        ?action,
                        state_file = have_state_file,
                        "no saved state: last scaling taken from the activity history"
                    );
                    state.record_scaling(at, action);
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    target_group = %group,
                    error = %e,
                    "no saved state and no activity history: cooldowns start fresh"
                ),
            }
            states.insert(group, state);
        }
        states
    }

    /// Starts a batch (per account and region) for every idle target due
    /// now or within the batch window.
    async fn dispatch_due(&mut self) {
        let horizon = Instant::now() + self.config.batch_window;
        let started = Instant::now();
        let mut batches: HashMap<ClientKey, Vec<(TargetEvaluator, Report)>> = HashMap::new();
        for slot in self.slots.values_mut() {
            if slot.next_due > horizon {
                continue;
            }
            let Some(mut evaluator) = slot.evaluator.take() else {
                continue;
            };
            evaluator.set_conflicts(slot.conflicts.clone());
            let report = Report::new(evaluator.name(), started, self.tx.clone());
            batches
                .entry(slot.client_key(&self.config.accounts))
                .or_default()
                .push((evaluator, report));
        }
        for (key, targets) in batches {
            self.ensure_clients(key.clone()).await;
            let clients = self.clients[&key].clone();
            self.in_flight += targets.len();
            let leader = self.election.as_ref().map(|e| e.handle.clone());
            tokio::spawn(run_batch(clients, targets, self.dry_run, leader));
        }
    }

    /// Takes an evaluation back, finished or lost to a panic.
    fn finish(&mut self, finished: Finished) {
        self.in_flight -= 1;
        match finished {
            Finished::Done(done) => self.finish_done(*done),
            Finished::Panicked {
                group,
                message,
                took,
            } => self.finish_panicked(&group, message, took),
        }
    }

    /// Writes an evaluation's records: the decisions log, tracing, alerts
    /// and metrics, systemd's status line.
    fn write_records(&mut self, records: &mut [DecisionRecord], took: Duration) {
        for record in records.iter_mut() {
            record.instance = Some(self.instance.clone());
            let slot = self.slots.get(&record.target);
            record.account = slot.and_then(|s| s.policy.file.target.account.clone());
            if let Some(failed) = slot.and_then(|s| s.reload_failed.as_ref()) {
                record.notices.push(failed.notice());
                record.reload_failed = Some(failed.clone());
            }
            emit(record);
            if let Err(e) = self.log.append(record) {
                tracing::error!(error = %e, path = %self.log.path().display(), "cannot write the decisions log");
            }
            self.ops.observe(record, took);
        }
        self.ops.update_status(records.first());
    }

    /// An evaluation that panicked: its evaluator went down with it. A new
    /// one is built from the target's current policy (a reload that came
    /// meanwhile included) and the state saved after its last evaluation;
    /// the failure is recorded, and the target is tried again next interval.
    fn finish_panicked(&mut self, group: &str, message: String, took: Duration) {
        tracing::error!(target_group = %group, panic = %message, "evaluation panicked: capacity kept, a new evaluator is built from the policy");
        let Some(slot) = self.slots.get(group) else {
            return;
        };
        let mut evaluator = evaluator_for(&slot.policy, &self.saved);
        let mut records = vec![evaluator.panicked(Utc::now(), message)];
        self.write_records(&mut records, took);
        let Some(slot) = self.slots.get_mut(group) else {
            return;
        };
        if slot.removed {
            self.slots.remove(group);
            return;
        }
        slot.replacement = None; // `evaluator` is already built from it
        slot.next_due = next_due(slot.next_due, slot.interval(), Instant::now());
        slot.evaluator = Some(evaluator);
    }

    /// Takes a finished evaluation back: log, state, evaluator home.
    fn finish_done(&mut self, done: Done) {
        let Done {
            evaluator,
            mut records,
            took,
        } = done;
        self.write_records(&mut records, took);
        let group = evaluator.name().to_string();
        self.saved.keep_memory(&group, evaluator.memory());
        let histories: BTreeMap<String, _> = evaluator
            .histories()
            .into_iter()
            .map(|(policy, history)| (policy.to_string(), history.clone()))
            .collect();
        if histories.is_empty() {
            self.saved.histories.remove(&group);
        } else {
            self.saved.histories.insert(group.clone(), histories);
        }
        self.state_dirty = true;
        let Some(slot) = self.slots.get_mut(&group) else {
            return;
        };
        if slot.removed {
            self.slots.remove(&group);
            return;
        }
        slot.next_due = next_due(slot.next_due, slot.interval(), Instant::now());
        slot.evaluator = Some(match slot.replacement.take() {
            Some(policy) => replaced(evaluator, &policy),
            None => evaluator,
        });
    }

    fn save_state(&mut self) {
        let alerts = self.ops.saved_alerts();
        if alerts != self.saved.alerts {
            self.saved.alerts = alerts;
            self.state_dirty = true;
        }
        if !self.state_dirty {
            return;
        }
        match self.store.save(&self.saved) {
            Ok(()) => self.state_dirty = false,
            Err(e) => tracing::error!(error = %e, "cannot save the state"),
        }
    }

    /// SIGHUP: valid files replace their targets' policies, new files add
    /// targets, deleted files remove them; a broken file keeps its target's
    /// old policy. The decisions log is reopened.
    async fn reload(&mut self) {
        self.ops.reloading();
        self.reload_policies().await;
        self.declare_targets();
        self.ops.ready();
    }

    /// Reads every group's own scaling policies and scheduled actions (one
    /// batched read per region, at start and reload) and warns about each
    /// group that has some: two controllers on one group fight. A failed
    /// read keeps what was read before.
    async fn read_own_scaling(&mut self) {
        let mut by_key: HashMap<ClientKey, Vec<String>> = HashMap::new();
        for (group, slot) in &self.slots {
            by_key
                .entry(slot.client_key(&self.config.accounts))
                .or_default()
                .push(group.clone());
        }
        for (key, groups) in by_key {
            self.ensure_clients(key.clone()).await;
            let actuator = self.clients[&key].actuator.clone();
            let found = match actuator.own_scaling(&groups).await {
                Ok(found) => found,
                Err(e) => {
                    tracing::warn!(error = %e, clients = %key.describe(), "cannot read the groups' own scaling policies: keeping what was read before");
                    continue;
                }
            };
            for group in groups {
                let Some(slot) = self.slots.get_mut(&group) else {
                    continue;
                };
                slot.conflicts = found.get(&group).cloned().unwrap_or_default();
                if !slot.conflicts.is_empty() {
                    let action = match slot.policy.file.target.on_conflicting_policies {
                        ConflictAction::Warn => "warn: ebb acts anyway",
                        ConflictAction::Refuse => "refuse: ebb does not act on it",
                    };
                    tracing::warn!(
                        target_group = %group,
                        own_scaling = %slot.conflicts.join(", "),
                        on_conflicting_policies = action,
                        "the group has scaling policies or scheduled actions of its own: two controllers on one group fight"
                    );
                }
            }
        }
    }

    /// Tells health which targets exist and how often they are evaluated.
    fn declare_targets(&mut self) {
        let targets: Vec<(String, Duration)> = self
            .slots
            .iter()
            .map(|(group, slot)| (group.clone(), slot.interval()))
            .collect();
        self.ops.set_targets(&targets);
    }

    async fn reload_policies(&mut self) {
        if let Err(e) = self.log.reopen() {
            tracing::error!(error = %e, path = %self.log.path().display(), "cannot reopen the decisions log");
        }
        let mut contents = match read_dir(&self.config.policy_dir) {
            Ok(contents) => contents,
            Err(e) => {
                tracing::error!(error = %e, "reload failed: keeping every policy");
                let dir = self.config.policy_dir.display().to_string();
                let failure = ReloadFailure {
                    target: None,
                    error: e.to_string(),
                };
                for slot in self.slots.values_mut() {
                    slot.reload_failed = Some(failure.record(&dir));
                }
                self.ops.policy_reload(&BTreeMap::from([(dir, failure)]));
                return;
            }
        };
        contents.refuse_unknown_accounts(&self.config.accounts);
        let failures: BTreeMap<String, ReloadFailure> = contents
            .invalid
            .iter()
            .map(|(path, errors)| {
                let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
                let target = self
                    .slots
                    .values()
                    .find(|s| s.policy.path == *path)
                    .map(|s| s.policy.file.target.group.clone());
                let failure = ReloadFailure {
                    target,
                    error: errors.join("; "),
                };
                (path.display().to_string(), failure)
            })
            .collect();
        for (group, slot) in self.slots.iter_mut() {
            slot.reload_failed = failures
                .iter()
                .find(|(_, f)| f.target.as_ref() == Some(group))
                .map(|(file, f)| f.record(file));
        }
        self.ops.policy_reload(&failures);
        for errors in contents.invalid.values() {
            for e in errors {
                tracing::error!(
                    file = %e.file.display(),
                    field = e.field.as_deref().unwrap_or(""),
                    error = %e,
                    "reload: invalid policy file, keeping its target's old policy"
                );
            }
        }
        let (added, changed, removed) = self.merge(contents).await;
        self.read_own_scaling().await;
        tracing::info!(
            added,
            changed,
            removed,
            targets = self.slots.len(),
            "policies reloaded"
        );
    }

    async fn merge(&mut self, contents: DirContents) -> (usize, usize, usize) {
        let DirContents { mut valid, invalid } = contents;
        let (mut added, mut changed, mut removed) = (0, 0, 0);
        let groups: Vec<String> = self.slots.keys().cloned().collect();
        for group in groups {
            let slot = self.slots.get_mut(&group).expect("listed above");
            if invalid.contains_key(&slot.policy.path) {
                continue; // broken now: the old policy stays
            }
            match valid.remove(&group) {
                Some(policy) => {
                    slot.removed = false;
                    if policy != slot.policy {
                        changed += 1;
                        slot.policy = policy.clone();
                        match slot.evaluator.take() {
                            Some(evaluator) => slot.evaluator = Some(replaced(evaluator, &policy)),
                            None => slot.replacement = Some(policy),
                        }
                    }
                }
                None => {
                    removed += 1;
                    if slot.evaluator.is_some() {
                        self.slots.remove(&group);
                    } else {
                        slot.removed = true;
                    }
                }
            }
        }
        for (group, policy) in valid {
            added += 1;
            let key = ClientKey::of(&policy.file.target, &self.config.accounts);
            self.ensure_clients(key).await;
            let evaluator = evaluator_for(&policy, &self.saved);
            let next_due = Instant::now() + self.jitter();
            self.slots
                .insert(group, Slot::new(policy, evaluator, next_due));
        }
        (added, changed, removed)
    }
}

/// When a target evaluated for `due` is next due: the first point after
/// `now` on its grid of intervals, so it keeps its phase (and its batch
/// companions), and an evaluation that ran past whole intervals is not made
/// up for with a burst.
fn next_due(due: Instant, interval: Duration, now: Instant) -> Instant {
    let next = due + interval;
    if next > now || interval.is_zero() {
        return next;
    }
    let behind = now.duration_since(next).as_nanos();
    let skip = behind / interval.as_nanos() + 1;
    next + interval * u32::try_from(skip).unwrap_or(u32::MAX)
}

/// A new evaluator for a changed policy, keeping the target's governor state
/// so a reload does not reset cooldowns (a reload that makes a dry-run
/// policy active drops its hypothetical state at the first live decision).
fn replaced(old: TargetEvaluator, policy: &LoadedPolicy) -> TargetEvaluator {
    let mut evaluator = policy.evaluator();
    evaluator.restore_memory(old.memory().clone());
    for (name, history) in old.histories() {
        // A policy renamed or removed by the reload has no use for it.
        let _ = evaluator.restore_history(name, history.clone());
    }
    evaluator
}

/// A new evaluator for a target, with what was saved after its last
/// evaluation (governor state, load histories).
fn evaluator_for(policy: &LoadedPolicy, saved: &SavedState) -> TargetEvaluator {
    let group = &policy.file.target.group;
    let mut evaluator = policy.evaluator();
    restore_histories(&mut evaluator, saved.histories.get(group));
    if let Some(memory) = saved.memory(group) {
        evaluator.restore_memory(memory);
    }
    evaluator
}

/// Puts saved load histories back into a target's predictive policies.
fn restore_histories(
    evaluator: &mut TargetEvaluator,
    saved: Option<&BTreeMap<String, crate::forecast::history::LoadHistory>>,
) {
    for (policy, history) in saved.into_iter().flatten() {
        if let Err(e) = evaluator.restore_history(policy, history.clone()) {
            tracing::warn!(target_group = %evaluator.name(), error = %e, "saved history not restored");
        }
    }
}

/// Every decision also goes through tracing, as one event.
fn emit(record: &DecisionRecord) {
    let json = serde_json::to_string(record).unwrap_or_default();
    if let Some(error) = record.outcome.error() {
        tracing::warn!(target: "ebb::decision", group = %record.target, action = ?record.action, desired = record.desired, error, decision = %json, "{}", record.reason);
    } else if record.action != Action::Hold {
        tracing::info!(target: "ebb::decision", group = %record.target, action = ?record.action, desired = record.desired, applied = record.outcome.is_applied(), dry_run = record.outcome.is_dry_run(), decision = %json, "{}", record.reason);
    } else {
        tracing::debug!(target: "ebb::decision", group = %record.target, decision = %json, "{}", record.reason);
    }
}

/// Joins the leader election: the lease table (created when asked to), and
/// the task keeping the lease. The instance starts as a standby.
async fn start_election(
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

    #[test]
    fn a_late_evaluation_skips_to_the_next_point_of_its_grid() {
        let start = Instant::now();
        let minute = Duration::from_secs(60);
        // On time: one interval on.
        assert_eq!(
            next_due(start, minute, start + Duration::from_secs(5)),
            start + minute
        );
        // 150s late: not at once, but at the grid's next point (180s).
        assert_eq!(
            next_due(start, minute, start + Duration::from_secs(150)),
            start + Duration::from_secs(180)
        );
        // Exactly on a grid point: the one after.
        assert_eq!(next_due(start, minute, start + minute), start + minute * 2);
    }
}
