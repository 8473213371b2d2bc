//! SIGHUP: re-reading the policy directory (a broken file keeps its
//! target's old policy), reopening the decisions log, and re-reading the
//! groups' own scaling policies.

use super::accounts::ClientKey;
use super::policies::{DirContents, read_dir};
use super::restore::{evaluator_for, replaced, tell_look_back};
use super::run::Daemon;
use super::schedule::Slot;
use crate::alert::ReloadFailure;
use crate::policy_file::ConflictAction;
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use tokio::time::Instant;

impl Daemon {
    /// SIGHUP: valid files replace their targets' policies, new files add
    /// targets, deleted files remove them; a broken file keeps its target's
    /// old policy. The decisions log is reopened.
    pub(super) async fn reload(&mut self) {
        self.ops.reloading();
        self.reload_policies().await;
        self.declare_targets();
        self.ops.ready();
    }

    /// Reads every group's own scaling policies and scheduled actions (one
    /// batched read per region, at start and reload) and warns about each
    /// group that has some: two controllers on one group fight. A failed
    /// read keeps what was read before.
    pub(super) async fn read_own_scaling(&mut self) {
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
    pub(super) fn declare_targets(&mut self) {
        let targets: Vec<(String, Duration)> = self
            .slots
            .iter()
            .map(|(group, slot)| (group.clone(), slot.interval()))
            .collect();
        self.ops.set_targets(&targets);
    }

    pub(super) async fn reload_policies(&mut self) {
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

    pub(super) async fn merge(&mut self, contents: DirContents) -> (usize, usize, usize) {
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
                        tell_look_back(&self.clients, &self.config.accounts, &policy);
                        slot.policy = policy.clone();
                        match slot.evaluator.take() {
                            Some(evaluator) => {
                                slot.evaluator = Some(Box::new(replaced(*evaluator, &policy)))
                            }
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
            tell_look_back(&self.clients, &self.config.accounts, &policy);
            let evaluator = evaluator_for(&policy, &self.saved);
            let next_due = Instant::now() + self.jitter();
            self.slots
                .insert(group, Slot::new(policy, evaluator, next_due));
        }
        (added, changed, removed)
    }
}
