//! Scale benchmark of the daemon against AWS's API: `ebb run` (the real
//! binary) with 1,000 targets against moto_server, through a loopback proxy
//! that counts every call by operation. Reports the AWS calls of start-up and
//! of each of two ticks, each tick's wall time (from the tick's start to its
//! last decision line), and the daemon's peak RSS.
//!
//! `cargo bench --bench aws_tick` runs 1,000 targets. Under `cargo test
//! --all-targets` (no `--bench` argument) it runs 60, as a smoke pass.

#[path = "support/fleet_config.rs"]
mod fleet_config;
#[path = "support/proc_stats.rs"]
mod proc_stats;
#[path = "../tests/support/mod.rs"]
mod support;

use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use chrono::{DateTime, Duration, DurationRound, Utc};
use fleet_config::{spawn_daemon, stop_daemon, write_config};
use proc_stats::{cpu_seconds, status_kib};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;
use support::moto::{MotoServer, create_group, sdk_config};
use support::proxy::{Proxy, Recorded};

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (targets, interval) = if full { (1000, 30) } else { (60, 8) };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let proxy = Proxy::start(moto.port);
    let dir = tempfile::tempdir().expect("temp dir");
    let groups: Vec<String> = (0..targets).map(|i| format!("bench-{i:04}")).collect();

    let setup = Instant::now();
    runtime.block_on(prepare(&moto, &groups));
    eprintln!(
        "moto set up with {targets} groups in {:.1}s",
        setup.elapsed().as_secs_f64()
    );

    write_config(dir.path(), &groups, interval, &proxy.url());
    let log = dir.path().join("decisions.jsonl");

    let child = spawn_daemon(dir.path());

    let mut rows = Vec::new();
    let mut before = BTreeMap::new();
    for tick in 1..=2 {
        let (started, ended, batches, errors) =
            wait_for_tick(&log, targets * (tick - 1), targets * tick);
        eprintln!("tick {tick}: {batches} batches, {errors} records with errors");
        let after = counts(&proxy);
        let recorded = proxy.recorded();
        if tick == 1 {
            // Start-up reads each group's activity history (no state file
            // yet); ticks never do.
            before = count(
                &recorded
                    .iter()
                    .filter(|r| r.action == "DescribeScalingActivities")
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            rows.push(("start-up".to_string(), before.clone(), None));
        }
        let cpu = cpu_seconds(child.id());
        eprintln!("after tick {tick}: the daemon has used {cpu:.2}s of CPU");
        rows.push((
            format!("tick {tick}"),
            delta(&before, &after),
            Some(ended - started),
        ));
        before = after;
    }
    let peak_rss_kib = status_kib(child.id(), "VmHWM:");
    let status = stop_daemon(child);
    assert!(status.success(), "ebb run exited with {status}");

    println!("\n`ebb run` against moto_server: {targets} targets, one CloudWatch metric each\n");
    println!(
        "| phase | GetMetricData | DescribeAutoScalingGroups | SetDesiredCapacity | DescribeScalingActivities | wall time |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    for (phase, calls, wall) in &rows {
        let n = |op: &str| calls.get(op).copied().unwrap_or(0);
        println!(
            "| {phase} | {} | {} | {} | {} | {} |",
            n("GetMetricData"),
            n("DescribeAutoScalingGroups"),
            n("SetDesiredCapacity"),
            n("DescribeScalingActivities"),
            wall.map_or_else(
                || "-".into(),
                |w| format!("{:.2}s", w.num_milliseconds() as f64 / 1000.0)
            ),
        );
    }
    println!(
        "\nexpected per tick: GetMetricData ceil({targets}/500) = {}, DescribeAutoScalingGroups ceil({targets}/50) = {}",
        targets.div_ceil(500),
        targets.div_ceil(50)
    );
    println!("daemon peak RSS: {:.1} MiB", peak_rss_kib as f64 / 1024.0);

    for (phase, calls, _) in &rows[1..] {
        assert_eq!(
            calls.get("GetMetricData"),
            Some(&targets.div_ceil(500)),
            "{phase}"
        );
        assert_eq!(
            calls.get("DescribeAutoScalingGroups"),
            Some(&targets.div_ceil(50)),
            "{phase}"
        );
    }
}

/// Groups at desired 2, and CPU for the last minutes: most near target, one
/// in ten hot (so they scale out).
async fn prepare(moto: &MotoServer, groups: &[String]) {
    let config = sdk_config(&moto.url()).await;
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    for chunk in groups.chunks(8) {
        let mut creates = tokio::task::JoinSet::new();
        for group in chunk {
            let (asg, group) = (asg.clone(), group.clone());
            creates.spawn(async move { create_group(&asg, &group, 1, 10, 2).await });
        }
        while let Some(done) = creates.join_next().await {
            done.expect("group created");
        }
    }
    let base: DateTime<Utc> = Utc::now().duration_trunc(Duration::minutes(1)).unwrap();
    let data: Vec<MetricDatum> = groups
        .iter()
        .enumerate()
        .flat_map(|(i, group)| {
            let cpu = if i % 10 == 0 { 90.0 } else { 50.0 };
            (3..=6).map(move |m| {
                MetricDatum::builder()
                    .metric_name("CPUUtilization")
                    .dimensions(
                        Dimension::builder()
                            .name("AutoScalingGroupName")
                            .value(group)
                            .build(),
                    )
                    .timestamp(aws_smithy_types::DateTime::from_secs(
                        (base - Duration::minutes(m)).timestamp(),
                    ))
                    .value(cpu)
                    .build()
            })
        })
        .collect();
    for chunk in data.chunks(500) {
        cw.put_metric_data()
            .namespace("AWS/EC2")
            .set_metric_data(Some(chunk.to_vec()))
            .send()
            .await
            .expect("PutMetricData");
    }
}

fn counts(proxy: &Proxy) -> BTreeMap<String, usize> {
    count(&proxy.recorded())
}

fn count(recorded: &[Recorded]) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for r in recorded {
        *counts.entry(r.action.clone()).or_default() += 1;
    }
    counts
}

fn delta(
    before: &BTreeMap<String, usize>,
    after: &BTreeMap<String, usize>,
) -> BTreeMap<String, usize> {
    after
        .iter()
        .map(|(op, n)| (op.clone(), n - before.get(op).copied().unwrap_or(0)))
        .collect()
}

/// Waits until the log holds `lines` records; returns the tick's start (its
/// first record's time), when its last line appeared, how many batches
/// (distinct record times) its records came in and how many carry an error.
fn wait_for_tick(
    log: &Path,
    from: usize,
    lines: usize,
) -> (DateTime<Utc>, DateTime<Utc>, usize, usize) {
    let deadline = Instant::now() + std::time::Duration::from_secs(600);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let records: Vec<&str> = text.lines().collect();
        if records.len() >= lines {
            let ended = Utc::now();
            let tick: Vec<serde_json::Value> = records[from..lines]
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let times: std::collections::BTreeSet<&str> =
                tick.iter().map(|r| r["time"].as_str().unwrap()).collect();
            let errors = tick
                .iter()
                .filter(|r| !r["outcome"]["error"].is_null())
                .count();
            let started = times.first().unwrap().parse().unwrap();
            return (started, ended, times.len(), errors);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {lines} decisions after 10 minutes",
            records.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
