//! One target's evaluation that panics is contained: through the `ebb run`
//! binary against moto_server, with the test-only hook `EBB_TEST_PANIC_IN`
//! (compiled into debug builds only) making one evaluation panic every time.
//! The healthy target keeps its interval, the panicking one is recorded and
//! retried each interval, alerted, a SIGHUP reaches it, and SIGTERM exits.

mod http_receiver;
mod support;

use chrono::{DateTime, Utc};
use http_receiver::Receiver;
use serde_json::Value;
use std::time::{Duration, Instant};
use support::daemon::*;

fn time_of(r: &Value) -> DateTime<Utc> {
    r["time"].as_str().unwrap().parse().unwrap()
}

fn of<'a>(records: &'a [Value], target: &str, role: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["target"] == target && r["role"] == role)
        .collect()
}

/// Waits until SIGTERM ends the daemon; returns how long it took.
fn stop_timed(mut ebb: Ebb) -> (std::process::ExitStatus, Duration) {
    ebb.signal("TERM");
    let sent = Instant::now();
    loop {
        if let Some(status) = ebb.child.try_wait().unwrap() {
            return (status, sent.elapsed());
        }
        assert!(
            sent.elapsed() < WAIT,
            "ebb did not stop on SIGTERM: {}",
            ebb.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_target_is_recorded_retried_and_does_not_stop_the_others() {
    if !cfg!(debug_assertions) {
        return; // the hook exists in debug builds only
    }
    let Some(Cloud { moto, asg, .. }) = cloud(&["web", "bad"], 90.0, 120).await else {
        return;
    };
    let hook = Receiver::ok().await;
    let setup = Setup::with_extra(
        &moto.url(),
        &webhook_alerts(&["kind = \"evaluation-panicked\""], &hook.url("/hook")),
    );
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    let bad = setup.write_policy("bad.toml", &policy("bad", 50.0, "1h"));
    let ebb = setup.start_with_env(&[], &[("EBB_TEST_PANIC_IN", "bad")]);

    // The healthy target scales out as ever.
    wait_desired(&asg, "web", 4).await;
    setup.wait_record("three panicked evaluations of bad", |_| {
        of(&setup.records(), "bad", "live").len() >= 3
    });
    // A reload reaches the target whose evaluator was lost.
    std::fs::write(
        &bad,
        policy("bad", 50.0, "1h").replace("max_capacity = 10", "max_capacity = 7"),
    )
    .unwrap();
    ebb.signal("HUP");
    setup.wait_record("a panicked record under the reloaded policy", |r| {
        r["target"] == "bad" && r["max_capacity"] == 7
    });
    let (status, took) = stop_timed(ebb);
    assert!(status.success(), "SIGTERM exits 0");
    assert!(took < Duration::from_secs(3), "SIGTERM took {took:?}");
    println!("SIGTERM to exit with a target panicking every second: {took:?}");

    let records = setup.records();
    let bad = of(&records, "bad", "live");
    for r in &bad {
        assert_eq!(action(r), "hold", "{r:#}");
        assert_ne!(r["outcome"]["status"], "applied");
        let panicked = r["panicked"].as_str().unwrap_or("");
        assert!(panicked.contains("EBB_TEST_PANIC_IN"), "{r:#}");
        let error = r["outcome"]["error"].as_str().unwrap_or("");
        assert!(error.starts_with("evaluation panicked"), "{r:#}");
    }
    // Retried each interval (1s), not dropped after the first panic.
    let times: Vec<_> = bad.iter().map(|r| time_of(r)).collect();
    for pair in times.windows(2) {
        assert!(
            pair[1] - pair[0] <= chrono::Duration::milliseconds(2500),
            "bad retried late: {times:?}"
        );
    }
    // The healthy target kept its 1s interval throughout.
    let web: Vec<_> = of(&records, "web", "live")
        .iter()
        .map(|r| time_of(r))
        .collect();
    assert!(web.len() >= bad.len().saturating_sub(1), "{web:?}");
    let gap = |times: &[DateTime<Utc>]| {
        times
            .windows(2)
            .map(|w| (w[1] - w[0]).num_milliseconds())
            .max()
            .unwrap_or(0)
    };
    println!(
        "{} panicked evaluations of bad, longest gap {} ms; {} of web, longest gap {} ms",
        bad.len(),
        gap(&times),
        web.len(),
        gap(&web)
    );
    for pair in web.windows(2) {
        assert!(
            pair[1] - pair[0] <= chrono::Duration::milliseconds(2500),
            "web evaluated late: {web:?}"
        );
    }
    assert_eq!(support::moto::desired(&asg, "bad").await, 2, "bad kept");
    // Alerted once (fired, not repeated within the hour), as its own kind.
    let fired: Vec<Value> = hook.requests().iter().map(|r| r.json()).collect();
    assert!(
        fired
            .iter()
            .any(|a| a["labels"]["alertname"] == "evaluation-panicked"
                && a["labels"]["target"] == "bad"
                && a["status"] == "firing"),
        "{fired:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_shadow_is_recorded_and_the_live_policy_acts() {
    if !cfg!(debug_assertions) {
        return;
    }
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 90.0, 120).await else {
        return;
    };
    let setup = Setup::new(&moto.url());
    std::fs::create_dir(setup.dir.path().join("candidates")).unwrap();
    std::fs::write(
        setup.dir.path().join("candidates/hot.toml"),
        policy("web", 80.0, "1h"),
    )
    .unwrap();
    setup.write_policy(
        "web.toml",
        &policy("web", 50.0, "1h").replace(
            "interval = \"1s\"",
            "interval = \"1s\"\nshadows = [\"../candidates/hot.toml\"]",
        ),
    );
    let ebb = setup.start_with_env(&[], &[("EBB_TEST_PANIC_IN", "web~shadow:hot.toml")]);
    wait_desired(&asg, "web", 4).await;
    setup.wait_record("three panicked shadow evaluations", |_| {
        of(&setup.records(), "web", "shadow").len() >= 3
    });
    let (status, took) = stop_timed(ebb);
    assert!(status.success());
    assert!(took < Duration::from_secs(3), "SIGTERM took {took:?}");
    let records = setup.records();
    for r in of(&records, "web", "shadow") {
        assert_eq!(r["candidate"], "hot.toml");
        assert!(r["panicked"].is_string(), "{r:#}");
        // Never acted on; the outcome says why there is no decision.
        assert_eq!(r["outcome"]["status"], "failed", "{r:#}");
        assert!(
            r["outcome"]["error"]
                .as_str()
                .unwrap()
                .starts_with("evaluation panicked: "),
            "{r:#}"
        );
    }
    // The live policy went on: every live evaluation has a record.
    let live = of(&records, "web", "live");
    assert!(live.len() >= 3);
    assert!(live.iter().all(|r| r["panicked"].is_null()));
}
