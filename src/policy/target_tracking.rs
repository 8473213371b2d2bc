//! Target tracking: keep a metric near a target value, reactively.

use super::{Policy, PolicyInput, instances_for, within_tolerance};
use crate::decision::{PolicyRecord, Recommendation};
use crate::policy_file::{MetricType, TargetTrackingSpec};

/// Keeps `metric` near `target`.
#[derive(Debug, Clone)]
pub struct TargetTracking {
    spec: TargetTrackingSpec,
}

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
        if within_tolerance(ratio, spec.tolerance) {
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
        let wanted = instances_for(demand);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::ObservedCapacity;
    use chrono::DateTime;
    use std::collections::BTreeMap;

    fn tracking(metric_type: MetricType, target: f64) -> TargetTracking {
        TargetTracking::new(TargetTrackingSpec {
            name: "tt".into(),
            metric: "m".into(),
            target,
            metric_type,
            tolerance: 0.1,
            disable_scale_in: false,
        })
    }

    /// What the policy recommends with `value` for its metric, `desired`
    /// instances of which `in_service` are serving.
    fn recommend(
        policy: &mut TargetTracking,
        value: Option<f64>,
        desired: u32,
        in_service: u32,
    ) -> PolicyRecord {
        let metrics = BTreeMap::from([("m".to_string(), value)]);
        let fetched = BTreeMap::new();
        policy.recommend(&PolicyInput {
            now: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            capacity: ObservedCapacity {
                desired,
                in_service,
                warming: desired.saturating_sub(in_service),
            },
            metrics: &metrics,
            fetched: &fetched,
        })
    }

    fn capacity(record: &PolicyRecord) -> Recommendation {
        record.recommendation
    }

    fn advice(
        policy: &mut TargetTracking,
        value: Option<f64>,
        desired: u32,
        in_service: u32,
    ) -> Recommendation {
        recommend(policy, value, desired, in_service).recommendation
    }

    #[test]
    fn utilization_scales_capacity_by_value_over_target() {
        let mut p = tracking(MetricType::Utilization, 50.0);
        let r = recommend(&mut p, Some(75.0), 4, 4);
        assert_eq!(capacity(&r), Recommendation::Capacity(6));
        assert!(
            r.reason.contains("4 serving x 75.00/50 = 6.00 -> 6"),
            "{}",
            r.reason
        );
        // Partial instances round up.
        assert_eq!(
            advice(&mut p, Some(70.0), 4, 4),
            Recommendation::Capacity(6)
        );
        assert_eq!(
            advice(&mut p, Some(20.0), 4, 4),
            Recommendation::Capacity(2)
        );
    }

    #[test]
    fn inside_the_tolerance_band_it_keeps_the_current_capacity() {
        let mut p = tracking(MetricType::Utilization, 50.0);
        for value in [45.0, 50.0, 54.0, 55.0] {
            let r = recommend(&mut p, Some(value), 4, 4);
            assert_eq!(capacity(&r), Recommendation::Capacity(4), "{value}");
            assert!(r.reason.contains("within 10% of target 50"), "{}", r.reason);
        }
        // Just outside the band on either side.
        assert_eq!(
            advice(&mut p, Some(55.5), 4, 4),
            Recommendation::Capacity(5)
        );
        assert_eq!(
            advice(&mut p, Some(44.5), 4, 4),
            Recommendation::Capacity(4)
        );
        assert_eq!(
            advice(&mut p, Some(30.0), 10, 10),
            Recommendation::Capacity(6)
        );
    }

    #[test]
    fn the_band_is_set_by_tolerance() {
        let mut p = TargetTracking::new(TargetTrackingSpec {
            tolerance: 0.0,
            ..tracking(MetricType::Utilization, 50.0).spec
        });
        assert_eq!(
            advice(&mut p, Some(52.0), 10, 10),
            Recommendation::Capacity(11)
        );
        let mut p = TargetTracking::new(TargetTrackingSpec {
            tolerance: 0.5,
            ..tracking(MetricType::Utilization, 50.0).spec
        });
        assert_eq!(
            advice(&mut p, Some(74.0), 10, 10),
            Recommendation::Capacity(10)
        );
    }

    #[test]
    fn load_per_instance_divides_the_total_load_by_the_target() {
        // 4 serving instances at 150 requests each = 600; 100 per instance wanted.
        let mut p = tracking(MetricType::LoadPerInstance, 100.0);
        assert_eq!(
            advice(&mut p, Some(150.0), 4, 4),
            Recommendation::Capacity(6)
        );
    }

    #[test]
    fn load_total_needs_no_serving_instance() {
        let mut p = tracking(MetricType::LoadTotal, 100.0);
        assert_eq!(
            advice(&mut p, Some(1000.0), 4, 4),
            Recommendation::Capacity(10)
        );
        // A group at zero still gets a recommendation from the total load.
        assert_eq!(
            advice(&mut p, Some(250.0), 0, 0),
            Recommendation::Capacity(3)
        );
        assert_eq!(advice(&mut p, Some(0.0), 3, 3), Recommendation::Capacity(0));
    }

    #[test]
    fn only_serving_instances_count() {
        // 6 desired, 2 of them still warming: the 4 serving run at 75%.
        let mut p = tracking(MetricType::Utilization, 50.0);
        let r = recommend(&mut p, Some(75.0), 6, 4);
        assert_eq!(capacity(&r), Recommendation::Capacity(6));
        assert!(r.reason.contains("4 serving"), "{}", r.reason);
    }

    #[test]
    fn a_per_instance_metric_without_serving_instances_is_missing_data() {
        for metric_type in [MetricType::Utilization, MetricType::LoadPerInstance] {
            let mut p = tracking(metric_type, 50.0);
            let r = recommend(&mut p, Some(75.0), 2, 0);
            assert_eq!(capacity(&r), Recommendation::MissingData);
            assert!(r.reason.contains("no instance in service"), "{}", r.reason);
        }
    }

    #[test]
    fn a_missing_or_stale_metric_is_missing_data() {
        let mut p = tracking(MetricType::Utilization, 50.0);
        let r = recommend(&mut p, None, 4, 4);
        assert_eq!(capacity(&r), Recommendation::MissingData);
        assert!(r.reason.contains("`m` is missing or stale"), "{}", r.reason);
    }

    #[test]
    fn disable_scale_in_keeps_capacity_but_still_scales_out() {
        let mut p = TargetTracking::new(TargetTrackingSpec {
            disable_scale_in: true,
            ..tracking(MetricType::Utilization, 50.0).spec
        });
        let r = recommend(&mut p, Some(10.0), 8, 8);
        assert_eq!(capacity(&r), Recommendation::Capacity(8));
        assert!(r.reason.contains("scale-in is disabled"), "{}", r.reason);
        assert_eq!(
            advice(&mut p, Some(100.0), 8, 8),
            Recommendation::Capacity(16)
        );
    }

    #[test]
    fn float_noise_does_not_add_an_instance() {
        // 1 x 2.1 / 0.3 is 7.000000000000001 in floating point.
        let mut p = tracking(MetricType::Utilization, 0.3);
        assert_eq!(advice(&mut p, Some(2.1), 1, 1), Recommendation::Capacity(7));
    }
}
