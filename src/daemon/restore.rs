//! Restoring a target's state: from the state saved after its last
//! evaluation, or, with none saved, its last scaling from the group's
//! activity history on AWS; and keeping it across a policy reload.

use super::accounts::ClientKey;
use super::policies::LoadedPolicy;
use super::run::Daemon;
use super::state::SavedState;
use crate::evaluator::TargetEvaluator;
use crate::few_at_once::FewAtOnce;
use crate::governor::GovernorState;
use crate::governor_memory::GovernorMemory;
use crate::policy_file::PolicyFile;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

impl Daemon {
    /// With no saved state for a target, the last scaling time comes from the
    /// group's activity history, so a fresh state dir does not reset
    /// cooldowns. [`RESTORES_AT_ONCE`] groups are read at once.
    pub(super) async fn reconstruct_states(
        &self,
        files: &[&PolicyFile],
        have_state_file: bool,
    ) -> HashMap<String, GovernorState> {
        // The shared limit still holds with shard mode's later reads in
        // flight; spawning only as many as it lets run keeps the waiting
        // ones' futures unallocated (10,000 groups at start).
        let mut tasks = FewAtOnce::new(RESTORES_AT_ONCE, files, |file| {
            let key = ClientKey::of(&file.target, &self.config.accounts);
            let actuator = self.clients[&key].actuator.clone();
            let group = file.target.group.clone();
            let limit = Arc::clone(&self.restore_limit);
            async move {
                let state = last_scaling_state(&actuator, &group, &limit, have_state_file).await;
                (group, state)
            }
        });
        let mut states = HashMap::new();
        while let Some(joined) = tasks.next().await {
            if let Ok((group, state)) = joined {
                states.insert(group, state);
            }
        }
        states
    }

    /// Shard mode: a target with no saved state whose shard this instance
    /// did not hold at start is restored only when it first comes here (held
    /// or warm), so N hosts do not each read every group's activity history.
    /// Its evaluator leaves the slot for the read (so it is not evaluated
    /// meanwhile) and comes back through [`Daemon::restored`].
    pub(super) fn restore_later(&mut self, group: &str) {
        let Some(slot) = self.slots.get_mut(group) else {
            return;
        };
        let Some(evaluator) = slot.evaluator.take() else {
            return;
        };
        slot.unrestored = false;
        let key = slot.client_key(&self.config.accounts);
        let Some(clients) = self.clients.get(&key) else {
            slot.evaluator = Some(evaluator);
            return;
        };
        let actuator = clients.actuator.clone();
        let limit = Arc::clone(&self.restore_limit);
        let have_state_file = self.have_state_file;
        self.restoring.spawn(async move {
            let group = evaluator.name().to_string();
            let state = last_scaling_state(&actuator, &group, &limit, have_state_file).await;
            Restored { evaluator, state }
        });
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
        slot.evaluator = Some(match slot.replacement.take() {
            Some(policy) => replaced(evaluator, &policy),
            None => evaluator,
        });
        slot.next_due = tokio::time::Instant::now();
    }
}

/// An evaluator back from [`Daemon::restore_later`], and the state read.
pub(super) struct Restored {
    evaluator: TargetEvaluator,
    state: GovernorState,
}

/// How many groups' activity histories are read at once: enough to start
/// quickly without bursting into the API's rate limits.
pub(super) const RESTORES_AT_ONCE: usize = 8;

/// A governor state holding the group's last scaling from its activity
/// history (none when it has none or cannot be read), so a fresh state
/// directory does not reset cooldowns.
async fn last_scaling_state(
    actuator: &crate::actuator::autoscaling::AutoScalingActuator,
    group: &str,
    limit: &tokio::sync::Semaphore,
    have_state_file: bool,
) -> GovernorState {
    let _permit = limit.acquire().await;
    let mut state = GovernorState::default();
    match actuator.last_scaling(group).await {
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
    state
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
