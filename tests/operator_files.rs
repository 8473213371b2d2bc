//! What ships for operators beside the binary: the manual pages and shell
//! completions (`ebb man`, `ebb completions`), the Grafana dashboard and the
//! Prometheus rules (every series they read is one ebb exports; promtool
//! checks and unit-tests the rules), and the CloudFormation template (cfn-lint
//! accepts it, the role's policy is deploy/iam-policy.json, and the lease
//! table it declares is one ebb's lease code works with, against moto).

mod fixtures;
mod support;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use clap::CommandFactory;
use ebb::alert::queue::SinkLabels;
use ebb::clock::ManualClock;
use ebb::daemon::lease::{LeaseRecord, Step, WriteOutcome};
use ebb::daemon::lease_table::LeaseTable;
use ebb::telemetry::{Telemetry, TelemetryConfig};
use serde_json::Value as Json;
use serde_norway::Value as Yaml;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use support::moto::{MotoServer, sdk_config};

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn ebb(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ebb {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Every visible subcommand, as the path of names below `ebb`
/// (`["log", "tail"]`), nested ones included.
fn visible_subcommands() -> Vec<Vec<String>> {
    fn walk(command: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
            if sub.get_name() == "help" {
                continue;
            }
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_string());
            walk(sub, &path, out);
            out.push(path);
        }
    }
    let mut command = ebb::cli::Cli::command().disable_help_subcommand(true);
    command.build();
    let mut out = Vec::new();
    walk(&command, &[], &mut out);
    out
}

#[test]
fn every_subcommand_has_a_manual_page() {
    let dir = tempfile::tempdir().unwrap();
    ebb(&["man", dir.path().to_str().unwrap()]);
    let written: BTreeSet<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let subcommands = visible_subcommands();
    assert!(
        subcommands.iter().any(|p| p == &["log", "tail"]),
        "nested subcommands are walked: {subcommands:?}"
    );
    let mut expected: BTreeSet<String> = subcommands
        .iter()
        .map(|path| format!("ebb-{}.1", path.join("-")))
        .collect();
    expected.insert("ebb.1".to_string());
    assert_eq!(
        written, expected,
        "one page per subcommand, none for the hidden ones"
    );
    let run = std::fs::read_to_string(dir.path().join("ebb-run.1")).unwrap();
    assert!(run.starts_with(".ie"), "roff: {run}");
    assert!(run.contains("\\-\\-dry\\-run"), "the flags are on the page");
    let main = std::fs::read_to_string(dir.path().join("ebb.1")).unwrap();
    assert!(
        main.contains("ebb\\-check(1)"),
        "ebb.1 lists the subcommands"
    );
}

#[test]
fn man_into_an_unwritable_place_is_a_clear_error() {
    let file = tempfile::NamedTempFile::new().unwrap();
    let inside_a_file = file.path().join("man");
    let out = Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(["man", inside_a_file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot create") && stderr.contains(inside_a_file.to_str().unwrap()),
        "{stderr}"
    );
}

#[test]
fn completions_cover_every_subcommand_in_each_shell() {
    let top_level: Vec<String> = visible_subcommands()
        .into_iter()
        .filter(|p| p.len() == 1)
        .map(|p| p[0].clone())
        .collect();
    for shell in ["bash", "zsh", "fish"] {
        let script = String::from_utf8(ebb(&["completions", shell]).stdout).unwrap();
        for name in &top_level {
            assert!(script.contains(name.as_str()), "{shell}: no `{name}`");
        }
    }
    // bash is always there to parse its own script.
    let dir = tempfile::tempdir().unwrap();
    let bash = dir.path().join("ebb.bash");
    std::fs::write(&bash, ebb(&["completions", "bash"]).stdout).unwrap();
    let check = Command::new("bash").arg("-n").arg(&bash).output().unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let out = Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(["completions", "powershell"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("possible values: bash, zsh, fish"));
}

/// The series names ebb's registry exports, as Prometheus stores them
/// (`_total` on counters, `_bucket`/`_sum`/`_count` on histograms), plus `up`,
/// which Prometheus adds to every scrape. A family shows in the exposition
/// once it has a member, so each gets one: a declared target, a live
/// decision with a recommendation and a metric, an AWS call, a delivery
/// to one sink.
fn exported_series() -> BTreeSet<String> {
    let telemetry = Telemetry::new(
        &TelemetryConfig::default(),
        Arc::new(ManualClock::new(fixtures::t(0))),
    );
    telemetry.set_targets(&[("web".into(), Duration::from_secs(60))]);
    let metrics = &telemetry.metrics;
    let mut record = fixtures::decision("web", fixtures::t(0), 2, 3);
    record.metrics[0].age_s = Some(60);
    metrics.observe_record(&record, Duration::from_millis(5));
    metrics.aws_call("SetDesiredCapacity", Duration::from_millis(5), false);
    let sink = SinkLabels { sink: "ops".into() };
    let alerts = &metrics.alerts;
    for family in [
        &alerts.sent,
        &alerts.failed,
        &alerts.dropped,
        &alerts.retries,
    ] {
        family.get_or_create(&sink).inc();
    }
    alerts.queued.get_or_create(&sink).set(1);
    let text = metrics.encode();
    let mut names = BTreeSet::from(["up".to_string()]);
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        match kind {
            "counter" => {
                names.insert(format!("{name}_total"));
            }
            "histogram" => {
                for suffix in ["bucket", "sum", "count"] {
                    names.insert(format!("{name}_{suffix}"));
                }
            }
            _ => {
                names.insert(name.to_string());
            }
        }
    }
    names
}

/// PromQL's functions, aggregations and keywords: the identifiers in an
/// expression that are not series names.
const PROMQL_WORDS: &[&str] = &[
    "sum",
    "min",
    "max",
    "avg",
    "count",
    "by",
    "without",
    "and",
    "or",
    "unless",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "rate",
    "irate",
    "increase",
    "delta",
    "changes",
    "resets",
    "histogram_quantile",
    "max_over_time",
    "min_over_time",
    "avg_over_time",
    "absent",
    "absent_over_time",
    "time",
    "offset",
    "bool",
];

/// The series names in one PromQL expression: its identifiers outside label
/// matchers, ranges, grouping lists and strings, less PromQL's own words.
/// Panics on a word it does not know, so a new function gets added above
/// rather than passing unchecked.
fn series_in(expr: &str) -> BTreeSet<String> {
    let mut plain = String::new();
    let mut depth_braces = 0;
    let mut depth_brackets = 0;
    let mut in_string = false;
    for c in expr.chars() {
        match c {
            '"' => in_string = !in_string,
            '{' if !in_string => depth_braces += 1,
            '}' if !in_string => depth_braces -= 1,
            '[' if !in_string => depth_brackets += 1,
            ']' if !in_string => depth_brackets -= 1,
            _ if in_string || depth_braces > 0 || depth_brackets > 0 => {}
            _ => plain.push(c),
        }
        if in_string || depth_braces > 0 || depth_brackets > 0 {
            plain.push(' ');
        }
    }
    let grouping = regex::Regex::new(r"\b(by|without|on|ignoring)\s*\([^)]*\)").unwrap();
    let plain = grouping.replace_all(&plain, "");
    let identifier = regex::Regex::new(r"[A-Za-z_:][A-Za-z0-9_:]*").unwrap();
    let mut series = BTreeSet::new();
    for word in identifier.find_iter(&plain).map(|m| m.as_str()) {
        if PROMQL_WORDS.contains(&word) {
            continue;
        }
        assert!(
            word.starts_with("ebb_") || word == "up",
            "`{word}` in `{expr}` is neither a series ebb exports nor a PromQL word this test knows"
        );
        series.insert(word.to_string());
    }
    series
}

/// Every expression names at least one series, and only series ebb exports.
fn check_series(what: &str, exprs: &[String]) -> BTreeSet<String> {
    let exported = exported_series();
    let mut used = BTreeSet::new();
    for expr in exprs {
        let series = series_in(expr);
        assert!(!series.is_empty(), "{what}: `{expr}` names no series");
        for name in &series {
            assert!(
                exported.contains(name),
                "{what}: `{expr}` reads `{name}`, which ebb does not export (it exports {exported:?})"
            );
        }
        used.extend(series);
    }
    used
}

#[test]
fn the_series_check_catches_a_misspelt_series() {
    let exprs = vec!["sum by (target) (rate(ebb_evaluation_total[5m]))".to_string()];
    let caught = std::panic::catch_unwind(|| check_series("test", &exprs));
    assert!(
        caught.is_err(),
        "ebb_evaluation_total (no s) is not exported"
    );
    assert_eq!(
        series_in(
            r#"histogram_quantile(0.95, sum by (le, operation) (rate(ebb_aws_api_call_duration_seconds_bucket{operation=~"Set.*"}[$__rate_interval])))"#
        ),
        BTreeSet::from(["ebb_aws_api_call_duration_seconds_bucket".to_string()])
    );
}

fn dashboard() -> Json {
    let text = std::fs::read_to_string(repo("deploy/grafana/ebb.json")).unwrap();
    serde_json::from_str(&text).expect("deploy/grafana/ebb.json is JSON")
}

/// Every PromQL expression in the dashboard: panel targets and the series
/// of query variables.
fn dashboard_exprs(dashboard: &Json) -> Vec<String> {
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if variable["type"] == "query" {
            // Grafana's `label_values(SERIES, LABEL)`: the series is PromQL.
            let query = variable["query"]["query"].as_str().unwrap();
            let inner = query
                .strip_prefix("label_values(")
                .and_then(|q| q.rsplit_once(','))
                .unwrap_or_else(|| {
                    panic!("variable query `{query}`: expected label_values(SERIES, LABEL)")
                });
            exprs.push(inner.0.trim().to_string());
        }
    }
    exprs
}

#[test]
fn the_dashboard_is_a_grafana_dashboard_of_series_ebb_exports() {
    let dashboard = dashboard();
    assert_eq!(dashboard["title"], "ebb");
    assert!(dashboard["uid"].is_string() && dashboard["schemaVersion"].as_u64() >= Some(36));
    let panels = dashboard["panels"].as_array().unwrap();
    let mut ids = BTreeSet::new();
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        assert!(ids.insert(panel["id"].as_u64().unwrap()), "{title}: id");
        for key in ["h", "w", "x", "y"] {
            assert!(panel["gridPos"][key].is_u64(), "{title}: gridPos.{key}");
        }
        if panel["type"] == "row" {
            continue;
        }
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{title}");
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        let refs: BTreeSet<&str> = targets
            .iter()
            .map(|t| t["refId"].as_str().unwrap())
            .collect();
        assert_eq!(refs.len(), targets.len(), "{title}: refIds are unique");
    }
    // Grafana lays panels on a 24-column grid; two in one place hide each other.
    let place = |p: &Json| {
        let g = &p["gridPos"];
        let n = |k: &str| g[k].as_u64().unwrap();
        (n("x"), n("y"), n("x") + n("w"), n("y") + n("h"))
    };
    for (i, a) in panels.iter().enumerate() {
        let (ax0, ay0, ax1, ay1) = place(a);
        assert!(ax1 <= 24, "{}: wider than the grid", a["title"]);
        for b in &panels[i + 1..] {
            let (bx0, by0, bx1, by1) = place(b);
            let overlap = ax0 < bx1 && bx0 < ax1 && ay0 < by1 && by0 < ay1;
            assert!(!overlap, "{} and {} overlap", a["title"], b["title"]);
        }
    }
    let used = check_series("deploy/grafana/ebb.json", &dashboard_exprs(&dashboard));
    // What the dashboard is for: decisions, capacity, metric age and
    // staleness, evaluations falling behind, API errors and latency, alert deliveries, leader/standby.
    for needed in [
        "ebb_decisions_total",
        "ebb_desired_capacity",
        "ebb_in_service_capacity",
        "ebb_metric_age_seconds",
        "ebb_metric_stale",
        "ebb_last_evaluation_timestamp_seconds",
        "ebb_aws_api_errors_total",
        "ebb_aws_api_call_duration_seconds_bucket",
        "ebb_alerts_sent_total",
        "ebb_alerts_failed_total",
        "ebb_leader",
    ] {
        assert!(used.contains(needed), "no panel shows {needed}");
    }
}

/// `tool` (run with `--version` to see it is there), or None (skip) when it
/// is missing outside CI.
fn tool(tool: &'static str, install: &str) -> Option<&'static str> {
    if Command::new(tool).arg("--version").output().is_ok() {
        return Some(tool);
    }
    let msg = format!("{tool} not installed ({install})");
    if std::env::var("EBB_REQUIRE_TEST_SERVERS").as_deref() == Ok("1") {
        panic!("{msg}, and EBB_REQUIRE_TEST_SERVERS=1");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

fn promtool() -> Option<&'static str> {
    tool("promtool", "apt-get install prometheus")
}

fn promtool_ok(promtool: &str, args: &[&str], dir: &Path) -> String {
    let out = Command::new(promtool)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn the_dashboard_queries_are_valid_promql() {
    let Some(promtool) = promtool() else {
        return;
    };
    // Grafana's variables, as Grafana would fill them in; each query as a
    // recording rule, which `promtool check rules` parses.
    let rules: Vec<Json> = dashboard_exprs(&dashboard())
        .iter()
        .enumerate()
        .map(|(i, expr)| {
            let expr = expr
                .replace("$__rate_interval", "5m")
                .replace("$target", ".*");
            serde_json::json!({ "record": format!("dashboard:query_{i}"), "expr": expr })
        })
        .collect();
    let file = serde_json::json!({ "groups": [{ "name": "dashboard", "rules": rules }] });
    let dir = tempfile::tempdir().unwrap();
    // JSON is YAML.
    std::fs::write(dir.path().join("dashboard.yml"), file.to_string()).unwrap();
    let text = promtool_ok(promtool, &["check", "rules", "dashboard.yml"], dir.path());
    assert!(text.contains("SUCCESS"), "{text}");
}

fn yaml(path: &str) -> Yaml {
    let text = std::fs::read_to_string(repo(path)).unwrap();
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path} is not YAML: {e}"))
}

#[test]
fn the_rules_read_series_ebb_exports_and_cover_what_the_issue_names() {
    let rules = yaml("deploy/prometheus/ebb-rules.yml");
    let mut exprs = Vec::new();
    let mut alerts = BTreeSet::new();
    for group in rules["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            exprs.push(rule["expr"].as_str().unwrap().to_string());
            alerts.insert(rule["alert"].as_str().unwrap().to_string());
            assert!(rule["labels"]["severity"].is_string(), "{rule:?}");
        }
    }
    check_series("deploy/prometheus/ebb-rules.yml", &exprs);
    for needed in [
        "EbbNotEvaluating",
        "EbbAwsApiErrors",
        "EbbAlertSinkFailing",
        "EbbLeaseLost",
    ] {
        assert!(alerts.contains(needed), "no {needed} rule: {alerts:?}");
    }
}

#[test]
fn promtool_checks_and_unit_tests_the_rules() {
    let Some(promtool) = promtool() else {
        return;
    };
    let dir = repo("deploy/prometheus");
    let text = promtool_ok(promtool, &["check", "rules", "ebb-rules.yml"], &dir);
    assert!(text.contains("SUCCESS: 7 rules found"), "{text}");
    let text = promtool_ok(promtool, &["test", "rules", "ebb-rules.test.yml"], &dir);
    assert!(text.contains("SUCCESS"), "{text}");
}

#[test]
fn the_template_grants_exactly_the_iam_policy_file() {
    let template = yaml("deploy/cloudformation/ebb.yaml");
    let policies = template["Resources"]["HostRole"]["Properties"]["Policies"]
        .as_sequence()
        .unwrap();
    let ebb_policy = policies
        .iter()
        .find(|p| p["PolicyName"].as_str() == Some("ebb"))
        .expect("the role has a policy named ebb");
    let in_template: Json = serde_json::to_value(&ebb_policy["PolicyDocument"]).unwrap();
    let file: Json =
        serde_json::from_str(&std::fs::read_to_string(repo("deploy/iam-policy.json")).unwrap())
            .unwrap();
    assert_eq!(
        in_template, file,
        "deploy/cloudformation/ebb.yaml's policy `ebb` and deploy/iam-policy.json differ"
    );
    let profile = &template["Resources"]["HostInstanceProfile"];
    assert_eq!(profile["Type"].as_str(), Some("AWS::IAM::InstanceProfile"));
}

#[test]
fn the_member_role_is_granted_what_the_host_is_and_trusts_the_host_with_an_external_id() {
    let read = |path: &str| -> Json {
        serde_json::from_str(&std::fs::read_to_string(repo(path)).unwrap())
            .unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    assert_eq!(
        read("deploy/iam/member-permissions.json"),
        read("deploy/iam-policy.json"),
        "deploy/iam/member-permissions.json and deploy/iam-policy.json differ"
    );
    let trust = read("deploy/iam/member-trust-policy.json");
    let statement = &trust["Statement"][0];
    assert_eq!(statement["Action"], "sts:AssumeRole");
    assert!(statement["Principal"]["AWS"].is_string(), "{trust}");
    assert!(
        statement["Condition"]["StringEquals"]["sts:ExternalId"].is_string(),
        "{trust}"
    );
    let assume = read("deploy/iam/management-assume-policy.json");
    let statement = &assume["Statement"][0];
    assert_eq!(statement["Action"], "sts:AssumeRole");
    let roles = statement["Resource"].as_array().expect("a list of roles");
    assert!(
        roles
            .iter()
            .all(|r| r.as_str().is_some_and(|r| r.ends_with(":role/ebb"))),
        "{assume}"
    );
}

#[test]
fn cfn_lint_accepts_the_template() {
    let Some(cfn_lint) = tool("cfn-lint", "pip install cfn-lint") else {
        return;
    };
    let out = Command::new(cfn_lint)
        .arg(repo("deploy/cloudformation/ebb.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The table as the template declares it, created in moto: ebb's lease code
/// takes, reads and renews a lease in it.
#[tokio::test]
async fn the_templates_lease_table_is_one_ebb_can_hold_a_lease_in() {
    let template = yaml("deploy/cloudformation/ebb.yaml");
    let table = &template["Resources"]["LeaseTable"];
    assert_eq!(table["Type"].as_str(), Some("AWS::DynamoDB::Table"));
    let properties = &table["Properties"];
    assert_eq!(
        properties["BillingMode"].as_str(),
        Some("PAY_PER_REQUEST"),
        "on-demand"
    );
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let config = sdk_config(&moto.url()).await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let mut create =
        client
            .create_table()
            .table_name("ebb-leases")
            .billing_mode(BillingMode::from(
                properties["BillingMode"].as_str().unwrap(),
            ));
    for attribute in properties["AttributeDefinitions"].as_sequence().unwrap() {
        create = create.attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(attribute["AttributeName"].as_str().unwrap())
                .attribute_type(ScalarAttributeType::from(
                    attribute["AttributeType"].as_str().unwrap(),
                ))
                .build()
                .unwrap(),
        );
    }
    for key in properties["KeySchema"].as_sequence().unwrap() {
        create = create.key_schema(
            KeySchemaElement::builder()
                .attribute_name(key["AttributeName"].as_str().unwrap())
                .key_type(KeyType::from(key["KeyType"].as_str().unwrap()))
                .build()
                .unwrap(),
        );
    }
    create
        .send()
        .await
        .expect("moto creates the template's table");

    let lease = LeaseTable::new(client, "ebb-leases", "ebb");
    assert_eq!(lease.read().await.unwrap(), None);
    let record = LeaseRecord {
        holder: "ctl-1".into(),
        token: 1,
        version: 1,
        duration: Duration::from_secs(15),
        released: false,
    };
    let step = Step::Create {
        record: record.clone(),
    };
    assert_eq!(lease.write(&step).await.unwrap(), WriteOutcome::Written);
    assert_eq!(lease.read().await.unwrap(), Some(record));
}
