//! Scheduling: when each target is due, handing the due ones to batches,
//! and taking each evaluation back when it is done (a panicked one
//! replaced by a fresh evaluator).

use super::accounts::{self, ClientKey};
use super::batch::{Done, Finished, Report, run_batch};
use super::policies::LoadedPolicy;
use super::restore::{evaluator_for, replaced};
use super::run::Daemon;
use super::shard_lease::ShardRole;
use crate::decision::ReloadFailedRecord;
use crate::evaluator::TargetEvaluator;
use chrono::Utc;
use rand::Rng;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// One target as the daemon keeps it.
pub(super) struct Slot {
    pub(super) policy: LoadedPolicy,
    /// `None` while an evaluation of this target is in flight. Boxed: it
    /// travels with its evaluation (batch, task, report) as a pointer, and
    /// the slot does not keep its room (hundreds of bytes) meanwhile.
    pub(super) evaluator: Option<Box<TargetEvaluator>>,
    /// A reloaded policy to swap in when the evaluation in flight returns.
    pub(super) replacement: Option<LoadedPolicy>,
    /// Removed from the policy directory while in flight: drop on return.
    pub(super) removed: bool,
    /// Why the last reload of this target's policy file failed (the old
    /// policy stays): a notice on each of its records until a reload works.
    pub(super) reload_failed: Option<ReloadFailedRecord>,
    pub(super) next_due: Instant,
    /// The group's own scaling policies and scheduled actions, as last read
    /// (at start and reload).
    pub(super) conflicts: Vec<String>,
    /// Shard mode: no saved state, and its last scaling not read yet (its
    /// shard was not here at start); read when it first comes here.
    pub(super) unrestored: bool,
}

impl Slot {
    pub(super) fn new(
        policy: LoadedPolicy,
        evaluator: TargetEvaluator,
        next_due: Instant,
    ) -> Box<Slot> {
        Box::new(Slot {
            policy,
            evaluator: Some(Box::new(evaluator)),
            replacement: None,
            removed: false,
            reload_failed: None,
            next_due,
            conflicts: Vec::new(),
            unrestored: false,
        })
    }

    pub(super) fn interval(&self) -> Duration {
        self.policy.file.target.interval
    }

    pub(super) fn client_key(&self, accounts: &accounts::Accounts) -> ClientKey {
        ClientKey::of(&self.policy.file.target, accounts)
    }
}

impl Daemon {
    pub(super) fn jitter(&self) -> Duration {
        let max = self.config.jitter.as_millis() as u64;
        if max == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::rng().random_range(0..=max))
    }

    /// Starts a batch (per account and region) for every idle target due
    /// now or within the batch window.
    pub(super) async fn dispatch_due(&mut self) {
        let horizon = Instant::now() + self.config.batch_window;
        let started = Instant::now();
        let mut batches: HashMap<ClientKey, Vec<(Box<TargetEvaluator>, Report)>> = HashMap::new();
        let leader = self.election.as_ref().map(|e| e.handle.clone());
        // How soon another host's target is looked at again: a shard that
        // comes here (a host killed, a rebalance) is evaluated within one
        // renew interval, not one target interval, later.
        let idle_recheck = self
            .config
            .leader_election
            .as_ref()
            .map(|settings| settings.renew_interval);
        let mut arrived = Vec::new();
        for slot in self.slots.values_mut() {
            if slot.next_due > horizon {
                continue;
            }
            // Shard mode: another host's target is looked at again soon, in
            // case its shard has come here by then.
            if let Some(leader) = &leader
                && slot.evaluator.is_some()
                && leader.role(&slot.policy.file.target.group) == ShardRole::Idle
            {
                let recheck = idle_recheck.map_or(slot.interval(), |r| r.min(slot.interval()));
                slot.next_due = next_due(slot.next_due, recheck, Instant::now());
                continue;
            }
            // Its shard came here: its last scaling first, then evaluated.
            if slot.unrestored && slot.evaluator.is_some() {
                arrived.push(slot.policy.file.target.group.clone());
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
        if !arrived.is_empty() {
            self.restore_later(arrived);
        }
        for (key, targets) in batches {
            self.ensure_clients(key.clone()).await;
            let clients = self.clients[&key].clone();
            self.in_flight += targets.len();
            tokio::spawn(run_batch(
                clients,
                targets,
                self.dry_run,
                leader.clone(),
                Arc::clone(&self.unwritten),
            ));
        }
    }

    /// Takes an evaluation back, finished or lost to a panic.
    pub(super) fn finish(&mut self, finished: Finished) {
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

    /// An evaluation that panicked: its evaluator went down with it. A new
    /// one is built from the target's current policy (a reload that came
    /// meanwhile included) and the state saved after its last evaluation;
    /// the failure is recorded, and the target is tried again next interval.
    pub(super) fn finish_panicked(&mut self, group: &str, message: String, took: Duration) {
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
        slot.evaluator = Some(Box::new(evaluator));
    }

    /// Takes a finished evaluation back: log, state, evaluator home.
    pub(super) fn finish_done(&mut self, done: Done) {
        let Done {
            evaluator,
            mut records,
            took,
            place,
        } = done;
        self.write_records(&mut records, took);
        // Written: another evaluation may finish.
        drop(place);
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
            Some(policy) => Box::new(replaced(*evaluator, &policy)),
            None => evaluator,
        });
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
