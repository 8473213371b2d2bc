//! Alert delivery against real HTTP receivers on 127.0.0.1, and against a
//! real Alertmanager (Debian's `prometheus-alertmanager`) when installed.

mod fixtures;
mod http_receiver;

use chrono::{Duration as ChronoDuration, Utc};
use ebb::alert::{AlertMetrics, Alerter, AlertsConfig};
use ebb::daemon::config::AwsSettings;
use fixtures::{alert_counter as counter, scale_out_web as record, t};
use http_receiver::Receiver;
use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// An `[alerts]` section with one api-call-failed rule and the given sinks.
fn config(sinks: &str, extra: &str) -> AlertsConfig {
    let text = format!(
        r#"
repeat_interval = "1h"
{extra}
[delivery]
initial_backoff = "10ms"
max_backoff = "40ms"
max_attempts = 4
timeout = "5s"
[[rules]]
name = "api-failed"
kind = "api-call-failed"
severity = "critical"
labels = {{ team = "web" }}
{sinks}
"#
    );
    toml::from_str(&text).expect("test config parses")
}

#[tokio::test]
async fn webhook_gets_fire_repeat_resolve_with_token_from_a_file() {
    let receiver = Receiver::ok().await;
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let sinks = format!(
        "[[sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"{}\"\ntoken_file = \"{}\"",
        receiver.url("/hook"),
        token.display()
    );
    let metrics = AlertMetrics::default();
    let mut alerter = Alerter::start(
        &config(&sinks, ""),
        metrics.clone(),
        &AwsSettings::default(),
    )
    .unwrap();

    alerter.observe(&record(t(0), Some("SetDesiredCapacity failed: Throttling")));
    alerter.observe(&record(
        t(10),
        Some("SetDesiredCapacity failed: Throttling"),
    ));
    alerter.observe(&record(
        t(60),
        Some("SetDesiredCapacity failed: Throttling"),
    ));
    alerter.observe(&record(t(61), None));
    alerter.observe(&record(t(62), None));
    assert!(
        alerter.flush(Duration::from_secs(10)).await,
        "queue drained"
    );

    let got = receiver.requests();
    let bodies: Vec<_> = got.iter().map(|r| r.json()).collect();
    let seen: Vec<(String, bool)> = bodies
        .iter()
        .map(|b| {
            (
                b["status"].as_str().unwrap().to_string(),
                b["repeat"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        vec![
            ("firing".into(), false),
            ("firing".into(), true),
            ("resolved".into(), false)
        ],
        "fire once, repeat after the interval, resolve once"
    );
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].path, "/hook");
    assert_eq!(got[0].headers["authorization"], "Bearer s3cret-token");
    assert_eq!(got[0].headers["content-type"], "application/json");
    assert_eq!(bodies[0]["labels"]["alertname"], "api-failed");
    assert_eq!(bodies[0]["labels"]["team"], "web");
    assert_eq!(bodies[0]["labels"]["severity"], "critical");
    assert!(
        bodies[0]["alert"]["description"]
            .as_str()
            .unwrap()
            .contains("Throttling")
    );
    assert_eq!(bodies[2]["alert"]["ends_at"], "2026-11-25T10:01:00Z");
    assert_eq!(counter(&metrics, "sent", "hook"), 3);
    assert_eq!(counter(&metrics, "failed", "hook"), 0);
}

#[tokio::test]
async fn delivery_retries_with_backoff_until_the_receiver_recovers() {
    let receiver = Receiver::failing_first(2, 503).await;
    let sinks = format!(
        "[[sinks]]\nkind = \"webhook\"\nurl = \"{}\"",
        receiver.url("/")
    );
    let metrics = AlertMetrics::default();
    let mut alerter = Alerter::start(
        &config(&sinks, ""),
        metrics.clone(),
        &AwsSettings::default(),
    )
    .unwrap();
    alerter.observe(&record(t(0), Some("boom")));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let got = receiver.requests();
    assert_eq!(got.len(), 3, "two 503s, then delivered");
    assert!(
        got.iter().all(|r| r.body == got[0].body),
        "the same event each attempt"
    );
    assert_eq!(counter(&metrics, "sent", "webhook"), 1);
    assert_eq!(counter(&metrics, "retries", "webhook"), 2);
    assert_eq!(counter(&metrics, "failed", "webhook"), 0);
}

#[tokio::test]
async fn a_4xx_is_final_and_exhausted_retries_count_as_failed() {
    let rejecting = Receiver::start(|_| 400, false).await;
    let down = Receiver::start(|_| 500, false).await;
    let sinks = format!(
        "[[sinks]]\nkind = \"webhook\"\nname = \"rejecting\"\nurl = \"{}\"\n[[sinks]]\nkind = \"webhook\"\nname = \"down\"\nurl = \"{}\"",
        rejecting.url("/"),
        down.url("/")
    );
    let metrics = AlertMetrics::default();
    let mut alerter = Alerter::start(
        &config(&sinks, ""),
        metrics.clone(),
        &AwsSettings::default(),
    )
    .unwrap();
    alerter.observe(&record(t(0), Some("boom")));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    assert_eq!(rejecting.count(), 1, "400 is not retried");
    assert_eq!(down.count(), 4, "max_attempts = 4");
    assert_eq!(counter(&metrics, "failed", "rejecting"), 1);
    assert_eq!(counter(&metrics, "failed", "down"), 1);
    assert_eq!(counter(&metrics, "sent", "down"), 0);
}

/// The control loop hands records to the alerter and must never wait on a
/// receiver: with the receiver holding every request, 50 evaluations still
/// go through, the queue keeps only the newest and counts what it dropped.
#[tokio::test]
async fn a_slow_webhook_does_not_delay_evaluations() {
    let receiver = Receiver::held().await;
    let sinks = format!(
        "[[sinks]]\nkind = \"webhook\"\nname = \"slow\"\nurl = \"{}\"",
        receiver.url("/")
    );
    let metrics = AlertMetrics::default();
    let mut alerter = Alerter::start(
        &config(&sinks, "queue_capacity = 5"),
        metrics.clone(),
        &AwsSettings::default(),
    )
    .unwrap();

    // Alternate failing and healthy records: every evaluation produces an event.
    alerter.observe(&record(t(0), Some("boom")));
    let first = receiver.wait_for(1, Duration::from_secs(10)).await;
    assert_eq!(
        first.len(),
        1,
        "the first event reached the receiver, which now holds it"
    );
    for i in 1..50 {
        let error = (i % 2 == 0).then_some("boom");
        alerter.observe(&record(t(i), error));
    }
    // All 49 evaluations returned while the receiver still held the first request.
    assert_eq!(
        receiver.count(),
        1,
        "nothing else was sent while the receiver was stuck"
    );
    assert_eq!(
        counter(&metrics, "dropped", "slow"),
        49 - 5,
        "queue keeps the newest 5"
    );
    receiver.release(100);
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let got = receiver.requests();
    assert_eq!(got.len(), 6);
    // The newest events survived: the last one is the final (resolved, i = 49) event.
    let last = got.last().unwrap().json();
    assert_eq!(last["status"], "resolved");
    assert_eq!(last["alert"]["at"], "2026-11-25T09:49:00Z");
    assert_eq!(counter(&metrics, "sent", "slow"), 6);
}

/// Collects log output, to check that secrets never reach it.
#[derive(Clone, Default)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn slack_gets_text_and_its_secret_url_never_reaches_the_logs() {
    let slack = Receiver::start(|i| if i == 0 { 200 } else { 404 }, false).await;
    let secret_path = "/services/T000/B000/XXXXSECRETXXXX";
    // The URL comes from a file, as an operator keeps it (not in the config).
    let dir = tempfile::tempdir().unwrap();
    let url_file = dir.path().join("slack-url");
    std::fs::write(&url_file, slack.url(secret_path)).unwrap();
    let sinks = format!(
        "[[sinks]]\nkind = \"slack\"\nname = \"ops-slack\"\nurl_file = \"{}\"",
        url_file.display()
    );
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer({
            let logs = logs.clone();
            move || logs.clone()
        })
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let metrics = AlertMetrics::default();
    let mut alerter = Alerter::start(
        &config(&sinks, ""),
        metrics.clone(),
        &AwsSettings::default(),
    )
    .unwrap();
    alerter.observe(&record(t(0), Some("boom")));
    alerter.observe(&record(t(1), None));
    assert!(alerter.flush(Duration::from_secs(10)).await);

    let got = slack.requests();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].path, secret_path);
    let text = got[0].json()["text"].as_str().unwrap().to_string();
    assert!(
        text.contains("*FIRING* (critical) `api-failed` web: Auto Scaling API call failed"),
        "{text}"
    );
    assert!(
        got[1].json()["text"]
            .as_str()
            .unwrap()
            .starts_with(":white_check_mark: *RESOLVED*")
    );
    assert_eq!(
        counter(&metrics, "failed", "ops-slack"),
        1,
        "the 404 was final"
    );

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("alert delivery failed") && logs.contains("ops-slack"),
        "{logs}"
    );
    assert!(
        !logs.contains("SECRET"),
        "the webhook URL leaked into the logs:\n{logs}"
    );
}

#[tokio::test]
async fn bad_sink_config_names_the_sink_and_hides_the_value() {
    let sinks = "[[sinks]]\nkind = \"alertmanager\"\nurl = \"ftp://SECRET@host\"";
    let e = Alerter::start(
        &config(sinks, ""),
        AlertMetrics::default(),
        &AwsSettings::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert_eq!(
        e,
        "alerts.sinks[0] (alertmanager): url: not a valid http:// or https:// URL"
    );
    let both = "[[sinks]]\nkind = \"webhook\"\nurl = \"http://a\"\nurl_env = \"X\"";
    let e = Alerter::start(
        &config(both, ""),
        AlertMetrics::default(),
        &AwsSettings::default(),
    )
    .err()
    .unwrap()
    .to_string();
    assert!(e.contains("only one of"), "{e}");
    let unknown: Result<AlertsConfig, _> =
        toml::from_str("[[sinks]]\nkind = \"pagerduty\"\nurl = \"http://a\"");
    assert!(
        unknown
            .unwrap_err()
            .to_string()
            .contains("unknown variant `pagerduty`")
    );
}

// ---- Alertmanager ----

fn alertmanager_binary() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("EBB_ALERTMANAGER_BIN") {
        return Some(p.into());
    }
    [
        "/usr/bin/prometheus-alertmanager",
        "/usr/local/bin/alertmanager",
    ]
    .iter()
    .map(std::path::PathBuf::from)
    .find(|p| p.exists())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A real Alertmanager on a free loopback port, killed when dropped.
struct Alertmanager {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Alertmanager {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start_alertmanager(binary: &std::path::Path, webhook: &str) -> Alertmanager {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("alertmanager.yml");
    std::fs::write(
        &config,
        format!(
            "route:\n  receiver: hook\n  group_by: ['alertname', 'target']\n  group_wait: 0s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: hook\n    webhook_configs:\n      - url: '{webhook}'\n        send_resolved: true\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--cluster.listen-address=")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start alertmanager");
    let am = Alertmanager {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    };
    let client = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(r) = client.get(format!("{}/-/ready", am.url)).send().await
            && r.status().is_success()
        {
            return am;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("alertmanager did not become ready on {}", am.url);
}

async fn am_alerts(url: &str) -> Vec<serde_json::Value> {
    let text = reqwest::get(format!("{url}/api/v2/alerts"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let body: serde_json::Value = serde_json::from_str(&text).unwrap();
    body.as_array().unwrap().clone()
}

/// Waits (bounded) for Alertmanager's own webhook notification with `status`.
async fn am_notification(hook: &Receiver, status: &str) -> serde_json::Value {
    for _ in 0..200 {
        if let Some(n) = hook
            .requests()
            .iter()
            .map(|r| r.json())
            .find(|b| b["status"] == status)
        {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "Alertmanager sent no `{status}` notification: {:?}",
        hook.requests().len()
    );
}

#[tokio::test]
async fn alertmanager_v2_fires_repeats_and_resolves() {
    let Some(binary) = alertmanager_binary() else {
        let msg = "prometheus-alertmanager not installed (apt-get install prometheus-alertmanager)";
        if std::env::var("EBB_REQUIRE_TEST_SERVERS").as_deref() == Ok("1") {
            panic!("{msg}, and EBB_REQUIRE_TEST_SERVERS=1");
        }
        eprintln!("SKIPPED alertmanager_v2_fires_repeats_and_resolves: {msg}");
        return;
    };
    let hook = Receiver::ok().await;
    let am = start_alertmanager(&binary, &hook.url("/am")).await;
    let sinks = format!("[[sinks]]\nkind = \"alertmanager\"\nurl = \"{}\"", am.url);
    let metrics = AlertMetrics::default();
    let mut alerter = Alerter::start(
        &config(&sinks, ""),
        metrics.clone(),
        &AwsSettings::default(),
    )
    .unwrap();
    // Alertmanager compares endsAt with its wall clock, so records are "now".
    let now = Utc::now();

    alerter.observe(&record(
        now - ChronoDuration::hours(2),
        Some("SetDesiredCapacity failed: AccessDenied"),
    ));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let alerts = am_alerts(&am.url).await;
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let alert = &alerts[0];
    assert_eq!(alert["labels"]["alertname"], "api-failed");
    assert_eq!(alert["labels"]["target"], "web");
    assert_eq!(alert["labels"]["severity"], "critical");
    assert_eq!(alert["labels"]["team"], "web");
    assert_eq!(alert["status"]["state"], "active");
    assert!(
        alert["annotations"]["description"]
            .as_str()
            .unwrap()
            .contains("AccessDenied")
    );
    let fingerprint = alert["fingerprint"].clone();
    let firing = am_notification(&hook, "firing").await;
    assert_eq!(firing["alerts"][0]["labels"]["alertname"], "api-failed");

    // Still failing an interval later: a repeat refreshes the same alert.
    alerter.observe(&record(
        now - ChronoDuration::hours(1),
        Some("SetDesiredCapacity failed: AccessDenied"),
    ));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let alerts = am_alerts(&am.url).await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["fingerprint"], fingerprint);
    assert_ne!(
        alerts[0]["updatedAt"], alert["updatedAt"],
        "the repeat reached Alertmanager"
    );

    // Cleared: endsAt in the past resolves it.
    alerter.observe(&record(now - ChronoDuration::seconds(1), None));
    assert!(alerter.flush(Duration::from_secs(10)).await);
    let active: Vec<_> = am_alerts(&am.url)
        .await
        .into_iter()
        .filter(|a| a["status"]["state"] == "active")
        .collect();
    assert!(active.is_empty(), "{active:?}");
    let resolved = am_notification(&hook, "resolved").await;
    assert_eq!(resolved["alerts"][0]["labels"]["alertname"], "api-failed");
    assert_eq!(counter(&metrics, "sent", "alertmanager"), 3);
}
