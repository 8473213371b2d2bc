//! Alert rules: each looks at every live decision record of the targets it
//! watches and says whether its condition holds; the [`RuleEngine`] turns
//! that into events: fire once, repeat at an interval while the condition
//! holds, resolve when it clears.
//!
//! Pure: the record's time is the only clock, so replaying a decisions log
//! gives the same alerts.

use super::{AlertConfigError, AlertEvent, AlertStatus, AlertsConfig, Severity};
use crate::decision::{
    Action, DecisionRecord, Event, MetricStatus, Recommendation, ReloadFailedRecord,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

/// A rule as written in `[[alerts.rules]]`; validated into a [`Rule`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    pub kind: RuleKindName,
    /// Defaults to the kind; must be unique (it is `alertname` in Alertmanager).
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub severity: Severity,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Targets the rule watches; empty means all.
    #[serde(default)]
    pub targets: Vec<String>,
    /// metric-stale: fire when stale for more than this many evaluations in a row.
    #[serde(default)]
    pub evaluations: Option<u32>,
    /// pinned-at-max: fire when at max capacity for this long.
    #[serde(default, rename = "for", with = "crate::duration::option")]
    pub for_duration: Option<Duration>,
    /// flapping: fire on more than this many direction changes within `window`.
    #[serde(default)]
    pub changes: Option<u32>,
    #[serde(default, with = "crate::duration::option")]
    pub window: Option<Duration>,
}

/// The rule kinds, as spelled in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKindName {
    ApiCallFailed,
    MetricStale,
    PinnedAtMax,
    ForecastAboveMax,
    Flapping,
    ExternalChange,
    PolicyReloadFailed,
    EvaluationPanicked,
    GroupSuspended,
    ConflictingPolicies,
    GroupDeleted,
}

impl RuleKindName {
    pub fn as_str(self) -> &'static str {
        match self {
            RuleKindName::ApiCallFailed => "api-call-failed",
            RuleKindName::MetricStale => "metric-stale",
            RuleKindName::PinnedAtMax => "pinned-at-max",
            RuleKindName::ForecastAboveMax => "forecast-above-max",
            RuleKindName::Flapping => "flapping",
            RuleKindName::ExternalChange => "external-change",
            RuleKindName::PolicyReloadFailed => "policy-reload-failed",
            RuleKindName::EvaluationPanicked => "evaluation-panicked",
            RuleKindName::GroupSuspended => "group-suspended",
            RuleKindName::ConflictingPolicies => "conflicting-policies",
            RuleKindName::GroupDeleted => "group-deleted",
        }
    }
}

/// What a rule watches for, with exactly the parameters that kind needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// The Auto Scaling API call (describe or set) failed.
    ApiCallFailed,
    /// Some metric was stale or missing for more than `evaluations` evaluations in a row.
    MetricStale { evaluations: u32 },
    /// Capacity at max, with policies asking for max or more, for `duration`.
    PinnedAtMax { duration: Duration },
    /// A predictive policy forecasts a need above max capacity.
    ForecastAboveMax,
    /// More than `changes` scale-out/scale-in reversals within `window`.
    Flapping { changes: u32, window: Duration },
    /// Someone else changed the group's desired capacity.
    ExternalChange,
    /// A policy file failed to load on reload (the old policy stays).
    PolicyReloadFailed,
    /// A target's evaluation panicked (a bug in ebb): capacity was kept.
    EvaluationPanicked,
    /// Some of the group's processes have been suspended for `duration`.
    GroupSuspended { duration: Duration },
    /// The group has scaling policies or scheduled actions of its own.
    ConflictingPolicies,
    /// The group does not exist (any more) or is being deleted.
    GroupDeleted,
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub kind: RuleKind,
    pub severity: Severity,
    pub labels: BTreeMap<String, String>,
    pub targets: Vec<String>,
}

impl Rule {
    /// Checks that the rule has the parameters its kind needs and no others.
    pub fn from_config(index: usize, config: &RuleConfig) -> Result<Rule, AlertConfigError> {
        let kind_name = config.kind.as_str();
        let err = |message: String| AlertConfigError::Rule {
            index,
            kind: kind_name.to_string(),
            message,
        };
        let given: [(&str, bool); 4] = [
            ("evaluations", config.evaluations.is_some()),
            ("for", config.for_duration.is_some()),
            ("changes", config.changes.is_some()),
            ("window", config.window.is_some()),
        ];
        let needs: &[&str] = match config.kind {
            RuleKindName::MetricStale => &["evaluations"],
            RuleKindName::PinnedAtMax | RuleKindName::GroupSuspended => &["for"],
            RuleKindName::Flapping => &["changes", "window"],
            _ => &[],
        };
        for (field, present) in given {
            match (needs.contains(&field), present) {
                (true, false) => return Err(err(format!("`{field}` is required for this kind"))),
                (false, true) => return Err(err(format!("`{field}` does not apply to this kind"))),
                _ => {}
            }
        }
        let kind = match config.kind {
            RuleKindName::ApiCallFailed => RuleKind::ApiCallFailed,
            RuleKindName::MetricStale => RuleKind::MetricStale {
                evaluations: config.evaluations.unwrap_or_default(),
            },
            RuleKindName::PinnedAtMax => {
                let duration = config.for_duration.unwrap_or_default();
                if duration.is_zero() {
                    return Err(err("`for` must be longer than zero".into()));
                }
                RuleKind::PinnedAtMax { duration }
            }
            RuleKindName::ForecastAboveMax => RuleKind::ForecastAboveMax,
            RuleKindName::Flapping => {
                let window = config.window.unwrap_or_default();
                if window.is_zero() {
                    return Err(err("`window` must be longer than zero".into()));
                }
                RuleKind::Flapping {
                    changes: config.changes.unwrap_or_default(),
                    window,
                }
            }
            RuleKindName::ExternalChange => RuleKind::ExternalChange,
            RuleKindName::PolicyReloadFailed => RuleKind::PolicyReloadFailed,
            RuleKindName::EvaluationPanicked => RuleKind::EvaluationPanicked,
            RuleKindName::GroupSuspended => {
                let duration = config.for_duration.unwrap_or_default();
                if duration.is_zero() {
                    return Err(err("`for` must be longer than zero".into()));
                }
                RuleKind::GroupSuspended { duration }
            }
            RuleKindName::ConflictingPolicies => RuleKind::ConflictingPolicies,
            RuleKindName::GroupDeleted => RuleKind::GroupDeleted,
        };
        let name = config.name.clone().unwrap_or_else(|| kind_name.to_string());
        if name.is_empty() {
            return Err(err("`name` must not be empty".into()));
        }
        for key in config.labels.keys() {
            if !valid_label_name(key) {
                return Err(err(format!(
                    "label `{key}` is not a valid label name (letters, digits and _, not starting with a digit)"
                )));
            }
            if matches!(
                key.as_str(),
                "alertname" | "target" | "severity" | POLICY_FILE_LABEL | ACCOUNT_LABEL
            ) {
                return Err(err(format!(
                    "label `{key}` is set by ebb and cannot be overridden"
                )));
            }
        }
        Ok(Rule {
            name,
            kind,
            severity: config.severity,
            labels: config.labels.clone(),
            targets: config.targets.clone(),
        })
    }

    fn watches(&self, target: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|t| t == target)
    }
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// What a rule saw in one record.
enum Condition {
    Holds {
        summary: String,
        description: String,
    },
    Clear,
}

/// What a rule remembers about one target; saved in the daemon's state file
/// so a restart neither fires again what was firing nor forgets to resolve it.
#[derive(Debug, Default, Clone, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// When the current run of the condition started (stale, pinned).
    since: Option<DateTime<Utc>>,
    /// Consecutive evaluations the condition held (stale).
    count: u32,
    /// Recent scale-out/scale-in decisions (flapping).
    moves: VecDeque<(DateTime<Utc>, Action)>,
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

/// The label naming the `[accounts]` entry of a target reached through one.
pub const ACCOUNT_LABEL: &str = "account";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Firing {
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
            if let Some(mut event) = step(
                rule,
                &record.target,
                track,
                condition,
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
                Condition::Clear,
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
                if let Some(mut event) =
                    step(rule, &target, track, condition, at, self.repeat_interval)
                {
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

/// Moves one (rule, target) along: fire, repeat, resolve or nothing.
fn step(
    rule: &Rule,
    target: &str,
    track: &mut Track,
    condition: Condition,
    at: DateTime<Utc>,
    repeat_interval: chrono::Duration,
) -> Option<AlertEvent> {
    let event = |status, firing: &Firing, repeat, ends_at| AlertEvent {
        status,
        rule: rule.name.clone(),
        target: target.to_string(),
        severity: rule.severity,
        labels: rule.labels.clone(),
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

/// Whether a rule's condition holds for this record, updating what the rule
/// remembers about the target.
fn evaluate(kind: RuleKind, track: &mut Track, record: &DecisionRecord) -> Condition {
    let target = &record.target;
    match kind {
        // A panic is not an API failure: `evaluation-panicked` reports it.
        RuleKind::ApiCallFailed => match record.outcome.error() {
            Some(error) if record.panicked.is_none() => Condition::Holds {
                summary: format!(
                    "{target}: Auto Scaling API call failed, capacity kept at {}",
                    record.capacity.desired
                ),
                description: error.to_string(),
            },
            _ => Condition::Clear,
        },
        RuleKind::EvaluationPanicked => match &record.panicked {
            Some(message) => Condition::Holds {
                summary: format!(
                    "{target}: evaluation panicked, capacity kept at {}",
                    record.capacity.desired
                ),
                description: format!(
                    "{message}; a bug in ebb: the target is retried each interval"
                ),
            },
            None => Condition::Clear,
        },
        RuleKind::MetricStale { evaluations } => metric_stale(evaluations, track, record),
        RuleKind::PinnedAtMax { duration } => pinned_at_max(duration, track, record),
        RuleKind::ForecastAboveMax => match forecast_above_max(record) {
            Some(description) => Condition::Holds {
                summary: format!(
                    "{target}: forecast needs more than max capacity {}",
                    record.max_capacity
                ),
                description,
            },
            None => Condition::Clear,
        },
        RuleKind::Flapping { changes, window } => flapping(changes, window, track, record),
        RuleKind::ExternalChange => external_change(record),
        RuleKind::PolicyReloadFailed => Condition::Clear,
        RuleKind::GroupSuspended { duration } => group_suspended(duration, track, record),
        RuleKind::ConflictingPolicies => conflicting_policies(record),
        RuleKind::GroupDeleted => group_deleted(record),
    }
}

/// The `external-change` condition.
fn external_change(record: &DecisionRecord) -> Condition {
    let target = &record.target;
    let notices: Vec<String> = record
        .all_events()
        .filter(|e| matches!(e, Event::ExternalChange { .. }))
        .filter_map(Event::notice)
        .collect();
    if notices.is_empty() {
        Condition::Clear
    } else {
        Condition::Holds {
            summary: format!("{target}: desired capacity changed outside ebb"),
            description: notices.join("; "),
        }
    }
}

/// The `conflicting-policies` condition.
fn conflicting_policies(record: &DecisionRecord) -> Condition {
    let target = &record.target;
    match record.group.as_ref().map(|g| &g.conflicting_policies) {
        Some(own) if !own.is_empty() => Condition::Holds {
            summary: format!("{target}: the group has scaling of its own"),
            description: format!(
                "{}; two controllers on one group fight{}",
                own.join(", "),
                if record.group.as_ref().is_some_and(|g| !g.blocks.is_empty()) {
                    ": ebb does not act (on_conflicting_policies = refuse)"
                } else {
                    ""
                }
            ),
        },
        _ => Condition::Clear,
    }
}

/// The `group-deleted` condition.
fn group_deleted(record: &DecisionRecord) -> Condition {
    let target = &record.target;
    let status = record.group.as_ref().and_then(|g| g.status.as_deref());
    let missing = record
        .all_events()
        .any(|e| *e == Event::GroupNotFound)
        .then(|| record.outcome.error().unwrap_or("not found"));
    match (status, missing) {
        (Some(status), _) => Condition::Holds {
            summary: format!("{target}: the group is being deleted"),
            description: format!("Status = {status}; ebb holds it"),
        },
        (None, Some(error)) => Condition::Holds {
            summary: format!("{target}: the group does not exist"),
            description: format!("{error}; ebb holds until it appears"),
        },
        (None, None) => Condition::Clear,
    }
}

/// The `metric-stale` condition.
fn metric_stale(evaluations: u32, track: &mut Track, record: &DecisionRecord) -> Condition {
    let target = &record.target;
    let bad: Vec<String> = record
        .metrics
        .iter()
        .filter(|m| m.status != MetricStatus::Ok)
        .map(|m| {
            let status = match m.status {
                MetricStatus::Stale => "stale",
                MetricStatus::Missing => "missing",
                MetricStatus::Ok => "ok",
            };
            match m.age_s {
                Some(age) => format!("{} ({status}, last datapoint {age}s old)", m.name),
                None => format!("{} ({status})", m.name),
            }
        })
        .collect();
    if bad.is_empty() {
        track.count = 0;
        track.since = None;
        return Condition::Clear;
    }
    track.count += 1;
    track.since.get_or_insert(record.time);
    if track.count > evaluations {
        Condition::Holds {
            summary: format!(
                "{target}: metrics stale for {} evaluations in a row",
                track.count
            ),
            description: format!(
                "{}; ebb holds capacity and will not scale in",
                bad.join(", ")
            ),
        }
    } else {
        Condition::Clear
    }
}

/// The `pinned-at-max` condition.
fn pinned_at_max(duration: Duration, track: &mut Track, record: &DecisionRecord) -> Condition {
    let target = &record.target;
    let wanted = record
        .policies
        .iter()
        .filter_map(|p| match p.recommendation {
            Recommendation::Capacity(c) => Some(c),
            _ => None,
        })
        .max();
    let pinned =
        record.desired >= record.max_capacity && wanted.is_some_and(|w| w >= record.max_capacity);
    if !pinned {
        track.since = None;
        return Condition::Clear;
    }
    let since = *track.since.get_or_insert(record.time);
    let held = record.time - since;
    if held.to_std().unwrap_or_default() >= duration {
        Condition::Holds {
            summary: format!(
                "{target}: pinned at max capacity {} for {}",
                record.max_capacity,
                humantime::format_duration(Duration::from_secs(held.num_seconds().max(0) as u64))
            ),
            description: format!(
                "policies ask for up to {} instances; demand exceeds what the policy allows (max_capacity {})",
                wanted.unwrap_or_default(),
                record.max_capacity
            ),
        }
    } else {
        Condition::Clear
    }
}

/// The `flapping` condition.
fn flapping(
    changes: u32,
    window: Duration,
    track: &mut Track,
    record: &DecisionRecord,
) -> Condition {
    let target = &record.target;
    let window = crate::clock::to_chrono(window);
    if record.action != Action::Hold && record.outcome.error().is_none() {
        track.moves.push_back((record.time, record.action));
    }
    while track
        .moves
        .front()
        .is_some_and(|(t, _)| record.time - *t > window)
    {
        track.moves.pop_front();
    }
    let reversals = track
        .moves
        .iter()
        .zip(track.moves.iter().skip(1))
        .filter(|(a, b)| a.1 != b.1)
        .count() as u32;
    if reversals > changes {
        Condition::Holds {
            summary: format!(
                "{target}: flapping, {reversals} direction changes within {}",
                humantime::format_duration(window.to_std().unwrap_or_default())
            ),
            description: format!(
                "{} scaling decisions in the window; consider a longer stabilization window or cooldowns",
                track.moves.len()
            ),
        }
    } else {
        Condition::Clear
    }
}

/// The `group-suspended` condition.
fn group_suspended(duration: Duration, track: &mut Track, record: &DecisionRecord) -> Condition {
    let target = &record.target;
    let suspended = record
        .group
        .as_ref()
        .map(|g| g.suspended.clone())
        .unwrap_or_default();
    if suspended.is_empty() {
        track.since = None;
        return Condition::Clear;
    }
    let since = *track.since.get_or_insert(record.time);
    let held = record.time - since;
    if held.to_std().unwrap_or_default() < duration {
        return Condition::Clear;
    }
    let blocks = record.group.as_ref().map(|g| &g.blocks);
    let blocked: Vec<&str> = blocks
        .into_iter()
        .flat_map(|b| [b.scale_out.as_deref(), b.scale_in.as_deref()])
        .flatten()
        .collect();
    Condition::Holds {
        summary: format!(
            "{target}: processes suspended on the group for {}: {}",
            humantime::format_duration(Duration::from_secs(held.num_seconds().max(0) as u64)),
            suspended.join(", ")
        ),
        description: if blocked.is_empty() {
            "ebb still acts: none of them stops it".into()
        } else {
            format!("ebb holds: {}", blocked.join("; "))
        },
    }
}

/// The forecasts above max capacity a record's events report: a predictive
/// policy's forecast that max was not raised for, or a raise the group's own
/// max did not allow.
fn forecast_above_max(record: &DecisionRecord) -> Option<String> {
    let mut found = Vec::new();
    for policy in &record.policies {
        for event in &policy.events {
            if let Event::ForecastAboveMax {
                forecast_capacity,
                max_capacity,
            } = event
            {
                found.push(format!(
                    "policy `{}` forecasts {forecast_capacity} instances > max {max_capacity}: {}",
                    policy.name, policy.reason
                ));
            }
        }
    }
    for event in &record.events {
        if let Event::GroupMaxBinds { .. } = event {
            found.extend(event.notice());
        }
    }
    (!found.is_empty()).then(|| found.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{
        MetricRecord, ObservedCapacity, Outcome, PolicyKind, PolicyRecord, Role,
    };
    use crate::evaluator::tests::{COOLDOWNS, group, policy_file};
    use crate::evaluator::{TargetEvaluator, Unavailable};
    use crate::governor_memory::Run;

    fn failed(error: &str) -> Outcome {
        Outcome::Failed {
            error: error.into(),
        }
    }
    use crate::governor::GovernorState;
    use chrono::TimeZone;

    fn t(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap() + chrono::Duration::minutes(min)
    }

    fn record(min: i64, desired: u32, action: Action) -> DecisionRecord {
        DecisionRecord {
            time: t(min),
            target: "web".into(),
            v: crate::decision::RecordVersion,
            role: Role::Live,
            min_capacity: 2,
            max_capacity: 10,
            capacity: ObservedCapacity {
                desired,
                in_service: desired,
                warming: 0,
            },
            metrics: vec![MetricRecord {
                name: "cpu".into(),
                status: MetricStatus::Ok,
                raw: Some(50.0),
                smoothed: Some(50.0),
                age_s: Some(60),
                notes: vec![],
                detail: None,
            }],
            policies: vec![PolicyRecord {
                name: "cpu-target".into(),
                kind: PolicyKind::TargetTracking,
                recommendation: Recommendation::Capacity(desired),
                reason: "r".into(),
                detail: None,
                events: vec![],
            }],
            steps: vec![],
            desired,
            action,
            reason: "because".into(),
            governor_state: GovernorState::default(),
            outcome: if action == Action::Hold {
                Outcome::Held
            } else {
                Outcome::Applied
            },
            events: vec![],
            notices: vec![],
            panicked: None,
            instance: None,
            reload_failed: None,
            account: None,
            group: None,
        }
    }

    fn engine(toml_rules: &str) -> RuleEngine {
        let config: AlertsConfig =
            toml::from_str(&format!("repeat_interval = \"30m\"\n{toml_rules}")).unwrap();
        RuleEngine::from_config(&config).unwrap()
    }

    fn statuses(events: &[AlertEvent]) -> Vec<(AlertStatus, bool)> {
        events.iter().map(|e| (e.status, e.repeat)).collect()
    }

    #[test]
    fn a_target_of_a_named_account_alerts_with_the_account_label() {
        let mut e = engine("[[rules]]\nkind = \"api-call-failed\"");
        let mut r = record(0, 4, Action::Hold);
        r.outcome = failed("cannot assume arn:aws:iam::222222222222:role/ebb");
        r.account = Some("staging".into());
        let fired = e.observe(&r);
        assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
        assert_eq!(fired[0].labels[ACCOUNT_LABEL], "staging");
        let config: AlertsConfig =
            toml::from_str("[[rules]]\nkind = \"api-call-failed\"\nlabels = { account = \"x\" }")
                .unwrap();
        let refused = RuleEngine::from_config(&config)
            .err()
            .expect("reserved label");
        assert!(refused.to_string().contains("set by ebb"), "{refused}");
    }

    #[test]
    fn api_failure_fires_once_repeats_after_interval_and_resolves() {
        let mut e = engine(
            "[[rules]]\nkind = \"api-call-failed\"\nseverity = \"critical\"\nlabels = { team = \"web\" }",
        );
        let failed = |min| {
            let mut r = record(min, 4, Action::ScaleOut);
            r.outcome = failed("SetDesiredCapacity failed: throttled");
            r
        };
        let fired = e.observe(&failed(0));
        assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
        assert_eq!(fired[0].severity, Severity::Critical);
        assert_eq!(fired[0].labels["team"], "web");
        assert!(fired[0].description.contains("throttled"));
        assert!(
            e.observe(&failed(1)).is_empty(),
            "no repeat before the interval"
        );
        assert!(e.observe(&failed(29)).is_empty());
        assert_eq!(
            statuses(&e.observe(&failed(30))),
            vec![(AlertStatus::Firing, true)]
        );
        assert!(e.observe(&failed(31)).is_empty());
        let resolved = e.observe(&record(32, 4, Action::Hold));
        assert_eq!(statuses(&resolved), vec![(AlertStatus::Resolved, false)]);
        assert_eq!(resolved[0].starts_at, t(0));
        assert_eq!(resolved[0].ends_at, Some(t(32)));
        assert!(e.observe(&record(33, 4, Action::Hold)).is_empty());
    }

    #[test]
    fn group_suspended_fires_after_its_duration_and_says_what_ebb_holds() {
        let mut e = engine("[[rules]]\nkind = \"group-suspended\"\nfor = \"10m\"");
        let suspended = |min| {
            let mut r = record(min, 4, Action::Hold);
            r.group = Some(crate::decision::GroupRecord {
                suspended: vec!["Launch".into()],
                blocks: crate::decision::ScalingBlocks {
                    scale_out: Some("process Launch suspended on the group".into()),
                    scale_in: None,
                },
                ..Default::default()
            });
            r
        };
        assert!(e.observe(&suspended(0)).is_empty());
        assert!(e.observe(&suspended(9)).is_empty());
        let fired = e.observe(&suspended(10));
        assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
        assert!(
            fired[0].summary.contains("for 10m: Launch"),
            "{}",
            fired[0].summary
        );
        assert_eq!(
            fired[0].description,
            "ebb holds: process Launch suspended on the group"
        );
        let resolved = e.observe(&record(11, 4, Action::Hold));
        assert_eq!(statuses(&resolved), vec![(AlertStatus::Resolved, false)]);
        let missing_for = toml::from_str::<AlertsConfig>("[[rules]]\nkind = \"group-suspended\"");
        assert!(RuleEngine::from_config(&missing_for.unwrap()).is_err());
    }

    #[test]
    fn conflicting_policies_and_a_deleted_group_fire_and_resolve() {
        let mut e = engine(
            "[[rules]]\nkind = \"conflicting-policies\"\n[[rules]]\nkind = \"group-deleted\"",
        );
        let mut own = record(0, 4, Action::Hold);
        own.group = Some(crate::decision::GroupRecord {
            conflicting_policies: vec!["policy cpu (TargetTrackingScaling)".into()],
            ..Default::default()
        });
        let fired = e.observe(&own);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].rule, "conflicting-policies");
        assert!(fired[0].description.contains("policy cpu"));
        let mut deleting = record(1, 4, Action::Hold);
        deleting.group = Some(crate::decision::GroupRecord {
            status: Some("Delete in progress".into()),
            ..Default::default()
        });
        let fired = e.observe(&deleting);
        let rules: Vec<(&str, AlertStatus)> =
            fired.iter().map(|e| (e.rule.as_str(), e.status)).collect();
        assert_eq!(
            rules,
            [
                ("conflicting-policies", AlertStatus::Resolved),
                ("group-deleted", AlertStatus::Firing)
            ]
        );
        let mut gone = record(2, 4, Action::Hold);
        gone.outcome = failed("Auto Scaling group `web` not found");
        // An error's wording is no event: with the status gone, it resolves.
        assert_eq!(
            statuses(&e.observe(&gone)),
            vec![(AlertStatus::Resolved, false)]
        );
        let mut fresh = engine(
            "[[rules]]\nkind = \"conflicting-policies\"\n[[rules]]\nkind = \"group-deleted\"",
        );
        assert!(fresh.observe(&gone).is_empty(), "no event, no alert");
        // The record the evaluator writes for a group that does not exist.
        let gone = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS)).unavailable(
            t(3),
            &crate::series::FetchResults::new(),
            Unavailable::NotFound,
        );
        let fired = fresh.observe(&gone);
        assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
        assert_eq!(fired[0].summary, "web: the group does not exist");
        assert!(
            fired[0].description.contains("`web` not found"),
            "{fired:?}"
        );
        let resolved = fresh.observe(&record(4, 4, Action::Hold));
        assert_eq!(statuses(&resolved), vec![(AlertStatus::Resolved, false)]);
    }

    #[test]
    fn a_panicked_evaluation_fires_its_own_kind_not_api_call_failed() {
        let mut e = engine(
            "[[rules]]\nkind = \"api-call-failed\"\n[[rules]]\nkind = \"evaluation-panicked\"",
        );
        let mut panicked = record(0, 4, Action::Hold);
        panicked.outcome = failed("evaluation panicked: overflow");
        panicked.panicked = Some("overflow".into());
        let fired = e.observe(&panicked);
        assert_eq!(fired.len(), 1, "{fired:?}");
        assert_eq!(fired[0].rule, "evaluation-panicked");
        assert_eq!(fired[0].status, AlertStatus::Firing);
        assert!(fired[0].description.contains("overflow"));
        // The next evaluation that runs resolves it.
        let resolved = e.observe(&record(1, 4, Action::Hold));
        assert_eq!(resolved.len(), 1);
        assert_eq!(resolved[0].status, AlertStatus::Resolved);
    }

    #[test]
    fn saved_state_carries_what_is_firing_to_a_new_engine_by_rule_name() {
        let rules = "[[rules]]\nkind = \"api-call-failed\"\n[[rules]]\nkind = \"external-change\"";
        let mut before = engine(rules);
        let mut throttled = record(0, 4, Action::ScaleOut);
        throttled.outcome = failed("SetDesiredCapacity failed: throttled");
        assert_eq!(before.observe(&throttled).len(), 1);
        let saved = before.saved();
        // Through the state file's JSON and back.
        let saved: SavedAlerts =
            serde_json::from_str(&serde_json::to_string(&saved).unwrap()).unwrap();
        assert!(saved["api-call-failed"].contains_key("web"), "{saved:?}");

        // The same rule, now second in the list: matched by name.
        let mut after =
            engine("[[rules]]\nkind = \"external-change\"\n[[rules]]\nkind = \"api-call-failed\"");
        after.restore(&saved);
        assert!(after.observe(&throttled).is_empty(), "not fired again");
        let resolved = after.observe(&record(1, 4, Action::Hold));
        assert_eq!(statuses(&resolved), vec![(AlertStatus::Resolved, false)]);
        assert_eq!(resolved[0].starts_at, t(0));

        // A rule no longer configured: what it remembered is dropped.
        let mut other = engine("[[rules]]\nkind = \"external-change\"");
        other.restore(&saved);
        assert!(other.saved().is_empty(), "{:?}", other.saved());
    }

    #[test]
    fn stale_fires_only_after_more_than_n_evaluations() {
        let mut e = engine("[[rules]]\nkind = \"metric-stale\"\nevaluations = 3");
        let stale = |min| {
            let mut r = record(min, 4, Action::Hold);
            r.metrics[0].status = MetricStatus::Stale;
            r.metrics[0].age_s = Some(900);
            r
        };
        for m in 0..3 {
            assert!(e.observe(&stale(m)).is_empty(), "evaluation {m}");
        }
        let fired = e.observe(&stale(3));
        assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
        assert_eq!(
            fired[0].starts_at,
            t(0),
            "starts when the metric went stale"
        );
        assert!(
            fired[0]
                .description
                .contains("cpu (stale, last datapoint 900s old)")
        );
        assert_eq!(
            statuses(&e.observe(&record(4, 4, Action::Hold))),
            vec![(AlertStatus::Resolved, false)]
        );
        // The count restarts after a good evaluation.
        assert!(e.observe(&stale(5)).is_empty());
    }

    #[test]
    fn pinned_at_max_needs_the_duration_and_demand() {
        let mut e = engine("[[rules]]\nkind = \"pinned-at-max\"\nfor = \"10m\"");
        let pinned = |min| {
            let mut r = record(min, 10, Action::Hold);
            r.policies[0].recommendation = Recommendation::Capacity(14);
            r
        };
        assert!(e.observe(&pinned(0)).is_empty());
        assert!(e.observe(&pinned(9)).is_empty());
        let fired = e.observe(&pinned(10));
        assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
        assert!(
            fired[0]
                .summary
                .contains("pinned at max capacity 10 for 10m"),
            "{}",
            fired[0].summary
        );
        assert!(fired[0].description.contains("up to 14"));
        // At max but nobody asks for max any more: clears.
        let mut calm = record(11, 10, Action::Hold);
        calm.policies[0].recommendation = Recommendation::Capacity(6);
        assert_eq!(
            statuses(&e.observe(&calm)),
            vec![(AlertStatus::Resolved, false)]
        );
    }

    #[test]
    fn flapping_counts_direction_changes_within_the_window() {
        let mut e = engine("[[rules]]\nkind = \"flapping\"\nchanges = 2\nwindow = \"30m\"");
        assert!(e.observe(&record(0, 5, Action::ScaleOut)).is_empty());
        assert!(e.observe(&record(5, 4, Action::ScaleIn)).is_empty());
        assert!(e.observe(&record(6, 4, Action::Hold)).is_empty());
        assert!(e.observe(&record(10, 5, Action::ScaleOut)).is_empty());
        let fired = e.observe(&record(15, 4, Action::ScaleIn));
        assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
        assert!(fired[0].summary.contains("3 direction changes within 30m"));
        // Two moves in the same direction are not a reversal; old moves age out.
        assert!(e.observe(&record(20, 3, Action::ScaleIn)).is_empty());
        assert_eq!(
            statuses(&e.observe(&record(44, 3, Action::Hold))),
            vec![(AlertStatus::Resolved, false)]
        );
    }

    /// A predictive policy's record whose forecast of `capacity` is above
    /// the record's max 10, with or without the event saying so.
    fn predictive(capacity: u32, event: bool) -> PolicyRecord {
        PolicyRecord {
            name: "daily".into(),
            kind: PolicyKind::Predictive,
            recommendation: Recommendation::Capacity(10),
            reason: format!("... -> {capacity}, capped at max 10"),
            detail: Some(serde_json::json!({"forecast_capacity": capacity, "capacity": capacity})),
            events: if event {
                vec![Event::ForecastAboveMax {
                    forecast_capacity: capacity,
                    max_capacity: 10,
                }]
            } else {
                vec![]
            },
        }
    }

    #[test]
    fn forecast_above_max_fires_on_the_policys_event_only() {
        let mut e = engine("[[rules]]\nkind = \"forecast-above-max\"");
        let mut r = record(0, 10, Action::Hold);
        r.policies.push(predictive(12, true));
        let fired = e.observe(&r);
        assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
        assert!(
            fired[0]
                .description
                .starts_with("policy `daily` forecasts 12 instances > max 10: "),
            "{}",
            fired[0].description
        );
        // The same figures without the event: nothing reads the detail.
        r.policies[1] = predictive(12, false);
        r.time = t(1);
        assert_eq!(
            statuses(&e.observe(&r)),
            vec![(AlertStatus::Resolved, false)]
        );
        // The group's max binding a raise for the forecast counts too.
        r.events.push(Event::GroupMaxBinds {
            asked: 14,
            group_max: 10,
        });
        r.time = t(2);
        let fired = e.observe(&r);
        assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
        assert_eq!(
            fired[0].description,
            "forecast asks max capacity raised to 14; the group's max is 10"
        );
    }

    /// The predictive policy itself emits the event the rule matches: with
    /// max 4 and a forecast of about 10 instances, the rule fires on the
    /// record the policy writes.
    #[test]
    fn forecast_above_max_fires_on_the_predictive_policys_own_record() {
        let capped = crate::policy::predictive::tests::forecast_above_max_record();
        assert!(
            capped.events.iter().any(|e| matches!(
                e,
                Event::ForecastAboveMax {
                    max_capacity: 4,
                    ..
                }
            )),
            "{capped:?}"
        );
        let mut e = engine("[[rules]]\nkind = \"forecast-above-max\"");
        let mut r = record(0, 4, Action::Hold);
        r.max_capacity = 4;
        r.policies = vec![capped];
        let fired = e.observe(&r);
        assert_eq!(statuses(&fired), vec![(AlertStatus::Firing, false)]);
        assert!(fired[0].description.contains("> max 4"), "{fired:?}");
    }

    #[test]
    fn external_change_and_policy_reload() {
        let mut e = engine(
            "[[rules]]\nkind = \"external-change\"\n[[rules]]\nkind = \"policy-reload-failed\"\nseverity = \"critical\"",
        );
        // The wording alone raises nothing.
        let mut worded = record(0, 6, Action::Hold);
        worded
            .notices
            .push("desired capacity changed outside ebb: 4 -> 6".into());
        assert!(e.observe(&worded).is_empty());
        // The record the evaluator writes when the group moved under it.
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let cpu = |at: i64| {
            crate::series::FetchResults::from([(
                crate::series::MetricKey::new("web", "cpu"),
                Ok(crate::series::Series {
                    points: vec![crate::series::Datapoint {
                        time: t(at),
                        value: 50.0,
                    }],
                    ..crate::series::Series::default()
                }),
            )])
        };
        let first = evaluator.evaluate(t(0), &cpu(0), &group(4), Run::Live);
        evaluator.settle(&first.outcome);
        let r = evaluator.evaluate(t(1), &cpu(1), &group(6), Run::Live);
        let fired = e.observe(&r);
        assert_eq!(fired.len(), 1);
        assert_eq!(fired[0].rule, "external-change");
        assert_eq!(
            fired[0].description,
            "desired capacity changed outside ebb: 4 -> 6"
        );
        assert_eq!(
            statuses(&e.observe(&record(2, 6, Action::Hold))),
            vec![(AlertStatus::Resolved, false)]
        );

        let mut failures = BTreeMap::new();
        failures.insert(
            "policies/web.toml".to_string(),
            ReloadFailure {
                target: Some("web".to_string()),
                error: "policies.0.target: missing".to_string(),
            },
        );
        failures.insert(
            "policies/new.toml".to_string(),
            ReloadFailure {
                target: None,
                error: "target.group: missing".to_string(),
            },
        );
        let fired = e.policy_reload(t(2), &failures);
        assert_eq!(fired.len(), 2);
        // By file name: new.toml, then web.toml.
        assert_eq!(fired[1].target, "web", "the group, not the file");
        assert_eq!(fired[1].labels[POLICY_FILE_LABEL], "policies/web.toml");
        assert!(fired[1].summary.contains("old policy of web"));
        assert_eq!(fired[1].severity, Severity::Critical);
        assert_eq!(fired[0].target, "policies/new.toml", "no group yet");
        assert!(e.policy_reload(t(3), &failures).is_empty());
        // Survives a restart: the resolution still names the group.
        let mut e2 = engine(
            "[[rules]]\nkind = \"external-change\"\n[[rules]]\nkind = \"policy-reload-failed\"\nseverity = \"critical\"",
        );
        e2.restore(&serde_json::from_str(&serde_json::to_string(&e.saved()).unwrap()).unwrap());
        let resolved = e2.policy_reload(t(4), &BTreeMap::new());
        assert_eq!(
            statuses(&resolved),
            vec![
                (AlertStatus::Resolved, false),
                (AlertStatus::Resolved, false)
            ]
        );
        assert_eq!(resolved[1].target, "web");
        assert_eq!(resolved[1].labels[POLICY_FILE_LABEL], "policies/web.toml");
    }

    #[test]
    fn removed_targets_resolve_what_was_firing() {
        let mut e = engine("[[rules]]\nkind = \"api-call-failed\"");
        let mut r = record(0, 4, Action::ScaleOut);
        r.outcome = failed("boom");
        assert_eq!(e.observe(&r).len(), 1);
        assert!(
            e.retain_targets(t(1), &["web".to_string()]).is_empty(),
            "still evaluated"
        );
        let resolved = e.retain_targets(t(2), &["api".to_string()]);
        assert_eq!(statuses(&resolved), vec![(AlertStatus::Resolved, false)]);
        assert_eq!(resolved[0].ends_at, Some(t(2)));
        assert!(e.retain_targets(t(3), &[]).is_empty(), "forgotten");
    }

    #[test]
    fn shadow_records_and_unwatched_targets_raise_nothing() {
        let mut e = engine("[[rules]]\nkind = \"api-call-failed\"\ntargets = [\"api\"]");
        let mut r = record(0, 4, Action::ScaleOut);
        r.outcome = failed("boom");
        assert!(e.observe(&r).is_empty(), "rule watches only `api`");
        r.target = "api".into();
        r.role = Role::Shadow {
            candidate: "b.toml".into(),
        };
        assert!(
            e.observe(&r).is_empty(),
            "shadow records are never acted on"
        );
        r.role = Role::Live;
        assert_eq!(e.observe(&r).len(), 1);
    }

    #[test]
    fn bad_rules_say_which_and_why() {
        let check = |rules: &str| {
            let config: AlertsConfig = toml::from_str(rules).unwrap();
            RuleEngine::from_config(&config)
                .err()
                .expect("should fail")
                .to_string()
        };
        assert_eq!(
            check("[[rules]]\nkind = \"metric-stale\""),
            "alerts.rules[0] (metric-stale): `evaluations` is required for this kind"
        );
        assert_eq!(
            check(
                "[[rules]]\nkind = \"api-call-failed\"\n[[rules]]\nkind = \"api-call-failed\"\nwindow = \"5m\""
            ),
            "alerts.rules[1] (api-call-failed): `window` does not apply to this kind"
        );
        assert!(
            check("[[rules]]\nkind = \"external-change\"\n[[rules]]\nkind = \"external-change\"")
                .contains("unique")
        );
        assert!(
            check("[[rules]]\nkind = \"external-change\"\nlabels = { \"bad-label\" = \"x\" }")
                .contains("bad-label")
        );
        let unknown = toml::from_str::<AlertsConfig>(
            "[[rules]]\nkind = \"api-call-failed\"\nseverity = \"page\"",
        );
        assert!(
            unknown
                .unwrap_err()
                .to_string()
                .contains("unknown variant `page`")
        );
    }
}
