//! Replaying a past decision: re-run the pure core (policies and governor) on
//! the inputs a decision record carries and check it reaches the same
//! decision. Any production decision can then be explained, and tested,
//! after the fact.
//!
//! The record carries what the core saw: the time, the observed capacity,
//! each metric's smoothed value and status, the bounds in force and the
//! governor state before the decision. Target tracking and schedules are
//! functions of those and are re-run. A policy that learns from a long
//! history (predictive) cannot be re-run from one record: its recorded
//! recommendation is used as given, and the replay says so.

use crate::decision::{DecisionRecord, MetricStatus, PolicyRecord, ScalingBlocks};
use crate::governor::Governor;
use crate::policy::{self, PolicyInput};
use crate::policy_file::{PolicyFile, PolicySpec};
use std::collections::BTreeMap;

/// One field where the replay disagrees with the record.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// Which part of the record, e.g. `desired` or `policies[0].recommendation`.
    pub field: String,
    /// What the record says.
    pub recorded: String,
    /// What the replay computed.
    pub replayed: String,
}

/// What a replay found.
#[derive(Debug, Clone, PartialEq)]
pub struct Replay {
    /// Every field where the replay disagrees; empty when it reproduces the record.
    pub mismatches: Vec<Mismatch>,
    /// Policies whose recorded recommendation was used as given.
    pub taken_as_recorded: Vec<String>,
    /// The desired capacity the replay decided on.
    pub desired: u32,
}

/// Re-runs the core of `file` on the inputs of `record`.
pub fn replay(file: &PolicyFile, record: &DecisionRecord) -> Replay {
    let metrics: BTreeMap<String, Option<f64>> = record
        .metrics
        .iter()
        .map(|m| {
            let usable = m.status == MetricStatus::Ok;
            (m.name.clone(), m.smoothed.filter(|_| usable))
        })
        .collect();
    let fetched = BTreeMap::new();
    let input = PolicyInput {
        now: record.time,
        capacity: record.capacity,
        metrics: &metrics,
        fetched: &fetched,
    };
    let mut mismatches = Vec::new();
    let mut taken_as_recorded = Vec::new();
    let mut recommendations: Vec<PolicyRecord> = Vec::new();
    for spec in &file.policies {
        let recorded = record.policies.iter().find(|p| p.name == spec.name());
        let replayed = if reruns_from_record(spec) {
            let mut policy = policy::build(spec, file);
            if let Some(recorded) = recorded {
                policy.take_recorded_inputs(recorded);
            }
            policy.recommend(&input)
        } else {
            let Some(recorded) = recorded else {
                mismatches.push(Mismatch {
                    field: format!("policies.{}", spec.name()),
                    recorded: "(absent)".into(),
                    replayed: "a policy the record does not mention".into(),
                });
                continue;
            };
            taken_as_recorded.push(spec.name().to_string());
            recorded.clone()
        };
        match recorded {
            Some(recorded) if recorded.recommendation != replayed.recommendation => mismatches
                .push(Mismatch {
                    field: format!("policies.{}.recommendation", spec.name()),
                    recorded: format!("{:?} ({})", recorded.recommendation, recorded.reason),
                    replayed: format!("{:?} ({})", replayed.recommendation, replayed.reason),
                }),
            Some(_) => {}
            None => mismatches.push(Mismatch {
                field: format!("policies.{}", spec.name()),
                recorded: "(absent)".into(),
                replayed: format!("{:?}", replayed.recommendation),
            }),
        }
        recommendations.push(replayed);
    }
    for recorded in &record.policies {
        if !file.policies.iter().any(|p| p.name() == recorded.name) {
            mismatches.push(Mismatch {
                field: format!("policies.{}", recorded.name),
                recorded: format!("{:?}", recorded.recommendation),
                replayed: "(not in this policy file)".into(),
            });
        }
    }
    // The group's defaults and blocks in force then, as recorded.
    let mut spec = file.governor.clone();
    let mut blocks = ScalingBlocks::default();
    if let Some(group) = &record.group {
        if let Some(warmup) = group.warmup_from_group {
            spec.warmup = warmup;
        }
        if let Some(cooldown) = group.scale_in_cooldown_from_group {
            spec.scale_in_cooldown = cooldown;
        }
        blocks = group.blocks.clone();
    }
    let verdict = Governor::new(spec).decide_on_group(
        &record.governor_state,
        record.time,
        record.capacity,
        &recommendations,
        (record.min_capacity, record.max_capacity),
        &blocks,
    );
    let mut compare = |field: &str, recorded: String, replayed: String| {
        if recorded != replayed {
            mismatches.push(Mismatch {
                field: field.to_string(),
                recorded,
                replayed,
            });
        }
    };
    compare(
        "desired",
        record.desired.to_string(),
        verdict.desired.to_string(),
    );
    compare(
        "action",
        format!("{:?}", record.action),
        format!("{:?}", verdict.action),
    );
    compare("reason", record.reason.clone(), verdict.reason.clone());
    compare(
        "steps",
        format!("{:?}", record.steps),
        format!("{:?}", verdict.steps),
    );
    Replay {
        mismatches,
        taken_as_recorded,
        desired: verdict.desired,
    }
}

/// Whether a policy's recommendation is a function of what one record holds.
fn reruns_from_record(spec: &PolicySpec) -> bool {
    matches!(
        spec,
        PolicySpec::TargetTracking(_) | PolicySpec::Schedule(_)
    )
}
