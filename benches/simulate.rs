//! Simulation benchmark: how long `ebb simulate` takes on 14 days of 1-minute
//! data (20,160 evaluations), and the comparison table on every real trace in
//! `../shared/traces/` (when that folder exists).
//!
//! `cargo bench --bench simulate` runs it in full. Under `cargo test
//! --all-targets` (no `--bench` argument) it runs a one-day smoke pass, so the
//! test suite checks it still works without spending minutes on it.

#[path = "support/traces.rs"]
mod traces;

use ebb::cli::simulate::format_report;
use ebb::policy_file::load_file;
use ebb::sim::run::{SimOptions, simulate};
use ebb::sim::synth::{SynthSpec, synthesize};
use ebb::sim::trace::Trace;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use traces::trace_files;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
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
