//! Restoring a target's state: from the state saved after its last
//! evaluation, or, with none saved, its last scaling from the group's
//! activity history on AWS; and keeping it across a policy reload.

use super::accounts::{Accounts, ClientKey};
use super::aws::RegionClients;
use super::policies::LoadedPolicy;
use super::run::Daemon;
use super::state::SavedState;
use crate::actuator::activity_history::DEFAULT_LOOK_BACK;
use crate::actuator::autoscaling::AutoScalingActuator;
use crate::evaluator::TargetEvaluator;
use crate::governor::GovernorState;
use crate::governor_memory::GovernorMemory;
use crate::policy_file::PolicyFile;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinSet;

impl Daemon {
    /// With no saved state for a target, the last scaling time comes from the
    /// group's activity history, so a fresh state dir does not reset
    /// cooldowns: one read per account and region for all their groups
    /// (one account-wide call for many, see
    /// [`crate::actuator::activity_history`]).
    pub(super) async fn reconstruct_states(
        &self,
        files: &[&PolicyFile],
        have_state_file: bool,
    ) -> HashMap<String, GovernorState> {
        let mut by_client: HashMap<ClientKey, Vec<String>> = HashMap::new();
        for file in files {
            let key = ClientKey::of(&file.target, &self.config.accounts);
            by_client
                .entry(key)
                .or_default()
                .push(file.target.group.clone());
        }
        let mut tasks = JoinSet::new();
        for (key, groups) in by_client {
            let actuator = self.clients[&key].actuator.clone();
            let limit = Arc::clone(&self.restore_limit);
            tasks.spawn(async move {
                last_scaling_states(&actuator, groups, &limit, have_state_file).await
            });
        }
        let mut states = HashMap::new();
        while let Some(joined) = tasks.join_next().await {
            if let Ok(read) = joined {
                states.extend(read);
            }
        }
        states
    }

    /// Shard mode: targets with no saved state whose shards this instance
    /// did not hold at start are restored only when they first come here
    /// (held or warm), so N hosts do not each read every group's activity
    /// history. The groups that came in one dispatch are read together, per
    /// account and region (a shard hand-over of 1,000 groups is one
    /// account-wide read). Their evaluators leave their slots for the read
    /// (so they are not evaluated meanwhile) and come back through
    /// [`Daemon::restored`].
    pub(super) fn restore_later(&mut self, groups: Vec<String>) {
        let mut by_client: HashMap<ClientKey, (AutoScalingActuator, Vec<TargetEvaluator>)> =
            HashMap::new();
        for group in groups {
            let Some(slot) = self.slots.get_mut(&group) else {
                continue;
            };
            let Some(evaluator) = slot.evaluator.take() else {
                continue;
            };
            slot.unrestored = false;
            let key = slot.client_key(&self.config.accounts);
            let Some(clients) = self.clients.get(&key) else {
                slot.evaluator = Some(evaluator);
                continue;
            };
            by_client
                .entry(key)
                .or_insert_with(|| (clients.actuator.clone(), Vec::new()))
                .1
                .push(*evaluator);
        }
        for (actuator, evaluators) in by_client.into_values() {
            let limit = Arc::clone(&self.restore_limit);
            let have_state_file = self.have_state_file;
            self.restoring.spawn(async move {
                let groups = evaluators.iter().map(|e| e.name().to_string()).collect();
                let mut states: HashMap<String, GovernorState> =
                    last_scaling_states(&actuator, groups, &limit, have_state_file)
                        .await
                        .into_iter()
                        .collect();
                evaluators
                    .into_iter()
                    .map(|evaluator| {
                        let state = states.remove(evaluator.name()).unwrap_or_default();
                        Restored { evaluator, state }
                    })
                    .collect()
            });
        }
    }

    /// Takes back an evaluator [`Daemon::restore_later`] sent off, with the
    /// group's last scaling, and makes it due at once.
    pub(super) fn restored(&mut self, restored: Restored) {
        let Restored {
            mut evaluator,
            state,
        } = restored;
        let group = evaluator.name().to_string();
        let Some(slot) = self.slots.get_mut(&group) else {
            return;
        };
        if slot.removed {
            self.slots.remove(&group);
            return;
        }
        evaluator.restore_memory(GovernorMemory::new(state, None));
        slot.evaluator = Some(Box::new(match slot.replacement.take() {
            Some(policy) => replaced(evaluator, &policy),
            None => evaluator,
        }));
        slot.next_due = tokio::time::Instant::now();
    }
}

/// Tells the target's actuator how far back its group's activity history
/// matters ([`history_look_back`]). Takes the daemon's fields, not the
/// daemon, so a reload can call it with a slot borrowed.
pub(super) fn tell_look_back(
    clients: &HashMap<ClientKey, RegionClients>,
    accounts: &Accounts,
    policy: &LoadedPolicy,
) {
    let key = ClientKey::of(&policy.file.target, accounts);
    if let Some(clients) = clients.get(&key) {
        clients
            .actuator
            .set_look_back(&policy.file.target.group, history_look_back(&policy.file));
    }
}

/// An evaluator back from [`Daemon::restore_later`], and the state read.
pub(super) struct Restored {
    evaluator: TargetEvaluator,
    state: GovernorState,
}

/// How many reads of activity histories (each for one account and region's
/// groups) run at once: enough to start quickly with many accounts without
/// bursting into the API's rate limits.
pub(super) const RESTORES_AT_ONCE: usize = 8;

/// How far back a target's activity history can matter: its longest
/// cooldown or warm-up. Where the policy takes the group's own
/// DefaultCooldown or DefaultInstanceWarmup, not known before the group's
/// first look, at least [`DEFAULT_LOOK_BACK`]: a scaling or a launch older
/// than that has no cooldown or warm-up left (unless the group's default is
/// longer than an hour).
pub(super) fn history_look_back(file: &PolicyFile) -> Duration {
    let governor = &file.governor;
    let allowance = DEFAULT_LOOK_BACK.to_std().unwrap_or(Duration::ZERO);
    let from_group = |written: Duration, taken: bool| {
        if taken {
            written.max(allowance)
        } else {
            written
        }
    };
    governor
        .scale_out_cooldown
        .max(from_group(
            governor.scale_in_cooldown,
            file.group_defaults.scale_in_cooldown,
        ))
        .max(from_group(governor.warmup, file.group_defaults.warmup))
}

/// A governor state per group holding its last scaling from its activity
/// history (none when it has none or it cannot be read), so a fresh state
/// directory does not reset cooldowns.
async fn last_scaling_states(
    actuator: &crate::actuator::autoscaling::AutoScalingActuator,
    groups: Vec<String>,
    limit: &tokio::sync::Semaphore,
    have_state_file: bool,
) -> Vec<(String, GovernorState)> {
    let _permit = limit.acquire().await;
    let read = actuator.last_scalings(groups, chrono::Utc::now()).await;
    read.into_iter()
        .map(|(group, answer)| {
            let mut state = GovernorState::default();
            match answer {
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
            (group, state)
        })
        .collect()
}

/// A new evaluator for a changed policy, keeping the target's governor state
/// so a reload does not reset cooldowns (a reload that makes a dry-run
/// policy active drops its hypothetical state at the first live decision).
pub(super) fn replaced(old: TargetEvaluator, policy: &LoadedPolicy) -> TargetEvaluator {
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
pub(super) fn evaluator_for(policy: &LoadedPolicy, saved: &SavedState) -> TargetEvaluator {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_file::load::parse_str;
    use std::path::Path;

    fn file(governor: &str) -> PolicyFile {
        let text = format!(
            "[target]\ngroup = \"web\"\nmin_capacity = 1\nmax_capacity = 4\n\
             [metrics.cpu.source.cloudwatch]\nnamespace = \"AWS/EC2\"\nmetric_name = \"CPUUtilization\"\n\
             statistic = \"Average\"\nperiod = \"1m\"\n\
             [[policies]]\nkind = \"target-tracking\"\nname = \"cpu\"\nmetric = \"cpu\"\ntarget = 50.0\n\
             [governor]\n{governor}\n"
        );
        parse_str(&text, Path::new("web.toml")).unwrap()
    }

    #[test]
    fn the_look_back_is_the_longest_cooldown_or_warm_up() {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        let written = "scale_out_cooldown = \"20m\"\nscale_in_cooldown = \"3m\"\nwarmup = \"7m\"";
        assert_eq!(history_look_back(&file(written)), minutes(20));
        let written = "scale_out_cooldown = \"1m\"\nscale_in_cooldown = \"3m\"\nwarmup = \"7m\"";
        assert_eq!(history_look_back(&file(written)), minutes(7));
        // Taken from the group (unknown until its first look): an hour.
        let warmup_from_group = "scale_out_cooldown = \"1m\"\nscale_in_cooldown = \"3m\"";
        assert_eq!(history_look_back(&file(warmup_from_group)), minutes(60));
        let long = "scale_out_cooldown = \"3h\"";
        assert_eq!(history_look_back(&file(long)), minutes(180));
    }
}
