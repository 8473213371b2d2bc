//! `ebb log` as an operator runs it, on decisions logs the tests make: one
//! written by `ebb simulate --decisions` (the real writer), and one built by
//! hand with failures, notices, shadow records and a broken line.

mod fixtures;

use assert_cmd::Command;
use ebb::decision::{Action, DecisionRecord, Event, Outcome, PolicyKind, Role};
use fixtures::t;
use predicates::prelude::*;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

fn ebb() -> Command {
    let mut cmd = Command::cargo_bin("ebb").unwrap();
    cmd.env_remove("EBB_DECISIONS_LOG");
    cmd
}

fn record(target: &str, min: i64, from: u32, to: u32) -> DecisionRecord {
    fixtures::decision(target, t(min), from, to)
}

/// A hand-made log: two targets, a failed call, a notice, a shadow record,
/// a line that is not a record.
fn hand_made_log(dir: &Path) -> PathBuf {
    let mut records = vec![
        record("web", 0, 4, 4),
        record("api", 0, 2, 2),
        record("web", 1, 4, 6),
        record("web", 2, 6, 6),
        record("api", 2, 2, 3),
    ];
    let mut failed = record("web", 3, 6, 8);
    failed.outcome = Outcome::Failed {
        error: "SetDesiredCapacity failed, capacity kept at 6: Throttling".into(),
        kind: None,
    };
    records.push(failed);
    let mut external = record("web", 4, 7, 7);
    external
        .events
        .push(Event::ExternalChange { from: 6, to: 7 });
    records.push(external);
    let mut shadow = record("web", 4, 7, 5);
    shadow.role = Role::Shadow {
        candidate: "web-v2.toml".into(),
    };
    records.push(shadow);
    records.push(record("web", 5, 7, 5));

    let path = dir.join("decisions.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    for (i, r) in records.iter().enumerate() {
        writeln!(f, "{}", serde_json::to_string(r).unwrap()).unwrap();
        if i == 3 {
            writeln!(f, "{{\"time\": \"torn").unwrap();
        }
    }
    path
}

#[test]
fn tail_prints_the_latest_decisions_one_line_each() {
    let dir = tempfile::tempdir().unwrap();
    let log = hand_made_log(dir.path());
    let out = ebb()
        .args(["log", "tail", "-n", "3", "--file"])
        .arg(&log)
        .assert()
        .success()
        .stderr(predicate::str::contains(
            "decisions.jsonl:5: not a decision record, skipped",
        ))
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            "2026-11-25T09:04:00Z web hold 7->7 [hold] cpu=68.25 | 7 -> 7: cpu-50 | notice: desired capacity changed outside ebb: 6 -> 7",
            "2026-11-25T09:04:00Z web (shadow web-v2.toml) scale-in 7->5 [not acted on] cpu=68.25 | 7 -> 5: cpu-50",
            "2026-11-25T09:05:00Z web scale-in 7->5 [applied] cpu=68.25 | 7 -> 5: cpu-50",
        ]
    );

    // --target, and the file from the environment as the unit file sets it.
    let out = ebb()
        .args(["log", "tail", "--target", "api"])
        .env("EBB_DECISIONS_LOG", &log)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.lines().count(), 2);
    assert!(out.lines().all(|l| l.contains(" api ")), "{out}");
    assert!(out.contains("scale-out 2->3 [applied]"));

    let failed = ebb()
        .args(["log", "tail", "-f"])
        .arg(&log)
        .assert()
        .success();
    let out = String::from_utf8(failed.get_output().stdout.clone()).unwrap();
    assert!(out.contains(
        "web scale-out 6->8 [FAILED] cpu=68.25 | 6 -> 8: cpu-50 | error: SetDesiredCapacity failed, capacity kept at 6: Throttling"
    ));
}

#[test]
fn explain_prints_the_full_reasoning_of_the_decision_in_force() {
    let dir = tempfile::tempdir().unwrap();
    let log = hand_made_log(dir.path());
    // 09:03:30 falls after the failed 09:03 decision and before the next.
    let out = ebb()
        .args([
            "log",
            "explain",
            "--at",
            "2026-11-25T09:03:30Z",
            "web",
            "--file",
        ])
        .arg(&log)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let expected = format!(
        "record: {}:7, the last live decision at or before 2026-11-25T09:03:30Z (to the end of that second)\n",
        log.display()
    ) + "\
web at 2026-11-25T09:03:00+00:00
decision:  scale-out 6 -> 8 [FAILED]
reason:    6 -> 8: cpu-50
capacity:  desired 6, in service 6, warming 0; bounds 2..=10
metrics:
  cpu              ok       raw 71.50 smoothed 68.25 age 120s
policies:
  cpu-50 (target-tracking): capacity 8: cpu 68.25 over target 50: 8
governor:
  combine      -> 8    largest recommendation: cpu-50
outcome:   FAILED, capacity kept: SetDesiredCapacity failed, capacity kept at 6: Throttling
state before: last scale-out never, last scale-in never, last set unknown
";
    assert_eq!(out, expected);

    // Default: the latest live decision (not the shadow one at the same time).
    ebb()
        .args(["log", "explain", "web", "--file"])
        .arg(&log)
        .assert()
        .success()
        .stdout(predicate::str::contains(
            ":10, the latest live decision\nweb at 2026-11-25T09:05:00+00:00\ndecision:  scale-in 7 -> 5 [applied]",
        ));
    // Short time forms, and --json for the raw record.
    let json = ebb()
        .args([
            "log",
            "explain",
            "--json",
            "--at",
            "2026-11-25 09:04",
            "web",
            "--file",
        ])
        .arg(&log)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let record: DecisionRecord = serde_json::from_slice(&json).unwrap();
    assert_eq!(record.events, [Event::ExternalChange { from: 6, to: 7 }]);
    assert_eq!(
        record.notice_lines(),
        ["desired capacity changed outside ebb: 6 -> 7"]
    );
}

#[test]
fn explain_errors_say_what_is_there() {
    let dir = tempfile::tempdir().unwrap();
    let log = hand_made_log(dir.path());
    ebb()
        .args(["log", "explain", "nope", "--file"])
        .arg(&log)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no decisions for target `nope`")
                .and(predicate::str::contains("targets in the log: api, web")),
        );
    ebb()
        .args([
            "log",
            "explain",
            "--at",
            "2026-11-25T08:00:00Z",
            "web",
            "--file",
        ])
        .arg(&log)
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "its first is at 2026-11-25T09:00:00+00:00",
        ));
    ebb()
        .args(["log", "explain", "--at", "yesterday", "web", "--file"])
        .arg(&log)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("`yesterday` is not a time"));
    ebb()
        .args(["log", "stats", "--file"])
        .arg(dir.path().join("missing.jsonl"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot open decisions log"));
}

#[test]
fn stats_counts_the_hand_made_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = hand_made_log(dir.path());
    let out = ebb()
        .args(["log", "stats", "--file"])
        .arg(&log)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let expected = "\
target  decisions  scale-outs  scale-ins   holds  errors  applied  dry-run  from .. to
api             2           1          0       1       0        1        0  2026-11-25T09:00:00Z .. 2026-11-25T09:02:00Z
web             6           2          1       3       1        2        0  2026-11-25T09:00:00Z .. 2026-11-25T09:05:00Z
(1 shadow/standby records not counted)
(1 unreadable lines skipped)
";
    assert_eq!(out, expected);
}

/// The real writer's output: `ebb simulate --decisions` over a synthetic day,
/// and stats must agree with counting the JSON lines directly.
#[test]
fn stats_agree_with_a_simulated_days_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("sim.jsonl");
    let policy = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-cpu.toml");
    ebb()
        .arg("simulate")
        .arg(&policy)
        .args(["--days", "1", "--no-baselines", "--decisions"])
        .arg(&log)
        .assert()
        .success();
    let text = std::fs::read_to_string(&log).unwrap();
    let records: Vec<DecisionRecord> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |a: Action| records.iter().filter(|r| r.action == a).count();
    let target = &records[0].target;
    assert!(
        count(Action::ScaleOut) > 0 && count(Action::ScaleIn) > 0,
        "a day of diurnal load scales both ways"
    );

    let out = ebb()
        .args(["log", "stats", "--file"])
        .arg(&log)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(row[0], target);
    assert_eq!(row[1], records.len().to_string());
    assert_eq!(row[2], count(Action::ScaleOut).to_string());
    assert_eq!(row[3], count(Action::ScaleIn).to_string());
    assert_eq!(row[4], count(Action::Hold).to_string());
    assert_eq!(row[5], "0");

    // tail agrees with the last line of the file.
    let last = records.last().unwrap();
    ebb()
        .args(["log", "tail", "-n", "1", "--file"])
        .arg(&log)
        .assert()
        .success()
        .stdout(predicate::str::starts_with(format!(
            "{} {} {}",
            last.time.format("%Y-%m-%dT%H:%M:%SZ"),
            last.target,
            serde_json::to_value(last.action).unwrap().as_str().unwrap()
        )));
}

/// `--follow` prints appended records, waits out a line being written, and
/// follows logrotate's move-and-recreate.
#[test]
fn tail_follow_sees_appends_and_rotation() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("decisions.jsonl");
    let line = |r: &DecisionRecord| format!("{}\n", serde_json::to_string(r).unwrap());
    std::fs::write(&log, line(&record("web", 0, 4, 4))).unwrap();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("ebb"))
        .args(["log", "tail", "--follow", "--file"])
        .arg(&log)
        .env_remove("EBB_DECISIONS_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = || {
        lines
            .next()
            .expect("ebb log tail --follow stopped")
            .unwrap()
    };
    assert!(next().contains("09:00:00Z web hold"));

    // Appended in two writes: the half line must not be reported as broken.
    let appended = line(&record("web", 1, 4, 6));
    let (a, b) = appended.split_at(40);
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    f.write_all(a.as_bytes()).unwrap();
    f.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    f.write_all(b.as_bytes()).unwrap();
    f.flush().unwrap();
    assert!(next().contains("09:01:00Z web scale-out 4->6 [applied]"));

    // logrotate: move away, create anew.
    std::fs::rename(&log, dir.path().join("decisions.jsonl.1")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(600));
    std::fs::write(&log, line(&record("web", 2, 6, 5))).unwrap();
    assert!(next().contains("09:02:00Z web scale-in 6->5"));

    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !stderr.contains("skipped"),
        "no line was reported broken: {stderr}"
    );
}

/// `ebb log alerts` runs the daemon config's rules over a log written by a
/// simulation of the real predictive policy with a max below its forecasts:
/// forecast-above-max and pinned-at-max fire on those records.
#[test]
fn alerts_replay_rules_over_a_predictive_simulation() {
    let dir = tempfile::tempdir().unwrap();
    let example = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-predictive.toml"),
    )
    .unwrap();
    let policy_text = example
        .replace("\nmax_capacity = 40\n", "\nmax_capacity = 8\n")
        .replace(
            "target_per_instance = 1000.0",
            "target_per_instance = 150.0",
        );
    assert_ne!(
        policy_text, example,
        "the example policy still has the lines this test edits"
    );
    let policy = dir.path().join("pred.toml");
    std::fs::write(&policy, policy_text).unwrap();
    let log = dir.path().join("pred.jsonl");
    ebb()
        .arg("simulate")
        .arg(&policy)
        .args(["--days", "3", "--no-baselines", "--decisions"])
        .arg(&log)
        .assert()
        .success();
    // What the rule should see, counted straight from the policy's figures
    // (not from its events, which the rule reads).
    let above: Vec<DecisionRecord> = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<DecisionRecord>(l).unwrap())
        .filter(|r| {
            r.policies.iter().any(|p| {
                p.kind == PolicyKind::Predictive
                    && p.detail
                        .as_ref()
                        .and_then(|d| d["capacity"].as_u64())
                        .is_some_and(|c| c > u64::from(r.max_capacity))
            })
        })
        .collect();
    assert!(
        !above.is_empty(),
        "the simulation forecast above max at least once"
    );

    let config = dir.path().join("ebb.toml");
    let out = log_alerts(
        &config,
        "policy_dir = \"/etc/ebb/policies\"\n[alerts]\nrepeat_interval = \"6h\"\n[[alerts.rules]]\nkind = \"forecast-above-max\"\n[[alerts.rules]]\nkind = \"pinned-at-max\"\nfor = \"15m\"\nseverity = \"critical\"\n",
        &log,
    );
    let first = out
        .lines()
        .find(|l| l.contains("FIRING   warning  forecast-above-max"))
        .expect(&out);
    assert!(
        first.starts_with(&above[0].time.format("%Y-%m-%dT%H:%M:%SZ").to_string()),
        "fires on the first such record: {first}"
    );
    assert!(
        first.contains("policy `requests-forecast` forecasts ")
            && first.contains(" instances > max 8: "),
        "{first}"
    );
    assert!(
        out.contains(
            "FIRING   critical pinned-at-max web-predictive: pinned at max capacity 8 for 15m"
        ),
        "{out}"
    );
    let summary = out
        .lines()
        .find(|l| l.starts_with("forecast-above-max "))
        .expect(&out);
    let fired: u32 = summary.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(fired >= 1, "{summary}");

    std::fs::write(&config, "policy_dir = \"/x\"\n").unwrap();
    ebb()
        .args(["log", "alerts", "--config"])
        .arg(&config)
        .arg("--file")
        .arg(&log)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("has no [alerts] section"));
}

/// `ebb log alerts` replays `policy-reload-failed` from the records: the
/// daemon puts a failed reload on every record of its target until a reload
/// works, and the replay fires and resolves the rule as the daemon did.
#[test]
fn alerts_replay_a_policy_reload_failure_from_the_records() {
    let dir = tempfile::tempdir().unwrap();
    let failed = ebb::decision::ReloadFailedRecord {
        file: "/etc/ebb/policies/web.toml".into(),
        error: "line 3: target.min_capacity: must be at most 1000000".into(),
    };
    let mut records: Vec<DecisionRecord> = (0..5).map(|m| record("web", m, 4, 4)).collect();
    for r in &mut records[1..3] {
        r.reload_failed = Some(failed.clone());
    }
    let log = write_log(dir.path(), &records, b"");
    let out = log_alerts(
        &dir.path().join("ebb.toml"),
        "policy_dir = \"/x\"\n[alerts]\n[[alerts.rules]]\nkind = \"policy-reload-failed\"\n",
        &log,
    );
    assert!(
        out.contains("FIRING") && out.contains("/etc/ebb/policies/web.toml"),
        "{out}"
    );
    let summary = out
        .lines()
        .find(|l| l.starts_with("policy-reload-failed "))
        .expect(&out);
    let counts: Vec<&str> = summary.split_whitespace().collect();
    assert_eq!(&counts[1..5], ["1", "0", "1", "-"], "{summary}");
}

/// `ebb log alerts` over `log` with a daemon config of `config_text`
/// written at `config`: its output, after a successful exit.
fn log_alerts(config: &Path, config_text: &str, log: &Path) -> String {
    std::fs::write(config, config_text).unwrap();
    let out = ebb()
        .args(["log", "alerts", "--config"])
        .arg(config)
        .arg("--file")
        .arg(log)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    String::from_utf8(out).unwrap()
}

/// Writes records, then `tail` raw bytes, as a log.
fn write_log(dir: &Path, records: &[DecisionRecord], tail: &[u8]) -> PathBuf {
    let path = dir.join("odd.jsonl");
    let mut f = std::fs::File::create(&path).unwrap();
    for r in records {
        writeln!(f, "{}", serde_json::to_string(r).unwrap()).unwrap();
    }
    f.write_all(tail).unwrap();
    path
}

#[test]
fn a_line_torn_inside_a_multibyte_character_is_skipped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let mut noticed = record("web", 2, 4, 4);
    noticed.notices.push("réglé".into());
    let whole = serde_json::to_string(&noticed).unwrap();
    let cut = whole.find('é').unwrap() + 1; // inside the two bytes of `é`
    let log = write_log(
        dir.path(),
        &[record("web", 0, 4, 4), record("web", 1, 4, 6)],
        &whole.as_bytes()[..cut],
    );
    ebb()
        .args(["log", "stats", "--file"])
        .arg(&log)
        .assert()
        .success()
        .stdout(predicate::str::contains("(1 unreadable lines skipped)"))
        .stderr(predicate::str::contains(
            "odd.jsonl:3: not a decision record, skipped",
        ));
    ebb()
        .args(["log", "tail", "--file"])
        .arg(&log)
        .assert()
        .success()
        .stdout(predicate::str::contains("09:01:00Z web scale-out 4->6"));
    ebb()
        .args(["log", "explain", "web", "--file"])
        .arg(&log)
        .assert()
        .success()
        .stdout(predicate::str::contains("web at 2026-11-25T09:01:00+00:00"));
}

#[test]
fn control_characters_in_any_field_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let mut odd = record("web\u{1b}[2J", 0, 4, 6);
    odd.notices
        .push("line one\nforged 2026-11-25T09:09:00Z web scale-in".into());
    odd.metrics[0].notes.push("bell\u{7}".into());
    let log = write_log(dir.path(), &[odd], b"");
    for args in [
        vec!["log", "tail"],
        vec!["log", "stats"],
        vec!["log", "explain", "web\u{1b}[2J"],
    ] {
        let out = ebb()
            .args(&args)
            .arg("--file")
            .arg(&log)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        let out = String::from_utf8(out).unwrap();
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}'),
            "{args:?}: {out}"
        );
        assert!(out.contains("web\\u{1b}[2J"), "{args:?}: {out}");
        assert!(
            !out.lines().any(|l| l.starts_with("forged")),
            "{args:?}: {out}"
        );
    }
}

#[test]
fn explain_at_a_whole_second_as_tail_prints_it_takes_the_decision_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let late_in_second = record("web", 1, 4, 6);
    let mut with_fraction = late_in_second.clone();
    with_fraction.time += chrono::Duration::milliseconds(750);
    let log = write_log(dir.path(), &[record("web", 0, 4, 4), with_fraction], b"");
    let tail = ebb()
        .args(["log", "tail", "-n", "1", "--file"])
        .arg(&log)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let printed = String::from_utf8(tail).unwrap()[..20].to_string();
    assert_eq!(printed, "2026-11-25T09:01:00Z");
    ebb()
        .args(["log", "explain", "--at", &printed, "web", "--file"])
        .arg(&log)
        .assert()
        .success()
        .stdout(
            predicate::str::contains("odd.jsonl:2, the last live decision at or before 2026-11-25T09:01:00Z (to the end of that second)")
                .and(predicate::str::contains("web at 2026-11-25T09:01:00.750+00:00"))
                .and(predicate::str::contains("scale-out 4 -> 6")),
        );
}

#[test]
fn tail_of_an_unknown_target_errors_and_lists_the_known_ones() {
    let dir = tempfile::tempdir().unwrap();
    let log = hand_made_log(dir.path());
    ebb()
        .args(["log", "tail", "--target", "nosuch", "--file"])
        .arg(&log)
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("no decisions for target `nosuch`")
                .and(predicate::str::contains("targets in the log: api, web")),
        );
}

#[test]
fn stats_split_dry_run_and_applied_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut dry = record("web", 1, 4, 6);
    dry.outcome = Outcome::DryRun;
    let log = write_log(
        dir.path(),
        &[
            record("web", 0, 4, 5),
            dry.clone(),
            dry,
            record("web", 2, 5, 5),
        ],
        b"",
    );
    let out = ebb()
        .args(["log", "stats", "--file"])
        .arg(&log)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let row: Vec<&str> = out.lines().nth(1).unwrap().split_whitespace().collect();
    // decisions, scale-outs, scale-ins, holds, errors, applied, dry-run
    assert_eq!(&row[1..8], &["4", "3", "0", "1", "0", "1", "2"], "{out}");
}

#[test]
fn a_failed_evaluation_says_its_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut failed = record("web", 0, 4, 4);
    let error = "DescribeAutoScalingGroups failed: connection refused".to_string();
    failed.reason = format!("hold: group state unavailable: {error}");
    failed.outcome = Outcome::Failed {
        error: error.clone(),
        kind: None,
    };
    let log = write_log(dir.path(), &[failed], b"");
    let out = ebb()
        .args(["log", "tail", "--file"])
        .arg(&log)
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(out.matches(&error).count(), 1, "{out}");
}

/// A decisions log written before records were versioned (no `"v"`,
/// `outcome: {applied, dry_run, error}`, the outside change as a notice),
/// kept as ebb wrote it, with a record of today appended: `ebb log` reads
/// both and prints the old ones exactly as the ebb that wrote them did
/// (the `.tail.txt` and `.stats.txt` beside it were printed by that ebb).
#[test]
fn logs_written_before_records_were_versioned_still_read() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let old = fixtures.join("decisions-v1.jsonl");
    let run = |args: &[&str], log: &Path| {
        let out = ebb()
            .args(args)
            .arg("--file")
            .arg(log)
            .assert()
            .success()
            .get_output()
            .clone();
        assert!(
            out.stderr.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let expected = |name: &str| std::fs::read_to_string(fixtures.join(name)).unwrap();
    assert_eq!(
        run(&["log", "tail", "-n", "20"], &old),
        expected("decisions-v1.tail.txt")
    );
    assert_eq!(
        run(&["log", "stats"], &old),
        expected("decisions-v1.stats.txt")
    );

    // Read as records, the old shapes became today's types.
    let json = run(
        &[
            "log",
            "explain",
            "web-predictive",
            "--json",
            "--at",
            "2026-01-06T09:22:00Z",
        ],
        &old,
    );
    let changed: DecisionRecord = serde_json::from_str(&json).unwrap();
    assert_eq!(changed.events, [Event::ExternalChange { from: 7, to: 8 }]);
    assert_eq!(changed.outcome, Outcome::Held);
    let explained = run(
        &[
            "log",
            "explain",
            "web-predictive",
            "--at",
            "2026-01-05T08:32:00Z",
        ],
        &old,
    );
    assert!(
        explained.contains(
            "outcome:   FAILED, capacity kept: SetDesiredCapacity failed, capacity kept at 3: Throttling: Rate exceeded"
        ),
        "{explained}"
    );

    // Replay re-runs the core on an old record's inputs.
    let policy = fixtures.join("decisions-v1-policy.toml");
    for at in ["2026-01-05T08:24:00Z", "2026-01-06T09:22:00Z"] {
        let out = ebb()
            .args(["log", "replay", "web-predictive", "--at", at, "--policy"])
            .arg(&policy)
            .arg("--file")
            .arg(&old)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        assert!(
            String::from_utf8_lossy(&out).contains("reproduced"),
            "{}",
            String::from_utf8_lossy(&out)
        );
    }

    // Old and new lines in one log (a log rotated across an upgrade).
    let dir = tempfile::tempdir().unwrap();
    let mixed = dir.path().join("mixed.jsonl");
    let mut text = std::fs::read_to_string(&old).unwrap();
    let mut new = record("web-predictive", 0, 4, 5);
    new.time = "2026-01-07T00:00:00Z".parse().unwrap();
    new.events.push(Event::ExternalChange { from: 3, to: 4 });
    let line = serde_json::to_string(&new).unwrap();
    assert!(line.starts_with(r#"{"v":2,"#), "{line}");
    text.push_str(&line);
    text.push('\n');
    std::fs::write(&mixed, text).unwrap();
    let tail = run(&["log", "tail", "-n", "2"], &mixed);
    assert!(
        tail.ends_with(
            "2026-01-07T00:00:00Z web-predictive scale-out 4->5 [applied] cpu=68.25 | 4 -> 5: cpu-50 | notice: desired capacity changed outside ebb: 3 -> 4\n"
        ),
        "{tail}"
    );
}
