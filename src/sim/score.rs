//! Scaling quality, scored with the SPEC Research Group's elasticity metrics
//! (Herbst et al., "Ready for Rain? A View from SPEC Research on the Future of
//! Cloud Metrics", 2016) plus cost and stability.
//!
//! Demand is the number of instances the load needs at 100% utilization;
//! supply is the number of instances in service. Each is sampled per minute.

use super::baseline::TrackedMetric;
use super::cloud::{Sample, demand};
use crate::decision::{DecisionRecord, MetricStatus};
use crate::policy_file::{MetricType, PolicyFile, PolicySpec};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How well one controller kept supply at demand over a run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Score {
    /// theta_U: average shortfall relative to demand, percent.
    pub under_accuracy: f64,
    /// theta_O: average excess relative to demand, percent.
    pub over_accuracy: f64,
    /// tau_U: share of time with supply below demand, percent.
    pub under_timeshare: f64,
    /// tau_O: share of time with supply above demand, percent.
    pub over_timeshare: f64,
    /// How many times the desired capacity changed.
    pub capacity_changes: u32,
    /// Instances running or booting, integrated over time.
    pub instance_hours: f64,
    /// Share of time with the desired capacity at the maximum, percent.
    pub time_at_max: f64,
    /// Mean utilization of serving instances, percent (capped at 100 each minute).
    pub mean_utilization: f64,
    /// Share of minutes the tracked metric was above its target by more than
    /// the policy's tolerance, percent; `None` where no metric is known.
    #[serde(default)]
    pub above_target: Option<f64>,
    /// Mean instances in service beyond those that would have held the
    /// tracked metric at its target; `None` where no metric is known.
    #[serde(default)]
    pub excess_instances: Option<f64>,
}

/// One moment of a run, as scoring sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CapacityPoint {
    /// Instances the load needs.
    pub demand: u32,
    /// Instances serving.
    pub supply: u32,
    /// Instances paid for (serving or booting).
    pub running: u32,
    /// The group's desired capacity.
    pub desired: u32,
    /// Percent, capped at 100.
    pub utilization: f64,
}

/// Scores per-minute samples of the simulated cloud, and how they kept the
/// tracked metric at its target.
pub fn score(
    samples: &[Sample],
    capacity_per_instance: f64,
    max_capacity: u32,
    tracked: &TrackedMetric,
) -> Score {
    let points = samples.iter().map(|s| CapacityPoint {
        demand: s.demand(capacity_per_instance),
        supply: s.serving,
        running: s.running,
        desired: s.desired,
        utilization: s.utilization(capacity_per_instance),
    });
    let mut score = score_points(points, max_capacity, 1.0 / 60.0);
    let per_instance = tracked.load_per_instance_at_target(capacity_per_instance);
    let limit = tracked.target * (1.0 + tracked.tolerance);
    let (mut above, mut excess) = (0usize, 0u64);
    for s in samples {
        if s.metric(tracked.kind, capacity_per_instance) > limit {
            above += 1;
        }
        excess += u64::from(s.serving.saturating_sub(demand(s.load, per_instance)));
    }
    let minutes = samples.len().max(1) as f64;
    score.above_target = Some(above as f64 * 100.0 / minutes);
    score.excess_instances = Some(excess as f64 / minutes);
    score
}

/// Scores points taken at a regular step of `step_hours`.
pub fn score_points(
    points: impl IntoIterator<Item = CapacityPoint>,
    max_capacity: u32,
    step_hours: f64,
) -> Score {
    let mut score = Score {
        under_accuracy: 0.0,
        over_accuracy: 0.0,
        under_timeshare: 0.0,
        over_timeshare: 0.0,
        capacity_changes: 0,
        instance_hours: 0.0,
        time_at_max: 0.0,
        mean_utilization: 0.0,
        above_target: None,
        excess_instances: None,
    };
    let mut count = 0usize;
    let mut previous_desired = None;
    for point in points {
        count += 1;
        let (demand, supply) = (point.demand, point.supply);
        let scale = f64::from(demand.max(1));
        if supply < demand {
            score.under_accuracy += f64::from(demand - supply) / scale;
            score.under_timeshare += 1.0;
        } else if supply > demand {
            score.over_accuracy += f64::from(supply - demand) / scale;
            score.over_timeshare += 1.0;
        }
        if previous_desired.is_some_and(|p| p != point.desired) {
            score.capacity_changes += 1;
        }
        previous_desired = Some(point.desired);
        if point.desired >= max_capacity {
            score.time_at_max += 1.0;
        }
        score.instance_hours += f64::from(point.running) * step_hours;
        score.mean_utilization += point.utilization;
    }
    let count = count.max(1) as f64;
    for share in [
        &mut score.under_accuracy,
        &mut score.over_accuracy,
        &mut score.under_timeshare,
        &mut score.over_timeshare,
        &mut score.time_at_max,
    ] {
        *share *= 100.0 / count;
    }
    score.mean_utilization /= count;
    score
}

/// The live policy and its shadow candidates, scored on the same decisions.
#[derive(Debug, Clone)]
pub struct ShadowComparison {
    /// The policy whose metric defines demand for the scores.
    pub tracked_policy: String,
    /// Records scored.
    pub scored: usize,
    /// Records left out (no demand could be worked out for them).
    pub skipped: usize,
    /// The live policy's score.
    pub live: Score,
    /// Each shadow candidate's score, by candidate name.
    pub candidates: Vec<(String, Score)>,
}

/// Scores the live records and each candidate's records of the same
/// evaluations. Demand at each evaluation is the capacity that holds the
/// live policy's first target-tracking metric at its target, as observed
/// under the live policy; supply is each one's decided capacity.
pub fn compare_live_and_shadows(
    file: &PolicyFile,
    live: &[DecisionRecord],
    shadows: &BTreeMap<String, Vec<DecisionRecord>>,
) -> Result<ShadowComparison, String> {
    let tracked = file
        .policies
        .iter()
        .find_map(|p| match p {
            PolicySpec::TargetTracking(tt) => Some(tt),
            _ => None,
        })
        .ok_or("the live policy has no target-tracking policy to define demand with")?;
    let demand_at = |record: &DecisionRecord| -> Option<u32> {
        let metric = record.metrics.iter().find(|m| m.name == tracked.metric)?;
        let value = metric
            .smoothed
            .filter(|_| metric.status == MetricStatus::Ok)?;
        let serving = f64::from(record.capacity.in_service);
        let needed = match tracked.metric_type {
            MetricType::Utilization | MetricType::LoadPerInstance => {
                serving * value / tracked.target
            }
            MetricType::LoadTotal => value / tracked.target,
        };
        Some((needed - 1e-9).ceil().max(0.0) as u32)
    };
    let demands: BTreeMap<DateTime<Utc>, u32> = live
        .iter()
        .filter_map(|r| Some((r.time, demand_at(r)?)))
        .collect();
    let step_hours = file.target.interval.as_secs_f64() / 3600.0;
    let max = file.target.max_capacity;
    let points = |records: &[DecisionRecord]| -> Vec<CapacityPoint> {
        records
            .iter()
            .filter_map(|r| {
                let demand = *demands.get(&r.time)?;
                Some(CapacityPoint {
                    demand,
                    supply: r.desired,
                    running: r.desired,
                    desired: r.desired,
                    utilization: (100.0 * f64::from(demand) / f64::from(r.desired.max(1)))
                        .min(100.0),
                })
            })
            .collect()
    };
    let live_points = points(live);
    Ok(ShadowComparison {
        tracked_policy: tracked.name.clone(),
        scored: live_points.len(),
        skipped: live.len() - live_points.len(),
        live: score_points(live_points, max, step_hours),
        candidates: shadows
            .iter()
            .map(|(name, records)| (name.clone(), score_points(points(records), max, step_hours)))
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(load: f64, serving: u32, desired: u32) -> Sample {
        Sample {
            time: DateTime::UNIX_EPOCH,
            load,
            serving,
            running: desired,
            desired,
        }
    }

    #[test]
    fn scores_shortfall_excess_and_changes() {
        // Demand 4 throughout (load 400, 100 per instance).
        let samples = [
            sample(400.0, 2, 2), // under by 50%
            sample(400.0, 4, 4), // exact
            sample(400.0, 6, 6), // over by 50%
            sample(400.0, 6, 6),
        ];
        // CPU at 50% (+-10%): one instance carries 50 at target, so 8 hold it.
        let cpu_50 = TrackedMetric {
            kind: crate::policy_file::SimulatedMetric::CpuUtilization,
            target: 50.0,
            tolerance: 0.1,
        };
        let s = score(&samples, 100.0, 6, &cpu_50);
        // Utilization 100, 100, 66.7, 66.7: all above 55%.
        assert_eq!(s.above_target, Some(100.0));
        // Never more than the 8 that hold the target: no excess.
        assert_eq!(s.excess_instances, Some(0.0));
        let light = [sample(100.0, 2, 2), sample(100.0, 5, 5)];
        let s = score(&light, 100.0, 6, &cpu_50);
        // Load 100 needs 2 at 50%: 50% then 20%, none above; excess 0 and 3.
        assert_eq!(s.above_target, Some(0.0));
        assert_eq!(s.excess_instances, Some(1.5));
        let s = score(&samples, 100.0, 6, &cpu_50);
        assert_eq!(s.under_accuracy, 12.5);
        assert_eq!(s.over_accuracy, 25.0);
        assert_eq!(s.under_timeshare, 25.0);
        assert_eq!(s.over_timeshare, 50.0);
        assert_eq!(s.capacity_changes, 2);
        assert_eq!(s.time_at_max, 50.0);
        assert!((s.instance_hours - 18.0 / 60.0).abs() < 1e-12);
    }
}
