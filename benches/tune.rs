//! Tuning benchmark (issue 18): how long `ebb tune` takes for 200 candidates
//! of a reactive policy (`policies/web-cpu.toml`) on 14 days of 1-minute
//! synthetic data, on every core rayon finds (the goal: under 30 s on 2
//! cores, release), and what it found.
//!
//! `cargo bench --bench tune` runs it in full; under `cargo test` (no
//! `--bench` argument) a smoke pass tunes 12 candidates on 2 days.

use ebb::policy_file::parse_str;
use ebb::sim::run::SimOptions;
use ebb::sim::synth::{SynthSpec, synthesize};
use ebb::tune::run::{TuneRequest, tune};
use ebb::tune::search::SearchPlan;
use ebb::tune::space::{SpaceFile, dimensions};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (days, candidates) = if full { (14, 200) } else { (2, 12) };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-cpu.toml");
    let text = std::fs::read_to_string(&path).expect("the example policy reads");
    let file = parse_str(&text, &path).expect("the example policy loads");
    let trace = Arc::new(synthesize(&SynthSpec {
        days,
        ..SynthSpec::default()
    }));
    let request = TuneRequest {
        dimensions: dimensions(&file, &text, &SpaceFile::default()),
        file,
        text,
        path,
        trace,
        options: SimOptions::default(),
        budget_tau_u: None,
        plan: SearchPlan {
            candidates,
            seed: 1,
        },
    };
    let started = Instant::now();
    let report = tune(&request).expect("tunes");
    let elapsed = started.elapsed().as_secs_f64();
    println!(
        "tune web-cpu.toml: {candidates} candidates, {days} days of 1-minute data, {} threads: {elapsed:.1} s (goal < 30 s on 2 cores, release)",
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
