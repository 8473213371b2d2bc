//! End to end, the way systemd runs it: the `ebb run` binary against a real
//! moto_server, with a notify socket, alert receivers and the telemetry
//! listener on 127.0.0.1. Checks that alerts fire and resolve from the live
//! decision stream, that a receiver that never answers does not slow the
//! loop, that /metrics and /healthz follow, that a bad reload alerts, and
//! that systemd hears READY, STATUS, WATCHDOG, RELOADING and STOPPING.

mod http_receiver;
mod support;

use http_receiver::Receiver;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::moto::{MotoServer, create_group, free_port, sdk_config};

const WAIT: Duration = Duration::from_secs(40);

fn policy(group: &str) -> String {
    format!(
        r#"
[target]
group = "{group}"
min_capacity = 1
max_capacity = 10
interval = "1s"

[metrics.cpu]
stale_after = "10m"

[metrics.cpu.source.cloudwatch]
namespace = "AWS/EC2"
metric_name = "CPUUtilization"
dimensions = {{ AutoScalingGroupName = "{group}" }}
statistic = "Average"
period = "5s"

[[policies]]
kind = "target-tracking"
name = "cpu"
metric = "cpu"
target = 50.0
"#
    )
}

struct Daemon {
    child: Child,
    stderr: std::path::PathBuf,
}

impl Daemon {
    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn log_lines(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

/// Polls `check` until it returns Some, or fails after `WAIT` with `what`.
async fn wait_for<T>(what: &str, daemon: &Daemon, mut check: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}; ebb's log:\n{}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn statuses(hook: &Receiver) -> Vec<(String, String)> {
    hook.requests()
        .iter()
        .map(|r| {
            let b = r.json();
            (
                b["labels"]["alertname"].as_str().unwrap_or("").to_string(),
                b["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_alerts_serves_metrics_and_talks_to_systemd() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let hook = Receiver::ok().await;
    let stuck = Receiver::held().await;
    let dir = tempfile::tempdir().unwrap();
    let policies = dir.path().join("policies");
    std::fs::create_dir(&policies).unwrap();
    // The group does not exist yet: every evaluation fails to find it.
    std::fs::write(policies.join("web.toml"), policy("web")).unwrap();
    let port = free_port();
    let log = dir.path().join("decisions.jsonl");
    std::fs::write(
        dir.path().join("ebb.toml"),
        format!(
            r#"
policy_dir = "{policies}"
decisions_log = "{log}"
state_dir = "{state}"
jitter = "0s"

[aws]
region = "us-east-1"
endpoint_url = "{moto}"
max_attempts = 1
attempt_timeout = "15s"
operation_timeout = "30s"

[telemetry]
listen = "127.0.0.1:{port}"

[alerts]
repeat_interval = "1h"
queue_capacity = 10

[[alerts.rules]]
kind = "api-call-failed"
severity = "critical"

[[alerts.rules]]
kind = "policy-reload-failed"

[[alerts.sinks]]
kind = "webhook"
name = "hook"
url = "{hook}"

[[alerts.sinks]]
kind = "webhook"
name = "stuck"
url_env = "EBB_TEST_STUCK_URL"
"#,
            policies = policies.display(),
            log = log.display(),
            state = dir.path().join("state").display(),
            moto = moto.url(),
            hook = hook.url("/hook"),
        ),
    )
    .unwrap();
    let socket_path = dir.path().join("notify.sock");
    // Read notifications as systemd does, all along: a full socket queue
    // would block the sender.
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let notes = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let stop_reading = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let notes = notes.clone();
        let stop = stop_reading.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                if let Ok(n) = socket.recv(&mut buf) {
                    notes
                        .lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        })
    };
    let stderr = dir.path().join("stderr.log");
    let child = Command::new(env!("CARGO_BIN_EXE_ebb"))
        .arg("run")
        .arg("--config")
        .arg(dir.path().join("ebb.toml"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .env("EBB_TEST_STUCK_URL", stuck.url("/stuck"))
        .env("NOTIFY_SOCKET", &socket_path)
        .env("WATCHDOG_USEC", "1000000")
        .env_remove("WATCHDOG_PID")
        .env("EBB_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("start ebb run");
    let daemon = Daemon { child, stderr };
    let base = format!("http://127.0.0.1:{port}");

    // The failure fires once, on both sinks.
    wait_for("the api-call-failed alert", &daemon, async || {
        statuses(&hook)
            .contains(&("api-call-failed".into(), "firing".into()))
            .then_some(())
    })
    .await;
    wait_for(
        "the stuck receiver to hold its first request",
        &daemon,
        async || (stuck.count() == 1).then_some(()),
    )
    .await;

    // The stuck receiver never answers, yet evaluations go on every second.
    let before = log_lines(&log);
    wait_for(
        "5 more evaluations while a receiver is stuck",
        &daemon,
        async || (log_lines(&log) >= before + 5).then_some(()),
    )
    .await;
    assert_eq!(
        stuck.count(),
        1,
        "the stuck sink is still on its first request"
    );
    let firing = statuses(&hook).iter().filter(|s| s.1 == "firing").count();
    assert_eq!(firing, 1, "fired once, not once per evaluation");

    let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = serde_json::from_str(&health.text().await.unwrap()).unwrap();
    assert!(
        body["targets"]["web"]["problem"]
            .as_str()
            .unwrap()
            .contains("Auto Scaling group `web` not found"),
        "{body}"
    );

    // The group appears: the next evaluation succeeds and the alert resolves.
    let config = sdk_config(&moto.url()).await;
    let asg = aws_sdk_autoscaling::Client::new(&config);
    create_group(&asg, "web", 1, 10, 2).await;
    wait_for("the resolved notification", &daemon, async || {
        statuses(&hook)
            .contains(&("api-call-failed".into(), "resolved".into()))
            .then_some(())
    })
    .await;
    let health = wait_for("/healthz to say ok", &daemon, async || {
        let r = reqwest::get(format!("{base}/healthz")).await.ok()?;
        (r.status() == 200).then_some(r.text().await.ok()?)
    })
    .await;
    assert!(health.contains("\"status\":\"ok\""), "{health}");

    // Metrics, including the AWS calls counted inside the SDK.
    let text = reqwest::get(format!("{base}/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let value = |name: &str, label: (&str, &str)| -> f64 {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == name && s.labels.get(label.0) == Some(label.1))
            .map(|s| match s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            })
            .unwrap_or_else(|| panic!("no {name}{{{}={}}} in\n{text}", label.0, label.1))
    };
    assert!(value("ebb_evaluations_total", ("target", "web")) >= 6.0);
    assert_eq!(value("ebb_desired_capacity", ("target", "web")), 2.0);
    assert!(
        value(
            "ebb_aws_api_calls_total",
            ("operation", "DescribeAutoScalingGroups")
        ) >= 6.0
    );
    assert!(value("ebb_aws_api_calls_total", ("operation", "GetMetricData")) >= 6.0);
    assert_eq!(value("ebb_alerts_sent_total", ("sink", "hook")), 2.0);
    assert_eq!(value("ebb_alerts_sent_total", ("sink", "stuck")), 0.0);

    // A broken policy file on reload: the old policy stays, and it alerts.
    std::fs::write(policies.join("web.toml"), "[target]\ngroup = \"web\"\n").unwrap();
    daemon.signal("HUP");
    let reload = wait_for("the policy-reload-failed alert", &daemon, async || {
        hook.requests()
            .into_iter()
            .map(|r| r.json())
            .find(|b| b["labels"]["alertname"] == "policy-reload-failed")
    })
    .await;
    assert_eq!(reload["status"], "firing");
    // The target is the group whose old policy stays; the file is a label.
    assert_eq!(reload["alert"]["target"], "web", "{reload:#}");
    assert!(
        reload["labels"]["policy_file"]
            .as_str()
            .unwrap()
            .ends_with("web.toml")
    );
    std::fs::write(policies.join("web.toml"), policy("web")).unwrap();
    daemon.signal("HUP");
    wait_for("the reload alert to resolve", &daemon, async || {
        statuses(&hook)
            .contains(&("policy-reload-failed".into(), "resolved".into()))
            .then_some(())
    })
    .await;
    let before = log_lines(&log);
    wait_for("evaluations after the reloads", &daemon, async || {
        (log_lines(&log) >= before + 2).then_some(())
    })
    .await;

    // SIGTERM: STOPPING=1, exit 0 (with the stuck sink's events abandoned after a bounded wait).
    daemon.signal("TERM");
    let mut daemon = daemon;
    let deadline = Instant::now() + WAIT;
    let status = loop {
        if let Some(status) = daemon.child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "ebb did not stop on SIGTERM:\n{}",
            daemon.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "{}", daemon.stderr());

    stop_reading.store(true, std::sync::atomic::Ordering::Relaxed);
    reader.join().unwrap();
    let notes = notes.lock().unwrap().clone();
    assert!(
        notes[0].starts_with("READY=1\nSTATUS=1 targets, 0 healthy"),
        "{notes:?}"
    );
    assert!(notes.iter().any(|n| n == "WATCHDOG=1\n"), "{notes:?}");
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("STATUS=1 targets, 1 healthy; last: web hold 2->2")),
        "{notes:?}"
    );
    assert!(
        notes.iter().any(|n| n.starts_with("RELOADING=1")),
        "{notes:?}"
    );
    assert!(
        notes.iter().filter(|n| n.starts_with("READY=1")).count() >= 3,
        "ready again after each reload"
    );
    let stopping = notes
        .iter()
        .position(|n| n.starts_with("STOPPING=1"))
        .expect("STOPPING=1 sent");
    assert!(
        notes[stopping..]
            .iter()
            .skip(1)
            .all(|n| n == "WATCHDOG=1\n"),
        "only watchdog pings after STOPPING: {notes:?}"
    );
    assert!(
        !daemon.stderr().contains("EBB_TEST_STUCK") && !daemon.stderr().contains("/stuck"),
        "sink URLs stay out of the logs"
    );
}
