//! `ebb check` as a user runs it: policy files written to a temporary
//! folder, checked by the real binary; good files pass with exit 0, each kind
//! of broken file fails with exit 1 and an error naming file, line, field
//! and what is wrong.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn ebb() -> Command {
    Command::cargo_bin("ebb").expect("the ebb binary is built")
}

/// A request-count fleet with a business-hours floor. Line numbers matter:
/// the tests below expect errors on them.
const GOOD: &str = r#"[target]
group = "orders"
min_capacity = 1
max_capacity = 30
interval = "30s"

[metrics.requests]
stale_after = "3m"
smoothing = { kind = "window", window = "5m", aggregate = "percentile", percentile = 90 }

[metrics.requests.source.cloudwatch]
namespace = "AWS/ApplicationELB"
metric_name = "RequestCountPerTarget"
dimensions = { TargetGroup = "targetgroup/orders/0123" }
statistic = "Sum"

[[policies]]
kind = "target-tracking"
name = "requests-300"
metric = "requests"
target = 300.0
metric_type = "load-per-instance"

[[policies]]
kind = "schedule"
name = "lunch"
timezone = "Asia/Tokyo"
windows = [
    { days = "mon-fri", start = "11:00", end = "14:00", min_capacity = 6 },
    { days = "sat,sun", start = "22:00", end = "02:00", min_capacity = 2 },
]

[governor]
scale_out_cooldown = "1m"
scale_in_cooldown = "10m"
scale_in_stabilization = "10m"
warmup = "3m"
max_step_in = { instances = 2 }
"#;

/// Writes `text` as `name` in `dir` and returns its path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// GOOD with the first `from` replaced by `to`.
fn broken(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "GOOD has no {from:?}");
    GOOD.replacen(from, to, 1)
}

/// Checks `text` and expects exit 1 with `file:line: field: message...`.
fn fails_with(text: &str, line: usize, field: &str, message: &str) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "orders.toml", text);
    let expected = format!("{}:{line}: {field}: {message}", path.display());
    ebb().arg("check").arg(&path).assert().code(1).stderr(
        predicate::str::contains(&expected).and(predicate::str::contains("panicked").not()),
    );
}

#[test]
fn a_good_file_passes() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "orders.toml", GOOD);
    ebb()
        .arg("check")
        .arg(&path)
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "ok: {} (group orders)",
            path.display()
        )));
}

#[test]
fn a_folder_of_good_files_passes() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "orders.toml", GOOD);
    write(
        dir.path(),
        "payments.toml",
        &broken("group = \"orders\"", "group = \"payments\""),
    );
    write(dir.path(), "README.md", "not a policy");
    let output = ebb()
        .arg("check")
        .arg(dir.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let text = String::from_utf8(output).unwrap();
    assert!(
        text.contains("(group orders)") && text.contains("(group payments)"),
        "{text}"
    );
}

#[test]
fn the_example_policies_pass() {
    let policies = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies");
    ebb().arg("check").arg(&policies).assert().success();
}

#[test]
fn an_unknown_field() {
    fails_with(
        &broken("warmup = \"3m\"", "warm_up = \"3m\""),
        37,
        "governor.warm_up",
        "unknown field `warm_up`",
    );
    fails_with(
        &broken("metric_type = ", "metric_kind = "),
        22,
        "policies[0].metric_kind",
        "unknown field `metric_kind`",
    );
}

#[test]
fn a_value_of_the_wrong_type() {
    fails_with(
        &broken("max_capacity = 30", "max_capacity = \"thirty\""),
        4,
        "target.max_capacity",
        "invalid type: string \"thirty\"",
    );
    fails_with(
        &broken("min_capacity = 1", "min_capacity = 1.5"),
        3,
        "target.min_capacity",
        "invalid type: floating point",
    );
}

#[test]
fn a_missing_field() {
    fails_with(
        &broken("max_capacity = 30\n", ""),
        1,
        "target.max_capacity",
        "missing field `max_capacity`",
    );
}

#[test]
fn min_above_max() {
    fails_with(
        &broken("min_capacity = 1", "min_capacity = 31"),
        3,
        "target.min_capacity",
        "min_capacity 31 is greater than max_capacity 30",
    );
}

#[test]
fn a_target_value_of_zero_or_less() {
    for bad in ["0.0", "-300.0"] {
        fails_with(
            &broken("target = 300.0", &format!("target = {bad}")),
            21,
            "policies[0].target",
            "target value must be > 0",
        );
    }
}

#[test]
fn a_cooldown_that_is_not_a_duration() {
    fails_with(
        &broken(
            "scale_in_cooldown = \"10m\"",
            "scale_in_cooldown = \"ten minutes\"",
        ),
        35,
        "governor.scale_in_cooldown",
        "`ten minutes`: expected a whole number before a unit (units: ms, s, m, h, d)",
    );
    fails_with(
        &broken("scale_in_cooldown = \"10m\"", "scale_in_cooldown = 600"),
        35,
        "governor.scale_in_cooldown",
        "invalid type: integer `600`",
    );
}

#[test]
fn a_duration_in_months_weeks_or_years_is_refused_with_a_hint() {
    // humantime read `10M` as ten months: the group never scaled in.
    fails_with(
        &broken("scale_in_cooldown = \"10m\"", "scale_in_cooldown = \"10M\""),
        35,
        "governor.scale_in_cooldown",
        "`10M`: unknown unit `M`: months are not a unit (`m` is minutes)",
    );
    fails_with(
        &broken("window = \"5m\"", "window = \"2w\""),
        9,
        "metrics.requests.smoothing.window",
        "`2w`: unknown unit `w`: weeks are not a unit; write days, e.g. `7d`",
    );
}

/// Each of these passed `ebb check` and then overflowed a timestamp, or
/// allocated without bound, in the daemon or the simulator.
#[test]
fn absurd_durations_and_capacities_are_refused_with_their_range() {
    fails_with(
        &broken("stale_after = \"3m\"", "stale_after = \"100000000000d\""),
        8,
        "metrics.requests.stale_after",
        "100000000000d is out of range: must be between 1s and 30d",
    );
    fails_with(
        &broken(
            "smoothing = { kind = \"window\", window = \"5m\", aggregate = \"percentile\", percentile = 90 }",
            "smoothing = { kind = \"ewma\", half_life = \"100000000000d\" }",
        ),
        9,
        "metrics.requests.smoothing.half_life",
        "100000000000d is out of range: must be between 1s and 30d",
    );
    fails_with(
        &broken("interval = \"30s\"", "interval = \"100000000000d\""),
        5,
        "target.interval",
        "100000000000d is out of range: must be between 1s and 30d",
    );
    fails_with(
        &broken("interval = \"30s\"", "interval = \"18446744073709551615s\""),
        5,
        "target.interval",
        "`18446744073709551615s` is too long to represent",
    );
    fails_with(
        &broken(
            "scale_in_stabilization = \"10m\"",
            "scale_in_stabilization = \"100000000000d\"",
        ),
        36,
        "governor.scale_in_stabilization",
        "100000000000d is out of range: must be between 0s and 30d",
    );
    fails_with(
        &broken("max_capacity = 30", "max_capacity = 4294967295"),
        4,
        "target.max_capacity",
        "4294967295 is out of range: must be between 0 and 1,000,000",
    );
    fails_with(
        &broken(
            "max_step_in = { instances = 2 }",
            "max_step_in = { percent = inf }",
        ),
        38,
        "governor.max_step_in.percent",
        "inf is out of range: must be a number above 0 and at most 1000",
    );
}

/// The burst levers' fields (issue 18) are refused outside their ranges.
#[test]
fn trend_quantile_and_asymmetric_smoothing_fields_are_checked() {
    fails_with(
        &broken(
            "metric_type = \"load-per-instance\"",
            "metric_type = \"load-per-instance\"\ntrend_lead = \"2h\"",
        ),
        23,
        "policies[0].trend_lead",
        "2h is out of range: must be between 0s and 1h",
    );
    fails_with(
        &broken(
            "metric_type = \"load-per-instance\"",
            "metric_type = \"load-per-instance\"\ntrend_window = \"10s\"",
        ),
        23,
        "policies[0].trend_window",
        "10s is out of range: must be between 1m and 1h",
    );
    fails_with(
        &broken(
            "max_step_in = { instances = 2 }",
            "max_step_in = { instances = 2 }\nscale_in_quantile = 1.5",
        ),
        39,
        "governor.scale_in_quantile",
        "1.5 is out of range: must be above 0 and at most 1",
    );
    fails_with(
        &broken(
            "smoothing = { kind = \"window\", window = \"5m\", aggregate = \"percentile\", percentile = 90 }",
            "smoothing = { kind = \"ewma\", half_life = \"30s\", half_life_down = \"0s\" }",
        ),
        9,
        "metrics.requests.smoothing.half_life_down",
        "0s is out of range: must be between 1s and 30d",
    );
    let dir = tempfile::tempdir().unwrap();
    let good = broken(
        "metric_type = \"load-per-instance\"",
        "metric_type = \"load-per-instance\"\ntrend_lead = \"5m\"\ntrend_window = \"3m\"",
    )
    .replacen(
        "max_step_in = { instances = 2 }",
        "max_step_in = { instances = 2 }\nscale_in_quantile = 0.9",
        1,
    );
    let path = write(dir.path(), "orders.toml", &good);
    ebb().arg("check").arg(&path).assert().success();
}

#[test]
fn a_group_name_aws_would_reject() {
    fails_with(
        &broken(
            "group = \"orders\"",
            &format!("group = \"{}\"", "o".repeat(256)),
        ),
        2,
        "target.group",
        "is 256 characters long; AWS allows at most 255",
    );
    fails_with(
        &broken("group = \"orders\"", "group = \"ord\\u0007ers\""),
        2,
        "target.group",
        "holds the control character '\\u{7}'",
    );
}

#[test]
fn a_metric_referenced_but_not_defined() {
    fails_with(
        &broken("metric = \"requests\"", "metric = \"reqs\""),
        20,
        "policies[0].metric",
        "metric `reqs` is referenced but not defined in [metrics]",
    );
}

#[test]
fn a_bad_time_zone() {
    fails_with(
        &broken("Asia/Tokyo", "Tokyo"),
        27,
        "policies[1].timezone",
        "`Tokyo` is not an IANA time zone name",
    );
}

#[test]
fn a_bad_schedule_day_or_time() {
    fails_with(
        &broken("sat,sun", "sat,sunday,holiday"),
        30,
        "policies[1].windows[1].days",
        "`holiday` is not a day",
    );
    fails_with(
        &broken("\"14:00\"", "\"2pm\""),
        29,
        "policies[1].windows[0].end",
        "`2pm` is not a time of day HH:MM",
    );
    fails_with(
        &broken("\"02:00\"", "\"22:00\""),
        30,
        "policies[1].windows[1].end",
        "window start and end are the same time",
    );
}

#[test]
fn a_bad_smoothing() {
    fails_with(
        &broken("percentile = 90", "percentile = 190"),
        9,
        "metrics.requests.smoothing.percentile",
        "190 is not within 0-100",
    );
    fails_with(
        &broken("aggregate = \"percentile\"", "aggregate = \"p90\""),
        9,
        "metrics.requests.smoothing.aggregate",
        "unknown variant `p90`",
    );
}

#[test]
fn broken_toml() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "orders.toml",
        &broken("[governor]", "[governor"),
    );
    ebb()
        .arg("check")
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!("{}:33: ", path.display())));
}

#[test]
fn every_error_of_a_file_is_reported() {
    let text = broken("min_capacity = 1", "min_capacity = 31")
        .replacen("target = 300.0", "target = 0.0", 1)
        .replacen("Asia/Tokyo", "Tokyo", 1);
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "orders.toml", &text);
    let output = ebb()
        .arg("check")
        .arg(&path)
        .assert()
        .code(1)
        .get_output()
        .stderr
        .clone();
    let stderr = String::from_utf8(output).unwrap();
    for place in [
        ":3: target.min_capacity",
        ":21: policies[0].target",
        ":27: policies[1].timezone",
    ] {
        assert!(stderr.contains(place), "{place} missing from:\n{stderr}");
    }
}

#[test]
fn the_same_group_in_two_files() {
    let dir = tempfile::tempdir().unwrap();
    let first = write(dir.path(), "a-orders.toml", GOOD);
    let second = write(dir.path(), "b-orders.toml", GOOD);
    ebb()
        .arg("check")
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{}:2: target.group: group `orders` is already targeted by {}",
            second.display(),
            first.display()
        )));
}

#[test]
fn a_good_file_beside_a_broken_one_still_fails() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "orders.toml", GOOD);
    let bad = write(
        dir.path(),
        "payments.toml",
        &broken("group = \"orders\"", "group = \"payments\"").replacen(
            "min_capacity = 1",
            "min_capacity = 99",
            1,
        ),
    );
    ebb()
        .arg("check")
        .arg(&good)
        .arg(&bad)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{}:3: target.min_capacity",
            bad.display()
        )));
}

#[test]
fn a_missing_file_or_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let absent = dir.path().join("absent.toml");
    ebb()
        .arg("check")
        .arg(&absent)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{}: cannot read",
            absent.display()
        )));
    ebb()
        .arg("check")
        .arg(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "no policy files (*.toml) in this directory",
        ));
}

#[test]
fn a_missing_table_or_a_field_missing_from_one_window() {
    fails_with(
        &GOOD[GOOD.find("[metrics.requests]").unwrap()..],
        1,
        "target",
        "missing field `target`",
    );
    fails_with(
        &broken(", min_capacity = 2 }", " }"),
        30,
        "policies[1].windows[1].min_capacity",
        "missing field `min_capacity`",
    );
}

#[test]
fn an_unknown_choice_or_a_duplicate_key() {
    fails_with(
        &broken(
            "interval = \"30s\"",
            "interval = \"30s\"\nmode = \"dryrun\"",
        ),
        6,
        "target.mode",
        "unknown variant `dryrun`, expected `active` or `dry-run`",
    );
    fails_with(
        &broken(
            "statistic = \"Sum\"",
            "statistic = \"Sum\"\nstatistic = \"Average\"",
        ),
        16,
        "metrics.requests.source.cloudwatch.statistic",
        "duplicate key",
    );
}

#[test]
fn without_arguments_it_checks_the_policies_folder() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    write(&dir.path().join("policies"), "orders.toml", GOOD);
    ebb()
        .arg("check")
        .current_dir(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "ok: policies/orders.toml (group orders)",
        ));
    std::fs::remove_dir_all(dir.path().join("policies")).unwrap();
    ebb()
        .arg("check")
        .current_dir(dir.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("policies: cannot read"));
}

#[test]
fn lint_warnings_point_at_their_line_and_fail_only_with_strict() {
    let dir = tempfile::tempdir().unwrap();
    // A scale-in cooldown shorter than the warm-up: valid, but it flaps.
    let path = write(
        dir.path(),
        "orders.toml",
        &broken("scale_in_cooldown = \"10m\"", "scale_in_cooldown = \"1m\""),
    );
    let expected = format!(
        "warning: {}:35: governor.scale_in_cooldown: ",
        path.display()
    );
    ebb()
        .arg("check")
        .arg(&path)
        .assert()
        .success()
        .stderr(predicate::str::contains(expected));
    ebb()
        .args(["check", "--strict"])
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "error: {}:35: governor.scale_in_cooldown: ",
            path.display()
        )));
}

#[test]
fn shadow_candidates_are_checked_as_the_daemon_loads_them() {
    let dir = tempfile::tempdir().unwrap();
    let with_shadows = |shadows: &str| {
        broken(
            "interval = \"30s\"",
            &format!("interval = \"30s\"\nshadows = [{shadows}]"),
        )
    };
    std::fs::create_dir(dir.path().join("candidates")).unwrap();
    write(&dir.path().join("candidates"), "hot.toml", GOOD);
    let other = broken("group = \"orders\"", "group = \"payments\"");
    write(&dir.path().join("candidates"), "payments.toml", &other);

    let live = write(
        dir.path(),
        "orders.toml",
        &with_shadows("\"candidates/hot.toml\""),
    );
    ebb().arg("check").arg(&live).assert().success();

    write(
        dir.path(),
        "orders.toml",
        &with_shadows("\"candidates/payments.toml\""),
    );
    ebb()
        .arg("check")
        .arg(&live)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{}:6: target.shadows[0]: shadow {} targets group `payments`, not `orders`",
            live.display(),
            dir.path().join("candidates/payments.toml").display()
        )));

    write(
        dir.path(),
        "orders.toml",
        &with_shadows("\"candidates/absent.toml\""),
    );
    ebb()
        .arg("check")
        .arg(&live)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{}:6: target.shadows[0]: shadow {}: cannot read",
            live.display(),
            dir.path().join("candidates/absent.toml").display()
        )));

    // Was "candidates/: cannot read", naming neither file nor field.
    write(dir.path(), "orders.toml", &with_shadows("\"\""));
    ebb()
        .arg("check")
        .arg(&live)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{}:6: target.shadows[0]: an empty path names no policy file",
            live.display(),
        )));
}

#[test]
fn a_file_checked_twice_is_not_a_duplicate_of_itself() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "orders.toml", GOOD);
    ebb()
        .arg("check")
        .arg(&path)
        .arg(&path)
        .arg(dir.path())
        .assert()
        .success()
        .stdout(predicate::str::contains("ok: ").count(1));
}

#[cfg(unix)]
#[test]
fn a_fifo_named_toml_is_refused_not_waited_on() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "orders.toml", GOOD);
    let fifo = dir.path().join("pipe.toml");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    ebb()
        .arg("check")
        .arg(dir.path())
        .timeout(std::time::Duration::from_secs(20))
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{}: cannot read: not a regular file (a FIFO)",
            fifo.display()
        )));
}

#[test]
fn a_policy_file_over_one_megabyte_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let padded = format!("{GOOD}\n{}", "# padding\n".repeat(100_001));
    let path = write(dir.path(), "orders.toml", &padded);
    ebb()
        .arg("check")
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(format!(
            "{}: cannot read: larger than the limit of 1000000 bytes",
            path.display()
        )));
}

/// 10,000 policies in one file once took `ebb simulate` 3.7 GB: a file holds
/// at most 50 (AWS's limit per group), and check says so before anything runs.
#[test]
fn too_many_policies_in_one_file() {
    let extra = "\n[[policies]]\nkind = \"target-tracking\"\nname = \"more-{i}\"\nmetric = \"requests\"\ntarget = 300.0\n";
    let extra = |n: usize| -> String {
        (0..n)
            .map(|i| extra.replace("{i}", &i.to_string()))
            .collect()
    };
    let text = format!("{GOOD}{}", extra(49));
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "orders.toml", &text);
    ebb()
        .arg("check")
        .arg(&path)
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "policies: too many entries: 51 is out of range",
        ));
    let ok = format!("{GOOD}{}", extra(48));
    std::fs::write(&path, ok).unwrap();
    ebb().arg("check").arg(&path).assert().success();
}
