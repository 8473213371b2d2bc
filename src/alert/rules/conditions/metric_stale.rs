//! The `metric-stale` condition: some metric stale or missing for more
//! than a number of evaluations in a row.

use super::super::engine::Track;
use super::Condition;
use crate::decision::{DecisionRecord, MetricStatus};

/// The `metric-stale` condition.
pub(super) fn metric_stale(
    evaluations: u32,
    track: &mut Track,
    record: &DecisionRecord,
) -> Condition {
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
