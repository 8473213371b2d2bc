//! Target tracking: keep a metric near a target value, reactively.

use super::{Policy, PolicyInput};
use crate::decision::{PolicyRecord, Recommendation};
use crate::policy_file::{MetricType, TargetTrackingSpec};

/// Keeps `metric` near `target`.
#[derive(Debug, Clone)]
pub struct TargetTracking {
    spec: TargetTrackingSpec,
}

/// Ratios this close to a whole number of instances are that number: keeps
/// float noise (4 x 1.25 = 5.000000001) from adding an instance.
const CEIL_EPSILON: f64 = 1e-9;

impl TargetTracking {
    pub fn new(spec: TargetTrackingSpec) -> Self {
        TargetTracking { spec }
    }

    fn record(&self, recommendation: Recommendation, reason: String) -> PolicyRecord {
        PolicyRecord {
            name: self.spec.name.clone(),
            kind: "target-tracking".into(),
            recommendation,
            reason,
            detail: None,
        }
    }
}

impl Policy for TargetTracking {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn recommend(&mut self, input: &PolicyInput<'_>) -> PolicyRecord {
        let spec = &self.spec;
        let Some(value) = input.metrics.get(&spec.metric).copied().flatten() else {
            return self.record(
                Recommendation::MissingData,
                format!("metric `{}` is missing or stale", spec.metric),
            );
        };
        let serving = input.capacity.in_service;
        let current = input.capacity.desired;
        // Demand in instances at the target.
        let (demand, basis) = match spec.metric_type {
            MetricType::Utilization | MetricType::LoadPerInstance => {
                if serving == 0 {
                    return self.record(
                        Recommendation::MissingData,
                        format!("no instance in service to measure `{}` on", spec.metric),
                    );
                }
                let demand = serving as f64 * value / spec.target;
                (
                    demand,
                    format!("{serving} serving x {value:.2}/{}", spec.target),
                )
            }
            MetricType::LoadTotal => (
                value / spec.target,
                format!("{value:.2}/{} per instance", spec.target),
            ),
        };
        let ratio = if serving > 0 {
            demand / serving as f64
        } else {
            f64::INFINITY
        };
        if (ratio - 1.0).abs() <= spec.tolerance {
            return self.record(
                Recommendation::Capacity(current),
                format!(
                    "{} {value:.2} within {:.0}% of target {}: keep {current}",
                    spec.metric,
                    spec.tolerance * 100.0,
                    spec.target
                ),
            );
        }
        let wanted = (demand - CEIL_EPSILON).ceil().max(0.0);
        let wanted = if wanted >= u32::MAX as f64 {
            u32::MAX
        } else {
            wanted as u32
        };
        if spec.disable_scale_in && wanted < current {
            return self.record(
                Recommendation::Capacity(current),
                format!(
                    "{basis} = {demand:.2} instances, but scale-in is disabled: keep {current}"
                ),
            );
        }
        self.record(
            Recommendation::Capacity(wanted),
            format!(
                "{} {value:.2} vs target {}: {basis} = {demand:.2} -> {wanted}",
                spec.metric, spec.target
            ),
        )
    }
}
