//! Replaying real history, against a real AWS API emulator (moto_server):
//! metrics put into its CloudWatch come back as a trace through `ebb trace
//! export`, which `ebb diff`, `ebb simulate --from-cloudwatch` and `ebb tune
//! --from-cloudwatch` replay.

mod support;

use assert_cmd::Command;
use chrono::{Duration, DurationRound, Utc};
use predicates::prelude::*;
use std::path::Path;
use support::moto::{MotoServer, put_metric, sdk_config};

const GROUP: &str = "web-history";

fn policy(target: f64) -> String {
    format!(
        r#"
[target]
group = "{GROUP}"
region = "us-east-1"
min_capacity = 2
max_capacity = 40

[metrics.cpu.source.cloudwatch]
namespace = "AWS/EC2"
metric_name = "CPUUtilization"
dimensions = {{ AutoScalingGroupName = "{GROUP}" }}
statistic = "Average"
period = "1m"

[[policies]]
kind = "target-tracking"
name = "cpu"
metric = "cpu"
target = {target}
"#
    )
}

fn ebb(config: &Path) -> Command {
    let mut command = Command::cargo_bin("ebb").unwrap();
    command
        .env("EBB_CONFIG", config)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE");
    command
}

/// A daemon config pointing at moto, in `dir`.
fn moto_config(dir: &Path, moto: &MotoServer) -> std::path::PathBuf {
    let config = dir.join("ebb.toml");
    let text = format!(
        "[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{}\"\nmax_attempts = 2\n",
        moto.url()
    );
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn export_history_then_diff_and_simulate_it() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = moto_config(dir.path(), &moto);
    let old = dir.path().join("old.toml");
    let new = dir.path().join("new.toml");
    std::fs::write(&old, policy(50.0)).unwrap();
    std::fs::write(&new, policy(70.0)).unwrap();

    // Three hours of a fleet that grows from 4 to 10 instances at ~50% CPU.
    let end = Utc::now().duration_trunc(Duration::minutes(1)).unwrap() - Duration::minutes(5);
    let minutes: Vec<_> = (0..180).map(|m| end - Duration::minutes(179 - m)).collect();
    let in_service: Vec<f64> = (0..180).map(|m| 4.0 + (m / 30) as f64).collect();
    let cpu: Vec<f64> = (0..180)
        .map(|m| 45.0 + 10.0 * ((m % 30) as f64 / 30.0))
        .collect();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let cloudwatch = aws_sdk_cloudwatch::Client::new(&sdk_config(&moto.url()).await);
        let series = |values: &[f64]| {
            minutes
                .iter()
                .copied()
                .zip(values.iter().copied())
                .collect::<Vec<_>>()
        };
        let dimension = ("AutoScalingGroupName", GROUP);
        put_metric(
            &cloudwatch,
            "AWS/EC2",
            "CPUUtilization",
            dimension,
            &series(&cpu),
        )
        .await;
        put_metric(
            &cloudwatch,
            "AWS/AutoScaling",
            "GroupInServiceInstances",
            dimension,
            &series(&in_service),
        )
        .await;
        put_metric(
            &cloudwatch,
            "AWS/AutoScaling",
            "GroupDesiredCapacity",
            dimension,
            &series(&in_service),
        )
        .await;
    });

    let trace = dir.path().join("trace.csv");
    ebb(&config)
        .args(["trace", "export"])
        .arg(&old)
        .args(["--days", "1", "--out"])
        .arg(&trace)
        .assert()
        .success();
    let text = std::fs::read_to_string(&trace).unwrap();
    assert!(
        text.contains("# simulate with --capacity-per-instance 100"),
        "{text}"
    );
    let rows: Vec<Vec<f64>> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("timestamp"))
        .map(|l| l.split(',').skip(1).map(|v| v.parse().unwrap()).collect())
        .collect();
    // Every minute put is there, as load = CPU x instances in service, with
    // the group's recorded capacity beside it. The delay of 2 periods may
    // leave out the latest minutes.
    assert!(
        rows.len() >= 170 && rows.len() <= 180,
        "{} rows",
        rows.len()
    );
    for (row, m) in rows.iter().zip(0..) {
        assert!(
            (row[0] - cpu[m] * in_service[m]).abs() < 1e-6,
            "minute {m}: {row:?}"
        );
        assert_eq!((row[1], row[2]), (in_service[m], in_service[m]));
    }

    // The same history through two policies: a hotter target needs fewer instances.
    ebb(&config)
        .arg("diff")
        .arg(&old)
        .arg(&new)
        .args(["--capacity-per-instance", "100", "--trace"])
        .arg(&trace)
        .assert()
        .success()
        .stdout(predicate::str::contains("policies[0].target: 50.0 -> 70.0"));

    // In one step, with what the group really did as one more row.
    ebb(&config)
        .arg("simulate")
        .arg(&old)
        .args(["--from-cloudwatch", "--days", "1"])
        .assert()
        .success()
        .stdout(predicate::str::contains("recorded (the group)"))
        .stdout(predicate::str::contains("100.0 load per instance"));

    // `ebb tune` reads the same history the same way, and scores what the
    // group really did beside the candidates on both parts.
    let tuned = dir.path().join("tuned.toml");
    ebb(&config)
        .arg("tune")
        .arg(&old)
        .args(["--from-cloudwatch", "--days", "1", "--candidates", "12"])
        .args(["--budget", "tau_u=100%", "--out"])
        .arg(&tuned)
        .assert()
        .success()
        .stdout(predicate::str::contains("recorded (the group)"))
        .stdout(predicate::str::contains("100.0 load per instance"))
        .stdout(predicate::str::contains("Pareto front"));
    ebb(&config).arg("check").arg(&tuned).assert().success();
}

#[test]
fn export_of_a_utilization_without_group_metrics_says_what_to_enable() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let config = moto_config(dir.path(), &moto);
    let policy_path = dir.path().join("web.toml");
    std::fs::write(&policy_path, policy(50.0)).unwrap();
    ebb(&config)
        .args(["trace", "export"])
        .arg(&policy_path)
        .args(["--days", "1"])
        .assert()
        .failure()
        .stderr(predicate::str::contains("EnableMetricsCollection"));
}
