//! The controllers ebb is compared with, emulated on the same simulated cloud.
//!
//! - AWS target tracking, as AWS documents it: a high alarm after 3
//!   consecutive 1-minute datapoints above the target scales out to
//!   `serving x metric / target`; a low alarm after 15 consecutive datapoints
//!   below 90% of the target scales in the same way, at most once per 300 s
//!   scale-in cooldown.
//! - The Kubernetes HPA algorithm: `ceil(ready x metric / target)` outside a
//!   10% tolerance, booting pods counted as idle when scaling up, scale-up at
//!   most to max(2x, +4) per step, and a 300 s scale-down stabilization window.
//! - The reactive limit: the capacity that holds the tracked metric at its
//!   target for the load of the latest published period, set as soon as that
//!   period is published (no alarms, no smoothing, no cooldowns; instances
//!   still boot). No controller that reacts to published metrics without a
//!   forecast can be short less often at the same target: its shortfall is
//!   the publish delay plus the boot time after every rise.
//! - The oracle: the capacity that holds the tracked metric exactly at its
//!   target, known a boot time in advance, so it is in service when needed.
//!   No controller aiming at the same target can use fewer instance-hours
//!   without running hotter than it.

use super::cloud::{SimCloud, demand};
use super::trace::Trace;
use crate::policy_file::SimulatedMetric;
use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;
use std::sync::Arc;

/// What a baseline tracks: a metric kind and its target value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackedMetric {
    /// Which simulated metric the baseline reads.
    pub kind: SimulatedMetric,
    /// The value it holds the metric at, in the metric's units (percent for CPU).
    pub target: f64,
    /// Relative band around the target the policy leaves alone.
    pub tolerance: f64,
}

impl TrackedMetric {
    /// The load one instance carries when the metric is at its target.
    pub fn load_per_instance_at_target(&self, capacity_per_instance: f64) -> f64 {
        match self.kind {
            SimulatedMetric::CpuUtilization | SimulatedMetric::InFlightPerInstance => {
                capacity_per_instance * self.target / 100.0
            }
            // Requests per second: the trace's load is per minute.
            SimulatedMetric::RequestRate => self.target * 60.0,
            SimulatedMetric::RequestCountPerTarget
            | SimulatedMetric::RequestCount
            | SimulatedMetric::Load => self.target,
        }
    }
}

/// A controller stepped once a minute on its own simulated cloud.
pub trait Baseline {
    /// The controller's name in reports, e.g. `aws-target-tracking`.
    fn name(&self) -> &'static str;
    /// Looks at the cloud once (a simulated minute has passed) and sets its desired capacity if the
    /// controller would.
    fn step(&mut self, cloud: &mut SimCloud);
}

/// The capacity `serving` instances need for a metric to come to its target.
fn proportional(serving: u32, value: f64, target: f64) -> u32 {
    (f64::from(serving) * value / target - 1e-9).ceil().max(0.0) as u32
}

/// Sets the desired capacity within the group's bounds, if it changes.
fn set_within_bounds(cloud: &mut SimCloud, desired: u32) {
    let bounded = desired.clamp(cloud.config().min, cloud.config().max);
    if bounded != cloud.desired() {
        cloud
            .set_desired(bounded)
            .expect("bounded capacity is within the group's bounds");
    }
}

/// AWS target tracking's alarms and policy.
#[derive(Debug)]
pub struct AwsTargetTracking {
    metric: TrackedMetric,
    above: u32,
    below: u32,
    last_seen: Option<DateTime<Utc>>,
    last_scale_in: Option<DateTime<Utc>>,
}

impl AwsTargetTracking {
    const HIGH_DATAPOINTS: u32 = 3;
    const LOW_DATAPOINTS: u32 = 15;
    const LOW_THRESHOLD: f64 = 0.9;
    const SCALE_IN_COOLDOWN_S: i64 = 300;

    /// AWS target tracking on `metric`, with AWS's alarm datapoints and cooldown.
    pub fn new(metric: TrackedMetric) -> Self {
        AwsTargetTracking {
            metric,
            above: 0,
            below: 0,
            last_seen: None,
            last_scale_in: None,
        }
    }
}

impl Baseline for AwsTargetTracking {
    fn name(&self) -> &'static str {
        "aws-target-tracking"
    }

    fn step(&mut self, cloud: &mut SimCloud) {
        let Some((time, value)) = cloud.latest_published(self.metric.kind) else {
            return;
        };
        if self.last_seen == Some(time) {
            return;
        }
        self.last_seen = Some(time);
        let target = self.metric.target;
        if value > target {
            self.above += 1;
            self.below = 0;
        } else if value < target * Self::LOW_THRESHOLD {
            self.below += 1;
            self.above = 0;
        } else {
            self.above = 0;
            self.below = 0;
        }
        let wanted = proportional(cloud.serving(), value, target);
        let now = cloud.now();
        // An alarm in ALARM keeps invoking the policy every minute; launches
        // already under way count, so only the difference is added.
        if self.above >= Self::HIGH_DATAPOINTS && wanted > cloud.desired() {
            set_within_bounds(cloud, wanted);
        }
        let cooled = self
            .last_scale_in
            .is_none_or(|t| (now - t).num_seconds() >= Self::SCALE_IN_COOLDOWN_S);
        if self.below >= Self::LOW_DATAPOINTS && cooled && wanted < cloud.desired() {
            set_within_bounds(cloud, wanted);
            self.last_scale_in = Some(now);
        }
    }
}

/// The Kubernetes Horizontal Pod Autoscaler's algorithm.
#[derive(Debug)]
pub struct KubernetesHpa {
    metric: TrackedMetric,
    recommendations: VecDeque<(DateTime<Utc>, u32)>,
}

impl KubernetesHpa {
    const TOLERANCE: f64 = 0.1;
    const SCALE_DOWN_STABILIZATION_S: i64 = 300;

    /// The Kubernetes HPA's algorithm on `metric`, with its tolerance and scale-down stabilization.
    pub fn new(metric: TrackedMetric) -> Self {
        KubernetesHpa {
            metric,
            recommendations: VecDeque::new(),
        }
    }

    fn recommend(&self, value: f64, ready: u32, current: u32) -> u32 {
        let target = self.metric.target;
        let ratio = value / target;
        if (ratio - 1.0).abs() <= Self::TOLERANCE {
            return current;
        }
        if ratio < 1.0 {
            return proportional(ready, value, target);
        }
        // Booting pods are assumed idle, which damps scale-up while they start.
        let all = current.max(ready);
        let damped = f64::from(ready) * value / (target * f64::from(all.max(1)));
        if damped <= 1.0 + Self::TOLERANCE {
            return current;
        }
        let wanted = proportional(ready, value, target);
        wanted.min((current * 2).max(current + 4))
    }
}

impl Baseline for KubernetesHpa {
    fn name(&self) -> &'static str {
        "kubernetes-hpa"
    }

    fn step(&mut self, cloud: &mut SimCloud) {
        let Some((_, value)) = cloud.latest_published(self.metric.kind) else {
            return;
        };
        let (ready, current, now) = (cloud.serving(), cloud.desired(), cloud.now());
        if ready == 0 {
            return;
        }
        let recommendation = self.recommend(value, ready, current);
        self.recommendations.push_back((now, recommendation));
        while self
            .recommendations
            .front()
            .is_some_and(|(t, _)| (now - *t).num_seconds() > Self::SCALE_DOWN_STABILIZATION_S)
        {
            self.recommendations.pop_front();
        }
        let desired = if recommendation < current {
            let highest = self
                .recommendations
                .iter()
                .map(|(_, r)| *r)
                .max()
                .unwrap_or(current);
            highest.min(current)
        } else {
            recommendation
        };
        set_within_bounds(cloud, desired);
    }
}

/// The reactive limit's name in reports.
pub const REACTIVE_LIMIT: &str = "reactive-limit";

/// The capacity at target for the load of the latest published period, set
/// the moment that period is published.
#[derive(Debug)]
pub struct ReactiveLimit {
    metric: TrackedMetric,
    last_seen: Option<DateTime<Utc>>,
}

impl ReactiveLimit {
    /// The best a reactive controller could do on `metric`: it reads the metric without delay.
    pub fn new(metric: TrackedMetric) -> Self {
        ReactiveLimit {
            metric,
            last_seen: None,
        }
    }
}

impl Baseline for ReactiveLimit {
    fn name(&self) -> &'static str {
        REACTIVE_LIMIT
    }

    fn step(&mut self, cloud: &mut SimCloud) {
        // The load itself, not the tracked metric: CPU is capped at 100% and
        // would hide how far a burst goes past the fleet's capacity.
        let Some((time, load)) = cloud.latest_published(SimulatedMetric::Load) else {
            return;
        };
        if self.last_seen == Some(time) {
            return;
        }
        self.last_seen = Some(time);
        let per_instance = self
            .metric
            .load_per_instance_at_target(cloud.config().capacity_per_instance);
        set_within_bounds(cloud, demand(load, per_instance));
    }
}

/// The capacity at target for the coming load, known a boot time in advance.
#[derive(Debug)]
pub struct Oracle {
    trace: Arc<Trace>,
    metric: TrackedMetric,
}

impl Oracle {
    /// The oracle: knows the load of `trace` ahead and provisions for it at `metric`'s target.
    pub fn new(trace: Arc<Trace>, metric: TrackedMetric) -> Self {
        Oracle { trace, metric }
    }
}

impl Baseline for Oracle {
    fn name(&self) -> &'static str {
        "oracle"
    }

    fn step(&mut self, cloud: &mut SimCloud) {
        let config = cloud.config();
        let (per_instance, boot) = (
            self.metric
                .load_per_instance_at_target(config.capacity_per_instance),
            config.boot_time,
        );
        let now = cloud.now();
        // What is launched now serves from now + boot; what runs now must
        // cover every minute until then.
        let minutes = boot.num_minutes().max(0);
        let needed = (0..=minutes)
            .map(|m| {
                demand(
                    self.trace
                        .load_at(now + Duration::minutes(m) + Duration::seconds(30)),
                    per_instance,
                )
            })
            .max()
            .unwrap_or(0);
        set_within_bounds(cloud, needed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::cloud::CloudConfig;

    fn cloud_with(loads: Vec<f64>, initial: u32) -> (SimCloud, Arc<Trace>) {
        let start = DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let trace = Arc::new(Trace::new(start, Duration::minutes(1), loads).unwrap());
        let config = CloudConfig {
            capacity_per_instance: 100.0,
            boot_time: Duration::minutes(5),
            publish_delay: Duration::minutes(2),
            min: 1,
            max: 20,
        };
        (
            SimCloud::new("web", trace.clone(), config, initial, start),
            trace,
        )
    }

    /// Steps the baseline every minute until `until` minutes after the start.
    fn run_until(baseline: &mut dyn Baseline, cloud: &mut SimCloud, until: i64) {
        let start = cloud.samples().first().map_or(cloud.now(), |s| s.time);
        let done = cloud.samples().len() as i64;
        for m in done + 1..=until {
            cloud.advance_to(start + Duration::minutes(m));
            baseline.step(cloud);
        }
    }

    const CPU_50: TrackedMetric = TrackedMetric {
        tolerance: 0.1,
        kind: SimulatedMetric::CpuUtilization,
        target: 50.0,
    };

    #[test]
    fn aws_scales_out_after_three_breaches_and_in_after_fifteen() {
        // 4 instances at 300 load: 75% CPU, above the 50% target.
        let (mut cloud, _) = cloud_with(vec![300.0; 60], 4);
        let mut aws = AwsTargetTracking::new(CPU_50);
        // Minute m's datapoint is visible at m + 3: the third breach at minute 5.
        run_until(&mut aws, &mut cloud, 4);
        assert_eq!(cloud.desired(), 4);
        run_until(&mut aws, &mut cloud, 5);
        assert_eq!(cloud.desired(), 6);

        let (mut quiet, _) = cloud_with(vec![100.0; 60], 8);
        let mut aws = AwsTargetTracking::new(CPU_50);
        run_until(&mut aws, &mut quiet, 16);
        assert_eq!(quiet.desired(), 8, "14 low datapoints are not enough");
        run_until(&mut aws, &mut quiet, 17);
        assert_eq!(quiet.desired(), 2);
    }

    #[test]
    fn hpa_ignores_small_deviations_and_stabilizes_scale_down() {
        // 52.5% for 10 minutes (within 10% of 50%), then 25%.
        let mut loads = vec![210.0; 10];
        loads.extend(vec![100.0; 40]);
        let (mut cloud, _) = cloud_with(loads, 4);
        let mut hpa = KubernetesHpa::new(CPU_50);
        run_until(&mut hpa, &mut cloud, 12);
        assert_eq!(cloud.desired(), 4);
        // The 25% datapoints are visible from minute 13; the window still
        // holds recommendations of 4 until 5 minutes later.
        run_until(&mut hpa, &mut cloud, 17);
        assert_eq!(cloud.desired(), 4);
        run_until(&mut hpa, &mut cloud, 20);
        assert_eq!(cloud.desired(), 2);
    }

    #[test]
    fn hpa_counts_booting_pods_as_idle_when_scaling_up() {
        let hpa = KubernetesHpa::new(CPU_50);
        // 2 ready of 4 at 90%: ignoring the booting pods would ask for 4;
        // counted as idle they bring the average to 45%, within target.
        assert_eq!(hpa.recommend(90.0, 2, 4), 4);
        assert_eq!(hpa.recommend(100.0, 4, 4), 8);
        assert_eq!(hpa.recommend(100.0, 2, 2), 4);
        assert_eq!(
            hpa.recommend(500.0, 2, 2),
            6,
            "scale-up limited to max(2x, +4)"
        );
    }

    #[test]
    fn reactive_limit_sets_capacity_at_target_once_each_period_is_published() {
        // 4 instances' worth of load on 8, then 12 from minute 10.
        let mut loads = vec![400.0; 10];
        loads.extend(vec![1200.0; 30]);
        let (mut cloud, _) = cloud_with(loads, 8);
        let mut limit = ReactiveLimit::new(CPU_50);
        // Minute 9 (load 800, halfway up the step) is published at minute 12.
        run_until(&mut limit, &mut cloud, 11);
        assert_eq!(cloud.desired(), 8);
        run_until(&mut limit, &mut cloud, 12);
        assert_eq!(cloud.desired(), 16);
        run_until(&mut limit, &mut cloud, 13);
        assert_eq!(cloud.desired(), 20, "bounded by the group's max");
        // Booting instances serve 5 minutes after launch, no earlier.
        assert_eq!(cloud.serving(), 8);
        run_until(&mut limit, &mut cloud, 17);
        assert_eq!(cloud.serving(), 16);
    }

    #[test]
    fn oracle_holds_the_target_once_warmed() {
        let mut loads = vec![100.0; 30];
        loads.extend(vec![900.0; 30]);
        let (mut cloud, trace) = cloud_with(loads, 2);
        let mut oracle = Oracle::new(trace, CPU_50);
        run_until(&mut oracle, &mut cloud, 59);
        for s in cloud.samples() {
            assert!(s.utilization(100.0) <= 50.0, "above target at {}", s.time);
        }
        assert_eq!(cloud.samples()[58].serving, 18);
        assert_eq!(cloud.samples()[10].serving, 2);
    }
}
