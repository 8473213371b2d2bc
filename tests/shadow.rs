//! Shadow candidates: evaluated on the live policy's inputs every tick,
//! recorded as `shadow`, never acted on.

use chrono::Duration;
use ebb::clock::ManualClock;
use ebb::control_loop::ControlLoop;
use ebb::decision::{DecisionRecord, Outcome, Role};
use ebb::evaluator::TargetEvaluator;
use ebb::policy_file::{load_file, load_shadows};
use ebb::sim::cloud::{CloudConfig, SimCloud, SimHandle};
use ebb::sim::run::drive;
use ebb::sim::trace::Trace;
use std::path::Path;
use std::sync::Arc;

fn policy_text(group: &str, target: f64, shadows: &str) -> String {
    format!(
        r#"
[target]
group = "{group}"
min_capacity = 1
max_capacity = 30
interval = "1m"
{shadows}

[metrics.cpu.source.cloudwatch]
namespace = "AWS/EC2"
metric_name = "CPUUtilization"
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

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs a live policy (CPU at 50%) with one candidate (CPU at 80%) over
/// `loads`, one per minute, for `minutes`; returns every record and the cloud.
fn run_with_shadow(loads: Vec<f64>, minutes: i64) -> (Vec<DecisionRecord>, SimHandle) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("candidates")).unwrap();
    let live_path = write(
        dir.path(),
        "web.toml",
        &policy_text("web", 50.0, r#"shadows = ["candidates/hot.toml"]"#),
    );
    write(
        &dir.path().join("candidates"),
        "hot.toml",
        &policy_text("web", 80.0, ""),
    );
    let live = load_file(&live_path).unwrap();
    let shadows: Vec<_> = load_shadows(&live_path, &live)
        .unwrap()
        .into_iter()
        .map(|(path, file)| {
            (
                path.file_name().unwrap().to_string_lossy().into_owned(),
                file,
            )
        })
        .collect();
    assert_eq!(shadows.len(), 1);

    // Load that needs ~8 instances at 50% CPU and ~5 at 80%.
    let start = chrono::DateTime::from_timestamp(1_767_571_200, 0).unwrap();
    let trace = Trace::new(start, Duration::minutes(1), loads).unwrap();
    let config = CloudConfig {
        capacity_per_instance: 100.0,
        boot_time: Duration::minutes(2),
        publish_delay: Duration::minutes(1),
        min: 1,
        max: 30,
    };
    let handle = SimHandle::new(SimCloud::new("web", Arc::new(trace), config, 2, start));
    let clock = ManualClock::new(start);
    let evaluator = TargetEvaluator::new(live).with_shadows(shadows);
    let mut control = ControlLoop::new(
        clock.clone(),
        handle.clone(),
        handle.clone(),
        vec![evaluator],
        false,
    );
    let mut records = Vec::new();
    drive(
        &mut control,
        start + Duration::minutes(minutes),
        Duration::minutes(1),
        |r| records.extend(r),
    );
    (records, handle)
}

#[test]
fn shadows_are_recorded_and_never_acted_on() {
    let (records, handle) = run_with_shadow(vec![400.0; 90], 60);
    let (live, shadow): (Vec<_>, Vec<_>) = records.iter().partition(|r| r.role == Role::Live);
    assert_eq!((live.len(), shadow.len()), (60, 60));
    assert!(shadow.iter().all(|r| r.role
        == Role::Shadow {
            candidate: "hot.toml".into()
        }));
    assert!(shadow.iter().all(|r| r.outcome == Outcome::DryRun));
    // The group followed the live policy only: 400 load at 50% is 8 instances.
    assert_eq!(handle.with(|c| c.desired()), 8);
    assert_eq!(live.last().unwrap().desired, 8);
    // The candidate, seeing the same 8 instances at 50%, would have scaled in
    // towards 5: its decisions differ and were not carried out.
    let would_scale_in = shadow.iter().filter(|r| r.desired < 8).count();
    assert!(would_scale_in > 0, "the candidate never disagreed");
    // Every set call came from the live policy.
    let live_actions = live.iter().filter(|r| r.outcome.is_applied()).count() as u32;
    assert_eq!(handle.with(|c| c.set_calls()), live_actions);
}

#[test]
fn a_shadow_for_another_group_is_refused_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let live_path = write(
        dir.path(),
        "web.toml",
        &policy_text("web", 50.0, r#"shadows = ["other.toml"]"#),
    );
    write(dir.path(), "other.toml", &policy_text("api", 50.0, ""));
    let live = load_file(&live_path).unwrap();
    let err = load_shadows(&live_path, &live).unwrap_err().to_string();
    assert!(
        err.contains("target.shadows") && err.contains("targets group `api`, not `web`"),
        "{err}"
    );
}

#[test]
fn log_compare_scores_live_against_the_candidate() {
    // A day-like swell: 200 to 1400 and back.
    let loads: Vec<f64> = (0..240)
        .map(|m| 800.0 - 600.0 * (m as f64 * std::f64::consts::PI / 120.0).cos())
        .collect();
    let (records, _) = run_with_shadow(loads, 230);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let lines: Vec<String> = records
        .iter()
        .map(|r| serde_json::to_string(r).unwrap())
        .collect();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    let policy = dir.path().join("web.toml");
    std::fs::write(&policy, policy_text("web", 50.0, "")).unwrap();
    let output = assert_cmd::Command::cargo_bin("ebb")
        .unwrap()
        .args(["log", "--file"])
        .arg(&log)
        .args(["compare", "web", "--markdown", "--policy"])
        .arg(&policy)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(output).unwrap();
    assert!(text.contains("#### live vs hot.toml"), "{text}");
    let row = |name: &str| -> Vec<f64> {
        text.lines()
            .find(|l| l.starts_with(&format!("| {name} |")))
            .unwrap_or_else(|| panic!("no {name} row in {text}"))
            .split('|')
            .filter_map(|c| c.trim().parse().ok())
            .collect()
    };
    let hours = row("instance-hours");
    assert!(
        hours[1] < hours[0],
        "running hotter needs fewer instances: {hours:?}"
    );
    let under = row("under-provisioned time tau_U %");
    assert!(
        under[1] > under[0],
        "and is under-provisioned against the live target more often: {under:?}"
    );
}
