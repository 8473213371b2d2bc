//! The decision record: one per evaluation, one JSON line in the decisions
//! log. A reader must be able to tell from one line why ebb did what it did,
//! and `ebb log replay` must be able to re-run the core from it.

use crate::error_kind::ErrorKind;
use crate::governor::GovernorState;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

mod v1;

/// Capacity as observed at evaluation time, after warm-up is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedCapacity {
    /// The group's desired capacity.
    pub desired: u32,
    /// Instances in service and past their warm-up.
    pub in_service: u32,
    /// Instances pending or still warming up.
    pub warming: u32,
}

/// How one metric looked at evaluation time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricRecord {
    /// The metric's name: its key under `[metrics]` in the policy file.
    pub name: String,
    /// Whether the policies could use the metric this evaluation.
    pub status: MetricStatus,
    /// Latest accepted raw datapoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<f64>,
    /// The smoothed value policies used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smoothed: Option<f64>,
    /// Age of the latest accepted datapoint, seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub age_s: Option<i64>,
    /// Why the metric is not ok, or which datapoints were rejected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// Source details (e.g. scrape targets that answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

/// Whether a metric had a usable value at evaluation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricStatus {
    /// A datapoint no older than the metric's `stale_after`: policies used it.
    Ok,
    /// The newest datapoint is older than `stale_after`, or the source says
    /// its value is not to be trusted (too few scrape targets answered):
    /// policies saw no value.
    Stale,
    /// No datapoint has been accepted yet: policies saw no value.
    Missing,
}

/// What one policy recommended, and why, in one line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    /// The policy's name in the policy file.
    pub name: String,
    /// Which kind of policy it is.
    pub kind: PolicyKind,
    /// The capacity it asked for, or why it asked for none.
    pub recommendation: Recommendation,
    /// One line for people on how the policy got to its recommendation.
    pub reason: String,
    /// Policy-specific figures (e.g. a forecast and its interval), for
    /// people: nothing matches on them (see `events`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// What the policy wants others (alert rules, the governor) to know.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
}

/// The kinds of policy, as the policy file and the record spell them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PolicyKind {
    /// Keeps a metric at a target value per instance (`kind = "target-tracking"`).
    TargetTracking,
    /// Provisions ahead for a forecast of a load metric (`kind = "predictive"`).
    Predictive,
    /// A capacity floor in time windows (`kind = "schedule"`).
    Schedule,
}

impl PolicyKind {
    /// The kind as the policy file and the record spell it: `target-tracking`, `predictive` or
    /// `schedule`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyKind::TargetTracking => "target-tracking",
            PolicyKind::Predictive => "predictive",
            PolicyKind::Schedule => "schedule",
        }
    }
}

impl std::fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Something a policy, the governor or the evaluator wants others to know,
/// as data: alert rules match on these, never on the wording of a reason or
/// a notice. The tag (`"event"`) and the field names are a stable interface
/// of the decisions log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A predictive policy's forecast needs more instances than max capacity,
    /// and max capacity was not raised for it: the policy recommends max (or
    /// nothing, in forecast-only mode).
    ForecastAboveMax {
        /// Instances the forecast needs.
        forecast_capacity: u32,
        /// The max capacity in force, which the policy recommends instead.
        max_capacity: u32,
    },
    /// A predictive policy raised max capacity for its forecast
    /// (`max_capacity_behavior = "increase"`).
    MaxCapacityRaised {
        /// The policy file's max capacity.
        from: u32,
        /// The max asked for: the forecast capacity plus `max_capacity_buffer` percent.
        to: u32,
    },
    /// A policy asked max capacity raised beyond the group's own max, which
    /// still binds (ebb sets desired capacity only).
    GroupMaxBinds {
        /// The max capacity the policy asked for.
        asked: u32,
        /// The group's own max size, which is what applies.
        group_max: u32,
    },
    /// The group's desired capacity changed since ebb last saw or set it.
    ExternalChange {
        /// The desired capacity ebb last set or saw.
        from: u32,
        /// The desired capacity the group has now.
        to: u32,
    },
    /// These policies had no (fresh) data: the governor did not scale in.
    DataMissing {
        /// The names of the policies without data, in policy-file order.
        policies: Vec<String>,
        /// The kinds of the failed fetches behind it: of each stale or
        /// missing metric whose fetch failed this evaluation, each kind once,
        /// in metric order. Empty (and not written) when no fetch failed (the
        /// data is only old), and in records written before kinds.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        kinds: Vec<ErrorKind>,
    },
    /// A schedule's floor applied although other policies lacked data: a
    /// schedule needs none.
    ScheduleFloorApplied {
        /// The schedule policy's name.
        policy: String,
        /// The floor it set, in instances (or capacity units).
        capacity: u32,
    },
    /// The target's Auto Scaling group does not exist.
    GroupNotFound,
}

impl Event {
    /// The line this event adds to the record's notices, as operators read
    /// them; `None` when a policy's reason or a governor step already says it.
    pub fn notice(&self) -> Option<String> {
        match self {
            Event::ExternalChange { from, to } => Some(format!(
                "desired capacity changed outside ebb: {from} -> {to}"
            )),
            Event::GroupMaxBinds { asked, group_max } => Some(format!(
                "forecast asks max capacity raised to {asked}; the group's max is {group_max}"
            )),
            Event::ForecastAboveMax { .. }
            | Event::MaxCapacityRaised { .. }
            | Event::DataMissing { .. }
            | Event::ScheduleFloorApplied { .. }
            | Event::GroupNotFound => None,
        }
    }
}

/// A policy's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "type", content = "capacity")]
pub enum Recommendation {
    /// This many instances.
    Capacity(u32),
    /// The policy has no opinion now (schedule outside its windows, forecast-only mode).
    NoOpinion,
    /// The policy's data is missing or stale: the target must not scale in.
    MissingData,
}

/// One step the governor took on the way from recommendations to a decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GovernorStep {
    /// The rule that changed the proposal in this step.
    pub rule: GovernorRule,
    /// Capacity after this step.
    pub capacity: u32,
    /// One line for people on what the rule saw and did.
    pub note: String,
}

/// The governor's rules, in the order they apply (see [`crate::governor`]); each step of a decision
/// names one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GovernorRule {
    /// The starting proposal: the largest recommendation (or the current capacity when no policy
    /// recommends one).
    Combine,
    /// A policy lacked data: no scale-in, and with `on_missing_data = "hold"` no scale-out either.
    MissingData,
    /// Scale-in limited to the highest (or the quantile's) proposal within
    /// `scale_in_stabilization`.
    Stabilized,
    /// No scale-in while instances are still warming up.
    WarmingUp,
    /// Held by `scale_out_cooldown` or `scale_in_cooldown`.
    Cooldown,
    /// Limited by `max_step_out` or `max_step_in`.
    StepLimited,
    /// Brought within the bounds in force (min and max capacity).
    Clamped,
    /// The group does not allow this change now (a suspended process, an
    /// instance refresh, deletion, conflicting policies): overrides every rule.
    GroupBlocked,
}

/// Why the group does not allow ebb to scale now, per direction. Decided
/// from the group's state before the governor runs, recorded so the
/// decision can be replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScalingBlocks {
    /// Why scale-out is not allowed now (e.g. a suspended `Launch`), if it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out: Option<String>,
    /// Why scale-in is not allowed now (e.g. a suspended `Terminate`, an instance refresh), if it
    /// is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_in: Option<String>,
}

impl ScalingBlocks {
    /// Blocks both directions for the same reason.
    pub fn both(why: String) -> ScalingBlocks {
        ScalingBlocks {
            scale_out: Some(why.clone()),
            scale_in: Some(why),
        }
    }

    /// True when the group allows scaling in both directions.
    pub fn is_empty(&self) -> bool {
        self.scale_out.is_none() && self.scale_in.is_none()
    }

    /// What blocks a move in this direction, if anything.
    pub fn blocking(&self, action: Action) -> Option<&str> {
        match action {
            Action::ScaleOut => self.scale_out.as_deref(),
            Action::ScaleIn => self.scale_in.as_deref(),
            Action::Hold => None,
        }
    }

    /// Adds a reason to a direction (reasons already there stay first).
    pub fn add(&mut self, action: Action, why: &str) {
        let slot = match action {
            Action::ScaleOut => &mut self.scale_out,
            Action::ScaleIn => &mut self.scale_in,
            Action::Hold => return,
        };
        *slot = Some(match slot.take() {
            Some(before) => format!("{before}; {why}"),
            None => why.to_string(),
        });
    }
}

/// Ends the error of a record whose group does not exist.
pub const GROUP_NOT_FOUND: &str = "not found";

/// What the group looked like, beyond the capacity line: its instances by
/// state, its capacity unit, what it suspends or runs, and the defaults it
/// gave ebb. Absent from records of groups that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GroupRecord {
    /// `units`, `vcpu` or `memory-mib` when the group counts capacity in
    /// weights: the capacity line and the bounds are then in these units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub capacity_unit: Option<String>,
    /// Instances (not units) by what they are.
    pub instances: InstanceCounts,
    /// The Auto Scaling processes the group has suspended (`Launch`, `Terminate`, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspended: Vec<String>,
    /// The group's `Status`: set only while it is being deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// What the group did not allow this evaluation.
    #[serde(skip_serializing_if = "ScalingBlocks::is_empty")]
    pub blocks: ScalingBlocks,
    /// The status of an instance refresh in progress on the group, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_refresh: Option<String>,
    /// The group's warm pool (its state and size, as AWS reports them), if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_pool: Option<String>,
    /// Warm-up and scale-in cooldown taken from the group (the policy file
    /// does not set them), as used.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub warmup_from_group: Option<std::time::Duration>,
    /// The scale-in cooldown taken from the group's default cooldown because the policy file does
    /// not set one.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub scale_in_cooldown_from_group: Option<std::time::Duration>,
    /// The group's own scaling policies and scheduled actions (read at start
    /// and reload): another controller on the same group.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conflicting_policies: Vec<String>,
    /// The warm-up used for instances that came out of the warm pool.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub warmup_from_pool: Option<std::time::Duration>,
}

/// Instances by state. Only in-service (healthy, warmed up) ones serve.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InstanceCounts {
    /// Instances in service, healthy and past their warm-up: the ones that serve.
    pub in_service: u32,
    /// Instances launched but still pending or warming up.
    #[serde(skip_serializing_if = "is_zero")]
    pub warming: u32,
    /// Instances held in the `Pending:Wait` lifecycle hook.
    #[serde(skip_serializing_if = "is_zero")]
    pub pending_wait: u32,
    /// Instances in `Standby`: in the group but not serving.
    #[serde(skip_serializing_if = "is_zero")]
    pub standby: u32,
    /// Instances marked unhealthy, soon to be replaced.
    #[serde(skip_serializing_if = "is_zero")]
    pub unhealthy: u32,
    /// Instances held in the `Terminating:Wait` lifecycle hook.
    #[serde(skip_serializing_if = "is_zero")]
    pub terminating_wait: u32,
    /// Instances detaching or terminating.
    #[serde(skip_serializing_if = "is_zero")]
    pub leaving: u32,
    /// Instances in the group's warm pool (stopped or running, not serving).
    #[serde(skip_serializing_if = "is_zero")]
    pub warm_pool: u32,
    /// Instances in states ebb does not know: `id (State)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unknown: Vec<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// Which way the decision moves capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    /// Desired capacity goes up.
    ScaleOut,
    /// Desired capacity goes down.
    ScaleIn,
    /// Desired capacity stays as it is.
    Hold,
}

impl Action {
    /// The action that moves capacity from `current` to `desired`.
    pub fn between(current: u32, desired: u32) -> Action {
        match desired.cmp(&current) {
            std::cmp::Ordering::Greater => Action::ScaleOut,
            std::cmp::Ordering::Less => Action::ScaleIn,
            std::cmp::Ordering::Equal => Action::Hold,
        }
    }
}

/// In which role the record was written. Serialized flat into the record:
/// `"role": "shadow", "candidate": "web-v2.toml"`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "kebab-case")]
pub enum Role {
    /// The live policy of this instance.
    #[default]
    Live,
    /// A shadow candidate, never acted on: the candidate policy file's name.
    Shadow {
        /// The candidate policy file's name (e.g. `web-v2.toml`).
        candidate: String,
    },
    /// This instance is not the leader: evaluated, never acted on.
    Standby,
}

impl Role {
    /// True for the live policy of the instance that acts.
    pub fn is_live(&self) -> bool {
        *self == Role::Live
    }

    /// True for a shadow candidate's record.
    pub fn is_shadow(&self) -> bool {
        matches!(self, Role::Shadow { .. })
    }

    /// The word `ebb log` and the metrics use for the role.
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Live => "live",
            Role::Shadow { .. } => "shadow",
            Role::Standby => "standby",
        }
    }
}

/// What became of a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "kebab-case")]
pub enum Outcome {
    /// The Auto Scaling API was called and accepted the change.
    Applied,
    /// Decided in a hypothetical run (dry-run mode, a standby instance, a
    /// shadow candidate): nothing was called.
    DryRun,
    /// Nothing to carry out: the decision holds (or is not carried out yet).
    Held,
    /// The API call failed, or the evaluation could not happen: the current
    /// capacity stands.
    Failed {
        /// What failed, for people (e.g. the AWS error, or "not found").
        error: String,
        /// What kind of failure it was, when a call failed (absent in
        /// records written before kinds, and for a panic).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        kind: Option<ErrorKind>,
    },
}

impl Outcome {
    /// Why the current capacity stands, when something failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Failed { error, .. } => Some(error),
            _ => None,
        }
    }

    /// The kind of the failed call, when there was one and it is known.
    pub fn error_kind(&self) -> Option<ErrorKind> {
        match self {
            Outcome::Failed { kind, .. } => *kind,
            _ => None,
        }
    }

    /// True when the Auto Scaling API accepted the change.
    pub fn is_applied(&self) -> bool {
        *self == Outcome::Applied
    }

    /// True when the decision was made in a hypothetical run and nothing was called.
    pub fn is_dry_run(&self) -> bool {
        *self == Outcome::DryRun
    }
}

/// The version of the decision record's shape, written as `"v": 2`.
/// Records without it are version 1 and are read through [`DecisionRecord::from_json`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordVersion;

impl RecordVersion {
    /// The version this ebb writes, and the only one besides version 1 it reads.
    pub const CURRENT: u32 = 2;
}

impl Serialize for RecordVersion {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u32(RecordVersion::CURRENT)
    }
}

impl<'de> Deserialize<'de> for RecordVersion {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(deserializer)?;
        if v == RecordVersion::CURRENT {
            Ok(RecordVersion)
        } else {
            Err(serde::de::Error::custom(format!(
                "decision record version {v}: this ebb reads versions 1 and {}",
                RecordVersion::CURRENT
            )))
        }
    }
}

/// Everything about one evaluation of one target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecisionRecord {
    /// The record's shape version, always [`RecordVersion::CURRENT`] when written.
    pub v: RecordVersion,
    /// When the evaluation happened (the clock's now, UTC).
    #[serde(serialize_with = "crate::iso_time::serialize")]
    pub time: DateTime<Utc>,
    /// The target: its Auto Scaling group's name.
    pub target: String,
    /// Whether the record is the live policy's, a shadow candidate's or a standby's.
    #[serde(flatten)]
    pub role: Role,
    /// The policy bounds actually applied (policy bounds within the group's own).
    pub min_capacity: u32,
    /// Upper bound applied (see `min_capacity`); above the policy's max when a predictive policy
    /// raised it.
    pub max_capacity: u32,
    /// The group's capacity as the policies saw it.
    pub capacity: ObservedCapacity,
    /// Each metric of the policy file as it was read this evaluation.
    pub metrics: Vec<MetricRecord>,
    /// Each policy's recommendation, in policy-file order.
    pub policies: Vec<PolicyRecord>,
    /// The governor's steps, in the order the rules applied.
    pub steps: Vec<GovernorStep>,
    /// The capacity ebb decided on.
    pub desired: u32,
    /// Which way `desired` moves the group's capacity.
    pub action: Action,
    /// One-line summary of why.
    pub reason: String,
    /// Governor state before this evaluation, so the decision can be replayed.
    pub governor_state: GovernorState,
    /// What became of the decision: applied, dry run, held or failed.
    pub outcome: Outcome,
    /// What the evaluator and the governor want others to know (a change
    /// made outside ebb, missing data...), as data; policies' own are in
    /// their records.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    /// Other things worth knowing that are not errors (bounds clamped to the
    /// group's...), free text for people. [`DecisionRecord::notice_lines`]
    /// gives these with the events' own lines.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notices: Vec<String>,
    /// The evaluation panicked (a bug in ebb, contained by the daemon): the
    /// panic message. Capacity was kept; the outcome's error says so too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panicked: Option<String>,
    /// Which ebb instance wrote the record: `host:pid`, or the leader
    /// election's holder id, so logs from several hosts can be told apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The group beyond its capacity line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupRecord>,
    /// The target's policy file failed to reload and its old policy stays in
    /// force: on every record until a reload works, so `ebb log alerts` can
    /// replay the `policy-reload-failed` rule from the log alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reload_failed: Option<ReloadFailedRecord>,
    /// The daemon config's `[accounts]` entry the target is reached
    /// through, when it names one (its errors may be that role's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

impl DecisionRecord {
    /// Reads one line of a decisions log, of any version: a record without
    /// `"v"` (version 1) is brought to the current shape first.
    pub fn from_json(line: &[u8]) -> Result<DecisionRecord, serde_json::Error> {
        let mut value: serde_json::Value = serde_json::from_slice(line)?;
        if value.get("v").is_none() {
            v1::upgrade(&mut value);
        }
        serde_json::from_value(value)
    }

    /// Every event of the record: its own, then its policies'.
    pub fn all_events(&self) -> impl Iterator<Item = &Event> {
        self.events
            .iter()
            .chain(self.policies.iter().flat_map(|p| p.events.iter()))
    }

    /// The notices as operators read them: the events' lines, then the
    /// free-text notices.
    pub fn notice_lines(&self) -> Vec<String> {
        self.events
            .iter()
            .filter_map(Event::notice)
            .chain(self.notices.iter().cloned())
            .collect()
    }
}

/// A policy file that failed to reload, as a record carries it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReloadFailedRecord {
    /// The file (or the policy folder, when the folder itself could not be read).
    pub file: String,
    /// Why the reload failed, as the loader reported it (file, line, field).
    pub error: String,
}

impl ReloadFailedRecord {
    /// The human line for the record's notices and `/healthz`.
    pub fn notice(&self) -> String {
        format!(
            "policy reload failed, the old policy stays in force: {}: {}",
            self.file, self.error
        )
    }
}

#[cfg(test)]
mod outcome_tests {
    use super::*;

    #[test]
    fn a_failed_outcome_carries_its_kind_under_a_stable_tag_and_reads_without_one() {
        let failed = Outcome::Failed {
            error: "SetDesiredCapacity failed: Throttling: Rate exceeded".into(),
            kind: Some(ErrorKind::Throttled),
        };
        let json = serde_json::to_value(&failed).unwrap();
        assert_eq!(json["status"], "failed");
        assert_eq!(json["kind"], "throttled");
        let back: Outcome = serde_json::from_value(json).unwrap();
        assert_eq!(back.error_kind(), Some(ErrorKind::Throttled));
        // A v2 record written before kinds.
        let old: Outcome =
            serde_json::from_str(r#"{"status":"failed","error":"AccessDenied"}"#).unwrap();
        assert_eq!(
            (old.error(), old.error_kind()),
            (Some("AccessDenied"), None)
        );
    }

    #[test]
    fn the_data_missing_event_writes_its_kinds_only_when_a_fetch_failed() {
        let failed = Event::DataMissing {
            policies: vec!["cpu".into()],
            kinds: vec![ErrorKind::Throttled],
        };
        let json = serde_json::to_string(&failed).unwrap();
        assert_eq!(
            json,
            r#"{"event":"data-missing","policies":["cpu"],"kinds":["throttled"]}"#
        );
        assert_eq!(serde_json::from_str::<Event>(&json).unwrap(), failed);
        // Only old data, and records written before kinds: the same line as ever.
        let old_line = r#"{"event":"data-missing","policies":["cpu"]}"#;
        let old: Event = serde_json::from_str(old_line).unwrap();
        assert_eq!(
            old,
            Event::DataMissing {
                policies: vec!["cpu".into()],
                kinds: Vec::new(),
            }
        );
        assert_eq!(serde_json::to_string(&old).unwrap(), old_line);
    }
}
