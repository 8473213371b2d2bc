//! `ebb forecast` end to end: a generated daily-cycle trace, the report as
//! JSON, the plot, the errors a user can run into, and the same history
//! read from CloudWatch (a real moto_server).

mod support;

use assert_cmd::Command;
use chrono::{DateTime, Duration, DurationRound, Utc};
use predicates::str::contains;
use std::fmt::Write as _;
use std::path::Path;
use support::moto::{MotoServer, put_metric, sdk_config};

const POLICY: &str = r#"
[target]
group = "web"
min_capacity = 1
max_capacity = 50

[metrics.requests.source.cloudwatch]
namespace = "AWS/ApplicationELB"
metric_name = "RequestCount"
statistic = "Sum"
period = "1m"

[[policies]]
kind = "target-tracking"
name = "requests"
metric = "requests"
metric_type = "load-total"
target = 100.0

[[policies]]
kind = "predictive"
name = "forecast"
metric = "requests"
target_per_instance = 100.0
quantile = 0.9
"#;

/// Load at 5-minute step `i`: a daily cycle between 500 and 1500 plus a
/// little deterministic noise.
fn load(i: usize) -> f64 {
    let day = 2.0 * std::f64::consts::PI * i as f64 / 288.0;
    let noise = ((i * 7919) % 101) as f64 / 101.0 - 0.5;
    1000.0 + 500.0 * day.sin() + 20.0 * noise
}

/// Four days of 5-minute rows from 2026-01-05 00:00 UTC, epoch-second timestamps.
fn write_inputs(dir: &Path) {
    let mut csv = String::from("timestamp,value\n");
    for i in 0..4 * 288 {
        let _ = writeln!(csv, "{},{}", 1_767_571_200 + i * 300, load(i));
    }
    std::fs::write(dir.join("trace.csv"), csv).unwrap();
    std::fs::write(dir.join("web.toml"), POLICY).unwrap();
}

fn ebb(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("ebb").unwrap();
    cmd.current_dir(dir);
    cmd
}

#[test]
fn json_report_backtests_every_model_and_forecasts_the_cycle() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let output = ebb(dir.path())
        .args([
            "forecast",
            "web.toml",
            "--trace",
            "trace.csv",
            "--json",
            "--plot",
            "out.svg",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // The lead time (what the policy scales on), then 1 h, 24 h and 48 h.
    let horizons = report["horizons"].as_array().unwrap();
    let labels: Vec<&str> = horizons
        .iter()
        .map(|h| h["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["lead 6 min", "1 h", "24 h", "48 h"]);
    let lead = &horizons[0];
    let scores = lead["scores"].as_array().unwrap();
    // Every model, then combinations of the best.
    assert!(scores.len() > 5, "{scores:#?}");
    // Four days are not enough for last week's values.
    let weekly = scores
        .iter()
        .find(|s| s["model"] == "seasonal-naive-weekly")
        .unwrap();
    assert!(
        weekly["accuracy"]["Err"]
            .as_str()
            .unwrap()
            .contains("needs at least")
    );
    // Four days leave no origin with two days before it and two after:
    // the 48 h part falls back to yesterday, saying so.
    for part in &horizons[..3] {
        let by = part["chosen_by"].as_str().unwrap();
        assert!(by.starts_with("backtest: lowest error"), "{by}");
    }
    let by = horizons[3]["chosen_by"].as_str().unwrap();
    assert!(by.contains("too short to backtest"), "{by}");
    // The parts cover the 48 hours one after another.
    let covers: Vec<(u64, u64)> = horizons
        .iter()
        .map(|h| {
            (
                h["covers"][0].as_u64().unwrap(),
                h["covers"][1].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(covers, [(1, 2), (3, 12), (13, 288), (289, 576)]);
    let chosen_score = scores
        .iter()
        .find(|s| s["model"] == lead["chosen"])
        .unwrap();
    assert!(
        chosen_score["accuracy"]["Ok"]["mase"].as_f64().unwrap() < 1.5,
        "{chosen_score}"
    );

    // 48 hours at 5 minutes; the mean follows the cycle within 5%.
    let forecast = report["forecast"].as_array().unwrap();
    assert_eq!(forecast.len(), 576);
    for (h, point) in forecast.iter().enumerate() {
        let (mean, truth) = (point["mean"].as_f64().unwrap(), load(4 * 288 + h));
        assert!(
            (mean - truth).abs() < 0.05 * truth,
            "step {h}: {mean} vs {truth}"
        );
        let q = point["quantile"].as_f64().unwrap();
        assert!(q >= mean, "p90 {q} below the mean {mean}");
        assert_eq!(
            point["capacity"].as_u64().unwrap(),
            (q / 100.0 - 1e-9).ceil() as u64
        );
    }
    let svg = std::fs::read_to_string(dir.path().join("out.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("forecast mean"),
        "{}",
        &svg[..200.min(svg.len())]
    );
}

#[test]
fn text_report_names_the_chosen_model() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    ebb(dir.path())
        .args([
            "forecast",
            "web.toml",
            "--trace",
            "trace.csv",
            "--horizon",
            "6h",
        ])
        .assert()
        .success()
        .stdout(contains("holt-winters-additive"))
        .stdout(contains("lead 6 min (forecast steps 1..2): "))
        .stdout(contains("24 h (forecast steps 13..72): "))
        .stdout(contains("2026-01-09 05:00"));
}

/// The policy file, reading `requests` from CloudWatch at a 1-minute period.
fn cloudwatch_policy() -> String {
    POLICY
        .replace("[target]\n", "[target]\nregion = \"us-east-1\"\n")
        .replace(
            "metric_name = \"RequestCount\"",
            "metric_name = \"RequestCount\"\ndimensions = { LoadBalancer = \"app/web/1\" }",
        )
}

#[test]
fn without_a_trace_it_reads_the_history_from_cloudwatch() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    // Three days of request counts, one datapoint every 5 minutes (what
    // CloudWatch's 5-minute Sum of a quiet per-minute metric holds), ending
    // ten minutes ago. moto takes seconds per hundred datapoints: keep it small.
    let now = Utc::now().duration_trunc(Duration::minutes(5)).unwrap();
    let steps = 3 * 288;
    let points: Vec<_> = (0..steps)
        .map(|i| {
            let time = now - Duration::minutes(5 * (steps - i) + 10);
            let step = (time.timestamp() - 1_767_571_200).div_euclid(300) as usize;
            (time, load(step))
        })
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let config = sdk_config(&moto.url()).await;
        let client = aws_sdk_cloudwatch::Client::new(&config);
        put_metric(
            &client,
            "AWS/ApplicationELB",
            "RequestCount",
            ("LoadBalancer", "app/web/1"),
            &points,
        )
        .await;
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web.toml"), cloudwatch_policy()).unwrap();
    // The daemon's variable: `ebb forecast` read `EBB_AWS_ENDPOINT_URL`
    // (one underscore) and, with this one set, went to real AWS.
    let output = ebb(dir.path())
        .args(["forecast", "web.toml", "--json"])
        .env("EBB_AWS__ENDPOINT_URL", moto.url())
        .env_remove("EBB_CONFIG")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    // Fetched over 14 days at 5-minute periods: three days of 5-minute buckets
    // (less the edges), each 5-minute Sum scaled back to the metric's 1-minute period.
    let start: DateTime<Utc> = report["history_start"].as_str().unwrap().parse().unwrap();
    let end: DateTime<Utc> = report["history_end"].as_str().unwrap().parse().unwrap();
    assert_eq!(report["step_s"], 300);
    assert!(
        (end - start).num_minutes() > 3 * 1440 - 30,
        "{start} .. {end}"
    );
    assert!(
        now - end <= Duration::minutes(20),
        "history ends at {end}, now {now}"
    );
    let forecast = report["forecast"].as_array().unwrap();
    let first = forecast[0]["mean"].as_f64().unwrap();
    let step = (end.timestamp() - 1_767_571_200).div_euclid(300) as usize;
    let truth = load(step) / 5.0;
    assert!(
        (first - truth).abs() < 0.1 * truth,
        "first forecast {first} vs {truth}"
    );
}

#[test]
fn a_file_without_a_predictive_policy_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let only_tracking = POLICY
        .split("[[policies]]\nkind = \"predictive\"")
        .next()
        .unwrap();
    std::fs::write(dir.path().join("tt.toml"), only_tracking).unwrap();
    ebb(dir.path())
        .args(["forecast", "tt.toml", "--trace", "trace.csv"])
        .assert()
        .code(2)
        .stderr(contains("no policy with kind = \"predictive\""));
}

/// The daemon ends usable history at a gap over 3 buckets; `ebb forecast
/// --trace` used to fill such a gap by a straight line and fit on it.
#[test]
fn a_long_gap_in_a_trace_ends_the_history_as_in_the_daemon() {
    let dir = tempfile::tempdir().unwrap();
    write_inputs(dir.path());
    let mut csv = String::from("timestamp,value\n");
    // Two days, 5 days missing, then four days.
    for i in (0..2 * 288).chain(7 * 288..11 * 288) {
        let _ = writeln!(csv, "{},{}", 1_767_571_200 + i * 300, load(i));
    }
    std::fs::write(dir.path().join("gap.csv"), csv).unwrap();
    let out = ebb(dir.path())
        .args(["forecast", "web.toml", "--trace", "gap.csv", "--json"])
        .assert()
        .success()
        .stderr(contains(
            "has a gap from 2026-01-07 00:00 to 2026-01-12 00:00",
        ))
        .get_output()
        .stdout
        .clone();
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["history_start"], "2026-01-12T00:00:00Z");
}
