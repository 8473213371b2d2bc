//! Equal-cost bench (issue 18): how often ebb is short at the instance-hours
//! AWS target tracking spends, trace by trace.
//!
//! Per trace, with one instance serving c = p95(load) / 10, boot 5 min and
//! metrics 2 min late: the policy's first target-tracking target is swept
//! over 35..65 (a predictive policy's `target_per_instance` follows it, as
//! c x target / 100), ebb's tau_U is interpolated linearly in instance-hours
//! at the AWS target-tracking emulation's instance-hours (target 50), and
//! divided by AWS's tau_U. The reactive limit (at target 50) shows the floor
//! for any controller without a forecast; capacity changes per day, against
//! AWS's, show whether a win comes from thrashing (flagged above 1.5x). The
//! same measure and verdict as `../shared/tools/frontier.py`.
//!
//! Two tables: the reactive policy (`EBB_POLICY`, default
//! `policies/web-cpu.toml`), whose goal is a ratio <= 0.5 or within 1.1x of
//! the reactive limit where that limit is above 0.5x AWS; and the same with
//! predictive added (`EBB_PREDICTIVE_POLICY`, default
//! `policies/web-predictive.toml`; `none` skips it), where only <= 0.5
//! counts, since a forecast can beat the reactive limit.
//!
//! `cargo bench --bench equal_cost` reads every CSV in `../shared/traces/`
//! (or `EBB_TRACES_DIR`). `EBB_TARGETS=45,50,55` sweeps fewer targets (50,
//! AWS's, must be among them), for the slow predictive replays of long
//! traces; a row whose AWS cost falls outside the sweep says "end of
//! sweep" and what ebb's run at that end costs against AWS's (the ratio is
//! then not at equal cost, though frontier.py counts it the same way).
//! `EBB_EPISODES=N` prints, per trace, the N longest episodes ebb is short
//! in its run nearest AWS's cost, beside AWS's at AWS's target, with what
//! ebb's policies recommended in the quarter hour before each. Under
//! `cargo test` (no `--bench` argument) it runs a smoke pass on one
//! synthetic day with three targets.

#[path = "support/episodes.rs"]
mod episodes;
#[path = "support/traces.rs"]
mod traces;

use ebb::policy_file::{PolicyFile, PolicySpec, load_file};
use ebb::sim::baseline::REACTIVE_LIMIT;
use ebb::sim::run::{SimOptions, simulate};
use ebb::sim::score::Score;
use ebb::sim::synth::{Shape, SynthSpec, synthesize};
use ebb::sim::trace::Trace;
use rayon::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;
use traces::trace_files;

/// The target AWS target tracking and the reactive limit run at.
const AWS_TARGET: f64 = 50.0;
/// frontier.py's sweep.
const FULL_TARGETS: [f64; 7] = [35.0, 40.0, 45.0, 50.0, 55.0, 60.0, 65.0];
/// Capacity changes per day beyond this multiple of AWS's are thrashing.
const MAX_CHANGES_RATIO: f64 = 1.5;

/// Which goal a table is held to.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Goal {
    /// A reactive policy: <= 0.5x AWS, or within 1.1x of the reactive limit
    /// where the limit itself is above 0.5x AWS.
    Reactive,
    /// With a forecast: only <= 0.5x AWS counts.
    Predictive,
}
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
    /// ebb's instance-hours at the sweep's end nearest AWS's, over AWS's:
    /// how far from equal cost a clamped row is.
    end_cost_ratio: f64,
    days: f64,
    goal: Goal,
}

impl Row {
    fn ratio(&self) -> f64 {
        self.ebb_tau_u / self.aws.under_timeshare
    }

    /// The goal, as frontier.py decides it: AWS never short (no
    /// ratio), at most half AWS's tau_U, or (reactive only) within 1.1x of
    /// the reactive limit where the limit itself is above half AWS's.
    fn meets(&self) -> bool {
        let (aws, limit) = (self.aws.under_timeshare, self.limit.under_timeshare);
        let near_limit = limit > 0.5 * aws && self.ebb_tau_u <= 1.1 * limit;
        aws == 0.0 || self.ratio() <= 0.5 || (self.goal == Goal::Reactive && near_limit)
    }

    /// ebb's capacity changes over AWS's (at AWS's cost).
    fn changes_ratio(&self) -> f64 {
        self.ebb_changes / f64::from(self.aws.capacity_changes.max(1))
    }

    fn thrashes(&self) -> bool {
        self.changes_ratio() > MAX_CHANGES_RATIO
    }
}

/// The policy with its first target-tracking target at `target` and every
/// predictive policy's load per instance at the same utilization
/// (`capacity` x target / 100), as frontier.py rewrites it.
fn with_target(policy: &PolicyFile, target: f64, capacity: f64) -> PolicyFile {
    let mut file = policy.clone();
    let mut first_tracking = true;
    for spec in &mut file.policies {
        match spec {
            PolicySpec::TargetTracking(tt) if first_tracking => {
                tt.target = target;
                first_tracking = false;
            }
            PolicySpec::Predictive(p) => p.target_per_instance = capacity * target / 100.0,
            _ => {}
        }
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

fn measure(
    name: &str,
    policy: &PolicyFile,
    goal: Goal,
    trace: Arc<Trace>,
    targets: &[f64],
) -> Option<Row> {
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
    // The sweep's runs are independent: on every core (rayon), kept in order.
    let reports: Vec<_> = targets
        .par_iter()
        .map(|&target| {
            simulate(
                &with_target(policy, target, capacity),
                trace.clone(),
                &options(target == AWS_TARGET),
            )
        })
        .collect();
    let mut ebb_points = Vec::new();
    let (mut aws, mut limit, mut days) = (None, None, 0.0);
    // AWS's minutes, kept for EBB_EPISODES.
    let mut aws_samples = Vec::new();
    for (&target, report) in targets.iter().zip(reports) {
        let report = match report {
            Ok(r) => r,
            Err(e) => {
                println!("{name}: cannot simulate: {e}");
                return None;
            }
        };
        days = report.minutes as f64 / 1440.0;
        let s = report.runs[0].score;
        ebb_points.push((s.instance_hours, s.under_timeshare, s.capacity_changes));
        if target == AWS_TARGET {
            let aws_run = report.baseline("aws-target-tracking");
            aws = aws_run.map(|r| r.score);
            if episodes_wanted().is_some() {
                aws_samples = aws_run.map(|r| r.samples.clone()).unwrap_or_default();
            }
            limit = report.baseline(REACTIVE_LIMIT).map(|r| r.score);
        }
    }
    let (aws, limit) = (aws?, limit?);
    let tau: Vec<_> = ebb_points.iter().map(|p| (p.0, p.1)).collect();
    let changes: Vec<_> = ebb_points.iter().map(|p| (p.0, f64::from(p.2))).collect();
    let (ebb_tau_u, clamped) = interpolate(&tau, aws.instance_hours);
    let (ebb_changes, _) = interpolate(&changes, aws.instance_hours);
    let nearest_cost = ebb_points
        .iter()
        .map(|p| p.0)
        .min_by(|a, b| {
            (a - aws.instance_hours)
                .abs()
                .total_cmp(&(b - aws.instance_hours).abs())
        })
        .unwrap_or(aws.instance_hours);
    let end_cost_ratio = nearest_cost / aws.instance_hours;
    if let Some(limit) = episodes_wanted() {
        // The sweep's run nearest AWS's cost, again, with its decisions.
        let nearest = targets
            .iter()
            .zip(&ebb_points)
            .min_by(|a, b| {
                let off = |p: &(f64, f64, u32)| (p.0 - aws.instance_hours).abs();
                off(a.1).total_cmp(&off(b.1))
            })
            .map(|(t, _)| *t)
            .unwrap_or(AWS_TARGET);
        // Without baselines: at another target they would track that one,
        // and AWS's run is the one at AWS's target.
        let report = simulate(
            &with_target(policy, nearest, capacity),
            trace.clone(),
            &SimOptions {
                keep_decisions: true,
                ..options(false)
            },
        )
        .ok()?;
        episodes::print_side_by_side(
            &format!(
                "{name} (ebb at target {nearest}: {:.1} instance-hours, AWS at {AWS_TARGET}: {:.1})",
                report.runs[0].score.instance_hours, aws.instance_hours
            ),
            ("ebb", &report.runs[0].samples),
            ("aws", &aws_samples),
            capacity,
            policy.target.max_capacity,
            &report.decisions,
            limit,
        );
    }
    Some(Row {
        name: name.to_string(),
        aws,
        limit,
        ebb_tau_u,
        ebb_changes,
        clamped,
        end_cost_ratio,
        days,
        goal,
    })
}

fn print_table(rows: &[Row]) {
    println!(
        "\n| trace | AWS tau_U % | ebb tau_U % at AWS's cost | ratio | reactive limit tau_U % | changes/day ebb / AWS | goal |"
    );
    println!("|---|---|---|---|---|---|---|");
    for row in rows {
        println!(
            "| {} | {:.2} | {:.2}{} | {:.2} | {:.2} | {:.0} / {:.0} = {:.2}x{} | {} |",
            row.name,
            row.aws.under_timeshare,
            row.ebb_tau_u,
            if row.clamped {
                format!(" (end of sweep, {:.2}x AWS's cost)", row.end_cost_ratio)
            } else {
                String::new()
            },
            row.ratio(),
            row.limit.under_timeshare,
            row.ebb_changes / row.days,
            f64::from(row.aws.capacity_changes) / row.days,
            row.changes_ratio(),
            if row.thrashes() { " (> 1.5x)" } else { "" },
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
        "\ngeometric mean ratio {geomean:.2}, worst {worst:.2} over {} traces; goal met on {} of {}; changes/day above {MAX_CHANGES_RATIO}x AWS's on {}",
        ratios.len(),
        rows.iter().filter(|r| r.meets()).count(),
        rows.len(),
        rows.iter().filter(|r| r.thrashes()).count(),
    );
}

/// A policy file named by an environment variable, or the shipped default;
/// `None` when the variable says `none`.
fn policy_from_env(root: &Path, variable: &str, default: &str) -> Option<(PathBuf, PolicyFile)> {
    let path = match std::env::var_os(variable) {
        Some(v) if v == "none" => return None,
        Some(v) => PathBuf::from(v),
        None => root.join(default),
    };
    let policy = load_file(&path).unwrap_or_else(|e| panic!("{variable}: {e}"));
    Some((path, policy))
}

/// The traces to measure: every one in the folder, or those whose names
/// contain one of `EBB_TRACES`' comma-separated words.
fn chosen_traces(root: &Path) -> Vec<(String, Arc<Trace>)> {
    let paths = match trace_files(root) {
        Ok(paths) => paths,
        Err(dir) => {
            println!("{} not found: no traces to measure", dir.display());
            return Vec::new();
        }
    };
    let wanted = std::env::var("EBB_TRACES").unwrap_or_default();
    let words: Vec<&str> = wanted.split(',').filter(|w| !w.is_empty()).collect();
    let mut traces = Vec::new();
    for path in paths {
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if !words.is_empty() && !words.iter().any(|w| name.contains(w)) {
            continue;
        }
        match Trace::load(&path) {
            Ok(t) => traces.push((name, Arc::new(t))),
            Err(e) => println!("{name}: cannot read: {e}"),
        }
    }
    traces
}

/// `EBB_EPISODES=N`: print the N longest short episodes of ebb's run
/// nearest AWS's cost beside AWS's.
fn episodes_wanted() -> Option<usize> {
    let text = std::env::var("EBB_EPISODES").ok()?;
    Some(
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("EBB_EPISODES: `{text}` is not a count")),
    )
}

/// The targets to sweep: `EBB_TARGETS` (comma-separated, holding 50) or
/// frontier.py's.
fn sweep_targets() -> Vec<f64> {
    let Ok(text) = std::env::var("EBB_TARGETS") else {
        return FULL_TARGETS.to_vec();
    };
    let targets: Vec<f64> = text
        .split(',')
        .map(|t| {
            t.trim()
                .parse()
                .unwrap_or_else(|_| panic!("EBB_TARGETS: `{t}` is not a number"))
        })
        .collect();
    assert!(
        targets.contains(&AWS_TARGET),
        "EBB_TARGETS must hold {AWS_TARGET}, AWS's target: {text}"
    );
    targets
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let reactive = policy_from_env(root, "EBB_POLICY", "policies/web-cpu.toml");
    let predictive = policy_from_env(
        root,
        "EBB_PREDICTIVE_POLICY",
        "policies/web-predictive.toml",
    );
    let tables = [(Goal::Reactive, reactive), (Goal::Predictive, predictive)];
    if !full {
        let trace = Arc::new(synthesize(&SynthSpec {
            days: 1,
            shape: Shape::Spiky,
            ..SynthSpec::default()
        }));
        for (goal, (_, policy)) in tables.iter().filter_map(|(g, p)| Some((g, p.as_ref()?))) {
            let row = measure(
                "synthetic spiky, 1 day",
                policy,
                *goal,
                trace.clone(),
                &SMOKE_TARGETS,
            )
            .expect("the smoke trace simulates");
            assert!(row.ebb_tau_u.is_finite() && row.aws.instance_hours > 0.0);
            print_table(&[row]);
        }
        return;
    }
    let traces = chosen_traces(root);
    let targets = sweep_targets();
    for (goal, (path, policy)) in tables.iter().filter_map(|(g, p)| Some((g, p.as_ref()?))) {
        let started = Instant::now();
        println!(
            "\n{goal:?}: policy {}, targets {targets:?}, AWS and the reactive limit at {AWS_TARGET}; c = p95 load / 10, boot 5 min, metrics 2 min late",
            path.display()
        );
        let mut rows = Vec::new();
        for (name, trace) in &traces {
            let t = Instant::now();
            if let Some(row) = measure(name, policy, *goal, trace.clone(), &targets) {
                eprintln!("{name}: {:.1} s", t.elapsed().as_secs_f64());
                rows.push(row);
            }
        }
        print_table(&rows);
        println!("({:.0} s)", started.elapsed().as_secs_f64());
    }
}
