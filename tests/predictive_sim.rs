//! The predictive policy through the simulated cloud: on a daily cycle,
//! capacity rises before the daily peak instead of after it, and target
//! tracking alone is late by the boot time.

use ebb::decision::Recommendation;
use ebb::policy_file::{PolicyFile, PolicySpec, load_file};
use ebb::sim::cloud::Sample;
use ebb::sim::run::{SimOptions, SimReport, simulate};
use ebb::sim::synth::{Shape, SynthSpec, synthesize};
use ebb::sim::trace::Trace;
use std::path::Path;
use std::sync::Arc;

fn example() -> PolicyFile {
    load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-predictive.toml")).unwrap()
}

/// The example policy, max 80, its forecast provisioning for `quantile` at
/// the load one instance serves at 50% (target tracking's target).
fn predictive_at(cpi: f64, quantile: f64) -> PolicyFile {
    let mut file = example();
    file.target.max_capacity = 80;
    for policy in &mut file.policies {
        if let PolicySpec::Predictive(p) = policy {
            p.target_per_instance = 0.5 * cpi;
            p.quantile = quantile;
        }
    }
    file
}

/// Simulates `with` without its predictive policy, then as it is.
fn alone_and_with(with: PolicyFile, trace: Arc<Trace>, cpi: f64) -> (SimReport, SimReport) {
    let mut alone = with.clone();
    alone
        .policies
        .retain(|p| !matches!(p, PolicySpec::Predictive(_)));
    let options = SimOptions {
        capacity_per_instance: Some(cpi),
        baselines: false,
        keep_decisions: true,
        ..SimOptions::default()
    };
    (
        simulate(&alone, trace.clone(), &options).unwrap(),
        simulate(&with, trace, &options).unwrap(),
    )
}

/// Minutes in `range` with fewer instances serving than the load needs.
fn short_minutes(samples: &[Sample], cpi: f64, range: std::ops::Range<usize>) -> usize {
    samples[range]
        .iter()
        .filter(|s| s.serving < s.demand(cpi))
        .count()
}

#[test]
fn capacity_rises_before_the_daily_peak() {
    let trace = Arc::new(synthesize(&SynthSpec {
        days: 3,
        ..SynthSpec::default()
    }));
    // One instance serves 250 requests a minute at 100%: the 6,000 peak needs ~24 at 100%, ~48 at 50%.
    let cpi = 250.0;
    // At the 90th percentile the forecast leads target tracking by a margin
    // that shows minute by minute; at the median it stays within target
    // tracking's band part of the time (the surge test below uses the median).
    let (a, b) = alone_and_with(predictive_at(cpi, 0.9), trace.clone(), cpi);
    let (sa, sb) = (&a.runs[0].samples, &b.runs[0].samples);

    // Day 1: not one season of history yet, the policy abstains and says why.
    let first_day = &b.decisions[60];
    let predictive = first_day
        .policies
        .iter()
        .find(|p| p.kind == ebb::decision::PolicyKind::Predictive)
        .unwrap();
    assert_eq!(predictive.recommendation, Recommendation::NoOpinion);
    assert!(
        predictive.reason.contains("one season"),
        "{}",
        predictive.reason
    );

    // Day 3: it forecasts and recommends.
    let day3 = 2 * 1440;
    let late = &b.decisions[day3 + 600];
    let predictive = late
        .policies
        .iter()
        .find(|p| p.kind == ebb::decision::PolicyKind::Predictive)
        .unwrap();
    assert!(
        matches!(predictive.recommendation, Recommendation::Capacity(_)),
        "{}",
        predictive.reason
    );
    assert!(
        predictive.detail.as_ref().unwrap()["forecast"]["value"]
            .as_f64()
            .is_some()
    );

    // The climb to day 3's peak: from the night's low to the peak.
    let day: Vec<f64> = (day3..day3 + 1440)
        .map(|m| trace.load_at(sa[m].time))
        .collect();
    let peak = day3
        + (0..1440)
            .max_by(|x, y| day[*x].total_cmp(&day[*y]))
            .unwrap();
    let low = day3
        + (0..peak - day3)
            .min_by(|x, y| day[*x].total_cmp(&day[*y]))
            .unwrap();
    let climb = low..peak;
    let (short_alone, short_with) = (
        short_minutes(sa, cpi, climb.clone()),
        short_minutes(sb, cpi, climb.clone()),
    );
    assert!(
        short_with * 2 <= short_alone,
        "under-provisioned minutes on the climb: {short_with} with the forecast vs {short_alone} without"
    );
    // More instances serving than without the forecast for most of the climb.
    let ahead = climb
        .clone()
        .filter(|m| sb[*m].serving > sa[*m].serving)
        .count();
    let behind = climb
        .clone()
        .filter(|m| sb[*m].serving < sa[*m].serving)
        .count();
    assert!(
        ahead > 3 * behind,
        "ahead {ahead} minutes, behind {behind} of {}",
        climb.len()
    );
}

/// The goal, on load a forecast can know: a surge every weekday at
/// 09:00 that reactive scaling meets a boot time late. With the forecast,
/// under-provisioned minutes at least halve for at most 5% more
/// instance-hours, counted from day 2 (day 1 has no history to forecast on).
#[test]
fn a_daily_surge_is_met_ahead_for_at_most_five_percent_more() {
    let trace = Arc::new(synthesize(&SynthSpec {
        shape: Shape::DailySurge,
        days: 4,
        ..SynthSpec::default()
    }));
    let cpi = 250.0;
    let (a, b) = alone_and_with(predictive_at(cpi, 0.5), trace, cpi);
    let (sa, sb) = (&a.runs[0].samples, &b.runs[0].samples);
    let after_day_one = 1440..sa.len().min(sb.len());
    let (short_alone, short_with) = (
        short_minutes(sa, cpi, after_day_one.clone()),
        short_minutes(sb, cpi, after_day_one.clone()),
    );
    let paid = |samples: &[Sample]| -> u64 {
        samples[after_day_one.clone()]
            .iter()
            .map(|s| u64::from(s.running))
            .sum()
    };
    let (paid_alone, paid_with) = (paid(sa), paid(sb));
    assert!(
        short_alone >= 10,
        "the surge should catch target tracking out: {short_alone} minutes"
    );
    assert!(
        short_with * 2 <= short_alone,
        "under-provisioned minutes: {short_with} with the forecast vs {short_alone} without"
    );
    assert!(
        paid_with as f64 <= 1.05 * paid_alone as f64,
        "instance-minutes: {paid_with} with the forecast vs {paid_alone} without"
    );
}

/// The same replay twice decides the same thing at every minute: the
/// forecast's fits, updates and refits depend on the data alone (the
/// backtest's fit times, wall clock, are left out of the comparison).
#[test]
fn a_replay_decides_the_same_every_time() {
    let trace = Arc::new(synthesize(&SynthSpec {
        shape: Shape::DailySurge,
        days: 3,
        ..SynthSpec::default()
    }));
    let options = SimOptions {
        capacity_per_instance: Some(250.0),
        baselines: false,
        keep_decisions: true,
        ..SimOptions::default()
    };
    let file = predictive_at(250.0, 0.5);
    let runs: Vec<Vec<serde_json::Value>> = (0..2)
        .map(|_| {
            let report = simulate(&file, trace.clone(), &options).unwrap();
            report
                .decisions
                .iter()
                .map(|d| {
                    let mut d = serde_json::to_value(d).unwrap();
                    for policy in d["policies"].as_array_mut().unwrap() {
                        if let Some(detail) = policy["detail"].as_object_mut() {
                            detail.remove("backtest");
                        }
                    }
                    d
                })
                .collect()
        })
        .collect();
    assert_eq!(runs[0].len(), 3 * 1440);
    let forecasts = runs[0]
        .iter()
        .filter(|d| d["policies"][1]["detail"]["forecast"].is_object())
        .count();
    assert!(forecasts > 1000, "only {forecasts} forecasts");
    for (minute, (a, b)) in runs[0].iter().zip(&runs[1]).enumerate() {
        assert_eq!(a, b, "minute {minute}");
    }
}

/// The predictive example scales in as the reactive example does: its
/// governor is web-cpu.toml's (chosen at equal cost on real traces) but for
/// what to do on missing data. With its own older one (10m stabilization)
/// it changed capacity 2.6x as often as AWS on a spiky trace, forecast or
/// not (README, "At equal cost").
#[test]
fn the_predictive_example_keeps_the_reactive_examples_governor() {
    let reactive =
        load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-cpu.toml")).unwrap();
    let mut predictive = example().governor;
    predictive.on_missing_data = reactive.governor.on_missing_data;
    assert_eq!(predictive, reactive.governor);
}
