//! Policies: recommenders that each turn signals into a capacity.
//!
//! A policy sees the smoothed metrics and the observed capacity and returns a
//! [`PolicyRecord`]: a recommendation and a one-line reason. The governor
//! combines them; no policy acts on its own.

pub mod predictive;
pub mod schedule;
pub mod target_tracking;

use crate::decision::{ObservedCapacity, PolicyRecord};
use crate::forecast::history::LoadHistory;
use crate::forecast::memo::ForecastMemo;
use crate::policy_file::{MetricSpec, PolicyFile, PolicySpec};
use crate::series::Datapoint;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Ratios this close to a whole number of instances are that number: keeps
/// float noise (4 x 1.25 = 5.000000001) from adding an instance.
const CEIL_EPSILON: f64 = 1e-9;

/// Whole instances for a demand in instances, rounded up.
pub fn instances_for(demand: f64) -> u32 {
    let wanted = (demand - CEIL_EPSILON).ceil().max(0.0);
    if wanted >= u32::MAX as f64 {
        u32::MAX
    } else {
        wanted as u32
    }
}

/// Whether `ratio` (demand over current capacity) is within the tolerance
/// band around 1, inside which a policy keeps the current capacity. The
/// band's edges belong to it: without the epsilon, 55 against a target of 50
/// with a 10% band (1.1 - 1.0 = 0.10000000000000009 in floating point) would
/// scale.
pub fn within_tolerance(ratio: f64, tolerance: f64) -> bool {
    (ratio - 1.0).abs() <= tolerance + CEIL_EPSILON
}

/// What a policy may look at.
#[derive(Debug, Clone)]
pub struct PolicyInput<'a> {
    /// The time of the evaluation (from the clock, never the wall clock).
    pub now: DateTime<Utc>,
    /// The group's capacity as observed, warm-up and health applied.
    pub capacity: ObservedCapacity,
    /// Smoothed value of each metric; `None` when missing or stale.
    pub metrics: &'a BTreeMap<String, Option<f64>>,
    /// Raw datapoints fetched this tick, for policies that keep history.
    pub fetched: &'a BTreeMap<String, Vec<Datapoint>>,
}

/// A recommender.
pub trait Policy: Send {
    /// The policy's name, unique within its file.
    fn name(&self) -> &str;
    /// What the policy recommends for this evaluation, and why.
    fn recommend(&mut self, input: &PolicyInput<'_>) -> PolicyRecord;

    /// Takes in what a recorded evaluation of this policy says it saw beyond
    /// the record's common inputs (replaying a decision has no history to
    /// look it up in).
    fn take_recorded_inputs(&mut self, _recorded: &PolicyRecord) {}

    /// History this policy needs fetched beyond what smoothing needs.
    fn history_request(&self, _now: DateTime<Utc>) -> Option<HistoryRequest> {
        None
    }

    /// A max capacity above the policy file's that this policy asked for at
    /// its last recommendation (predictive, `max_capacity_behavior = "increase"`).
    fn raised_max_capacity(&self) -> Option<u32> {
        None
    }

    /// The history the policy keeps, to persist across restarts.
    fn history(&self) -> Option<&LoadHistory> {
        None
    }

    /// Puts back a history saved from [`Policy::history`].
    fn restore_history(&mut self, _history: LoadHistory) -> Result<(), String> {
        Err(format!("policy `{}` keeps no history", self.name()))
    }

    /// Shares model choices and fits with other replays of the same history
    /// (`ebb tune`'s candidates); a policy without forecasts ignores it.
    fn share_forecasts(&mut self, _memo: &Arc<ForecastMemo>) {}
}

/// A policy's request for a metric's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRequest {
    /// Name of the metric in `[metrics]`.
    pub metric: String,
    /// Fetch from here on.
    pub since: DateTime<Utc>,
    /// Fetch the window with this spec (e.g. a coarser period) as a request
    /// of its own under [`history_key`], instead of extending the metric's
    /// own request back to `since`.
    pub long_window: Option<MetricSpec>,
}

/// The metric name a long-window history request is made and answered under.
pub fn history_key(metric: &str) -> String {
    format!("{metric}@history")
}

/// Builds the recommender a validated spec describes.
pub fn build(spec: &PolicySpec, file: &PolicyFile) -> Box<dyn Policy> {
    match spec {
        PolicySpec::TargetTracking(s) => {
            let measured_over = file
                .metrics
                .get(&s.metric)
                .map_or(std::time::Duration::ZERO, |m| m.source.measured_over());
            Box::new(target_tracking::TargetTracking::new(
                s.clone(),
                measured_over,
            ))
        }
        PolicySpec::Predictive(s) => Box::new(predictive::Predictive::new(s.clone(), file)),
        PolicySpec::Schedule(s) => Box::new(schedule::Schedule::new(s)),
    }
}
