//! Tuning benchmark (issue 18): how long `ebb tune` takes for 200 candidates
//! of a reactive policy (`policies/web-cpu.toml`) on 14 days of 1-minute
//! synthetic data, on every core rayon finds (the goal: under 30 s on 2
//! cores, release), and what it found.
//!
//! Then the predictive example (`policies/web-predictive.toml`) on 14 days
//! of 1-minute diurnal data: what one candidate's replay costs with its own
//! forecasts (every model choice and fit computed again, as before
//! `ForecastMemo`) and sharing them with the candidates before it (as `ebb
//! tune` does), beside a reactive candidate's; then a whole `ebb tune` of it.
//!
//! `cargo bench --bench tune` runs it in full; under `cargo test` (no
//! `--bench` argument) a smoke pass tunes 12 candidates on 2 days.

#[path = "support/proc_stats.rs"]
mod proc_stats;

use ebb::forecast::memo::ForecastMemo;
use ebb::policy_file::{PolicyFile, parse_str};
use ebb::sim::run::{SimOptions, simulate};
use ebb::sim::synth::{Shape, SynthSpec, synthesize};
use ebb::sim::trace::Trace;
use ebb::tune::run::{TuneRequest, TuneTrace, candidate_text, tune};
use ebb::tune::search::SearchPlan;
use ebb::tune::space::{SpaceFile, dimensions};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

fn example(name: &str) -> (PathBuf, String, PolicyFile) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("the example policy reads");
    let file = parse_str(&text, &path).expect("the example policy loads");
    (path, text, file)
}

/// A tune of the example `name` on `trace`: default space and budget.
fn request(name: &str, trace: Arc<Trace>, candidates: usize) -> TuneRequest {
    let (path, text, file) = example(name);
    TuneRequest {
        dimensions: dimensions(&file, &text, &SpaceFile::default()),
        file,
        text,
        path,
        traces: vec![TuneTrace {
            name: "synthetic".into(),
            trace,
        }],
        options: SimOptions::default(),
        p95_instances: None,
        budget_tau_u: None,
        plan: SearchPlan {
            candidates,
            seed: 1,
        },
    }
}

/// `count` candidates of `name` spread over its search space, as files.
fn candidates(name: &str, count: usize) -> Vec<PolicyFile> {
    let (path, text, file) = example(name);
    let dims = dimensions(&file, &text, &SpaceFile::default());
    (0..count)
        .map(|i| {
            let u = (i as f64 + 0.5) / count as f64;
            // Each field at another point of its range, so candidates differ.
            let values: Vec<f64> = dims
                .iter()
                .enumerate()
                .map(|(d, dim)| dim.value_at((u + d as f64 * 0.37).fract()))
                .collect();
            let text = candidate_text(&text, &dims, &values).expect("rewrites");
            parse_str(&text, &path).expect("a candidate loads")
        })
        .collect()
}

/// Seconds per candidate replay of `files` on `trace`, one after the
/// other, each with its own forecasts or all sharing one memo: the first
/// candidate's, and the mean of the others'.
fn per_candidate(files: &[PolicyFile], trace: &Arc<Trace>, share: bool) -> (f64, f64) {
    let memo = Arc::new(ForecastMemo::new());
    let options = SimOptions {
        capacity_per_instance: Some(100.0),
        baselines: false,
        forecasts: share.then(|| memo.clone()),
        ..SimOptions::default()
    };
    let seconds: Vec<f64> = files
        .iter()
        .map(|file| {
            let started = Instant::now();
            simulate(file, trace.clone(), &options).expect("simulates");
            started.elapsed().as_secs_f64()
        })
        .collect();
    let rest = &seconds[1..];
    (
        seconds[0],
        rest.iter().sum::<f64>() / rest.len().max(1) as f64,
    )
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (days, candidates) = if full { (14, 200) } else { (2, 12) };
    tune_reactive(days, candidates);
    predictive(full);
}

/// Replays of the predictive example with and without shared forecasts,
/// then a whole tune of it.
fn predictive(full: bool) {
    let (days, count) = if full { (14, 6) } else { (2, 2) };
    let trace = Arc::new(synthesize(&SynthSpec {
        days,
        shape: Shape::Diurnal,
        ..SynthSpec::default()
    }));
    let files = candidates("web-predictive.toml", count);
    let (_, reactive) = per_candidate(&candidates("web-cpu.toml", count), &trace, false);
    let (_, own) = per_candidate(&files, &trace, false);
    let (first, shared) = per_candidate(&files, &trace, true);
    println!(
        "web-predictive.toml, {days} days, {count} candidates one after the other: {own:.2} s per candidate with its own forecasts; sharing them, the first {first:.2} s, each later one {shared:.2} s ({:.1}x less); a reactive candidate (web-cpu.toml): {reactive:.2} s",
        own / shared
    );
    let tune_candidates = if full { 40 } else { 4 };
    let request = request("web-predictive.toml", trace, tune_candidates);
    let started = Instant::now();
    let report = tune(&request).expect("tunes");
    println!(
        "tune web-predictive.toml: {tune_candidates} candidates, {days} days, {} threads: {:.1} s",
        rayon::current_num_threads(),
        started.elapsed().as_secs_f64()
    );
    assert_eq!(report.candidates.len(), tune_candidates);
}

/// 200 candidates of the reactive example (the speed goal).
fn tune_reactive(days: u32, candidates: usize) {
    let trace = Arc::new(synthesize(&SynthSpec {
        days,
        ..SynthSpec::default()
    }));
    let request = request("web-cpu.toml", trace, candidates);
    // CPU seconds beside wall seconds: a shared machine stretches wall time.
    let cpu_before = proc_stats::cpu_seconds(std::process::id());
    let started = Instant::now();
    let report = tune(&request).expect("tunes");
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = proc_stats::cpu_seconds(std::process::id()) - cpu_before;
    println!(
        "tune web-cpu.toml: {candidates} candidates, {days} days of 1-minute data, {} threads: {elapsed:.1} s wall, {cpu:.1} s CPU (goal < 30 s on 2 cores, release)",
        rayon::current_num_threads()
    );
    let chosen = report.chosen_tuning();
    let current = &report.references[0];
    println!(
        "tuning part: current {:.1} instance-hours, tau_U {:.2} %; chosen {:.1}, {:.2} % ({})",
        current.tuning.instance_hours,
        current.tuning.tau_u,
        chosen.instance_hours,
        chosen.tau_u,
        if report.meets_budget {
            "within the budget"
        } else {
            "no candidate within the budget"
        }
    );
    println!(
        "held out: current {:.1} instance-hours, tau_U {:.2} %; chosen {:.1}, {:.2} %",
        current.held_out.instance_hours,
        current.held_out.tau_u,
        report.chosen_held_out.instance_hours,
        report.chosen_held_out.tau_u
    );
    assert_eq!(report.candidates.len(), candidates);
}
