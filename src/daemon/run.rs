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
//! Stopping: [`Daemon::run`] takes the future that says when to stop
//! (`ebb run` passes [`stop_signals`], SIGTERM or SIGINT; tests pass a
//! channel): scheduling stops, the evaluations in flight are waited for,
//! the state is saved and `run` returns. SIGHUP re-reads the policy
//! directory (a broken file keeps that target's old policy) and reopens the
//! decisions log.
//!
//! The state file is written off this loop ([`super::saver`]), at most once
//! a second, the latest snapshot each time.
//!
//! Every record also goes to [`Operations`]: alert rules, ebb's own metrics
//! and health, and systemd (READY=1 before the first tick, STATUS=, and a
//! heartbeat each time the loop goes round for the watchdog).

use super::accounts::ClientKey;
use super::aws::{RegionClients, account_clients_with_metrics};
use super::batch::Finished;
use super::config::DaemonConfig;
use super::decisions_log::DecisionsLog;
use super::leader::Election;
use super::ops::Operations;
use super::restore::Restored;
use super::saver::StateSaver;
use super::schedule::Slot;
use super::state::SavedState;
use super::state_lock::StateDirLock;
use anyhow::Context;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// The daemon.
pub struct Daemon {
    pub(super) config: DaemonConfig,
    pub(super) dry_run: bool,
    /// Boxed: a slot is hundreds of bytes, and the map's B-tree nodes,
    /// half full, held room for eleven each.
    pub(super) slots: BTreeMap<String, Box<Slot>>,
    pub(super) clients: HashMap<ClientKey, RegionClients>,
    pub(super) log: DecisionsLog,
    /// Writes the state file off the loop.
    pub(super) saver: StateSaver,
    pub(super) saved: SavedState,
    pub(super) state_dirty: bool,
    pub(super) in_flight: usize,
    pub(super) tx: mpsc::UnboundedSender<Finished>,
    pub(super) rx: mpsc::UnboundedReceiver<Finished>,
    pub(super) ops: Operations,
    /// With leader election on: acts only while holding the lease.
    pub(super) election: Option<Election>,
    /// Which instance writes the records: the election's holder id, or
    /// `host:pid`.
    pub(super) instance: String,
    /// Held for the daemon's life: one daemon per state directory.
    pub(super) _state_lock: StateDirLock,
    /// Whether a state file was found at start (for the restore logs).
    pub(super) have_state_file: bool,
    /// Bounds the activity-history reads (one per account and region's
    /// groups) in flight at once.
    pub(super) restore_limit: Arc<tokio::sync::Semaphore>,
    /// Bounds the evaluations whose records are not written yet
    /// ([`super::batch::UNWRITTEN_AT_ONCE`]).
    pub(super) unwritten: Arc<tokio::sync::Semaphore>,
    /// Shard mode: evaluators away reading their groups' last scaling
    /// ([`Daemon::restore_later`]).
    pub(super) restoring: JoinSet<Vec<Restored>>,
}

impl Daemon {
    /// Runs until `shutdown` completes, then finishes the evaluations in
    /// flight, saves the state and returns.
    pub async fn run(mut self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let mut sighup = signal(SignalKind::hangup()).context("cannot watch SIGHUP")?;
        // Proof of life for the systemd watchdog even when no target is due.
        let mut heartbeat = tokio::time::interval(Duration::from_secs(1));
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.ops.ready();
        let mut shutdown = std::pin::pin!(shutdown);
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
                Some(joined) = self.restoring.join_next(), if !self.restoring.is_empty() => {
                    match joined {
                        Ok(restored) => restored.into_iter().for_each(|r| self.restored(r)),
                        Err(e) => tracing::error!(error = %e, "reading a group's last scaling failed"),
                    }
                }
                _ = sighup.recv() => self.reload().await,
                _ = &mut shutdown => { tracing::info!("stopping: finishing evaluations in flight"); break; }
            }
        }
        while self.in_flight > 0 {
            match self.rx.recv().await {
                Some(done) => self.finish(done),
                None => break,
            }
        }
        self.save_state();
        self.saver.finish().await;
        if let Some(election) = self.election.take() {
            // After the last evaluation: a standby may act from now on.
            election.stop().await;
        }
        self.ops.shutdown().await;
        tracing::info!("ebb daemon stopped");
        Ok(())
    }

    /// The clients of an account and region, made when first needed.
    pub(super) async fn ensure_clients(&mut self, key: ClientKey) {
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

    /// Hands the state to the saver when it changed since it was last
    /// handed over (alert state included).
    pub(super) fn save_state(&mut self) {
        let alerts = self.ops.saved_alerts();
        if alerts != self.saved.alerts {
            self.saved.alerts = alerts;
            self.state_dirty = true;
        }
        if !self.state_dirty {
            return;
        }
        self.saver.save(&self.saved);
        self.state_dirty = false;
    }
}

/// Completes at the first SIGTERM or SIGINT: when `ebb run` stops. The
/// handlers are installed at once, so a signal that comes before the
/// future is first polled is not lost.
pub fn stop_signals() -> anyhow::Result<impl Future<Output = ()>> {
    let mut sigterm = signal(SignalKind::terminate()).context("cannot watch SIGTERM")?;
    let mut sigint = signal(SignalKind::interrupt()).context("cannot watch SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = sigterm.recv() => tracing::info!("SIGTERM"),
            _ = sigint.recv() => tracing::info!("SIGINT"),
        }
    })
}
