//! The engine: runs every rule on every record and turns each condition
//! into alert events (fire once, repeat while it holds, resolve when it
//! clears), remembering per (rule, target) what is firing.

use super::conditions::{Condition, evaluate};
use super::validate::{Rule, RuleKind};
use crate::alert::{AlertConfigError, AlertEvent, AlertStatus, AlertsConfig};
use crate::decision::{Action, DecisionRecord, ReloadFailedRecord};
use crate::error_kind::ErrorKind;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

/// What a rule remembers about one target; saved in the daemon's state file
/// so a restart neither fires again what was firing nor forgets to resolve it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// When the current run of the condition started (stale, pinned).
    pub(super) since: Option<DateTime<Utc>>,
    /// Consecutive evaluations the condition held (stale).
    pub(super) count: u32,
    /// Recent scale-out/scale-in decisions (flapping).
    pub(super) moves: VecDeque<(DateTime<Utc>, Action)>,
    firing: Option<Firing>,
    /// policy-reload-failed, kept by file: the target that file's policy
    /// is for, so the alert's `target` label is the group name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
}

/// A policy file that failed to load on reload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReloadFailure {
    /// The target whose old policy stays in force, when the file had one.
    pub target: Option<String>,
    /// The loader's error, file and line included.
    pub error: String,
}

impl ReloadFailure {
    /// What a record of the target carries (and `/healthz` says) until it is fixed.
    pub fn record(&self, file: &str) -> ReloadFailedRecord {
        ReloadFailedRecord {
            file: file.to_string(),
            error: self.error.clone(),
        }
    }
}

/// The label naming the policy file of a `policy-reload-failed` alert.
pub const POLICY_FILE_LABEL: &str = "policy_file";

/// The label naming the kind of failure of an `api-call-failed` alert
/// (`throttled`, `access-denied`...).
pub const ERROR_KIND_LABEL: &str = "error_kind";

/// The label naming the `[accounts]` entry of a target reached through one.
pub const ACCOUNT_LABEL: &str = "account";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Firing {
    /// api-call-failed: the kind of the failure that fired it, kept as the
    /// `error_kind` label until it resolves (Alertmanager matches the
    /// resolve to the alert by its labels).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_kind: Option<ErrorKind>,
    starts_at: DateTime<Utc>,
    last_sent: DateTime<Utc>,
    summary: String,
    description: String,
}

/// Saved rule state: by rule name, then target (or policy file).
pub type SavedAlerts = BTreeMap<String, BTreeMap<String, Track>>;

/// Runs every rule on every record and remembers what is firing.
pub struct RuleEngine {
    rules: Vec<Rule>,
    repeat_interval: chrono::Duration,
    /// Keyed by (rule index, target).
    tracks: HashMap<(usize, String), Track>,
}

impl RuleEngine {
    /// An engine over validated `rules`, sending a still-firing alert again every
    /// `repeat_interval`.
    pub fn new(rules: Vec<Rule>, repeat_interval: Duration) -> RuleEngine {
        RuleEngine {
            rules,
            repeat_interval: crate::clock::to_chrono(repeat_interval),
            tracks: HashMap::new(),
        }
    }

    /// Validates every rule of the `[alerts]` section; names must be unique.
    pub fn from_config(config: &AlertsConfig) -> Result<RuleEngine, AlertConfigError> {
        let mut rules: Vec<Rule> = Vec::with_capacity(config.rules.len());
        for (index, rc) in config.rules.iter().enumerate() {
            let rule = Rule::from_config(index, rc)?;
            if rules.iter().any(|r| r.name == rule.name) {
                return Err(AlertConfigError::Rule {
                    index,
                    kind: rc.kind.as_str().to_string(),
                    message: format!(
                        "name `{}` is used by another rule; give each rule a unique `name`",
                        rule.name
                    ),
                });
            }
            rules.push(rule);
        }
        Ok(RuleEngine::new(rules, config.repeat_interval))
    }

    /// The rules the engine evaluates, in config order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// What every rule remembers, by rule name then target, to save.
    pub fn saved(&self) -> SavedAlerts {
        let mut saved = SavedAlerts::new();
        for ((index, target), track) in &self.tracks {
            if *track == Track::default() {
                continue;
            }
            saved
                .entry(self.rules[*index].name.clone())
                .or_default()
                .insert(target.clone(), track.clone());
        }
        saved
    }

    /// Takes back what was saved, matching rules by name; what a rule that
    /// is no longer configured remembered is dropped.
    pub fn restore(&mut self, saved: &SavedAlerts) {
        for (index, rule) in self.rules.iter().enumerate() {
            for (target, track) in saved.get(&rule.name).into_iter().flatten() {
                self.tracks.insert((index, target.clone()), track.clone());
            }
        }
    }

    /// Evaluates every rule on a live record and returns the events due.
    /// Shadow and standby records are never acted on, so they raise nothing.
    pub fn observe(&mut self, record: &DecisionRecord) -> Vec<AlertEvent> {
        if !record.role.is_live() {
            return Vec::new();
        }
        let mut events = Vec::new();
        for index in 0..self.rules.len() {
            let rule = &self.rules[index];
            if rule.kind == RuleKind::PolicyReloadFailed || !rule.watches(&record.target) {
                continue;
            }
            let track = self
                .tracks
                .entry((index, record.target.clone()))
                .or_default();
            let condition = evaluate(rule.kind, track, record);
            let error_kind = match rule.kind {
                RuleKind::ApiCallFailed { .. } => record.outcome.error_kind(),
                _ => None,
            };
            if let Some(mut event) = step(
                rule,
                &record.target,
                track,
                (condition, error_kind),
                record.time,
                self.repeat_interval,
            ) {
                if let Some(account) = &record.account {
                    event
                        .labels
                        .insert(ACCOUNT_LABEL.to_string(), account.clone());
                }
                events.push(event);
            }
        }
        events
    }

    /// Forgets targets that are no longer evaluated (their policy file was
    /// removed): what was firing for them resolves now, since no record
    /// will ever clear it.
    pub fn retain_targets(&mut self, at: DateTime<Utc>, targets: &[String]) -> Vec<AlertEvent> {
        let gone: Vec<(usize, String)> = self
            .tracks
            .keys()
            .filter(|(index, target)| {
                self.rules[*index].kind != RuleKind::PolicyReloadFailed && !targets.contains(target)
            })
            .cloned()
            .collect();
        let mut events = Vec::new();
        for key in gone {
            let mut track = self.tracks.remove(&key).expect("listed above");
            let rule = &self.rules[key.0];
            if let Some(event) = step(
                rule,
                &key.1,
                &mut track,
                (Condition::Clear, None),
                at,
                self.repeat_interval,
            ) {
                events.push(event);
            }
        }
        events.sort_by(|a, b| (&a.rule, &a.target).cmp(&(&b.rule, &b.target)));
        events
    }

    /// Evaluates the policy-reload rules: `failures` maps each policy file
    /// that failed to its error; files that were failing and are not in it
    /// now loaded, and their alerts resolve. Each alert's `target` is the
    /// group the file's policy is for (the file itself when it has none
    /// yet), and the file is in the `policy_file` label.
    pub fn policy_reload(
        &mut self,
        at: DateTime<Utc>,
        failures: &BTreeMap<String, ReloadFailure>,
    ) -> Vec<AlertEvent> {
        let mut events = Vec::new();
        for index in 0..self.rules.len() {
            let rule = &self.rules[index];
            if rule.kind != RuleKind::PolicyReloadFailed {
                continue;
            }
            let mut files: Vec<String> = self
                .tracks
                .iter()
                .filter(|((i, _), t)| *i == index && t.firing.is_some())
                .map(|((_, file), _)| file.clone())
                .collect();
            files.extend(failures.keys().cloned());
            files.sort();
            files.dedup();
            for file in files {
                let track = self.tracks.entry((index, file.clone())).or_default();
                let condition = match failures.get(&file) {
                    Some(failure) => {
                        track.group = failure.target.clone();
                        let kept = match &failure.target {
                            Some(group) => format!("the old policy of {group} stays in force"),
                            None => "no policy of it is in force".to_string(),
                        };
                        Condition::Holds {
                            summary: format!("{file}: policy reload failed, {kept}"),
                            description: failure.error.clone(),
                        }
                    }
                    None => Condition::Clear,
                };
                let target = track.group.clone().unwrap_or_else(|| file.clone());
                if let Some(mut event) = step(
                    rule,
                    &target,
                    track,
                    (condition, None),
                    at,
                    self.repeat_interval,
                ) {
                    event
                        .labels
                        .insert(POLICY_FILE_LABEL.to_string(), file.clone());
                    events.push(event);
                }
            }
        }
        events
    }
}

/// Moves one (rule, target) along: fire, repeat, resolve or nothing. The
/// condition comes with the kind of the failure it saw, if any.
fn step(
    rule: &Rule,
    target: &str,
    track: &mut Track,
    (condition, error_kind): (Condition, Option<ErrorKind>),
    at: DateTime<Utc>,
    repeat_interval: chrono::Duration,
) -> Option<AlertEvent> {
    let event = |status, firing: &Firing, repeat, ends_at| AlertEvent {
        status,
        rule: rule.name.clone(),
        target: target.to_string(),
        severity: rule.severity,
        labels: {
            let mut labels = rule.labels.clone();
            if let Some(kind) = firing.error_kind {
                labels.insert(ERROR_KIND_LABEL.to_string(), kind.to_string());
            }
            labels
        },
        summary: firing.summary.clone(),
        description: firing.description.clone(),
        starts_at: firing.starts_at,
        ends_at,
        at,
        repeat,
    };
    match (condition, track.firing.as_mut()) {
        (
            Condition::Holds {
                summary,
                description,
            },
            None,
        ) => {
            let firing = Firing {
                error_kind,
                starts_at: track.since.unwrap_or(at),
                last_sent: at,
                summary,
                description,
            };
            let e = event(AlertStatus::Firing, &firing, false, None);
            track.firing = Some(firing);
            Some(e)
        }
        (
            Condition::Holds {
                summary,
                description,
            },
            Some(firing),
        ) => {
            firing.summary = summary;
            firing.description = description;
            if at - firing.last_sent >= repeat_interval {
                firing.last_sent = at;
                Some(event(AlertStatus::Firing, firing, true, None))
            } else {
                None
            }
        }
        (Condition::Clear, Some(_)) => {
            let firing = track.firing.take().expect("matched Some");
            Some(event(AlertStatus::Resolved, &firing, false, Some(at)))
        }
        (Condition::Clear, None) => None,
    }
}
