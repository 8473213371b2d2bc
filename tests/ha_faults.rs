//! `ebb run` against moto through the fault-injecting proxy. Two targets:
//! `web` in us-east-1 is left alone, `api` in eu-west-1 has every call of its
//! region faulted, one fault after another: throttling, HTTP 500, HTTP 503,
//! dropped connections, hangs, throttled GetMetricData only, failing
//! SetDesiredCapacity only, then latency. Under each: `web` keeps its
//! interval, `api` keeps its capacity (its data says scale in), never scales
//! in on missing data, retries within its call budget, records the failure,
//! and the alert rules fire. Prints a table of what each fault did.

mod http_receiver;
mod support;

use chrono::{DateTime, Utc};
use http_receiver::Receiver;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use support::daemon::*;
use support::faults::Fault;
use support::moto::{MotoServer, create_group, desired, put_metric, sdk_config};
use support::proxy::{Proxy, Recorded};

/// How long each fault lasts: a failing evaluation takes up to 5 s (two
/// calls, each up to its 2.5 s operation timeout), and the checks need evaluations
/// that started well inside a phase.
const PHASE: Duration = Duration::from_secs(10);
/// Attempts per AWS call (the SDK retries throttling, 5xx and timeouts).
const MAX_ATTEMPTS: usize = 3;

/// One fault, on the calls of `api`'s region, optionally one action only.
#[derive(Clone, Copy)]
struct Phase {
    fault: Fault,
    only: Option<&'static str>,
}

/// A record whose metrics were missing or stale.
fn metric_not_ok(r: &Value) -> bool {
    r["metrics"]
        .as_array()
        .is_some_and(|m| m.iter().any(|m| m["status"] != "ok"))
}

/// A record that shows the fault: an API error or data it could not get.
fn evaluation_failed(r: &Value) -> bool {
    !r["outcome"]["error"].is_null() || metric_not_ok(r)
}

fn time_of(r: &Value) -> DateTime<Utc> {
    r["time"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_each_fault_the_target_holds_and_the_others_keep_their_interval() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let hook = Receiver::ok().await;
    let east = sdk_config(&moto.url()).await;
    let west = aws_config::SdkConfig::builder()
        .region(aws_config::Region::new("eu-west-1"))
        .build();
    let west = east.to_builder().region(west.region().cloned()).build();
    let (asg_east, cw_east) = (
        aws_sdk_autoscaling::Client::new(&east),
        aws_sdk_cloudwatch::Client::new(&east),
    );
    let (asg_west, cw_west) = (
        aws_sdk_autoscaling::Client::new(&west),
        aws_sdk_cloudwatch::Client::new(&west),
    );
    create_group(&asg_east, "web", 1, 10, 2).await;
    create_group(&asg_west, "api", 1, 10, 4).await;
    let now = Utc::now();
    let points = |value| -> Vec<_> {
        (-60..180)
            .step_by(5)
            .map(|s| (now + chrono::Duration::seconds(s), value))
            .collect()
    };
    // web holds at 50% of a 50% target; api at 20% wants fewer than 4.
    let dim = |g| ("AutoScalingGroupName", g);
    put_metric(
        &cw_east,
        "AWS/EC2",
        "CPUUtilization",
        dim("web"),
        &points(50.0),
    )
    .await;
    put_metric(
        &cw_west,
        "AWS/EC2",
        "CPUUtilization",
        dim("api"),
        &points(20.0),
    )
    .await;

    let current: Arc<Mutex<Option<Phase>>> = Arc::new(Mutex::new(None));
    let rule = {
        let current = Arc::clone(&current);
        Arc::new(move |r: &Recorded| match *current.lock().unwrap() {
            Some(phase)
                if r.region == "eu-west-1" && phase.only.is_none_or(|only| only == r.action) =>
            {
                phase.fault
            }
            _ => Fault::Pass,
        })
    };
    let proxy = Proxy::start_with_faults(moto.port, rule);

    let setup = Setup::with_extra(
        &proxy.url(),
        &webhook_alerts(
            &[
                "kind = \"api-call-failed\"",
                "kind = \"metric-stale\"\nevaluations = 1",
            ],
            &hook.url("/hook"),
        ),
    );
    setup.write_policy("web.toml", &policy("web", 50.0, "0s"));
    let api = policy("api", 50.0, "0s").replace(
        "interval = \"1s\"",
        "interval = \"1s\"\nregion = \"eu-west-1\"",
    );
    setup.write_policy("api.toml", &api);

    let phases = [
        Phase {
            fault: Fault::Throttle,
            only: None,
        },
        Phase {
            fault: Fault::ServerError(500),
            only: None,
        },
        Phase {
            fault: Fault::ServerError(503),
            only: None,
        },
        Phase {
            fault: Fault::Drop,
            only: None,
        },
        Phase {
            fault: Fault::Hang,
            only: None,
        },
        Phase {
            fault: Fault::Throttle,
            only: Some("GetMetricData"),
        },
        Phase {
            fault: Fault::ServerError(500),
            only: Some("SetDesiredCapacity"),
        },
        Phase {
            fault: Fault::Delay(Duration::from_millis(600)),
            only: None,
        },
    ];
    *current.lock().unwrap() = Some(phases[0]);
    let ebb = setup.start_with_env(
        &[],
        &[
            ("EBB_AWS__MAX_ATTEMPTS", &MAX_ATTEMPTS.to_string()),
            ("EBB_AWS__ATTEMPT_TIMEOUT", "1s"),
            ("EBB_AWS__OPERATION_TIMEOUT", "2500ms"),
        ],
    );
    let mut spans = Vec::new();
    let mut injected_at = Vec::new();
    for (i, phase) in phases.iter().enumerate() {
        *current.lock().unwrap() = Some(*phase);
        let start = Utc::now();
        injected_at.push(proxy.injected().len());
        tokio::time::sleep(PHASE).await;
        spans.push((start, Utc::now()));
        if i + 1 == phases.len() {
            // Latency only slows api down: it gets to scale in.
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while desired(&asg_west, "api").await >= 4 {
                let last: Vec<Value> = setup
                    .records()
                    .into_iter()
                    .filter(|r| r["target"] == "api")
                    .rev()
                    .take(2)
                    .collect();
                assert!(
                    std::time::Instant::now() < deadline,
                    "api did not scale in once the faults stopped: {last:#?}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        } else {
            assert_eq!(
                desired(&asg_west, "api").await,
                4,
                "api's capacity changed under {}",
                phase.fault.name()
            );
        }
    }
    injected_at.push(proxy.injected().len());
    *current.lock().unwrap() = None;
    assert!(
        ebb.stop().success(),
        "ebb survives every fault and stops cleanly"
    );

    let records = setup.records();
    let of = |target: &str| -> Vec<Value> {
        records
            .iter()
            .filter(|r| r["target"] == target && r["role"] == "live")
            .cloned()
            .collect()
    };
    let (web, api) = (of("web"), of("api"));

    // web kept its interval all along (1s, jitter 100ms), from its second
    // evaluation on, whatever api's calls do. (web's first
    // DescribeInstanceRefreshes, which moto does not implement and whose
    // error the SDK retries with backoff for up to ~2.5 s, falls ~101 s
    // after its first look, at the point of the re-check window its name
    // picks: after this test.)
    let mut worst = Duration::ZERO;
    for pair in web.windows(2).skip(1) {
        let gap = (time_of(&pair[1]) - time_of(&pair[0])).to_std().unwrap();
        worst = worst.max(gap);
    }
    assert!(worst <= Duration::from_millis(2500), "web waited {worst:?}");
    assert!(web.iter().all(|r| r["action"] == "hold"));
    assert_eq!(desired(&asg_east, "web").await, 2);

    println!(
        "| fault on api's calls | api evaluations | failures recorded | attempts per failed call | api changes applied | web's longest gap |"
    );
    println!("|---|---|---|---|---|---|");
    let mut faults_survived = 0;
    for (i, (phase, (start, end))) in phases.iter().zip(&spans).enumerate() {
        // An evaluation that starts just before the fault is lifted makes its
        // calls after it: only those started well inside the phase were
        // under the fault from start to finish.
        let settled_end = *end - chrono::Duration::seconds(2);
        // Likewise at its start: api's 1 s stabilization window still holds
        // the proposal of the evaluation before the fault (a hold, when the
        // phase before kept its data from it), so an evaluation less than a
        // window into the phase may hold without making the faulted call.
        let settled_start = *start + chrono::Duration::milliseconds(1100);
        let in_phase: Vec<&Value> = api
            .iter()
            .filter(|r| time_of(r) >= settled_start && time_of(r) < settled_end)
            .collect();
        assert!(
            !in_phase.is_empty(),
            "api was evaluated under {}",
            phase.fault.name()
        );
        let failed: Vec<&&Value> = in_phase.iter().filter(|r| evaluation_failed(r)).collect();
        // Attempts per failed evaluation count every evaluation of the phase,
        // as the injections do.
        let failed_whole_phase = api
            .iter()
            .filter(|r| time_of(r) >= *start && time_of(r) < *end)
            .filter(|r| evaluation_failed(r))
            .count();
        let applied = in_phase
            .iter()
            .filter(|r| r["outcome"]["status"] == "applied")
            .count();
        let injected = injected_at[i + 1] - injected_at[i];
        let web_gap = web
            .windows(2)
            .skip(1)
            .filter(|p| time_of(&p[1]) >= *start && time_of(&p[0]) < *end)
            .map(|p| (time_of(&p[1]) - time_of(&p[0])).to_std().unwrap())
            .max()
            .unwrap_or_default();
        let last = i + 1 == phases.len();
        if !last {
            // Every evaluation under a fault records it and changes nothing;
            // none scales in without its data.
            assert_eq!(
                failed.len(),
                in_phase.len(),
                "{}: {in_phase:#?}",
                phase.fault.name()
            );
            assert_eq!(applied, 0);
            for r in &in_phase {
                if metric_not_ok(r) {
                    assert_eq!(r["action"], "hold", "scaled on missing data: {r:#}");
                }
            }
        }
        let attempts = match phase.only {
            // One failing call per evaluation, each retried.
            _ if last => 0.0,
            _ => injected as f64 / failed_whole_phase.max(1) as f64,
        };
        if !last {
            // Throttling, 5xx, drops and timeouts are retried.
            assert!(
                attempts >= 2.0,
                "{}: {attempts} attempts",
                phase.fault.name()
            );
            // At most three calls a tick (describe, metrics, set), each
            // within its attempts; a little more at the phase's edges.
            assert!(
                attempts <= (3 * MAX_ATTEMPTS) as f64 + 1.0,
                "{}: {attempts} attempts",
                phase.fault.name()
            );
        }
        faults_survived += 1;
        println!(
            "| {}{} | {} | {} | {:.1} | {} | {:?} |",
            phase.fault.name(),
            phase
                .only
                .map(|o| format!(" ({o} only)"))
                .unwrap_or_default(),
            in_phase.len(),
            failed.len(),
            attempts,
            applied,
            web_gap
        );
    }
    // The specific failures reached the records.
    let text = |r: &Value| r.to_string();
    assert!(api.iter().any(|r| text(r).contains("Throttling")));
    assert!(
        api.iter()
            .any(|r| text(r).contains("SetDesiredCapacity failed"))
    );
    // Without its metric the policy said so, and the target held.
    assert!(api.iter().any(|r| {
        r["action"] == "hold"
            && r["policies"].as_array().is_some_and(|p| {
                p.iter()
                    .any(|p| p["recommendation"]["type"] == "missing-data")
            })
    }));

    // The alert rules fired for api, and only api.
    let events: Vec<Value> = hook.requests().iter().map(|r| r.json()).collect();
    let firing = |name: &str| {
        events.iter().any(|e| {
            e["labels"]["alertname"] == name
                && e["labels"]["target"] == "api"
                && e["status"] == "firing"
        })
    };
    assert!(firing("api-call-failed"), "{events:#?}");
    assert!(firing("metric-stale"), "{events:#?}");
    assert!(events.iter().all(|e| e["labels"]["target"] == "api"));
    println!(
        "faults survived: {faults_survived} of {}; web's longest gap {worst:?}",
        phases.len()
    );
}
