//! End to end: the `ebb run` binary as a process, pointed at a real
//! moto_server, fed metrics with PutMetricData; the tests read the group's
//! desired capacity back from moto and the decisions log from disk.

mod support;

use chrono::{Duration, Utc};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;
use support::daemon::*;
use support::moto::desired;
use support::proxy::{Proxy, Recorded};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_scales_out_notices_an_outside_change_and_scales_in() {
    let Some(Cloud { moto, asg, cw }) = cloud(&["web"], 90.0, -5).await else {
        return;
    };

    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    let ebb = setup.start(&[]);

    // 2 instances at 90% CPU for a 50% target: 4.
    wait_desired(&asg, "web", 4).await;
    let out = setup.wait_record("scale-out", |r| action(r) == "scale-out");
    assert_eq!(out["desired"], 4);
    assert_eq!(out["outcome"]["status"], "applied");
    assert_ne!(out["outcome"]["status"], "dry-run");

    // Someone else sets 6: noticed, and taken as the current capacity.
    asg.set_desired_capacity()
        .auto_scaling_group_name("web")
        .desired_capacity(6)
        .send()
        .await
        .unwrap();
    let noticed = setup.wait_record("noticing the outside change", |r| {
        r["events"].as_array().is_some_and(|events| {
            events.contains(&serde_json::json!({"event": "external-change", "from": 4, "to": 6}))
        })
    });
    assert_eq!(noticed["capacity"]["desired"], 6);

    // Load falls to 20%: 6 x 20 / 50 = 2.4 -> 3. From 6 s on, so that every
    // 5 s period holding these datapoints started after the change to 6 was
    // seen: a period is read as carried by the instances serving in it.
    put_cpu(&cw, "web", 6, 36, 20.0).await;
    wait_desired(&asg, "web", 3).await;
    let scale_in = setup.wait_record("scale-in", |r| action(r) == "scale-in");
    assert_eq!(scale_in["desired"], 3);
    assert_eq!(scale_in["outcome"]["status"], "applied");

    assert!(ebb.stop().success(), "SIGTERM exits 0");
    // Every line is one whole record, for this target.
    let all = setup.records();
    assert!(all.len() >= 3);
    assert!(all.iter().all(|r| r["target"] == "web"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_records_decisions_and_changes_nothing() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 90.0, -5).await else {
        return;
    };
    let proxy = Proxy::start(moto.port);

    let setup = Setup::new(&proxy.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "0s"));
    let ebb = setup.start(&["--dry-run"]);
    let first = setup.wait_record("a dry-run scale-out", |r| action(r) == "scale-out");
    assert_ne!(first["outcome"]["status"], "applied");
    assert_eq!(first["outcome"]["status"], "dry-run");
    // Let a few more evaluations pass: each is recorded, none acts.
    let seen = setup.records().len();
    setup.wait_record("later evaluations", |_| setup.records().len() >= seen + 3);
    assert!(ebb.stop().success());
    assert_eq!(desired(&asg, "web").await, 2);
    assert!(proxy.calls("SetDesiredCapacity").is_empty());
    assert!(!proxy.calls("GetMetricData").is_empty());
    assert!(
        setup
            .records()
            .iter()
            .all(|r| r["outcome"]["status"] != "applied")
    );
}

fn time_of(r: &Value) -> chrono::DateTime<Utc> {
    r["time"].as_str().unwrap().parse().unwrap()
}

fn has_step(r: &Value, rule: &str) -> bool {
    r["steps"]
        .as_array()
        .is_some_and(|s| s.iter().any(|s| s["rule"] == rule))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_keeps_the_cooldown() {
    let Some(Cloud { moto, asg, cw }) = cloud(&["web"], 90.0, -5).await else {
        return;
    };
    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));

    let ebb = setup.start(&[]);
    wait_desired(&asg, "web", 4).await;
    setup.wait_record("scale-out", |r| action(r) == "scale-out");
    assert!(ebb.stop().success());
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(setup.dir.path().join("state/state.json")).unwrap(),
    )
    .unwrap();
    assert!(
        state["targets"]["web"]["last_scale_out"].is_string(),
        "{state}"
    );

    // Hotter still: without the saved cooldown this would scale 4 -> 8.
    put_cpu(&cw, "web", 0, 30, 95.0).await;
    let before = setup.records().len();
    let ebb = setup.start(&[]);
    let held = setup.wait_record("a hold on the new data", |r| {
        r["metrics"][0]["raw"] == 95.0 && action(r) == "hold"
    });
    assert!(setup.records().len() > before);
    assert!(
        has_step(&held, "cooldown"),
        "held by the cooldown: {held:#}"
    );
    assert!(ebb.stop().success());
    assert_eq!(desired(&asg, "web").await, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_with_a_broken_policy_keeps_the_old_one() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 50.0, 120).await else {
        return;
    };
    let setup = Setup::new(&moto.url());
    let path = setup.write_policy("web.toml", &policy("web", 50.0, "0s"));
    let ebb = setup.start(&[]);
    setup.wait_record("a hold at 50%", |r| {
        action(r) == "hold" && r["metrics"][0]["raw"] == 50.0
    });

    // A target of 25% would double the group, but the file is broken.
    std::fs::write(
        &path,
        policy("web", 25.0, "0s").replace("target = 25.0", "target = \"25\""),
    )
    .unwrap();
    ebb.signal("HUP");
    let deadline = Instant::now() + WAIT;
    while !ebb.stderr().contains("keeping its target's old policy") {
        assert!(
            Instant::now() < deadline,
            "no reload error in {}",
            ebb.stderr()
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let log = ebb.stderr();
    assert!(log.contains("web.toml"), "the error names the file: {log}");
    let count = setup.records().len();
    setup.wait_record("evaluations under the old policy", |_| {
        setup.records().len() >= count + 3
    });
    assert_eq!(desired(&asg, "web").await, 2);
    assert!(setup.records().iter().all(|r| action(r) == "hold"));

    // Fixed: the new policy takes over.
    std::fs::write(&path, policy("web", 25.0, "0s")).unwrap();
    ebb.signal("HUP");
    wait_desired(&asg, "web", 4).await;
    assert!(ebb.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_holds_and_records_the_error() {
    let port = support::moto::free_port();
    let setup = Setup::new(&format!("http://127.0.0.1:{port}"));
    setup.write_policy("web.toml", &policy("web", 50.0, "0s"));
    let ebb = setup.start_with_env(&[], &[("EBB_LOG_FORMAT", "json")]);
    setup.wait_record("three failed evaluations", |_| setup.records().len() >= 3);
    for r in setup.records() {
        assert_eq!(action(&r), "hold");
        assert_ne!(r["outcome"]["status"], "applied");
        let error = r["outcome"]["error"].as_str().unwrap_or("");
        assert!(error.contains("DescribeAutoScalingGroups failed"), "{r:#}");
    }
    // Logs are JSON, one object per line, as asked through the environment.
    let log = ebb.stderr();
    assert!(log.lines().count() > 0);
    for line in log.lines() {
        let event: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{line}: {e}"));
        assert!(event["level"].is_string(), "{line}");
    }
    assert!(ebb.stop().success(), "still running, and stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_target_does_not_delay_the_others() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["slow", "fast"], 90.0, -5).await else {
        return;
    };
    // SetDesiredCapacity for `slow` takes 6 seconds.
    let hold = std::time::Duration::from_secs(6);
    let proxy = Proxy::start_with_delay(
        moto.port,
        Arc::new(move |r: &Recorded| {
            let slow = r.action == "SetDesiredCapacity"
                && r.fields
                    .contains(&("AutoScalingGroupName".into(), "slow".into()));
            slow.then_some(hold)
        }),
    );
    let setup = Setup::new(&proxy.url());
    setup.write_policy("slow.toml", &policy("slow", 50.0, "1h"));
    setup.write_policy("fast.toml", &policy("fast", 50.0, "1h"));
    let ebb = setup.start(&[]);
    wait_desired(&asg, "slow", 4).await;
    setup.wait_record("slow's second evaluation", |_| {
        setup
            .records()
            .iter()
            .filter(|r| r["target"] == "slow")
            .count()
            >= 2
    });
    assert!(ebb.stop().success());

    let records = setup.records();
    let of = |t: &str| -> Vec<_> {
        records
            .iter()
            .filter(|r| r["target"] == t)
            .map(time_of)
            .collect()
    };
    let (slow, fast) = (of("slow"), of("fast"));
    // One evaluation of `slow` at a time: the next began after the slow call.
    assert!(slow[1] - slow[0] >= Duration::seconds(5), "slow: {slow:?}");
    // `fast` went on every second meanwhile.
    let meanwhile = fast
        .iter()
        .filter(|t| **t > slow[0] && **t < slow[1])
        .count();
    assert!(
        meanwhile >= 3,
        "fast evaluated {meanwhile} times while slow was busy: {fast:?}"
    );
}
