//! The tuning workflow as a user runs it: `ebb trace synth`, `ebb simulate`, `ebb diff`, and the lint of `ebb check`.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::Path;

fn ebb() -> Command {
    Command::cargo_bin("ebb").expect("the ebb binary is built")
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(name)
        .display()
        .to_string()
}

#[test]
fn simulate_without_a_trace_prints_the_comparison_and_writes_a_plot() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("demo.svg");
    let output = ebb()
        .args([
            "simulate",
            &example("web-cpu.toml"),
            "--days",
            "2",
            "--plot",
        ])
        .arg(&plot)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(output).unwrap();
    for row in [
        "ebb (web-cpu)",
        "aws-target-tracking",
        "kubernetes-hpa",
        "reactive-limit",
        "oracle",
        "tau_U%",
    ] {
        assert!(text.contains(row), "missing {row} in:\n{text}");
    }
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("demand") && svg.contains("oracle"));
}

#[test]
fn simulate_json_reports_scores_that_add_up() {
    let output = ebb()
        .args([
            "simulate",
            &example("web-cpu.toml"),
            "--days",
            "1",
            "--json",
        ])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&output).unwrap();
    assert_eq!(report["minutes"], 1440);
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 5);
    for run in runs {
        let score = &run["score"];
        let under = score["under_timeshare"].as_f64().unwrap();
        let over = score["over_timeshare"].as_f64().unwrap();
        assert!(under + over <= 100.0 + 1e-9, "{run}");
        assert!(
            score["instance_hours"].as_f64().unwrap() >= 2.0 * 24.0,
            "at least min capacity all day: {run}"
        );
    }
    let oracle = runs.iter().find(|r| r["name"] == "oracle").unwrap();
    assert_eq!(oracle["score"]["under_timeshare"].as_f64().unwrap(), 0.0);
}

#[test]
fn simulate_replays_a_trace_file_and_writes_the_decisions_log() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.csv");
    let decisions = dir.path().join("decisions.jsonl");
    ebb()
        .args([
            "trace", "synth", "--days", "1", "--shape", "spiky", "--seed", "7", "--out",
        ])
        .arg(&trace)
        .assert()
        .success();
    let csv = std::fs::read_to_string(&trace).unwrap();
    assert!(csv.starts_with("timestamp,value\n"));
    assert_eq!(csv.lines().count(), 1 + 1440);

    ebb()
        .args([
            "simulate",
            &example("web-requests.toml"),
            "--capacity-per-instance",
            "400",
            "--trace",
        ])
        .arg(&trace)
        .arg("--decisions")
        .arg(&decisions)
        .assert()
        .success()
        .stdout(predicate::str::contains("ebb (web-requests)"))
        .stdout(predicate::str::contains(
            "dry-run mode; simulated as if active",
        ));
    let log = std::fs::read_to_string(&decisions).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // One evaluation a minute, the first one a minute in.
    assert_eq!(records.len(), 1440);
    assert!(records.iter().all(|r| r["target"] == "web-requests"));
    let scaled = records
        .iter()
        .filter(|r| r["outcome"]["status"] == "applied")
        .count();
    assert!(
        scaled > 10,
        "a spiky day needs scaling, got {scaled} actions"
    );
}

#[test]
fn simulate_rejects_a_bad_trace_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("bad.csv");
    std::fs::write(
        &trace,
        "timestamp,value\n2026-01-01 00:00:00,5\n2026-01-01 00:01:00,lots\n",
    )
    .unwrap();
    ebb()
        .args(["simulate", &example("web-cpu.toml"), "--trace"])
        .arg(&trace)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("bad.csv, line 3")
                .and(predicate::str::contains("`lots` is not a number")),
        );
}

#[test]
fn simulate_refuses_a_metric_it_cannot_model() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("latency.toml");
    let text = std::fs::read_to_string(example("web-cpu.toml"))
        .unwrap()
        .replace("\"CPUUtilization\"", "\"TargetResponseTime\"");
    std::fs::write(&policy, text).unwrap();
    ebb()
        .arg("simulate")
        .arg(&policy)
        .args(["--days", "1"])
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("metric `cpu`").and(predicate::str::contains("simulated_as")),
        );
}

#[test]
fn diff_prints_changes_and_exits_non_zero_when_a_guard_is_crossed() {
    let dir = tempfile::tempdir().unwrap();
    let hotter = dir.path().join("hotter.toml");
    let text = std::fs::read_to_string(example("web-cpu.toml"))
        .unwrap()
        .replace("target = 50.0", "target = 80.0");
    std::fs::write(&hotter, text).unwrap();
    let plot = dir.path().join("diff.svg");
    // Running hotter saves instance-hours and costs under-provisioned time.
    ebb()
        .args(["diff", &example("web-cpu.toml")])
        .arg(&hotter)
        .args([
            "--days", "2", "--shape", "spiky", "--price", "0.05", "--plot",
        ])
        .arg(&plot)
        .assert()
        .success()
        .stdout(predicate::str::contains("policies[0].target: 50.0 -> 80.0"))
        .stdout(predicate::str::contains("Reactive limit"))
        .stdout(predicate::str::contains("Guards: none crossed."));
    assert!(std::fs::read_to_string(&plot).unwrap().contains("new: "));
    let output = ebb()
        .args(["diff", &example("web-cpu.toml")])
        .arg(&hotter)
        .args([
            "--days",
            "2",
            "--shape",
            "spiky",
            "--markdown",
            "--max-under-increase",
            "0.1",
        ])
        .assert()
        .code(1)
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(output).unwrap();
    assert!(text.contains("| instance-hours |"), "{text}");
    assert!(
        text.contains("**GUARD CROSSED:** under-provisioned time grows"),
        "{text}"
    );
    let hours: Vec<f64> = text
        .lines()
        .find(|l| l.starts_with("| instance-hours"))
        .unwrap()
        .split('|')
        .filter_map(|c| c.trim().parse().ok())
        .collect();
    assert!(
        hours[1] < hours[0],
        "80% target should use fewer instance-hours: {hours:?}"
    );
}

#[test]
fn check_lints_valid_but_unwise_settings_and_strict_fails_on_them() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("hasty.toml");
    let text = std::fs::read_to_string(example("web-cpu.toml"))
        .unwrap()
        .replace("scale_in_cooldown = \"5m\"", "scale_in_cooldown = \"1m\"");
    std::fs::write(&policy, text).unwrap();
    ebb().arg("check").arg(&policy).assert().success().stderr(
        predicate::str::contains("warning: ").and(predicate::str::contains(
            "governor.scale_in_cooldown: scale_in_cooldown (1m) is shorter than warmup (5m)",
        )),
    );
    ebb()
        .args(["check", "--strict"])
        .arg(&policy)
        .assert()
        .code(1);

    // Against a trace whose peak needs more than max capacity at the target.
    let trace = dir.path().join("peak.csv");
    std::fs::write(&trace, "0,100\n60,100000\n").unwrap();
    ebb()
        .args(["check", "--capacity-per-instance", "100", "--trace"])
        .arg(&trace)
        .arg(example("web-cpu.toml"))
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "target.max_capacity: the trace's peak load 100000.0 needs 2000 instances",
        ));
}

#[test]
fn check_trace_says_how_many_rows_were_interpolated_and_rejects_a_bad_capacity() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("gappy.csv");
    std::fs::write(&trace, "0,100\n60,100\n240,100\n300,100\n").unwrap();
    ebb()
        .args(["check", "--capacity-per-instance", "100", "--trace"])
        .arg(&trace)
        .arg(example("web-cpu.toml"))
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "4 rows, 2 values interpolated over gaps",
        ));
    for bad in ["-1", "0", "NaN", "inf"] {
        ebb()
            .args(["check", "--trace"])
            .arg(&trace)
            .arg(format!("--capacity-per-instance={bad}"))
            .arg(example("web-cpu.toml"))
            .assert()
            .failure()
            .stderr(predicate::str::contains("must be a number above 0"));
    }
}

#[test]
fn simulate_merges_repeated_timestamps_and_says_how_much_it_made_up() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("dst.csv");
    // An hour a minute apart, one row repeated (as around a daylight-saving
    // change), one missing.
    let mut text = String::from("timestamp,value\n");
    for minute in 0..60 {
        if minute == 30 {
            continue;
        }
        text.push_str(&format!("2026-03-08 10:{minute:02}:00,100\n"));
        if minute == 20 {
            text.push_str("2026-03-08 10:20:00,100\n");
        }
    }
    std::fs::write(&trace, text).unwrap();
    ebb()
        .args([
            "simulate",
            &example("web-cpu.toml"),
            "--no-baselines",
            "--trace",
        ])
        .arg(&trace)
        .assert()
        .success()
        .stdout(
            predicate::str::contains(
                "60 rows, 1 values interpolated over gaps, 1 rows with a repeated timestamp merged",
            )
            // --no-baselines: nothing said about baselines that did not run.
            .and(predicate::str::contains("; no baselines"))
            .and(predicate::str::contains("baselines track").not()),
        );
    ebb()
        .args([
            "simulate",
            &example("web-cpu.toml"),
            "--duplicates",
            "error",
            "--trace",
        ])
        .arg(&trace)
        .assert()
        .failure()
        .stderr(
            predicate::str::contains("dst.csv, line 23").and(predicate::str::contains("repeats")),
        );
}
