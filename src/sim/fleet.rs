//! The simulated fleet against what a policy file says about it.
//!
//! A predictive policy's `target_per_instance` is a load in the trace's
//! units, while the simulator sizes its instances from the trace
//! (`--capacity-per-instance`, or so the 99th-percentile load needs 45% of
//! max capacity). When the two disagree by orders of magnitude the forecast
//! is right and the capacity still wrong: the example policy's 1000 requests
//! per instance on a trace of 6 million a minute asks 6,000 instances and is
//! capped at max the whole run; on a trace of 50 a minute it asks one and
//! never adds anything. [`matched_to_fleet`] sizes the predictive policies
//! for the simulated fleet (what the benches compare), and
//! [`fleet_mismatch_notes`] tells `ebb simulate`'s reader when a policy is
//! in either case.

use super::run::tracked_metric;
use super::trace::Trace;
use crate::policy::predictive::capacity_for;
use crate::policy_file::{PolicyFile, PolicySpec, PredictiveSpec, SimulatedMetric};

/// The predictive policy's metric per unit of the trace's load (per
/// minute); `None` when that metric is not a fleet-wide load.
fn metric_per_load(file: &PolicyFile, spec: &PredictiveSpec) -> Option<f64> {
    match file.metrics.get(&spec.metric)?.simulated_kind()? {
        SimulatedMetric::RequestCount | SimulatedMetric::Load => Some(1.0),
        SimulatedMetric::RequestRate => Some(1.0 / 60.0),
        SimulatedMetric::CpuUtilization
        | SimulatedMetric::RequestCountPerTarget
        | SimulatedMetric::InFlightPerInstance => None,
    }
}

/// The load one simulated instance carries at the file's target-tracking
/// target, in the units of the predictive policy's metric.
fn load_at_target(
    file: &PolicyFile,
    spec: &PredictiveSpec,
    capacity_per_instance: f64,
) -> Option<f64> {
    let per_minute = tracked_metric(file).load_per_instance_at_target(capacity_per_instance);
    metric_per_load(file, spec).map(|factor| per_minute * factor)
}

/// `file` with every predictive policy's `target_per_instance` set to the
/// load one simulated instance carries at the target-tracking target, so
/// the forecast and the reactive policy size the same fleet.
pub fn matched_to_fleet(file: &PolicyFile, capacity_per_instance: f64) -> PolicyFile {
    let mut matched = file.clone();
    for policy in &mut matched.policies {
        if let PolicySpec::Predictive(spec) = policy
            && let Some(load) = load_at_target(file, spec, capacity_per_instance)
        {
            spec.target_per_instance = load;
        }
    }
    matched
}

/// A note for each predictive policy whose `target_per_instance` makes the
/// trace's 99th-percentile load need more than max capacity (it would be
/// capped at max through every peak) or no more than min capacity (it could
/// never add an instance), with the value that fits the simulated fleet.
pub fn fleet_mismatch_notes(
    file: &PolicyFile,
    trace: &Trace,
    capacity_per_instance: f64,
) -> Vec<String> {
    let mut values = trace.values().to_vec();
    let p99_load = crate::signal::quantile(&mut values, 0.99);
    let (min, max) = (file.target.min_capacity, file.target.max_capacity);
    let mut notes = Vec::new();
    for policy in &file.policies {
        let PolicySpec::Predictive(spec) = policy else {
            continue;
        };
        let (Some(factor), Some(fits)) = (
            metric_per_load(file, spec),
            load_at_target(file, spec, capacity_per_instance),
        ) else {
            continue;
        };
        let p99 = p99_load * factor;
        let needs = capacity_for(p99, spec.target_per_instance, spec.buffer_percent);
        let effect = if needs > max {
            format!("more than max capacity {max}: it recommends max through every peak")
        } else if needs <= min {
            format!("no more than min capacity {min}: it never adds an instance")
        } else {
            continue;
        };
        notes.push(format!(
            "predictive policy `{}`: target_per_instance {} makes the trace's 99th-percentile load need {needs} instances, {effect}; a simulated instance carries {fits:.1} at the target-tracking target (set target_per_instance to that, or --capacity-per-instance to your fleet's)",
            spec.name, spec.target_per_instance
        ));
    }
    notes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_file::load_file;
    use crate::sim::run::{SimOptions, default_capacity_per_instance, simulate};
    use crate::sim::synth::{Shape, SynthSpec, synthesize};
    use std::sync::Arc;

    fn web_predictive() -> PolicyFile {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        load_file(&root.join("policies/web-predictive.toml")).unwrap()
    }

    fn predictive(file: &PolicyFile) -> &PredictiveSpec {
        file.policies
            .iter()
            .find_map(|p| match p {
                PolicySpec::Predictive(spec) => Some(spec),
                _ => None,
            })
            .expect("the example has a predictive policy")
    }

    /// A seasonal synthetic trace (5-minute steps) with its peak at `peak`.
    fn seasonal(days: u32, peak: f64) -> Trace {
        synthesize(&SynthSpec {
            shape: Shape::Seasonal,
            days,
            step: chrono::Duration::minutes(5),
            peak,
            ..SynthSpec::default()
        })
    }

    #[test]
    fn matched_policy_carries_what_an_instance_serves_at_the_tracking_target() {
        let file = web_predictive();
        assert_eq!(predictive(&file).target_per_instance, 1000.0);
        // Target tracking at 50% CPU: an instance serving 8000 a minute at
        // 100% carries 4000 at target.
        let matched = matched_to_fleet(&file, 8000.0);
        assert_eq!(predictive(&matched).target_per_instance, 4000.0);
    }

    #[test]
    fn notes_say_when_the_forecast_is_capped_at_max_or_can_never_add() {
        let file = web_predictive();
        // The azure trace's scale: millions a minute against 1000 per instance.
        let huge = seasonal(1, 6.0e6);
        let cpi = default_capacity_per_instance(&huge, file.target.max_capacity).unwrap();
        let notes = fleet_mismatch_notes(&file, &huge, cpi);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].contains("`requests-forecast`")
                && notes[0].contains("more than max capacity 40"),
            "{}",
            notes[0]
        );
        // The Twitter traces' scale: tens a minute need one instance.
        let tiny = seasonal(1, 60.0);
        let cpi = default_capacity_per_instance(&tiny, file.target.max_capacity).unwrap();
        let notes = fleet_mismatch_notes(&file, &tiny, cpi);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(notes[0].contains("never adds an instance"), "{}", notes[0]);
        // Sized for the simulated fleet: nothing to say.
        assert!(fleet_mismatch_notes(&matched_to_fleet(&file, cpi), &tiny, cpi).is_empty());
    }

    /// The azure regression: the replay compared target tracking with
    /// target tracking + a forecast sized for another fleet, capped at max
    /// the whole run. Sized for the simulated fleet, the same load at any
    /// scale scales the same way.
    #[test]
    fn a_matched_predictive_policy_scales_the_same_at_any_load_scale() {
        let file = web_predictive();
        let mut instance_hours = Vec::new();
        for peak in [600.0, 6.0e6] {
            let trace = Arc::new(seasonal(2, peak));
            let cpi = default_capacity_per_instance(&trace, file.target.max_capacity).unwrap();
            let options = SimOptions {
                capacity_per_instance: Some(cpi),
                baselines: false,
                ..SimOptions::default()
            };
            let report = simulate(&matched_to_fleet(&file, cpi), trace, &options).unwrap();
            assert!(
                !report.notes.iter().any(|n| n.contains("predictive policy")),
                "{:?}",
                report.notes
            );
            instance_hours.push(report.runs[0].score.instance_hours);
        }
        assert_eq!(instance_hours[0], instance_hours[1]);
    }

    #[test]
    fn simulate_notes_a_predictive_policy_sized_for_another_fleet() {
        let file = web_predictive();
        let trace = Arc::new(seasonal(1, 6.0e6));
        let options = SimOptions {
            baselines: false,
            ..SimOptions::default()
        };
        let report = simulate(&file, trace, &options).unwrap();
        assert!(
            report
                .notes
                .iter()
                .any(|n| n.contains("`requests-forecast`") && n.contains("more than max capacity")),
            "{:?}",
            report.notes
        );
    }
}
