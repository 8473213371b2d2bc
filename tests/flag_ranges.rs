//! Command-line flags with durations, counts and capacities are read by the
//! same duration parser as policy files and bounded by their documented
//! ranges: each value below aborted or panicked the simulator or
//! `ebb forecast` (multi-terabyte allocations, timestamp overflows), or was
//! silently skipped, before it was refused up front.

use assert_cmd::Command;
use predicates::prelude::*;

fn ebb() -> Command {
    Command::cargo_bin("ebb").expect("the ebb binary is built")
}

/// Runs `ebb args...` and expects a usage error naming `flag` and `message`.
fn refused(args: &[&str], flag: &str, message: &str) {
    ebb().args(args).assert().code(2).stderr(
        predicate::str::contains(flag)
            .and(predicate::str::contains(message))
            .and(predicate::str::contains("panicked").not()),
    );
}

#[test]
fn simulated_delays_are_bounded() {
    for flag in ["--boot-time", "--publish-delay"] {
        refused(
            &["simulate", "policies/web-cpu.toml", flag, "100000000000d"],
            flag,
            "100000000000d is out of range: must be between 0s and 1d",
        );
    }
    refused(
        &["simulate", "policies/web-cpu.toml", "--boot-time", "10M"],
        "--boot-time",
        "unknown unit `M`",
    );
}

#[test]
fn days_are_bounded() {
    refused(
        &["simulate", "policies/web-cpu.toml", "--days", "4294967295"],
        "--days",
        "4294967295 is out of range: must be between 1 and 455",
    );
    refused(
        &["trace", "synth", "--days", "0"],
        "--days",
        "0 is out of range: must be between 1 and 455",
    );
}

#[test]
fn the_forecast_horizon_is_bounded() {
    refused(
        &[
            "forecast",
            "policies/web-cpu.toml",
            "--horizon",
            "100000000000d",
        ],
        "--horizon",
        "must be between 1m and 14d",
    );
}

#[test]
fn capacity_per_instance_must_be_positive_and_finite() {
    for value in ["-1", "0", "NaN", "inf"] {
        refused(
            &[
                "check",
                "policies",
                "--trace",
                "t.csv",
                &format!("--capacity-per-instance={value}"),
            ],
            "--capacity-per-instance",
            "must be a number above 0",
        );
    }
}
