//! The shipped service unit and example config: systemd accepts the unit,
//! its hardening scores an exposure of 2.0 or lower, and the example
//! config's `[alerts]` and `[telemetry]` sections are valid.

use ebb::alert::RuleEngine;
use ebb::daemon::config::DaemonConfig;
use ebb::telemetry::TelemetryConfig;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

/// `systemd-analyze`, or None (skip) when it is missing outside CI.
fn systemd_analyze() -> Option<&'static str> {
    let found = Command::new("systemd-analyze")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("systemd-analyze");
    }
    let msg = "systemd-analyze not installed (apt-get install systemd)";
    if std::env::var("EBB_REQUIRE_TEST_SERVERS").as_deref() == Ok("1") {
        panic!("{msg}, and EBB_REQUIRE_TEST_SERVERS=1");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

/// The unit with ExecStart pointing at the binary just built, since
/// `verify` checks that the command exists.
fn unit_copy(dir: &Path) -> PathBuf {
    let unit = std::fs::read_to_string(repo("systemd/ebb.service")).unwrap();
    let unit = unit.replace("/usr/local/bin/ebb", env!("CARGO_BIN_EXE_ebb"));
    let path = dir.join("ebb.service");
    std::fs::write(&path, unit).unwrap();
    path
}

#[test]
fn systemd_verify_accepts_the_unit() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(unit_copy(dir.path()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "systemd-analyze verify failed:\n{stderr}"
    );
    assert!(
        !stderr.contains("ebb.service"),
        "warnings about the unit:\n{stderr}"
    );
}

#[test]
fn hardening_exposure_is_at_most_2() {
    let Some(analyze) = systemd_analyze() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(unit_copy(dir.path()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| {
            panic!(
                "no exposure line in:\n{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let exposure: f64 = line
        .split(':')
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("cannot read the figure in `{line}`"));
    eprintln!("systemd-analyze security exposure: {exposure}");
    assert!(exposure <= 2.0, "exposure {exposure} > 2.0:\n{stdout}");
}

#[test]
fn the_unit_has_what_the_daemon_relies_on() {
    let unit = std::fs::read_to_string(repo("systemd/ebb.service")).unwrap();
    for line in [
        "Type=notify",
        "WatchdogSec=",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "Restart=on-failure",
        "DynamicUser=yes",
        "StateDirectory=ebb",
        "LogsDirectory=ebb",
        "ConfigurationDirectory=ebb",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
        "MemoryDenyWriteExecute=yes",
    ] {
        assert!(unit.contains(line), "ebb.service lacks `{}`", line.trim());
    }
}

#[test]
fn the_example_config_loads_as_the_daemon_loads_it() {
    let path = repo("systemd/ebb.toml");
    let config =
        DaemonConfig::load_with_env(Some(&path), Vec::new()).expect("systemd/ebb.toml loads");
    assert_eq!(
        config.decisions_log,
        Path::new("/var/log/ebb/decisions.jsonl")
    );
    let engine = RuleEngine::from_config(&config.alerts).expect("every example rule is valid");
    assert_eq!(engine.rules().len(), 8, "one rule of each kind");
    assert_eq!(config.alerts.rules[2].labels, Default::default());
    assert_eq!(config.alerts.rules[0].labels["team"], "platform");
    assert_eq!(config.alerts.sinks.len(), 2);
    assert_eq!(
        config.telemetry,
        TelemetryConfig::default(),
        "the example shows the defaults"
    );

    // The listener moves by environment variable, as a drop-in would set it.
    let moved = DaemonConfig::load_with_env(
        Some(&path),
        vec![(
            "EBB_TELEMETRY__LISTEN".to_string(),
            "0.0.0.0:9100".to_string(),
        )],
    )
    .unwrap();
    assert_eq!(moved.telemetry.listen, "0.0.0.0:9100".parse().unwrap());
}
