//! Restoring a target's state: from the state saved after its last
//! evaluation, or, with none saved, its last scaling from the group's
//! activity history on AWS; and keeping it across a policy reload.

use super::accounts::ClientKey;
use super::policies::LoadedPolicy;
use super::run::Daemon;
use super::state::SavedState;
use crate::evaluator::TargetEvaluator;
use crate::governor::GovernorState;
use crate::policy_file::PolicyFile;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

impl Daemon {
    /// With no saved state for a target, the last scaling time comes from the
    /// group's activity history, so a fresh state dir does not reset
    /// cooldowns. A few groups are read at once, to start quickly without
    /// bursting into the API's rate limits.
    pub(super) async fn reconstruct_states(
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
