//! Equal-cost bench (issue 18): how often ebb is short at the instance-hours
//! AWS target tracking spends, trace by trace.
//!
//! Per trace, with one instance serving c = p95(load) / 10, boot 5 min and
//! metrics 2 min late: the policy's first target-tracking target is swept,
//! ebb's tau_U is interpolated linearly in instance-hours at the AWS
//! target-tracking emulation's instance-hours (target 50), and divided by
//! AWS's tau_U. The reactive limit (at target 50) shows the floor for any
//! controller without a forecast; capacity changes per day show whether a
//! win comes from thrashing. The same measure as `../shared/tools/frontier.py`.
//!
//! `cargo bench --bench equal_cost` reads every CSV in `../shared/traces/`
//! (or `EBB_TRACES_DIR`); `EBB_POLICY` picks another policy file. Under
//! `cargo test` (no `--bench` argument) it runs a smoke pass on one
//! synthetic day with three targets.

#[path = "support/traces.rs"]
mod traces;

use ebb::policy_file::{PolicyFile, PolicySpec, load_file};
use ebb::sim::baseline::REACTIVE_LIMIT;
use ebb::sim::run::{SimOptions, simulate};
use ebb::sim::score::Score;
use ebb::sim::synth::{Shape, SynthSpec, synthesize};
use ebb::sim::trace::Trace;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use traces::trace_files;

/// The target AWS target tracking and the reactive limit run at.
const AWS_TARGET: f64 = 50.0;
const FULL_TARGETS: [f64; 9] = [30.0, 35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0, 70.0];
const SMOKE_TARGETS: [f64; 3] = [40.0, 50.0, 60.0];

/// One trace's row of the table.
struct Row {
    name: String,
    aws: Score,
    limit: Score,
    /// ebb's tau_U and capacity changes interpolated at AWS's instance-hours.
    ebb_tau_u: f64,
    ebb_changes: f64,
    /// AWS's instance-hours fell outside the sweep's: the nearest end is used.
    clamped: bool,
    days: f64,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.ebb_tau_u / self.aws.under_timeshare
    }

    /// The goal: at most half AWS's tau_U, or within 1.1x of the
    /// reactive limit where the limit itself is above half AWS's.
    fn meets(&self) -> bool {
        let (aws, limit) = (self.aws.under_timeshare, self.limit.under_timeshare);
        aws == 0.0 || self.ratio() <= 0.5 || (limit > 0.5 * aws && self.ebb_tau_u <= 1.1 * limit)
    }
}

fn with_target(policy: &PolicyFile, target: f64) -> PolicyFile {
    let mut file = policy.clone();
    if let Some(tt) = file.policies.iter_mut().find_map(|p| match p {
        PolicySpec::TargetTracking(tt) => Some(tt),
        _ => None,
    }) {
        tt.target = target;
    }
    file
}

/// Linear interpolation of `(x, y)` points (any order) at `x`, held at the
/// ends; says whether it had to hold.
fn interpolate(points: &[(f64, f64)], x: f64) -> (f64, bool) {
    let mut sorted = points.to_vec();
    sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (first, last) = (sorted[0], sorted[sorted.len() - 1]);
    if x <= first.0 {
        return (first.1, x < first.0);
    }
    if x >= last.0 {
        return (last.1, x > last.0);
    }
    let i = sorted.partition_point(|p| p.0 <= x);
    let (a, b) = (sorted[i - 1], sorted[i]);
    let t = if b.0 > a.0 {
        (x - a.0) / (b.0 - a.0)
    } else {
        0.0
    };
    (a.1 + t * (b.1 - a.1), false)
}

fn measure(name: &str, policy: &PolicyFile, trace: Arc<Trace>, targets: &[f64]) -> Option<Row> {
    let mut values = trace.values().to_vec();
    let capacity = ebb::signal::quantile(&mut values, 0.95) / 10.0;
    if capacity <= 0.0 {
        println!("{name}: p95 load is 0, skipped");
        return None;
    }
    let options = |baselines| SimOptions {
        capacity_per_instance: Some(capacity),
        baselines,
        ..SimOptions::default()
    };
    let mut ebb_points = Vec::new();
    let (mut aws, mut limit, mut days) = (None, None, 0.0);
    for &target in targets {
        let at_aws_target = target == AWS_TARGET;
        let report = match simulate(
            &with_target(policy, target),
            trace.clone(),
            &options(at_aws_target),
        ) {
            Ok(r) => r,
            Err(e) => {
                println!("{name}: cannot simulate: {e}");
                return None;
            }
        };
        days = report.minutes as f64 / 1440.0;
        let s = report.runs[0].score;
        ebb_points.push((s.instance_hours, s.under_timeshare, s.capacity_changes));
        if at_aws_target {
            aws = report.baseline("aws-target-tracking").map(|r| r.score);
            limit = report.baseline(REACTIVE_LIMIT).map(|r| r.score);
        }
    }
    let (aws, limit) = (aws?, limit?);
    let tau: Vec<_> = ebb_points.iter().map(|p| (p.0, p.1)).collect();
    let changes: Vec<_> = ebb_points.iter().map(|p| (p.0, f64::from(p.2))).collect();
    let (ebb_tau_u, clamped) = interpolate(&tau, aws.instance_hours);
    let (ebb_changes, _) = interpolate(&changes, aws.instance_hours);
    Some(Row {
        name: name.to_string(),
        aws,
        limit,
        ebb_tau_u,
        ebb_changes,
        clamped,
        days,
    })
}

fn print_table(rows: &[Row]) {
    println!(
        "\n| trace | AWS tau_U % | ebb tau_U % at AWS's cost | ratio | reactive limit tau_U % | changes/day ebb / AWS | goal |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {:.2} | {:.2}{} | {:.2} | {:.2} | {:.0} / {:.0} | {} |",
            row.name,
            row.aws.under_timeshare,
            row.ebb_tau_u,
            if row.clamped { " (end of sweep)" } else { "" },
            row.ratio(),
            row.limit.under_timeshare,
            row.ebb_changes / row.days,
            f64::from(row.aws.capacity_changes) / row.days,
            if row.meets() { "met" } else { "not met" }
        );
    }
    let ratios: Vec<f64> = rows
        .iter()
        .map(Row::ratio)
        .filter(|r| r.is_finite())
        .collect();
    if ratios.is_empty() {
        return;
    }
    let geomean =
        (ratios.iter().map(|r| r.max(1e-3).ln()).sum::<f64>() / ratios.len() as f64).exp();
    let worst = ratios.iter().copied().fold(f64::MIN, f64::max);
    println!(
        "\ngeometric mean ratio {geomean:.2}, worst {worst:.2} over {} traces; goal met on {} of {}",
        ratios.len(),
        rows.iter().filter(|r| r.meets()).count(),
        rows.len()
    );
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let policy_path = std::env::var_os("EBB_POLICY")
        .map_or_else(|| root.join("policies/web-cpu.toml"), PathBuf::from);
    let policy = load_file(&policy_path).expect("the policy loads");
    let started = Instant::now();
    if !full {
        let trace = Arc::new(synthesize(&SynthSpec {
            days: 1,
            shape: Shape::Spiky,
            ..SynthSpec::default()
        }));
        let row = measure("synthetic spiky, 1 day", &policy, trace, &SMOKE_TARGETS)
            .expect("the smoke trace simulates");
        assert!(row.ebb_tau_u.is_finite() && row.aws.instance_hours > 0.0);
        print_table(&[row]);
        return;
    }
    let paths = match trace_files(root) {
        Ok(paths) => paths,
        Err(dir) => {
            println!("{} not found: no traces to measure", dir.display());
            return;
        }
    };
    println!(
        "policy {}, targets {FULL_TARGETS:?}, AWS and the reactive limit at {AWS_TARGET}; c = p95 load / 10, boot 5 min, metrics 2 min late",
        policy_path.display()
    );
    let mut rows = Vec::new();
    for path in paths {
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let trace = match Trace::load(&path) {
            Ok(t) => Arc::new(t),
            Err(e) => {
                println!("{name}: cannot read: {e}");
                continue;
            }
        };
        let t = Instant::now();
        if let Some(row) = measure(&name, &policy, trace, &FULL_TARGETS) {
            eprintln!("{name}: {:.1} s", t.elapsed().as_secs_f64());
            rows.push(row);
        }
    }
    print_table(&rows);
    println!("({:.0} s)", started.elapsed().as_secs_f64());
}
