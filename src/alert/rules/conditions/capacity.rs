//! Conditions on capacity against max: pinned at max for a while, a
//! forecast above max.

use super::super::engine::Track;
use super::Condition;
use crate::decision::{DecisionRecord, Event, Recommendation};
use std::time::Duration;

/// The `pinned-at-max` condition.
pub(super) fn pinned_at_max(
    duration: Duration,
    track: &mut Track,
    record: &DecisionRecord,
) -> Condition {
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

/// The forecasts above max capacity a record's events report: a predictive
/// policy's forecast that max was not raised for, or a raise the group's own
/// max did not allow.
pub(super) fn forecast_above_max(record: &DecisionRecord) -> Option<String> {
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
