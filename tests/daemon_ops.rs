//! The daemon's operations bundle: alerts, telemetry listener and health
//! together, as `ebb run` uses them.

mod fixtures;
mod http_receiver;

use ebb::alert::AlertsConfig;
use ebb::daemon::config::AwsSettings;
use ebb::daemon::ops::Operations;
use ebb::telemetry::TelemetryConfig;
use http_receiver::Receiver;
use std::time::Duration;

#[tokio::test]
async fn one_record_reaches_the_webhook_the_metrics_and_the_health() {
    let hook = Receiver::ok().await;
    let alerts: AlertsConfig = toml::from_str(&format!(
        "[[rules]]\nkind = \"api-call-failed\"\n[[sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"{}\"",
        hook.url("/")
    ))
    .unwrap();
    let telemetry = TelemetryConfig {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..TelemetryConfig::default()
    };
    let mut ops = Operations::start(&alerts, &telemetry, &AwsSettings::default())
        .await
        .unwrap();
    let addr = ops.listening().expect("listening");
    ops.set_targets(&[("web".into(), Duration::from_secs(60))]);

    let now = chrono::Utc::now();
    let mut failed = fixtures::decision("web", now, 4, 6);
    failed.outcome = ebb::decision::Outcome::Failed {
        error: "SetDesiredCapacity failed: AccessDenied".into(),
        kind: None,
    };
    ops.observe(&failed, Duration::from_millis(12));
    assert!(
        ops.status_line(Some(&failed))
            .starts_with("1 targets, 0 healthy; last: web scale-out 4->6 at ")
    );

    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 503);
    let ok = fixtures::decision("web", now, 6, 6);
    ops.observe(&ok, Duration::from_millis(12));
    let health = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    // Shutdown waits for queued alerts (fired, then resolved), then stops the listener.
    let metrics_url = format!("http://{addr}/metrics");
    let telemetry = ops.telemetry.clone();
    ops.shutdown().await;
    let statuses: Vec<String> = hook
        .requests()
        .iter()
        .map(|r| r.json()["status"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(statuses, vec!["firing", "resolved"]);
    let text = telemetry.metrics.encode();
    assert!(
        text.contains("ebb_alerts_sent_total{sink=\"hook\"} 2"),
        "{text}"
    );
    assert!(
        text.contains("ebb_evaluations_total{target=\"web\"} 2"),
        "{text}"
    );
    assert!(
        reqwest::get(metrics_url).await.is_err(),
        "the listener is closed after shutdown"
    );
}

#[tokio::test]
async fn telemetry_can_be_off_and_bad_alert_config_stops_startup() {
    let off = TelemetryConfig {
        enabled: false,
        ..TelemetryConfig::default()
    };
    let ops = Operations::start(&AlertsConfig::default(), &off, &AwsSettings::default())
        .await
        .unwrap();
    assert_eq!(ops.listening(), None);
    ops.shutdown().await;

    let bad: AlertsConfig = toml::from_str("[[rules]]\nkind = \"flapping\"\nchanges = 3").unwrap();
    let err = Operations::start(&bad, &off, &AwsSettings::default())
        .await
        .err()
        .unwrap()
        .to_string();
    assert_eq!(
        err,
        "alerts.rules[0] (flapping): `window` is required for this kind"
    );
}
