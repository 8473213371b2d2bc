//! Scaling quality, scored with the SPEC Research Group's elasticity metrics
//! (Herbst et al., "Ready for Rain? A View from SPEC Research on the Future of
//! Cloud Metrics", 2016) plus cost and stability.
//!
//! Demand is the number of instances the load needs at 100% utilization;
//! supply is the number of instances in service. Each is sampled per minute.

use super::cloud::Sample;
use serde::{Deserialize, Serialize};

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
}

/// Scores per-minute samples.
pub fn score(samples: &[Sample], capacity_per_instance: f64, max_capacity: u32) -> Score {
    let minutes = samples.len().max(1) as f64;
    let mut score = Score {
        under_accuracy: 0.0,
        over_accuracy: 0.0,
        under_timeshare: 0.0,
        over_timeshare: 0.0,
        capacity_changes: 0,
        instance_hours: 0.0,
        time_at_max: 0.0,
        mean_utilization: 0.0,
    };
    let mut previous_desired = samples.first().map(|s| s.desired);
    for sample in samples {
        let demand = sample.demand(capacity_per_instance);
        let supply = sample.serving;
        let scale = f64::from(demand.max(1));
        if supply < demand {
            score.under_accuracy += f64::from(demand - supply) / scale;
            score.under_timeshare += 1.0;
        } else if supply > demand {
            score.over_accuracy += f64::from(supply - demand) / scale;
            score.over_timeshare += 1.0;
        }
        if previous_desired != Some(sample.desired) {
            score.capacity_changes += 1;
            previous_desired = Some(sample.desired);
        }
        if sample.desired >= max_capacity {
            score.time_at_max += 1.0;
        }
        score.instance_hours += f64::from(sample.running) / 60.0;
        score.mean_utilization += sample.utilization(capacity_per_instance);
    }
    for share in [
        &mut score.under_accuracy,
        &mut score.over_accuracy,
        &mut score.under_timeshare,
        &mut score.over_timeshare,
        &mut score.time_at_max,
    ] {
        *share *= 100.0 / minutes;
    }
    score.mean_utilization /= minutes;
    score
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::DateTime;

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
        let s = score(&samples, 100.0, 6);
        assert_eq!(s.under_accuracy, 12.5);
        assert_eq!(s.over_accuracy, 25.0);
        assert_eq!(s.under_timeshare, 25.0);
        assert_eq!(s.over_timeshare, 50.0);
        assert_eq!(s.capacity_changes, 2);
        assert_eq!(s.time_at_max, 50.0);
        assert!((s.instance_hours - 18.0 / 60.0).abs() < 1e-12);
    }
}
