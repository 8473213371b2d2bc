//! Conditions on the group itself: changed outside ebb, scaling of its
//! own, deleted, processes suspended.

use super::super::engine::Track;
use super::Condition;
use crate::decision::{DecisionRecord, Event};
use std::time::Duration;

/// The `external-change` condition.
pub(super) fn external_change(record: &DecisionRecord) -> Condition {
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
pub(super) fn conflicting_policies(record: &DecisionRecord) -> Condition {
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
pub(super) fn group_deleted(record: &DecisionRecord) -> Condition {
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

/// The `group-suspended` condition.
pub(super) fn group_suspended(
    duration: Duration,
    track: &mut Track,
    record: &DecisionRecord,
) -> Condition {
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
