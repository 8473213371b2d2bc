//! Simulation benchmark: how long `ebb simulate` takes on 14 days of 1-minute
//! data (20,160 evaluations), and the comparison table on every real trace in
//! `../shared/traces/` (when that folder exists); section `replay`: how long
//! a predictive policy's replay of 4 weeks takes, and its scores.
//!
//! `cargo bench --bench simulate` runs it in full; name sections to run only
//! those (`cargo bench --bench simulate -- replay`). Under `cargo test
//! --all-targets` (no `--bench` argument) it runs a one-day smoke pass, so the
//! test suite checks it still works without spending minutes on it.

#[path = "support/proc_stats.rs"]
mod proc_stats;
#[path = "support/sections.rs"]
mod sections;
#[path = "support/traces.rs"]
mod traces;

use chrono::Duration;
use ebb::cli::simulate::format_report;
use ebb::policy_file::{PolicySpec, load_file};
use ebb::sim::fleet::matched_to_fleet;
use ebb::sim::run::{SimOptions, default_capacity_per_instance, simulate};
use ebb::sim::synth::{SynthSpec, synthesize};
use ebb::sim::trace::Trace;
use sections::Sections;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use traces::{last_days, trace_files};

fn main() {
    let sections = Sections::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if sections.wanted("replay") {
        replay(root, sections.full);
    }
    if sections.wanted("tables") {
        tables(root, sections.full);
    }
}

/// A predictive policy replayed over 4 weeks: policies/web-predictive.toml
/// (target tracking on CPU + the forecast at p50, its load per instance
/// matched to the simulated fleet) against its target tracking alone, on the diurnal shared traces at 5 minutes and a synthetic one;
/// wall time and CPU time of each replay (release build) and the scores.
/// CPU time is printed beside wall time because other builds on a shared
/// machine stretch the wall time of a replay but not the CPU it uses.
fn replay(root: &Path, full: bool) {
    let with = load_file(&root.join("policies/web-predictive.toml")).expect("example policy loads");
    let mut alone = with.clone();
    alone
        .policies
        .retain(|p| !matches!(p, PolicySpec::Predictive(_)));
    let days = if full { 28 } else { 2 };
    let mut traces = vec![(
        format!("synthetic diurnal, {days} days"),
        synthesize(&SynthSpec {
            days: days as u32,
            step: Duration::minutes(5),
            ..SynthSpec::default()
        }),
    )];
    let diurnal = [
        "azure_v2_vm_cpu_readings_month_aggregated_cpu_mem",
        "google2019_instance_usage_grouped_300_seconds_month",
        "nab_Twitter_volume_AMZN",
        "alibaba2018_machine_usage_days_3_to_8_grouped_300_seconds",
    ];
    if full && let Ok(paths) = trace_files(root) {
        for path in paths {
            let name = path.file_stem().unwrap_or_default().to_string_lossy();
            if diurnal.contains(&name.as_ref())
                && let Ok(trace) = Trace::load(&path)
            {
                traces.push((name.into_owned(), last_days(&trace, days)));
            }
        }
    }
    println!(
        "## Predictive replay: policies/web-predictive.toml, last {days} days, 1-minute evaluations"
    );
    println!(
        "| trace | days | controller | replay s (wall) | replay s (CPU) | tau_U | instance-hours |"
    );
    println!("|---|---:|---|---:|---:|---:|---:|");
    for (name, trace) in traces {
        let span_days =
            (trace.values().len() as i64 * trace.step().num_seconds()) as f64 / 86_400.0;
        let trace = Arc::new(trace);
        let Some(cpi) = default_capacity_per_instance(&trace, with.target.max_capacity) else {
            continue;
        };
        let options = SimOptions {
            capacity_per_instance: Some(cpi),
            baselines: false,
            ..SimOptions::default()
        };
        // The forecast sized for the simulated fleet, as target tracking is:
        // the example's 1000 requests per instance would ask thousands of
        // instances on azure (capped at max all month) and one on the others.
        let with = matched_to_fleet(&with, cpi);
        for (label, file) in [("TT 50% alone", &alone), ("TT 50% + predictive p50", &with)] {
            let started = Instant::now();
            let cpu_before = proc_stats::cpu_seconds(std::process::id());
            let report = simulate(file, trace.clone(), &options).expect("simulates");
            let seconds = started.elapsed().as_secs_f64();
            let cpu = proc_stats::cpu_seconds(std::process::id()) - cpu_before;
            let score = &report.runs[0].score;
            println!(
                "| {name} | {span_days:.1} | {label} | {seconds:.2} | {cpu:.2} | {:.2}% | {:.0} |",
                score.under_timeshare, score.instance_hours
            );
        }
    }
    println!();
}

/// `ebb simulate`'s own timing and comparison tables.
fn tables(root: &Path, full: bool) {
    let policy = load_file(&root.join("policies/web-cpu.toml")).expect("the example policy loads");
    let days = if full { 14 } else { 1 };
    let trace = Arc::new(synthesize(&SynthSpec {
        days,
        ..SynthSpec::default()
    }));
    let ebb_only = SimOptions {
        baselines: false,
        ..SimOptions::default()
    };
    let runs = if full { 10 } else { 1 };
    let mut times = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let report = simulate(&policy, trace.clone(), &ebb_only).expect("simulates");
        times.push(started.elapsed().as_secs_f64());
        assert_eq!(report.minutes, days as usize * 1440);
    }
    times.sort_by(f64::total_cmp);
    println!(
        "simulate web-cpu.toml, {days} days of 1-minute data ({} evaluations), ebb only: median {:.3} s, min {:.3} s, max {:.3} s over {runs} runs",
        days * 1440,
        times[times.len() / 2],
        times[0],
        times[times.len() - 1]
    );
    let started = Instant::now();
    let report = simulate(&policy, trace, &SimOptions::default()).expect("simulates");
    println!(
        "with the four baselines: {:.3} s\n",
        started.elapsed().as_secs_f64()
    );
    print!(
        "{}",
        format_report(&report, &format!("synthetic diurnal, {days} days"))
    );
    if !full {
        return;
    }
    let paths = match trace_files(root) {
        Ok(paths) => paths,
        Err(dir) => {
            println!("\n{} not found: skipping the real traces", dir.display());
            return;
        }
    };
    for path in paths {
        println!(
            "\n=== {}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        let trace = match Trace::load(&path) {
            Ok(t) => t,
            Err(e) => {
                println!("cannot read: {e}");
                continue;
            }
        };
        let started = Instant::now();
        match simulate(&policy, Arc::new(trace), &SimOptions::default()) {
            Ok(report) => {
                print!("{}", format_report(&report, &path.display().to_string()));
                println!("({:.2} s)", started.elapsed().as_secs_f64());
            }
            Err(e) => println!("cannot simulate: {e}"),
        }
    }
}
