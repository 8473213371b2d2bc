//! Validation: a [`RuleConfig`] becomes a [`Rule`] whose [`RuleKind`]
//! holds exactly the parameters that kind needs.

use super::config::{RuleConfig, RuleKindName};
use super::engine::{ACCOUNT_LABEL, ERROR_KIND_LABEL, POLICY_FILE_LABEL};
use crate::alert::{AlertConfigError, Severity};
use crate::error_kind::ErrorKind;
use std::collections::BTreeMap;
use std::time::Duration;

/// The kinds of failure an `api-call-failed` rule fires on, as a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ErrorKinds(u8);

impl ErrorKinds {
    /// Every kind: what a rule that names none fires on.
    pub const ANY: ErrorKinds = ErrorKinds(u8::MAX);

    /// The set of `kinds`; [`ErrorKinds::ANY`] when it is empty.
    pub fn of(kinds: &[ErrorKind]) -> ErrorKinds {
        if kinds.is_empty() {
            return ErrorKinds::ANY;
        }
        ErrorKinds(
            kinds
                .iter()
                .fold(0, |set, &kind| set | ErrorKinds::bit(kind)),
        )
    }

    /// Whether a failure of `kind` is in the set; one of unknown kind (an
    /// older record) counts as `other`.
    pub fn contains(self, kind: Option<ErrorKind>) -> bool {
        self.0 & ErrorKinds::bit(kind.unwrap_or(ErrorKind::Other)) != 0
    }

    fn bit(kind: ErrorKind) -> u8 {
        1 << (kind as u8)
    }
}

/// What a rule watches for, with exactly the parameters that kind needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleKind {
    /// The Auto Scaling API call (describe or set) failed.
    ApiCallFailed {
        /// The kinds of failure the rule fires on.
        kinds: ErrorKinds,
    },
    /// Some metric was stale or missing for more than `evaluations` evaluations in a row.
    MetricStale {
        /// Evaluations in a row, at least 1.
        evaluations: u32,
    },
    /// Capacity at max, with policies asking for max or more, for `duration`.
    PinnedAtMax {
        /// How long capacity must stay at max before the rule fires.
        duration: Duration,
    },
    /// A predictive policy forecasts a need above max capacity.
    ForecastAboveMax,
    /// More than `changes` scale-out/scale-in reversals within `window`.
    Flapping {
        /// Direction changes allowed within `window`; one more fires.
        changes: u32,
        /// The window the changes are counted over.
        window: Duration,
    },
    /// Someone else changed the group's desired capacity.
    ExternalChange,
    /// A policy file failed to load on reload (the old policy stays).
    PolicyReloadFailed,
    /// A target's evaluation panicked (a bug in ebb): capacity was kept.
    EvaluationPanicked,
    /// Some of the group's processes have been suspended for `duration`.
    GroupSuspended {
        /// How long processes must stay suspended before the rule fires.
        duration: Duration,
    },
    /// The group has scaling policies or scheduled actions of its own.
    ConflictingPolicies,
    /// The group does not exist (any more) or is being deleted.
    GroupDeleted,
}

/// A validated rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique among the rules; `alertname` in Alertmanager.
    pub name: String,
    /// What it watches for, with its parameters.
    pub kind: RuleKind,
    /// How urgent its alerts are.
    pub severity: Severity,
    /// Labels added to its alerts.
    pub labels: BTreeMap<String, String>,
    /// Targets it watches; empty means all.
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
        // `kinds` is optional, for api-call-failed only.
        if !config.kinds.is_empty() && config.kind != RuleKindName::ApiCallFailed {
            return Err(err("`kinds` does not apply to this kind".into()));
        }
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
            RuleKindName::ApiCallFailed => RuleKind::ApiCallFailed {
                kinds: ErrorKinds::of(&config.kinds),
            },
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
                "alertname"
                    | "target"
                    | "severity"
                    | POLICY_FILE_LABEL
                    | ACCOUNT_LABEL
                    | ERROR_KIND_LABEL
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

    pub(super) fn watches(&self, target: &str) -> bool {
        self.targets.is_empty() || self.targets.iter().any(|t| t == target)
    }
}

/// Prometheus label names: `[a-zA-Z_][a-zA-Z0-9_]*`.
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
