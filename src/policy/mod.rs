//! Policies: recommenders that each turn signals into a capacity.
//!
//! A policy sees the smoothed metrics and the observed capacity and returns a
//! [`PolicyRecord`]: a recommendation and a one-line reason. The governor
//! combines them; no policy acts on its own.

pub mod schedule;
pub mod target_tracking;

use crate::decision::{ObservedCapacity, PolicyRecord};
use crate::policy_file::PolicySpec;
use crate::source::Datapoint;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// What a policy may look at.
#[derive(Debug, Clone)]
pub struct PolicyInput<'a> {
    pub now: DateTime<Utc>,
    pub capacity: ObservedCapacity,
    /// Smoothed value of each metric; `None` when missing or stale.
    pub metrics: &'a BTreeMap<String, Option<f64>>,
    /// Raw datapoints fetched this tick, for policies that keep history.
    pub fetched: &'a BTreeMap<String, Vec<Datapoint>>,
}

/// A recommender.
pub trait Policy: Send {
    fn name(&self) -> &str;
    fn recommend(&mut self, input: &PolicyInput<'_>) -> PolicyRecord;
}

/// Builds the recommender a validated spec describes.
pub fn build(spec: &PolicySpec) -> Box<dyn Policy> {
    match spec {
        PolicySpec::TargetTracking(s) => Box::new(target_tracking::TargetTracking::new(s.clone())),
        PolicySpec::Schedule(s) => {
            Box::new(schedule::Schedule::new(s).expect("schedule validated at load"))
        }
    }
}
