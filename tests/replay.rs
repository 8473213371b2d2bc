//! Replaying decisions: the core, re-run on a record's inputs, reaches the
//! same decision; a record that was tampered with does not.

use assert_cmd::Command;
use ebb::policy_file::load_file;
use ebb::replay::replay;
use ebb::sim::run::{SimOptions, simulate};
use ebb::sim::synth::{Shape, SynthSpec, synthesize};
use predicates::prelude::*;
use proptest::prelude::*;
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn example(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("policies")
        .join(name)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 6, ..ProptestConfig::default() })]

    #[test]
    fn every_record_of_a_simulated_run_replays_to_the_same_decision(
        seed in 0u64..1000,
        shape in prop_oneof![Just(Shape::Diurnal), Just(Shape::Spiky), Just(Shape::Ramp), Just(Shape::Seasonal), Just(Shape::DailySurge)],
        policy in prop_oneof![Just("web-cpu.toml"), Just("web-requests.toml")],
    ) {
        let file = load_file(&example(policy)).unwrap();
        let trace = Arc::new(synthesize(&SynthSpec { shape, days: 1, seed, ..SynthSpec::default() }));
        let options = SimOptions { baselines: false, keep_decisions: true, ..SimOptions::default() };
        let report = simulate(&file, trace, &options).unwrap();
        prop_assert_eq!(report.decisions.len(), 1440);
        for record in &report.decisions {
            let result = replay(&file, record);
            prop_assert!(result.mismatches.is_empty(), "{} at {}: {:?}", policy, record.time, result.mismatches);
        }
    }
}

#[test]
fn log_replay_reproduces_a_decision_and_catches_a_tampered_one() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    Command::cargo_bin("ebb")
        .unwrap()
        .arg("simulate")
        .arg(example("web-cpu.toml"))
        .args([
            "--days",
            "1",
            "--shape",
            "spiky",
            "--no-baselines",
            "--decisions",
        ])
        .arg(&log)
        .assert()
        .success();
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // A decision that scaled: the interesting kind to explain.
    let (index, scaled) = lines
        .iter()
        .enumerate()
        .map(|(i, l)| (i, serde_json::from_str::<serde_json::Value>(l).unwrap()))
        .find(|(_, r)| r["outcome"]["status"] == "applied" && r["action"] == "scale-out")
        .expect("a spiky day scales out");
    let at = scaled["time"].as_str().unwrap().to_string();
    let replay_at = || {
        let mut command = Command::cargo_bin("ebb").unwrap();
        command
            .args(["log", "--file"])
            .arg(&log)
            .args(["replay", "web-cpu", "--at", &at, "--policy"])
            .arg(example("web-cpu.toml"));
        command
    };
    replay_at()
        .assert()
        .success()
        .stdout(predicate::str::contains("reproduced"));

    // The same record with a different decision written into it.
    let mut tampered = scaled.clone();
    let desired = tampered["desired"].as_u64().unwrap();
    tampered["desired"] = serde_json::json!(desired + 3);
    let mut lines: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
    lines[index] = tampered.to_string();
    std::fs::write(&log, lines.join("\n") + "\n").unwrap();
    replay_at()
        .assert()
        .code(1)
        .stdout(
            predicate::str::contains("MISMATCH").and(predicate::str::contains(format!(
                "recorded: {}",
                desired + 3
            ))),
        );
}
