//! The rule as written in `[[alerts.rules]]`: the serde schema, checked
//! into a [`Rule`](super::Rule) by [`super::validate`].

use super::super::Severity;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
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
