//! `ebb check --config` as an operator runs it before `ebb run`: the daemon
//! config is read by the loader the daemon uses (environment overrides
//! included), each mistake named with file, line, field and what is wrong (or
//! the environment variable it came from), then the policies it points at
//! are checked.

use assert_cmd::Command;
use predicates::prelude::*;
use std::path::{Path, PathBuf};

fn ebb() -> Command {
    let mut command = Command::cargo_bin("ebb").expect("the ebb binary is built");
    // Only the variables a test sets.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("EBB_")) {
        command.env_remove(name);
    }
    command
}

const POLICY: &str = r#"[target]
group = "web"
min_capacity = 1
max_capacity = 10

[metrics.cpu.source.cloudwatch]
namespace = "AWS/EC2"
metric_name = "CPUUtilization"
statistic = "Average"

[[policies]]
kind = "target-tracking"
name = "cpu-50"
metric = "cpu"
target = 50.0
"#;

/// A config whose lines the tests below count on; `POLICY_DIR` is replaced.
const CONFIG: &str = r#"policy_dir = "POLICY_DIR"
decisions_log = "POLICY_DIR/../decisions.jsonl"
state_dir = "POLICY_DIR/.."
jitter = "1s"

[aws]
region = "eu-west-1"
endpoint_url = "http://127.0.0.1:5000"

[[alerts.rules]]
kind = "api-call-failed"

[[alerts.rules]]
kind = "metric-stale"
evaluations = 3

[[alerts.rules]]
kind = "flapping"
changes = 4
window = "30m"
"#;

/// A folder with `policies/web.toml` and `ebb.toml` (CONFIG with `from`
/// replaced by `to`); returns the folder and the config's path.
fn setup(from: &str, to: &str) -> (tempfile::TempDir, PathBuf) {
    assert!(CONFIG.contains(from), "{from}");
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    std::fs::write(policies.join("web.toml"), POLICY).unwrap();
    let config = dir.path().join("ebb.toml");
    let text = CONFIG
        .replacen(from, to, 1)
        .replace("POLICY_DIR", &policies.display().to_string());
    std::fs::write(&config, text).unwrap();
    (dir, config)
}

fn fails_with(config: &Path, expected: &str) {
    ebb()
        .arg("check")
        .arg("--config")
        .arg(config)
        .assert()
        .code(1)
        .stderr(
            predicate::str::contains(expected).and(predicate::str::contains("panicked at").not()),
        );
}

#[test]
fn a_good_config_and_its_policies_pass() {
    let (dir, config) = setup("jitter", "jitter");
    ebb()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .assert()
        .success()
        .stdout(
            predicate::str::contains(format!("ok: {} (daemon config)", config.display())).and(
                predicate::str::contains(format!(
                    "ok: {} (group web)",
                    dir.path().join("policies/web.toml").display()
                )),
            ),
        );
}

#[test]
fn an_unknown_rule_kind_names_line_field_and_choices() {
    // Was: enum RuleKindName does not have variant constructor flaping for
    // key 'alerts.rules[2]kind', with no line.
    let (_dir, config) = setup("kind = \"flapping\"", "kind = \"flaping\"");
    fails_with(
        &config,
        &format!(
            "{}:18: alerts.rules[2].kind: unknown variant `flaping`, expected one of `api-call-failed`, `metric-stale`",
            config.display()
        ),
    );
}

#[test]
fn an_unknown_field_is_refused_with_the_known_ones() {
    let (_dir, config) = setup("jitter = \"1s\"", "jiter = \"1s\"");
    fails_with(
        &config,
        &format!(
            "{}:4: jiter: unknown field `jiter`, expected one of `policy_dir`",
            config.display()
        ),
    );
}

#[test]
fn durations_urls_and_counts_are_checked() {
    let (_dir, config) = setup("jitter = \"1s\"", "jitter = \"10M\"");
    fails_with(
        &config,
        &format!("{}:4: jitter: `10M`: unknown unit `M`", config.display()),
    );
    let (_dir, config) = setup("window = \"30m\"", "window = \"100000000000d\"");
    fails_with(
        &config,
        &format!(
            "{}:20: alerts.rules[2].window: 100000000000d is out of range: must be between 0s and 30d",
            config.display()
        ),
    );
    let (_dir, config) = setup("\"http://127.0.0.1:5000\"", "\"127.0.0.1:5000\"");
    fails_with(
        &config,
        &format!(
            "{}:8: aws.endpoint_url: `127.0.0.1:5000` needs http:// or https://",
            config.display()
        ),
    );
    let (_dir, config) = setup("evaluations = 3", "evaluations = 0");
    fails_with(
        &config,
        &format!(
            "{}:15: alerts.rules[1].evaluations: 0 is out of range: must be between 1 and 10,000",
            config.display()
        ),
    );
}

#[test]
fn a_policy_folder_that_does_not_exist() {
    let (dir, config) = setup(
        "policy_dir = \"POLICY_DIR\"",
        "policy_dir = \"POLICY_DIR/nope\"",
    );
    fails_with(
        &config,
        &format!(
            "{}:1: policy_dir: {} is not a directory",
            config.display(),
            dir.path().join("policies/nope").display()
        ),
    );
}

#[test]
fn the_policies_it_points_at_are_checked() {
    let (dir, config) = setup("jitter", "jitter");
    let policy = dir.path().join("policies/web.toml");
    std::fs::write(
        &policy,
        POLICY.replace("max_capacity = 10", "max_capacity = 4294967295"),
    )
    .unwrap();
    fails_with(
        &config,
        &format!(
            "{}:4: target.max_capacity: 4294967295 is out of range: must be between 0 and 1,000,000",
            policy.display()
        ),
    );
}

#[test]
fn an_environment_override_is_checked_and_named() {
    let (_dir, config) = setup("jitter", "jitter");
    ebb()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .env("EBB_AWS__MAX_ATTEMPTS", "0")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "EBB_AWS__MAX_ATTEMPTS: aws.max_attempts: 0 is out of range: must be between 1 and 100",
        ));
    ebb()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .env("EBB_AWS__ENDPOINT_URL", "localhost:5000")
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "EBB_AWS__ENDPOINT_URL: aws.endpoint_url: `localhost:5000` needs http:// or https://",
        ));
    ebb()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .env("EBB_AWS__MAX_ATTEMPTS", "lots")
        .assert()
        .code(1)
        .stderr(predicate::str::starts_with(
            "EBB_AWS__MAX_ATTEMPTS: aws.max_attempts: ",
        ));
}

#[test]
fn an_sns_sink_names_the_line_and_field_of_its_topic_and_region() {
    // The sink starts at line 21 (after CONFIG's 20 lines).
    let sink =
        |fields: &str| format!("window = \"30m\"\n\n[[alerts.sinks]]\nkind = \"sns\"\n{fields}");
    let (_dir, config) = setup(
        "window = \"30m\"",
        &sink("topic_arn = \"arn:aws:sns:eu-west-1:1234:ebb-alerts\""),
    );
    fails_with(
        &config,
        &format!(
            "{}:24: alerts.sinks[0].topic_arn: `arn:aws:sns:eu-west-1:1234:ebb-alerts` is not an SNS topic ARN (account `1234` is not 12 digits)",
            config.display()
        ),
    );
    let (_dir, config) = setup(
        "window = \"30m\"",
        &sink(
            "topic_arn = \"arn:aws:sns:eu-west-1:123456789012:ebb-alerts\"\nregion = \"us-east-1\"",
        ),
    );
    fails_with(
        &config,
        &format!(
            "{}:25: alerts.sinks[0].region: `us-east-1` is not the topic's region `eu-west-1`",
            config.display()
        ),
    );
    let (_dir, config) = setup("window = \"30m\"", &sink("url = \"http://127.0.0.1:9/\""));
    fails_with(
        &config,
        &format!(
            "{}:24: alerts.sinks[0].url: an sns sink publishes to `topic_arn`",
            config.display()
        ),
    );
    let (_dir, config) = setup(
        "window = \"30m\"",
        &sink("topic_arn = \"arn:aws:sns:eu-west-1:123456789012:ebb-alerts\""),
    );
    ebb()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .assert()
        .success();
}

#[test]
fn a_policy_naming_an_account_the_config_lacks_fails_and_a_bad_role_arn_is_named() {
    let (dir, config) = setup(
        "[aws]\n",
        "[accounts.prod]\nrole_arn = \"arn:aws:iam::123456789012:role/ebb\"\n\n[aws]\n",
    );
    let policy = dir.path().join("policies/web.toml");
    std::fs::write(
        &policy,
        POLICY.replace("[target]\n", "[target]\naccount = \"prd\"\n"),
    )
    .unwrap();
    fails_with(
        &config,
        &format!(
            "{}:2: target.account: unknown account `prd`: the daemon config defines: prod",
            policy.display()
        ),
    );
    std::fs::write(
        &policy,
        POLICY.replace("[target]\n", "[target]\naccount = \"prod\"\n"),
    )
    .unwrap();
    ebb()
        .arg("check")
        .arg("--config")
        .arg(&config)
        .assert()
        .success();

    let (_dir, config) = setup(
        "[aws]\n",
        "[accounts.prod]\nrole_arn = \"arn:aws:iam::1234:role/ebb\"\n\n[aws]\n",
    );
    fails_with(
        &config,
        &format!(
            "{}:7: accounts.prod.role_arn: `arn:aws:iam::1234:role/ebb`: the account id `1234` must be twelve digits",
            config.display()
        ),
    );
}

#[test]
fn shard_counts_out_of_range_name_line_and_field() {
    let (_dir, config) = setup(
        "[aws]",
        "[leader_election]\ntable = \"ebb-leases\"\nmode = \"shards\"\nshards = 5000\n\n[aws]",
    );
    fails_with(&config, "ebb.toml:9: leader_election.shards:");
    let (_dir, config) = setup(
        "[aws]",
        "[leader_election]\ntable = \"ebb-leases\"\nmode = \"shards\"\nshards = 8\nwarm_shards = 8\n\n[aws]",
    );
    fails_with(
        &config,
        "leader_election.warm_shards: must be less than shards (8)",
    );
    let (_dir, config) = setup(
        "[aws]",
        "[leader_election]\ntable = \"ebb-leases\"\nmode = \"sharded\"\n\n[aws]",
    );
    fails_with(&config, "leader_election.mode");
}
