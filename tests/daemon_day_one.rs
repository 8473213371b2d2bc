//! What an operator meets on day one, through the `ebb run` binary against
//! moto_server: one daemon per state directory, honest staleness while AWS
//! is down, logs without colour codes off a terminal.

mod http_receiver;
mod support;

use http_receiver::Receiver;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use support::daemon::*;
use support::faults::Fault;
use support::proxy::{Proxy, Recorded};

/// Waits until the daemon's stderr contains `text`.
fn wait_stderr(ebb: &Ebb, text: &str) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let log = ebb.stderr();
        if log.contains(text) {
            return log;
        }
        assert!(Instant::now() < deadline, "no `{text}` in {log}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The telemetry address the daemon logged it serves on (either log format).
fn telemetry_url(ebb: &Ebb) -> String {
    let log = wait_stderr(ebb, "serving /metrics and /healthz");
    let line = log
        .lines()
        .find(|l| l.contains("serving /metrics and /healthz"))
        .unwrap();
    let at = line.find("Some(").expect("listen address logged") + "Some(".len();
    let end = at + line[at..].find(')').unwrap();
    format!("http://{}", &line[at..end])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_daemon_on_the_same_state_dir_is_refused_naming_the_first() {
    let Some(Cloud { moto, .. }) = cloud(&["web"], 50.0, 120).await else {
        return;
    };
    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    let first = setup.start(&[]);
    setup.wait_record("a first evaluation", |_| true);

    let second = setup.start(&[]);
    let mut child = second;
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = child.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the second daemon kept running");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(2), "the second daemon exits 2");
    let message = child.stderr();
    let pid = first.child.id();
    assert!(
        message.contains(&format!("another ebb daemon (pid {pid} on ")),
        "{message}"
    );
    assert!(message.contains("ebb.lock"), "{message}");

    // Every record says which instance wrote it: this host, the first pid.
    let records = setup.records();
    assert!(
        records.iter().all(|r| r["instance"]
            .as_str()
            .unwrap_or("")
            .ends_with(&format!(":{pid}"))),
        "{records:#?}"
    );
    // The lock goes with the process, even killed: a new daemon starts.
    first.kill();
    let count = setup.records().len();
    let third = setup.start(&[]);
    setup.wait_record("an evaluation by the next daemon", |_| {
        setup.records().len() > count
    });
    assert!(third.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_aws_is_down_metrics_age_turn_stale_and_alert() {
    let Some(Cloud { moto, cw, .. }) = cloud(&["web"], 50.0, -5).await else {
        return;
    };
    let down = Arc::new(AtomicBool::new(false));
    let proxy = {
        let down = Arc::clone(&down);
        Proxy::start_with_faults(
            moto.port,
            Arc::new(move |_: &Recorded| {
                if down.load(Ordering::SeqCst) {
                    Fault::ServerError(503)
                } else {
                    Fault::Pass
                }
            }),
        )
    };
    let hook = Receiver::ok().await;
    let setup = Setup::with_extra(
        &proxy.url(),
        &webhook_alerts(
            &["kind = \"metric-stale\"\nevaluations = 2"],
            &hook.url("/hook"),
        ),
    );
    setup.write_policy(
        "web.toml",
        &policy("web", 50.0, "1h").replace("stale_after = \"10m\"", "stale_after = \"25s\""),
    );
    // Fresh up to now, so a slow start still sees them fresh.
    put_cpu(&cw, "web", -10, 0, 50.0).await;
    let ebb = setup.start_with_env(&[], &[("EBB_LOG_FORMAT", "json")]);
    let metrics_url = format!("{}/metrics", telemetry_url(&ebb));
    setup.wait_record("an evaluation with fresh data", |r| {
        r["metrics"][0]["status"] == "ok" && r["outcome"]["error"].is_null()
    });

    down.store(true, Ordering::SeqCst);
    let stale = setup.wait_record("a stale metric while AWS is down", |r| {
        r["outcome"]["error"].is_string() && r["metrics"][0]["status"] == "stale"
    });
    let failed: Vec<Value> = setup
        .records()
        .into_iter()
        .filter(|r| r["outcome"]["error"].is_string())
        .collect();
    // The age kept growing through the failed evaluations.
    let ages: Vec<i64> = failed
        .iter()
        .map(|r| {
            r["metrics"][0]["age_s"]
                .as_i64()
                .expect("an age in every record")
        })
        .collect();
    assert!(ages.windows(2).all(|w| w[1] >= w[0]), "{ages:?}");
    assert!(ages.last() > ages.first(), "{ages:?}");
    // The records say the capacity is the last known one, and when.
    assert!(
        stale["notices"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().starts_with("capacity last known at ")),
        "{stale:#}"
    );
    assert_eq!(stale["capacity"]["desired"], 2);
    // The gauges say so too, and the alert fires after its evaluations.
    let deadline = Instant::now() + WAIT;
    loop {
        let fired = hook.requests().iter().any(|r| {
            let a = r.json();
            a["labels"]["alertname"] == "metric-stale" && a["status"] == "firing"
        });
        if fired {
            break;
        }
        assert!(Instant::now() < deadline, "metric-stale never fired");
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = reqwest::get(&metrics_url)
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        text.contains("ebb_metric_stale{target=\"web\",metric=\"cpu\"} 1"),
        "{text}"
    );
    assert!(ebb.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_off_a_terminal_carry_no_colour_codes() {
    let Some(Cloud { moto, .. }) = cloud(&["web"], 50.0, 120).await else {
        return;
    };
    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    // stderr is a file here, as under systemd (journald).
    let ebb = setup.start(&[]);
    setup.wait_record("an evaluation", |_| true);
    let url = telemetry_url(&ebb);
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let log = ebb.stderr();
    assert!(ebb.stop().success());
    assert!(log.contains("ebb daemon started"), "{log}");
    assert!(!log.contains('\u{1b}'), "escape codes in {log:?}");
}

async fn get_json(url: &str) -> Value {
    let text = reqwest::get(url).await.unwrap().text().await.unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn has_notice(r: &Value, text: &str) -> bool {
    r["notices"]
        .as_array()
        .is_some_and(|n| n.iter().any(|n| n.as_str().unwrap_or("").contains(text)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_reload_shows_in_every_record_in_healthz_and_in_the_alert() {
    let Some(Cloud { moto, .. }) = cloud(&["web"], 50.0, 120).await else {
        return;
    };
    let hook = Receiver::ok().await;
    let setup = Setup::with_extra(
        &moto.url(),
        &webhook_alerts(&["kind = \"policy-reload-failed\""], &hook.url("/hook")),
    );
    let path = setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    let ebb = setup.start(&[]);
    let health_url = format!("{}/healthz", telemetry_url(&ebb));
    setup.wait_record("an evaluation", |_| true);

    std::fs::write(
        &path,
        policy("web", 25.0, "1h").replace("target = 25.0", "target = \"25\""),
    )
    .unwrap();
    ebb.signal("HUP");
    const FAILED: &str = "policy reload failed, the old policy stays in force";
    let first = setup.wait_record("a record with the reload notice", |r| has_notice(r, FAILED));
    assert!(has_notice(&first, "web.toml"), "{first:#}");
    let seen = setup.records().len();
    setup.wait_record("three more evaluations", |_| {
        setup.records().len() >= seen + 3
    });
    // Every record since says so, until fixed.
    let records = setup.records();
    let at = records.iter().position(|r| has_notice(r, FAILED)).unwrap();
    assert!(records[at..].iter().all(|r| has_notice(r, FAILED)));

    let body = get_json(&health_url).await;
    assert_eq!(
        body["status"], "ok",
        "200 with a warning by default: {body}"
    );
    assert!(
        body["targets"]["web"]["warning"]
            .as_str()
            .is_some_and(|w| w.contains("web.toml")),
        "{body}"
    );
    assert!(body["warnings"][0].as_str().unwrap().contains("web.toml"));
    // The alert names the group as its target, the file in its own label.
    let deadline = Instant::now() + WAIT;
    let fired = loop {
        let found = hook.requests().iter().map(|r| r.json()).find(|a| {
            a["labels"]["alertname"] == "policy-reload-failed" && a["status"] == "firing"
        });
        if let Some(found) = found {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "policy-reload-failed never fired"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(fired["labels"]["target"], "web", "{fired:#}");
    assert!(
        fired["labels"]["policy_file"]
            .as_str()
            .is_some_and(|f| f.ends_with("policies/web.toml")),
        "{fired:#}"
    );

    // Fixed: the notice and the warning go.
    std::fs::write(&path, policy("web", 50.0, "1h")).unwrap();
    ebb.signal("HUP");
    let count = setup.records().len();
    setup.wait_record("a record after the fix without the notice", |_| {
        let records = setup.records();
        records.len() > count + 1 && !has_notice(records.last().unwrap(), FAILED)
    });
    let body = get_json(&health_url).await;
    assert!(body.get("warnings").is_none(), "{body}");
    assert!(ebb.stop().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_period_cloudwatch_revises_is_read_again_and_the_new_value_used() {
    let Some(Cloud { moto, asg, cw }) = cloud(&[], 0.0, 0).await else {
        return;
    };
    support::moto::create_group(&asg, "web", 1, 10, 2).await;
    // One datapoint well settled (period 5s, delay_periods 1).
    let at = chrono::Utc::now() - chrono::Duration::seconds(20);
    let put = |value: f64| {
        let cw = cw.clone();
        async move {
            support::moto::put_metric(
                &cw,
                "AWS/EC2",
                "CPUUtilization",
                ("AutoScalingGroupName", "web"),
                &[(at, value)],
            )
            .await
        }
    };
    put(90.0).await;
    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    let ebb = setup.start(&[]);
    setup.wait_record("a tick reading 90", |r| r["metrics"][0]["raw"] == 90.0);

    // A late PutMetricData into the same period: its average is now 50.
    put(10.0).await;
    let revised = setup.wait_record("a tick reading the revised 50", |r| {
        r["metrics"][0]["raw"] == 50.0
    });
    let notes = revised["metrics"][0]["notes"].to_string();
    assert!(notes.contains("revised 90 at"), "{revised:#}");
    assert!(ebb.stop().success());
}
