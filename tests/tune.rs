//! `ebb tune` end to end on generated traces: the tuned file passes `ebb
//! check` and `ebb diff` finds it cheaper at no more under-provisioning on
//! the history it was tuned on; the output does not depend on the thread
//! count; and on a trace whose optimum a sweep can find, the search finds it.

use assert_cmd::Command;
use chrono::{DateTime, Duration};
use ebb::policy_file::parse_str;
use ebb::sim::run::{SimOptions, simulate};
use ebb::sim::trace::Trace;
use ebb::tune::run::{TuneRequest, TuneTrace, tune, walk_forward_split};
use ebb::tune::search::SearchPlan;
use ebb::tune::space::{SpaceFile, dimensions};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn web_cpu() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-cpu.toml")
}

fn ebb() -> Command {
    Command::cargo_bin("ebb").unwrap()
}

/// A synthetic spiky trace of `days`, written by `ebb trace synth`.
fn synth_trace(dir: &Path, days: u32) -> PathBuf {
    synth(dir, "trace.csv", "spiky", 4, days)
}

/// A synthetic trace of `shape` written by `ebb trace synth` to `dir/name`.
fn synth(dir: &Path, name: &str, shape: &str, seed: u32, days: u32) -> PathBuf {
    let path = dir.join(name);
    ebb()
        .args(["trace", "synth", "--shape", shape, "--seed"])
        .arg(seed.to_string())
        .arg("--days")
        .arg(days.to_string())
        .arg("--out")
        .arg(&path)
        .assert()
        .success();
    path
}

/// The first 70% of the rows of the trace at `path` (the part `ebb tune`
/// tunes on), with the load multiplied by `scale`, written beside it.
fn tuning_part(path: &Path, scale: f64) -> PathBuf {
    let text = std::fs::read_to_string(path).unwrap();
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("timestamp"))
        .collect();
    let tuning_rows = (rows.len() as f64 * 0.7).round() as usize;
    let mut out = String::from("timestamp,value\n");
    for row in &rows[..tuning_rows] {
        let (time, value) = row.split_once(',').unwrap();
        let value: f64 = value.parse().unwrap();
        out.push_str(&format!("{time},{}\n", value * scale));
    }
    let part = path.with_extension("tuning.csv");
    std::fs::write(&part, out).unwrap();
    part
}

/// A row of `ebb diff`'s table: (old, new).
fn diff_row(output: &str, name: &str) -> (f64, f64) {
    let line = output
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap_or_else(|| panic!("no `{name}` row in {output}"));
    let numbers: Vec<f64> = line[name.len()..]
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (numbers[0], numbers[1])
}

#[test]
fn a_tuned_policy_passes_check_and_diff_finds_it_cheaper_at_no_more_under_provisioning() {
    let dir = tempfile::tempdir().unwrap();
    let trace = synth_trace(dir.path(), 3);
    let tuned = dir.path().join("tuned.toml");
    let plot = dir.path().join("front.svg");
    let output = ebb()
        .arg("tune")
        .arg(web_cpu())
        .args(["--candidates", "40", "--seed", "2", "--trace"])
        .arg(&trace)
        .arg("--out")
        .arg(&tuned)
        .arg("--plot")
        .arg(&plot)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report = String::from_utf8(output).unwrap();
    for expected in [
        "Pareto front on the tuning part",
        "aws-target-tracking",
        "kubernetes-hpa",
        "reactive-limit",
        "current (web-cpu.toml)",
        "held out",
        "changes from",
    ] {
        assert!(report.contains(expected), "no `{expected}` in {report}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.contains("<svg") && svg.contains("chosen"), "{svg}");

    // The comments of the original are all there.
    let original = std::fs::read_to_string(web_cpu()).unwrap();
    let written = std::fs::read_to_string(&tuned).unwrap();
    let comments = |t: &str| -> Vec<String> {
        t.lines()
            .filter_map(|l| l.find('#').map(|i| l[i..].to_string()))
            .collect()
    };
    assert_eq!(comments(&written), comments(&original), "{written}");

    ebb().arg("check").arg(&tuned).assert().success();

    // On the part of the history it was tuned on (the first 70% of rows),
    // `ebb diff` sees the tuned policy cheaper and no more often short.
    let tuning_trace = tuning_part(&trace, 1.0);
    let capacity = report
        .lines()
        .find_map(|l| l.strip_prefix("cloud: "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string();
    let diff = diff(&tuned, &tuning_trace, &capacity);
    let (old_hours, new_hours) = diff_row(&diff, "instance-hours");
    let (old_tau, new_tau) = diff_row(&diff, "under-provisioned time tau_U %");
    assert!(new_hours < old_hours, "{diff}");
    assert!(new_tau <= old_tau, "{diff}");
}

/// `ebb diff` of web-cpu.toml against `tuned` on `trace`: its output.
fn diff(tuned: &Path, trace: &Path, capacity: &str) -> String {
    let output = ebb()
        .arg("diff")
        .arg(web_cpu())
        .arg(tuned)
        .args(["--capacity-per-instance", capacity, "--trace"])
        .arg(trace)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(output).unwrap()
}

/// Two histories of different shapes and scales (one 30x the other's load),
/// rescaled so each one's p95 needs 10 instances: the tuned policy passes
/// `ebb check`, and on each history's tuning part `ebb diff` finds it no
/// more often short than the input (the budget holds on each), and cheaper
/// on both together.
#[test]
fn tuning_on_several_traces_keeps_the_budget_on_each_and_saves_on_all() {
    let dir = tempfile::tempdir().unwrap();
    let spiky = synth(dir.path(), "spiky.csv", "spiky", 4, 2);
    let diurnal = synth(dir.path(), "diurnal.csv", "diurnal", 7, 2);
    // The second trace at 30x the load: rescaling must undo it.
    let text = std::fs::read_to_string(&diurnal).unwrap();
    let mut large = String::new();
    for line in text.lines() {
        match line.split_once(',').map(|(t, v)| (t, v.parse::<f64>())) {
            Some((time, Ok(value))) => large.push_str(&format!("{time},{}\n", value * 30.0)),
            _ => large.push_str(&format!("{line}\n")),
        }
    }
    std::fs::write(&diurnal, large).unwrap();
    let tuned = dir.path().join("tuned.toml");
    let run = |json: bool| {
        let mut command = ebb();
        command
            .arg("tune")
            .arg(web_cpu())
            .args(["--candidates", "30", "--seed", "3", "--p95-instances", "10"])
            .arg("--trace")
            .arg(&spiky)
            .arg("--trace")
            .arg(&diurnal)
            .arg("--out")
            .arg(&tuned);
        if json {
            command.arg("--json");
        }
        let output = command.assert().success().get_output().stdout.clone();
        String::from_utf8(output).unwrap()
    };
    let text = run(false);
    for expected in [
        "on 2 traces",
        "trace 1: ",
        "trace 2: ",
        "budget: on each trace",
        "all traces together",
        "spiky.csv",
        "diurnal.csv",
        "load x",
    ] {
        assert!(text.contains(expected), "no `{expected}` in {text}");
    }
    ebb().arg("check").arg(&tuned).assert().success();

    let report: serde_json::Value = serde_json::from_str(&run(true)).unwrap();
    let traces = report["traces"].as_array().unwrap();
    assert_eq!(traces.len(), 2);
    let capacity = traces[0]["capacity_per_instance"].as_f64().unwrap();
    assert_eq!(traces[1]["capacity_per_instance"].as_f64(), Some(capacity));
    let scale = traces[1]["scale"].as_f64().unwrap();
    assert_eq!(traces[0]["scale"].as_f64(), Some(1.0));
    assert!((scale * 30.0 - 1.0).abs() < 0.5, "scale {scale}");
    let (mut old_total, mut new_total) = (0.0, 0.0);
    for (path, trace) in [&spiky, &diurnal].iter().zip(traces) {
        // The tuning part as ebb tune saw it: the trace times its scale.
        let scale = trace["scale"].as_f64().unwrap();
        let diff = diff(&tuned, &tuning_part(path, scale), &capacity.to_string());
        let (old_hours, new_hours) = diff_row(&diff, "instance-hours");
        let (old_tau, new_tau) = diff_row(&diff, "under-provisioned time tau_U %");
        assert!(new_tau <= old_tau, "{}: {diff}", path.display());
        let budget = trace["budget_tau_u"].as_f64().unwrap();
        assert!((budget - old_tau).abs() < 0.01, "budget {budget}: {diff}");
        old_total += old_hours;
        new_total += new_hours;
    }
    assert!(new_total < old_total, "{new_total} >= {old_total}");
}

#[test]
fn the_same_seed_prints_the_same_report_on_one_thread_or_two() {
    let dir = tempfile::tempdir().unwrap();
    let trace = synth_trace(dir.path(), 1);
    let run = |threads: &str| {
        let output = ebb()
            .env("RAYON_NUM_THREADS", threads)
            .arg("tune")
            .arg(web_cpu())
            .args([
                "--candidates",
                "16",
                "--seed",
                "9",
                "--json",
                "--budget",
                "tau_u=1%",
                "--trace",
            ])
            .arg(&trace)
            .output()
            .unwrap();
        String::from_utf8(output.stdout).unwrap()
    };
    let one = run("1");
    assert!(one.contains("\"front\""), "{one}");
    assert_eq!(one, run("2"));
}

#[test]
fn bad_space_file_and_budget_are_refused_with_where_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let space = dir.path().join("tune.toml");
    std::fs::write(&space, "target = [40, 70]\ncooldown = [\"0s\", \"5m\"]\n").unwrap();
    ebb()
        .arg("tune")
        .arg(web_cpu())
        .arg("--space")
        .arg(&space)
        .assert()
        .code(1)
        .stderr(predicates::str::contains(
            "tune.toml:2: cooldown: not a tunable field",
        ));
    ebb()
        .arg("tune")
        .arg(web_cpu())
        .args(["--budget", "tau_u=lots"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("not a percentage"));
}

/// A steady load: the cheapest target within range is a plain sweep away,
/// and the search over the target alone must find a policy as cheap.
#[test]
fn the_search_finds_the_cheapest_target_a_sweep_finds() {
    let path = web_cpu();
    // A short stabilization window: with the shipped 30 minutes, instance-
    // hours are not monotonic in the target on six hours, and a 40-candidate
    // search is not bound to land on a sweep's best.
    let text = std::fs::read_to_string(&path).unwrap().replacen(
        "scale_in_stabilization = \"30m\"",
        "scale_in_stabilization = \"5m\"",
        1,
    );
    let file = parse_str(&text, &path).unwrap();
    let start = DateTime::from_timestamp(1_767_571_200, 0).unwrap();
    // Six hours: a slow rise from 900 to 1500 and back.
    let loads: Vec<f64> = (0..360)
        .map(|m| 1200.0 - 300.0 * (f64::from(m) * std::f64::consts::TAU / 360.0).cos())
        .collect();
    let trace = Arc::new(Trace::new(start, Duration::minutes(1), loads).unwrap());
    let options = SimOptions {
        capacity_per_instance: Some(100.0),
        baselines: false,
        ..SimOptions::default()
    };
    let only_target = "tolerance = false\nhalf_life = false\nscale_out_cooldown = false\n\
        scale_in_cooldown = false\nscale_in_stabilization = false\n\
        max_step_out_percent = false\nmax_step_in_percent = false\ntrend_lead = false\n\
        trend_window = false\nhalf_life_down = false\nscale_in_quantile = false\ntarget = [40, 80]\n";
    let space = SpaceFile::parse(only_target, Path::new("tune.toml")).unwrap();
    let dims = dimensions(&file, &text, &space);
    assert_eq!(dims.len(), 1);
    let request = TuneRequest {
        dimensions: dims,
        file: file.clone(),
        text,
        path,
        traces: vec![TuneTrace {
            name: "six hours".into(),
            trace: trace.clone(),
        }],
        options: options.clone(),
        p95_instances: None,
        budget_tau_u: Some(100.0),
        plan: SearchPlan {
            candidates: 40,
            seed: 5,
        },
    };
    let report = tune(&request).unwrap();
    assert!(report.meets_budget);
    let found = report.chosen_tuning().instance_hours;
    let target = report.candidates[report.chosen].values[0];
    for candidate in &report.candidates {
        assert!(
            (40.0..=80.0).contains(&candidate.values[0]),
            "every candidate stays in the space's range: {:?}",
            candidate.values
        );
    }
    // Every target from 40 to 80 in steps of 0.5, on the same tuning part.
    let (tuning, _) = walk_forward_split(&trace, "six hours").unwrap();
    let tuning = Arc::new(tuning);
    let mut cheapest = f64::INFINITY;
    for step in 0..=80 {
        let mut candidate = file.clone();
        if let ebb::policy_file::PolicySpec::TargetTracking(tt) = &mut candidate.policies[0] {
            tt.target = 40.0 + 0.5 * f64::from(step);
        }
        let report = simulate(&candidate, tuning.clone(), &options).unwrap();
        cheapest = cheapest.min(report.runs[0].score.instance_hours);
    }
    assert!(
        found <= cheapest + 1e-9,
        "the search found {found} instance-hours (target {target}), the sweep {cheapest}"
    );
}

/// Candidates of a predictive policy share one memo of model choices and
/// fits (the series they forecast is the trace's load, the same for all):
/// each scores and decides exactly as with its own forecasts, and a second
/// candidate computes no model choice or fit the first did not.
#[test]
fn candidates_sharing_forecasts_decide_exactly_as_with_their_own() {
    use ebb::forecast::memo::ForecastMemo;
    use ebb::policy_file::PolicySpec;
    use ebb::sim::synth::{Shape, SynthSpec, synthesize};

    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-predictive.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut first = parse_str(&text, &path).unwrap();
    for policy in &mut first.policies {
        if let PolicySpec::Predictive(p) = policy {
            // 50% of the 100 one instance serves here, as target tracking's.
            p.target_per_instance = 50.0;
        }
    }
    let mut second = first.clone();
    second.governor.scale_in_cooldown = std::time::Duration::from_secs(600);
    for policy in &mut second.policies {
        if let PolicySpec::Predictive(p) = policy {
            p.quantile = 0.8;
            p.buffer_percent = 10.0;
        }
    }
    let trace = Arc::new(synthesize(&SynthSpec {
        days: 3,
        shape: Shape::Diurnal,
        ..SynthSpec::default()
    }));
    let options = |forecasts: Option<Arc<ForecastMemo>>| SimOptions {
        capacity_per_instance: Some(100.0),
        baselines: false,
        keep_decisions: true,
        forecasts,
        ..SimOptions::default()
    };
    // Every record as JSON, without the backtest's fit times (wall-clock
    // measurements, different in every run).
    fn without_times(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Object(map) => {
                map.remove("fit_ms");
                map.values_mut().for_each(without_times);
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(without_times),
            _ => {}
        }
    }
    let records = |report: &ebb::sim::run::SimReport| -> Vec<String> {
        report
            .decisions
            .iter()
            .map(|d| {
                let mut json = serde_json::to_value(d).unwrap();
                without_times(&mut json);
                json.to_string()
            })
            .collect()
    };
    let memo = Arc::new(ForecastMemo::new());
    let mut sizes = Vec::new();
    for file in [&first, &second] {
        let own = simulate(file, trace.clone(), &options(None)).unwrap();
        let shared = simulate(file, trace.clone(), &options(Some(memo.clone()))).unwrap();
        assert_eq!(own.runs[0].score, shared.runs[0].score);
        let (own_records, shared_records) = (records(&own), records(&shared));
        let differ = own_records
            .iter()
            .zip(&shared_records)
            .position(|(a, b)| a != b);
        assert!(
            differ.is_none() && own_records.len() == shared_records.len(),
            "first difference at record {differ:?}"
        );
        assert!(
            records(&shared)
                .iter()
                .any(|r| r.contains("\"kind\":\"predictive\"") && r.contains("\"forecast\":")),
            "the predictive policy forecast in this run"
        );
        sizes.push(memo.sizes());
    }
    let (choices, fits) = sizes[0];
    assert!(choices >= 1 && fits >= 1, "{:?}", sizes[0]);
    assert_eq!(sizes[1], sizes[0], "the second candidate reused every one");
}
