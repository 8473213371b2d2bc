//! The rules' conditions: whether each kind's condition holds for one
//! record, updating what the rule remembers about the target. One file per
//! family of conditions; the short ones are here.

mod capacity;
mod flapping;
mod group;
mod metric_stale;

use super::engine::Track;
use super::validate::RuleKind;
use crate::decision::DecisionRecord;

/// What a rule saw in one record.
pub(super) enum Condition {
    Holds {
        summary: String,
        description: String,
    },
    Clear,
}

/// Whether a rule's condition holds for this record, updating what the rule
/// remembers about the target.
pub(super) fn evaluate(kind: RuleKind, track: &mut Track, record: &DecisionRecord) -> Condition {
    let target = &record.target;
    match kind {
        // A panic is not an API failure: `evaluation-panicked` reports it.
        RuleKind::ApiCallFailed { kinds } => match record.outcome.error() {
            Some(error)
                if record.panicked.is_none() && kinds.contains(record.outcome.error_kind()) =>
            {
                Condition::Holds {
                    summary: format!(
                        "{target}: Auto Scaling API call failed, capacity kept at {}",
                        record.capacity.desired
                    ),
                    description: error.to_string(),
                }
            }
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
        RuleKind::MetricStale { evaluations } => {
            metric_stale::metric_stale(evaluations, track, record)
        }
        RuleKind::PinnedAtMax { duration } => capacity::pinned_at_max(duration, track, record),
        RuleKind::ForecastAboveMax => match capacity::forecast_above_max(record) {
            Some(description) => Condition::Holds {
                summary: format!(
                    "{target}: forecast needs more than max capacity {}",
                    record.max_capacity
                ),
                description,
            },
            None => Condition::Clear,
        },
        RuleKind::Flapping { changes, window } => {
            flapping::flapping(changes, window, track, record)
        }
        RuleKind::ExternalChange => group::external_change(record),
        RuleKind::PolicyReloadFailed => Condition::Clear,
        RuleKind::GroupSuspended { duration } => group::group_suspended(duration, track, record),
        RuleKind::ConflictingPolicies => group::conflicting_policies(record),
        RuleKind::GroupDeleted => group::group_deleted(record),
    }
}
