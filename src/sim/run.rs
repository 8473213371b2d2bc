//! One simulation run: ebb's real control loop and the baselines, each on its
//! own copy of the simulated cloud, replaying the same trace.

use super::baseline::{
    AwsTargetTracking, Baseline, KubernetesHpa, Oracle, ReactiveLimit, TrackedMetric,
};
use super::cloud::{CloudConfig, Sample, SimCloud, SimHandle, demand};
use super::fleet::fleet_mismatch_notes;
use super::score::{Score, score};
use super::trace::Trace;
use crate::clock::{Clock, ManualClock};
use crate::control_loop::ControlLoop;
use crate::decision::DecisionRecord;
use crate::evaluator::TargetEvaluator;
use crate::forecast::memo::ForecastMemo;
use crate::policy_file::{MetricType, Mode, PolicyFile, PolicySpec, SimulatedMetric};
use crate::signal::to_chrono;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::sync::Arc;

/// How to simulate.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOptions {
    /// Load one instance serves at 100% utilization; derived from the trace
    /// and the policy's max capacity when absent.
    pub capacity_per_instance: Option<f64>,
    /// Time from launch to in service; default 5 minutes.
    pub boot_time: Duration,
    /// How long after a period ends its metrics become visible; default 2 minutes.
    pub publish_delay: Duration,
    /// Run the AWS, HPA, reactive-limit and oracle baselines beside ebb.
    pub baselines: bool,
    /// Keep every decision record of ebb's run.
    pub keep_decisions: bool,
    /// Model choices and fits shared with other runs on the same trace
    /// (`ebb tune`'s candidates); `None`: this run's own.
    pub forecasts: Option<Arc<ForecastMemo>>,
}

impl Default for SimOptions {
    fn default() -> Self {
        SimOptions {
            capacity_per_instance: None,
            boot_time: Duration::minutes(5),
            publish_delay: Duration::minutes(2),
            baselines: true,
            keep_decisions: false,
            forecasts: None,
        }
    }
}

/// Why a policy cannot be simulated.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A metric whose measure the simulator cannot tell (its name, no `simulated_as`).
    #[error(
        "metric `{0}`: the simulator cannot tell what it measures; set `simulated_as` to cpu-utilization, request-count, request-count-per-target, load, request-rate or in-flight-per-instance"
    )]
    UnknownMetric(String),
    /// A `--capacity-per-instance` that is not a positive number.
    #[error("--capacity-per-instance must be a positive number, got {0}")]
    BadCapacity(f64),
    /// A trace with no load at all.
    #[error("the trace is all zeros: there is no load to scale on")]
    NoLoad,
}

/// One controller's run.
#[derive(Debug, Clone, Serialize)]
pub struct ControllerRun {
    /// The controller's name: `ebb` or a baseline's.
    pub name: String,
    /// How it did: cost, under-provisioning, changes.
    pub score: Score,
    /// Every minute of the run.
    #[serde(skip)]
    pub samples: Vec<Sample>,
}

/// Everything a simulation found.
#[derive(Debug, Clone, Serialize)]
pub struct SimReport {
    /// The target (group) the policy file names.
    pub target: String,
    /// Time of the trace's first value.
    pub trace_start: DateTime<Utc>,
    /// Time of the trace's last value.
    pub trace_end: DateTime<Utc>,
    /// Minutes simulated.
    pub minutes: usize,
    /// The trace's highest load, in its units per minute.
    pub peak_load: f64,
    /// Load one instance serves at 100% utilization, given or derived.
    pub capacity_per_instance: f64,
    /// Time from launch to in service, seconds.
    pub boot_time_s: i64,
    /// Delay before a period's metrics become visible, seconds.
    pub publish_delay_s: i64,
    /// What the baselines track, in words; `None` when they were not run.
    pub baselines_track: Option<String>,
    /// ebb first, then the baselines.
    pub runs: Vec<ControllerRun>,
    /// What the run noticed that is worth telling (derived figures, trace reading).
    pub notes: Vec<String>,
    /// ebb's decision records, when the options asked to keep them.
    #[serde(skip)]
    pub decisions: Vec<DecisionRecord>,
}

impl SimReport {
    /// A baseline's run by its name, when the baselines ran.
    pub fn baseline(&self, name: &str) -> Option<&ControllerRun> {
        self.runs.iter().skip(1).find(|run| run.name == name)
    }
}

/// Replays `trace` through the policy and the baselines.
pub fn simulate(
    file: &PolicyFile,
    trace: Arc<Trace>,
    options: &SimOptions,
) -> Result<SimReport, SimError> {
    for (name, spec) in &file.metrics {
        if spec.simulated_kind().is_none() {
            return Err(SimError::UnknownMetric(name.clone()));
        }
    }
    let mut notes = Vec::new();
    let capacity_per_instance = match options.capacity_per_instance {
        Some(c) if c > 0.0 && c.is_finite() => c,
        Some(c) => return Err(SimError::BadCapacity(c)),
        None => {
            let c = default_capacity_per_instance(&trace, file.target.max_capacity)
                .ok_or(SimError::NoLoad)?;
            notes.push(format!(
                "capacity per instance {c:.1} (chosen so the trace's 99th-percentile load needs 45% of max capacity; set --capacity-per-instance to your fleet's)"
            ));
            c
        }
    };
    notes.extend(fleet_mismatch_notes(file, &trace, capacity_per_instance));
    let start = trace.start();
    let end = trace.end() + trace.step();
    let config = CloudConfig {
        capacity_per_instance,
        boot_time: options.boot_time,
        publish_delay: options.publish_delay,
        min: file.target.min_capacity,
        max: file.target.max_capacity,
    };
    // Every controller starts at twice the initial demand, all in service.
    let initial = 2 * demand(trace.load_at(start), capacity_per_instance);
    let cloud = SimCloud::new(&file.target.group, trace.clone(), config, initial, start);

    let mut active = file.clone();
    if active.target.mode == Mode::DryRun {
        active.target.mode = Mode::Active;
        notes.push("the policy is in dry-run mode; simulated as if active".into());
    }
    let tracked = tracked_metric(file);
    let (ebb_samples, decisions) = run_ebb(active, cloud.clone(), start, end, options);
    let mut runs = vec![ControllerRun {
        name: format!("ebb ({})", file.target.group),
        score: score(
            &ebb_samples,
            capacity_per_instance,
            file.target.max_capacity,
            &tracked,
        ),
        samples: ebb_samples,
    }];

    if options.baselines {
        let baselines: Vec<Box<dyn Baseline>> = vec![
            Box::new(AwsTargetTracking::new(tracked)),
            Box::new(KubernetesHpa::new(tracked)),
            Box::new(ReactiveLimit::new(tracked)),
            Box::new(Oracle::new(trace.clone(), tracked)),
        ];
        for mut baseline in baselines {
            let samples = run_baseline(baseline.as_mut(), cloud.clone(), start, end);
            runs.push(ControllerRun {
                name: baseline.name().to_string(),
                score: score(
                    &samples,
                    capacity_per_instance,
                    file.target.max_capacity,
                    &tracked,
                ),
                samples,
            });
        }
    }
    if trace.recorded().is_some() {
        let samples = recorded_samples(&trace, start, end);
        runs.push(ControllerRun {
            name: "recorded (the group)".into(),
            score: score(
                &samples,
                capacity_per_instance,
                file.target.max_capacity,
                &tracked,
            ),
            samples,
        });
    }
    Ok(SimReport {
        target: file.target.group.clone(),
        trace_start: start,
        trace_end: end,
        minutes: runs[0].samples.len(),
        peak_load: trace.peak(),
        capacity_per_instance,
        boot_time_s: options.boot_time.num_seconds(),
        publish_delay_s: options.publish_delay.num_seconds(),
        baselines_track: options
            .baselines
            .then(|| format!("{:?} at {}", tracked.kind, tracked.target)),
        runs,
        notes,
        decisions,
    })
}

/// Runs the real control loop on the simulated cloud, on a simulated clock.
fn run_ebb(
    file: PolicyFile,
    cloud: SimCloud,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    options: &SimOptions,
) -> (Vec<Sample>, Vec<DecisionRecord>) {
    let interval = to_chrono(file.target.interval);
    let handle = SimHandle::new(cloud);
    let clock = ManualClock::new(start);
    let mut evaluator = TargetEvaluator::new(file);
    if let Some(memo) = &options.forecasts {
        evaluator.share_forecasts(memo);
    }
    let mut control = ControlLoop::new(
        clock,
        handle.clone(),
        handle.clone(),
        vec![evaluator],
        false,
    );
    let mut decisions = Vec::new();
    drive(&mut control, end, interval, |records| {
        if options.keep_decisions {
            decisions.extend(records);
        }
    });
    (handle.with(|c| c.samples().to_vec()), decisions)
}

/// Drives a loop on a simulated cloud from the clock's time to `end`: the
/// cloud records every minute, the loop evaluates every `interval`, and
/// `each` receives the records of every evaluation.
pub fn drive(
    control: &mut ControlLoop<ManualClock, SimHandle, SimHandle>,
    end: DateTime<Utc>,
    interval: Duration,
    mut each: impl FnMut(Vec<DecisionRecord>),
) {
    let interval = interval.max(Duration::seconds(1));
    let start = control.clock.now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime needs no resources that can fail");
    let (mut next_minute, mut next_evaluation) = (start + Duration::minutes(1), start + interval);
    while next_minute <= end {
        let now = next_minute.min(next_evaluation);
        control.clock.set(now);
        control.source.with(|c| c.advance_to(now));
        if now == next_evaluation {
            each(runtime.block_on(control.evaluate_all()));
            next_evaluation += interval;
        }
        if now == next_minute {
            next_minute += Duration::minutes(1);
        }
    }
}

/// What the real group did, per minute, from a trace that recorded it.
fn recorded_samples(trace: &Trace, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut minute = start;
    while minute + Duration::minutes(1) <= end {
        if let Some(r) = trace.recorded_at(minute) {
            let (desired, in_service) = (r.desired.round() as u32, r.in_service.round() as u32);
            samples.push(Sample {
                time: minute,
                load: trace.load_at(minute + Duration::seconds(30)),
                serving: in_service,
                running: desired.max(in_service),
                desired,
            });
        }
        minute += Duration::minutes(1);
    }
    samples
}

/// Steps a baseline once a minute on its own cloud.
fn run_baseline(
    baseline: &mut dyn Baseline,
    mut cloud: SimCloud,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Vec<Sample> {
    let mut now = start + Duration::minutes(1);
    while now <= end {
        cloud.advance_to(now);
        baseline.step(&mut cloud);
        now += Duration::minutes(1);
    }
    cloud.samples().to_vec()
}

/// The metric and target the baselines track: those of the policy's first
/// target-tracking policy, as a per-instance figure (AWS and the HPA track
/// per-instance metrics); CPU at 50% when the policy has none.
pub fn tracked_metric(file: &PolicyFile) -> TrackedMetric {
    let first = file.policies.iter().find_map(|p| match p {
        PolicySpec::TargetTracking(tt) => Some(tt),
        _ => None,
    });
    let Some(tt) = first else {
        return TrackedMetric {
            kind: SimulatedMetric::CpuUtilization,
            target: 50.0,
            tolerance: 0.1,
        };
    };
    let kind = file
        .metrics
        .get(&tt.metric)
        .and_then(|m| m.simulated_kind());
    let kind = match (tt.metric_type, kind) {
        // A request rate target is per second; the baselines track per-minute counts.
        (
            MetricType::LoadPerInstance | MetricType::LoadTotal,
            Some(SimulatedMetric::RequestRate),
        ) => {
            return TrackedMetric {
                kind: SimulatedMetric::RequestCountPerTarget,
                target: tt.target * 60.0,
                tolerance: tt.tolerance,
            };
        }
        (MetricType::Utilization, Some(kind)) => kind,
        (MetricType::Utilization, None) => SimulatedMetric::CpuUtilization,
        (MetricType::LoadPerInstance | MetricType::LoadTotal, _) => {
            SimulatedMetric::RequestCountPerTarget
        }
    };
    TrackedMetric {
        kind,
        target: tt.target,
        tolerance: tt.tolerance,
    }
}

/// A capacity per instance that makes the trace's 99th-percentile load need
/// 45% of max capacity, so a policy targeting ~50% utilization has room.
pub fn default_capacity_per_instance(trace: &Trace, max_capacity: u32) -> Option<f64> {
    let mut values = trace.values().to_vec();
    let p99 = crate::signal::quantile(&mut values, 0.99);
    (p99 > 0.0).then(|| p99 / (0.45 * f64::from(max_capacity.max(1))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_file::load_file;
    use crate::sim::baseline::REACTIVE_LIMIT;

    fn short_minutes(run: &ControllerRun, capacity_per_instance: f64) -> usize {
        run.samples
            .iter()
            .filter(|s| s.serving < s.demand(capacity_per_instance))
            .count()
    }

    #[test]
    fn reactive_limit_is_short_publish_delay_plus_boot_time_on_a_step_and_ebb_no_less() {
        let policy = load_file(
            &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-cpu.toml"),
        )
        .unwrap();
        // An hour at 400, then three times as much: 4 instances' worth of
        // load, then 12, on a fleet sized for 50% CPU (8 instances).
        let mut loads = vec![400.0; 60];
        loads.extend(vec![1200.0; 60]);
        let start = DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let trace = Arc::new(Trace::new(start, Duration::minutes(1), loads).unwrap());
        let options = SimOptions {
            capacity_per_instance: Some(100.0),
            ..SimOptions::default()
        };
        let report = simulate(&policy, trace, &options).unwrap();
        let limit = report.baseline(REACTIVE_LIMIT).expect("the baselines ran");
        let delay_and_boot = (options.publish_delay + options.boot_time).num_minutes();
        assert_eq!(delay_and_boot, 7);
        assert_eq!(short_minutes(limit, 100.0) as i64, delay_and_boot);
        let short: Vec<_> = limit
            .samples
            .iter()
            .filter(|s| s.serving < s.demand(100.0))
            .map(|s| (s.time - start).num_minutes())
            .collect();
        assert_eq!(
            short,
            (60..67).collect::<Vec<_>>(),
            "short from the step on"
        );
        assert!(
            short_minutes(&report.runs[0], 100.0) >= short_minutes(limit, 100.0),
            "ebb cannot beat the reactive limit without a forecast"
        );
        // Once the new instances serve, it holds CPU at its 50% target.
        let last = limit.samples.last().unwrap();
        assert_eq!(last.serving, 24);
    }
}
