//! The decision record: one per evaluation, one JSON line in the decisions
//! log. A reader must be able to tell from one line why ebb did what it did,
//! and `ebb log replay` must be able to re-run the core from it.

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
    pub name: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricStatus {
    Ok,
    Stale,
    Missing,
}

/// What one policy recommended, and why, in one line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyRecord {
    pub name: String,
    pub kind: PolicyKind,
    pub recommendation: Recommendation,
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
    TargetTracking,
    Predictive,
    Schedule,
}

impl PolicyKind {
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
        forecast_capacity: u32,
        max_capacity: u32,
    },
    /// A predictive policy raised max capacity for its forecast
    /// (`max_capacity_behavior = "increase"`).
    MaxCapacityRaised { from: u32, to: u32 },
    /// A policy asked max capacity raised beyond the group's own max, which
    /// still binds (ebb sets desired capacity only).
    GroupMaxBinds { asked: u32, group_max: u32 },
    /// The group's desired capacity changed since ebb last saw or set it.
    ExternalChange { from: u32, to: u32 },
    /// These policies had no (fresh) data: the governor did not scale in.
    DataMissing { policies: Vec<String> },
    /// A schedule's floor applied although other policies lacked data: a
    /// schedule needs none.
    ScheduleFloorApplied { policy: String, capacity: u32 },
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
    pub rule: GovernorRule,
    /// Capacity after this step.
    pub capacity: u32,
    pub note: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GovernorRule {
    Combine,
    MissingData,
    Stabilized,
    WarmingUp,
    Cooldown,
    StepLimited,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out: Option<String>,
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
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub suspended: Vec<String>,
    /// The group's `Status`: set only while it is being deleted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// What the group did not allow this evaluation.
    #[serde(skip_serializing_if = "ScalingBlocks::is_empty")]
    pub blocks: ScalingBlocks,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_refresh: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warm_pool: Option<String>,
    /// Warm-up and scale-in cooldown taken from the group (the policy file
    /// does not set them), as used.
    #[serde(with = "humantime_serde", skip_serializing_if = "Option::is_none")]
    pub warmup_from_group: Option<std::time::Duration>,
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
    pub in_service: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub warming: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub pending_wait: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub standby: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub unhealthy: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub terminating_wait: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub leaving: u32,
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
    ScaleOut,
    ScaleIn,
    Hold,
}

impl Action {
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
    Shadow { candidate: String },
    /// This instance is not the leader: evaluated, never acted on.
    Standby,
}

impl Role {
    pub fn is_live(&self) -> bool {
        *self == Role::Live
    }

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
    Failed { error: String },
}

impl Outcome {
    /// Why the current capacity stands, when something failed.
    pub fn error(&self) -> Option<&str> {
        match self {
            Outcome::Failed { error } => Some(error),
            _ => None,
        }
    }

    pub fn is_applied(&self) -> bool {
        *self == Outcome::Applied
    }

    pub fn is_dry_run(&self) -> bool {
        *self == Outcome::DryRun
    }
}

/// The version of the decision record's shape, written as `"v": 2`.
/// Records without it are version 1 and are read through [`DecisionRecord::from_json`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordVersion;

impl RecordVersion {
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
    pub v: RecordVersion,
    pub time: DateTime<Utc>,
    pub target: String,
    #[serde(flatten)]
    pub role: Role,
    /// The policy bounds actually applied (policy bounds within the group's own).
    pub min_capacity: u32,
    pub max_capacity: u32,
    pub capacity: ObservedCapacity,
    pub metrics: Vec<MetricRecord>,
    pub policies: Vec<PolicyRecord>,
    pub steps: Vec<GovernorStep>,
    /// The capacity ebb decided on.
    pub desired: u32,
    pub action: Action,
    /// One-line summary of why.
    pub reason: String,
    /// Governor state before this evaluation, so the decision can be replayed.
    pub governor_state: GovernorState,
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
