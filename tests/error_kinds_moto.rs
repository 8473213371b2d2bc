//! Failed Auto Scaling calls end to end, through the `ebb run` binary against
//! moto_server behind the loopback proxy, which answers every
//! SetDesiredCapacity as AWS does when it throttles (HTTP 400 `Throttling`)
//! or refuses (HTTP 403 `AccessDenied`): the record says Failed with the
//! kind, the capacity stays, the SDK retries throttling but not a refusal,
//! and an `api-call-failed` rule with `kinds` fires only for its kinds,
//! carrying the kind in the `error_kind` label.

mod http_receiver;
mod support;

use http_receiver::Receiver;
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use support::daemon::*;
use support::faults::Fault;
use support::moto::desired;
use support::proxy::{Proxy, Recorded};

/// Two `api-call-failed` rules: the default name for access denied only,
/// `throttled-calls` for throttling only.
const RULES: [&str; 2] = [
    "kind = \"api-call-failed\"\nkinds = [\"access-denied\"]",
    "kind = \"api-call-failed\"\nname = \"throttled-calls\"\nkinds = [\"throttled\"]",
];

/// The firing alerts the webhook received, as (alertname, error_kind).
fn firing(hook: &Receiver) -> Vec<(String, String)> {
    hook.requests()
        .iter()
        .map(|r| r.json())
        .filter(|a| a["status"] == "firing")
        .map(|a| {
            (
                a["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                a["labels"]["error_kind"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

/// Waits until the webhook received a firing alert named `name`.
fn wait_firing(hook: &Receiver, name: &str) -> (String, String) {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(alert) = firing(hook).into_iter().find(|(n, _)| n == name) {
            return alert;
        }
        assert!(
            Instant::now() < deadline,
            "`{name}` never fired; got {:?}",
            firing(hook)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The records whose SetDesiredCapacity failed with `kind`.
fn failed_with(setup: &Setup, kind: &str) -> Vec<Value> {
    setup
        .records()
        .into_iter()
        .filter(|r| r["outcome"]["status"] == "failed" && r["outcome"]["kind"] == kind)
        .collect()
}

/// What one run expects: the fault the proxy answers every
/// SetDesiredCapacity with, the kind the records must carry, the alert that
/// must fire (with that kind) and the one that must not, and how many
/// requests the SDK sends per failed call.
struct Case {
    fault: Fault,
    kind: &'static str,
    fires: &'static str,
    stays_quiet: &'static str,
    attempts_per_call: usize,
}

/// Runs the daemon with every SetDesiredCapacity answered by the case's
/// fault, on a group at desired 2 whose CPU (90% against a 50% target) asks
/// for more, until two records have failed with the kind and its alert has
/// fired; then checks what the case expects.
async fn check(case: Case) {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 90.0, 120).await else {
        return;
    };
    let fault = case.fault;
    let proxy = Proxy::start_with_faults(
        moto.port,
        Arc::new(move |r: &Recorded| {
            if r.action == "SetDesiredCapacity" {
                fault
            } else {
                Fault::Pass
            }
        }),
    );
    let hook = Receiver::ok().await;
    let setup = Setup::with_extra(&proxy.url(), &webhook_alerts(&RULES, &hook.url("/hook")));
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    let ebb = setup.start(&[]);

    let deadline = Instant::now() + WAIT;
    while failed_with(&setup, case.kind).len() < 2 {
        assert!(
            Instant::now() < deadline,
            "fewer than 2 records failed with {}: {:#?}\n{}",
            case.kind,
            setup.records(),
            ebb.stderr()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    wait_firing(&hook, case.fires);
    assert!(ebb.stop().success());

    // Capacity kept: in AWS, and in what the records say.
    assert_eq!(desired(&asg, "web").await, 2);
    let failed = failed_with(&setup, case.kind);
    for record in &failed {
        assert_eq!(record["capacity"]["desired"], 2, "{record:#}");
        let error = record["outcome"]["error"].as_str().unwrap();
        assert!(error.contains("SetDesiredCapacity"), "{error}");
    }
    // The SDK's retries: every attempt reached the proxy; a call in flight
    // at the stop may have made its first attempts only.
    let answered = proxy
        .injected()
        .iter()
        .filter(|(action, _)| action == "SetDesiredCapacity")
        .count();
    let calls = failed.len();
    let attempts = case.attempts_per_call;
    assert!(
        (attempts * calls..=attempts * (calls + 1)).contains(&answered),
        "{answered} requests answered {:?} for {calls} failed calls",
        case.fault
    );

    let alerts = firing(&hook);
    assert!(
        alerts.contains(&(case.fires.into(), case.kind.into())),
        "{alerts:?}"
    );
    assert!(
        alerts.iter().all(|(name, _)| name != case.stays_quiet),
        "`{}` fired for {}: {alerts:?}",
        case.stays_quiet,
        case.kind
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_calls_are_retried_recorded_as_throttled_and_alert_only_their_rule() {
    check(Case {
        fault: Fault::Throttle,
        kind: "throttled",
        fires: "throttled-calls",
        stays_quiet: "api-call-failed",
        // The test config's max_attempts = 2: one retry.
        attempts_per_call: 2,
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_calls_are_not_retried_recorded_as_access_denied_and_alert_their_rule() {
    check(Case {
        fault: Fault::AccessDenied,
        kind: "access-denied",
        fires: "api-call-failed",
        stays_quiet: "throttled-calls",
        attempts_per_call: 1,
    })
    .await;
}
