//! The rule as written in `[[alerts.rules]]`: the serde schema, checked
//! into a [`Rule`](super::Rule) by [`super::validate`].

use super::super::Severity;
use crate::error_kind::ErrorKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;

/// A rule as written in `[[alerts.rules]]`; validated into a [`Rule`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// What the rule watches for.
    pub kind: RuleKindName,
    /// Defaults to the kind; must be unique (it is `alertname` in Alertmanager).
    #[serde(default)]
    pub name: Option<String>,
    /// How urgent its alerts are; default warning.
    #[serde(default)]
    pub severity: Severity,
    /// Labels added to its alerts (e.g. `team = "web"`).
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
    /// flapping: the window `changes` are counted over.
    #[serde(default, with = "crate::duration::option")]
    pub window: Option<Duration>,
    /// api-call-failed: fire only on failures of these kinds (`throttled`,
    /// `not-found`, `access-denied`, `timeout`, `bad-response`, `other`);
    /// empty means any. A failure of unknown kind counts as `other`.
    #[serde(default)]
    pub kinds: Vec<ErrorKind>,
}

/// The rule kinds, as spelled in the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RuleKindName {
    /// An Auto Scaling API call failed.
    ApiCallFailed,
    /// A metric was stale or missing for `evaluations` evaluations in a row.
    MetricStale,
    /// Capacity stayed at max, with policies asking for max or more, `for` that long.
    PinnedAtMax,
    /// A predictive policy's forecast needs more than max capacity.
    ForecastAboveMax,
    /// Capacity changed direction more than `changes` times within `window`.
    Flapping,
    /// Someone else changed the group's desired capacity.
    ExternalChange,
    /// A policy file failed to reload.
    PolicyReloadFailed,
    /// A target's evaluation panicked (a bug in ebb).
    EvaluationPanicked,
    /// Some of the group's processes were suspended `for` that long.
    GroupSuspended,
    /// The group has scaling policies or scheduled actions of its own.
    ConflictingPolicies,
    /// The group does not exist or is being deleted.
    GroupDeleted,
}

impl RuleKindName {
    /// The kind as the config spells it, e.g. `api-call-failed`.
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
