//! ebb's own `/metrics` and `/healthz`, scraped over loopback and parsed
//! with a Prometheus text parser.

mod fixtures;

use chrono::{DateTime, Duration as ChronoDuration, TimeZone, Utc};
use ebb::alert::queue::SinkLabels;
use ebb::clock::ManualClock;
use ebb::decision::{
    DecisionRecord, MetricRecord, MetricStatus, Outcome, PolicyKind, PolicyRecord, Recommendation,
    Role,
};
use ebb::telemetry::{Telemetry, TelemetryConfig, server};
use prometheus_parse::{Scrape, Value};
use std::sync::Arc;
use std::time::Duration;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 9, 0, 0).unwrap()
}

/// 5 -> 7 with one warming instance, a stale second metric and a policy
/// with no opinion; `error` makes it a failed API call.
fn record(target: &str, at: DateTime<Utc>, error: Option<&str>) -> DecisionRecord {
    let mut r = fixtures::decision(target, at, 5, 7);
    r.capacity.in_service = 4;
    r.capacity.warming = 1;
    r.max_capacity = 12;
    r.metrics.push(MetricRecord {
        name: "requests".into(),
        status: MetricStatus::Stale,
        raw: None,
        smoothed: None,
        age_s: Some(1200),
        notes: vec!["stale".into()],
        detail: None,
    });
    r.policies.push(PolicyRecord {
        name: "office-hours".into(),
        kind: PolicyKind::Schedule,
        recommendation: Recommendation::NoOpinion,
        reason: "outside windows".into(),
        detail: None,
        events: vec![],
    });
    if let Some(error) = error {
        r.outcome = Outcome::Failed {
            error: error.to_string(),
            kind: None,
        };
    }
    r
}

struct Served {
    url: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Served {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

async fn serve(telemetry: Arc<Telemetry>) -> Served {
    let listener = server::bind("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(server::serve(listener, telemetry, async {
        let _ = rx.await;
    }));
    Served {
        url,
        stop: Some(tx),
        task,
    }
}

fn sample(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == name && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.iter().map(|b| b.count).fold(0.0, f64::max),
            Value::Summary(_) => f64::NAN,
        })
}

#[tokio::test]
async fn metrics_endpoint_carries_every_series() {
    let clock = ManualClock::new(t0());
    let telemetry = Arc::new(Telemetry::new(
        &TelemetryConfig::default(),
        Arc::new(clock.clone()),
    ));
    telemetry
        .health
        .set_targets(&[("web".into(), Duration::from_secs(60))]);
    telemetry.observe(&record("web", t0(), None), Duration::from_millis(42));
    telemetry.observe(
        &record("web", t0() + ChronoDuration::minutes(1), Some("Throttling")),
        Duration::from_millis(7),
    );
    let mut shadow = record("web", t0(), None);
    shadow.role = Role::Shadow {
        candidate: "b.toml".into(),
    };
    shadow.desired = 11;
    telemetry.observe(&shadow, Duration::from_millis(3));
    telemetry
        .metrics
        .aws_call("SetDesiredCapacity", Duration::from_millis(120), true);
    telemetry
        .metrics
        .aws_call("SetDesiredCapacity", Duration::from_millis(80), false);
    telemetry
        .metrics
        .aws_call("GetMetricData", Duration::from_millis(300), true);
    let sink = SinkLabels {
        sink: "slack".into(),
    };
    telemetry.metrics.alerts.sent.get_or_create(&sink).inc();
    telemetry
        .metrics
        .alerts
        .dropped
        .get_or_create(&sink)
        .inc_by(3);

    let served = serve(telemetry.clone()).await;
    let response = reqwest::get(format!("{}/metrics", served.url))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/openmetrics-text")
    );
    let text = response.text().await.unwrap();
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    let web = [("target", "web")];

    assert_eq!(
        sample(&scrape, "ebb_evaluations_total", &web),
        Some(2.0),
        "{text}"
    );
    assert_eq!(
        sample(&scrape, "ebb_evaluation_duration_seconds_count", &web),
        Some(2.0)
    );
    assert!(
        sample(&scrape, "ebb_evaluation_duration_seconds_sum", &web).unwrap() > 0.045,
        "42 ms + 7 ms"
    );
    assert_eq!(
        sample(
            &scrape,
            "ebb_decisions_total",
            &[
                ("target", "web"),
                ("action", "scale-out"),
                ("outcome", "applied")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "ebb_decisions_total",
            &[
                ("target", "web"),
                ("action", "scale-out"),
                ("outcome", "failed")
            ]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&scrape, "ebb_desired_capacity", &web), Some(5.0));
    assert_eq!(sample(&scrape, "ebb_in_service_capacity", &web), Some(4.0));
    assert_eq!(sample(&scrape, "ebb_warming_capacity", &web), Some(1.0));
    assert_eq!(
        sample(&scrape, "ebb_decided_capacity", &web),
        Some(7.0),
        "the shadow's 11 is not the live decision"
    );
    assert_eq!(sample(&scrape, "ebb_max_capacity", &web), Some(12.0));
    assert_eq!(
        sample(
            &scrape,
            "ebb_policy_recommendation",
            &[
                ("target", "web"),
                ("policy", "cpu-50"),
                ("kind", "target-tracking")
            ]
        ),
        Some(7.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "ebb_policy_recommendation",
            &[("policy", "office-hours")]
        ),
        None,
        "no opinion, no series"
    );
    assert_eq!(
        sample(&scrape, "ebb_metric_age_seconds", &[("metric", "requests")]),
        Some(1200.0)
    );
    assert_eq!(
        sample(&scrape, "ebb_metric_stale", &[("metric", "requests")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "ebb_metric_stale", &[("metric", "cpu")]),
        Some(0.0)
    );
    let set = [("operation", "SetDesiredCapacity")];
    assert_eq!(sample(&scrape, "ebb_aws_api_calls_total", &set), Some(2.0));
    assert_eq!(sample(&scrape, "ebb_aws_api_errors_total", &set), Some(1.0));
    assert_eq!(
        sample(&scrape, "ebb_aws_api_call_duration_seconds_count", &set),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &scrape,
            "ebb_aws_api_calls_total",
            &[("operation", "GetMetricData")]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "ebb_alerts_sent_total", &[("sink", "slack")]),
        Some(1.0)
    );
    assert_eq!(
        sample(&scrape, "ebb_alerts_dropped_total", &[("sink", "slack")]),
        Some(3.0)
    );
    assert!(text.contains("# TYPE ebb_alerts_sent counter"));
    assert!(text.trim_end().ends_with("# EOF"));

    let missing = reqwest::get(format!("{}/nope", served.url)).await.unwrap();
    assert_eq!(missing.status(), 404);
    served.stop().await;
}

/// `ebb_last_evaluation_timestamp_seconds` and
/// `ebb_evaluation_interval_seconds` (the not-evaluating rule compares them):
/// the evaluation's own time, standby included, shadow not; a target removed
/// on reload loses its interval.
#[test]
fn last_evaluation_and_interval_per_target() {
    let telemetry = Telemetry::new(
        &TelemetryConfig::default(),
        Arc::new(ManualClock::new(t0())),
    );
    telemetry.set_targets(&[
        ("web".into(), Duration::from_secs(60)),
        ("api".into(), Duration::from_secs(30)),
    ]);
    let at = t0() + ChronoDuration::milliseconds(1500);
    let mut standby = record("web", at, None);
    standby.role = Role::Standby;
    telemetry.observe(&standby, Duration::from_millis(1));
    let mut shadow = record("api", t0(), None);
    shadow.role = Role::Shadow {
        candidate: "b.toml".into(),
    };
    telemetry.observe(&shadow, Duration::from_millis(1));
    let scrape = |telemetry: &Telemetry| {
        let text = telemetry.metrics.encode();
        Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap()
    };
    let s = scrape(&telemetry);
    let last = "ebb_last_evaluation_timestamp_seconds";
    assert_eq!(
        sample(&s, last, &[("target", "web")]),
        Some(at.timestamp_millis() as f64 / 1000.0)
    );
    assert_eq!(sample(&s, last, &[("target", "api")]), None, "a shadow's");
    let interval = "ebb_evaluation_interval_seconds";
    assert_eq!(sample(&s, interval, &[("target", "web")]), Some(60.0));
    assert_eq!(sample(&s, interval, &[("target", "api")]), Some(30.0));

    telemetry.set_targets(&[("web".into(), Duration::from_secs(120))]);
    let s = scrape(&telemetry);
    assert_eq!(sample(&s, interval, &[("target", "web")]), Some(120.0));
    assert_eq!(sample(&s, interval, &[("target", "api")]), None, "removed");
}

/// `ebb_leader` (dashboards and the lease-lost rule read it): 1 after a live
/// evaluation, 0 after a standby's; a shadow's record leaves it alone.
#[test]
fn leader_gauge_follows_the_role_of_the_last_evaluation() {
    let telemetry = Telemetry::new(
        &TelemetryConfig::default(),
        Arc::new(ManualClock::new(t0())),
    );
    let leader = |telemetry: &Telemetry| {
        let text = telemetry.metrics.encode();
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        sample(&scrape, "ebb_leader", &[])
    };
    assert_eq!(leader(&telemetry), Some(0.0), "no evaluation yet");
    telemetry.observe(&record("web", t0(), None), Duration::from_millis(1));
    assert_eq!(leader(&telemetry), Some(1.0));
    let mut standby = record("web", t0(), None);
    standby.role = Role::Standby;
    telemetry.observe(&standby, Duration::from_millis(1));
    assert_eq!(leader(&telemetry), Some(0.0), "the lease was lost");
    let mut shadow = record("web", t0(), None);
    shadow.role = Role::Shadow {
        candidate: "b.toml".into(),
    };
    telemetry.observe(&shadow, Duration::from_millis(1));
    assert_eq!(
        leader(&telemetry),
        Some(0.0),
        "a shadow says nothing of the lease"
    );
}

#[tokio::test]
async fn healthz_is_200_only_when_every_target_evaluated_well_and_recently() {
    let clock = ManualClock::new(t0());
    let telemetry = Arc::new(Telemetry::new(
        &TelemetryConfig::default(),
        Arc::new(clock.clone()),
    ));
    telemetry.health.set_targets(&[
        ("web".into(), Duration::from_secs(60)),
        ("api".into(), Duration::from_secs(30)),
    ]);
    let served = serve(telemetry.clone()).await;
    let get = || async {
        let r = reqwest::get(format!("{}/healthz", served.url))
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        (status, body)
    };

    let (status, body) = get().await;
    assert_eq!(status, 503);
    assert_eq!(body["targets"]["web"]["problem"], "not evaluated yet");

    telemetry.observe(&record("web", t0(), None), Duration::ZERO);
    telemetry.observe(&record("api", t0(), None), Duration::ZERO);
    clock.advance(ChronoDuration::seconds(30));
    let (status, body) = get().await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(body["targets"]["web"]["age_s"], 30);

    telemetry.observe(
        &record(
            "api",
            t0() + ChronoDuration::seconds(30),
            Some("describing groups failed: timeout"),
        ),
        Duration::ZERO,
    );
    let (status, body) = get().await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "unhealthy");
    assert_eq!(
        body["targets"]["api"]["problem"],
        "last evaluation failed: describing groups failed: timeout"
    );
    assert_eq!(body["targets"]["web"]["healthy"], true);

    // api recovers; then web goes quiet for more than 3 of its intervals.
    telemetry.observe(
        &record("api", t0() + ChronoDuration::seconds(200), None),
        Duration::ZERO,
    );
    clock.advance(ChronoDuration::seconds(181));
    let (status, body) = get().await;
    assert_eq!(status, 503);
    assert_eq!(
        body["targets"]["web"]["problem"],
        "last evaluation 211s ago, more than 3 intervals (180s)"
    );
    assert_eq!(body["targets"]["api"]["healthy"], true);
    served.stop().await;
}

#[tokio::test]
async fn a_taken_port_is_a_clear_startup_error() {
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = taken.local_addr().unwrap();
    let err = server::bind(addr).await.unwrap_err().to_string();
    assert!(
        err.starts_with(&format!("telemetry.listen {addr}: cannot listen:")),
        "{err}"
    );
}

/// A real Prometheus (Debian's package) scrapes the endpoint: the exposition
/// is accepted and the series are queryable.
#[tokio::test]
async fn a_real_prometheus_scrapes_the_endpoint() {
    let binary = std::path::Path::new("/usr/bin/prometheus");
    if !binary.exists() {
        let msg = "prometheus not installed (apt-get install prometheus)";
        if std::env::var("EBB_REQUIRE_TEST_SERVERS").as_deref() == Ok("1") {
            panic!("{msg}, and EBB_REQUIRE_TEST_SERVERS=1");
        }
        eprintln!("SKIPPED a_real_prometheus_scrapes_the_endpoint: {msg}");
        return;
    }
    let clock = ManualClock::new(t0());
    let telemetry = Arc::new(Telemetry::new(
        &TelemetryConfig::default(),
        Arc::new(clock.clone()),
    ));
    telemetry.observe(&record("web", t0(), None), Duration::from_millis(42));
    let served = serve(telemetry.clone()).await;

    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: ebb\n    static_configs:\n      - targets: ['{}']\n",
            served.url.trim_start_matches("http://")
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = std::process::Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start prometheus");
    let query = |q: &'static str| async move {
        let url = format!("http://127.0.0.1:{port}/api/v1/query?query={q}");
        let text = reqwest::get(url).await.ok()?.text().await.ok()?;
        let body: serde_json::Value = serde_json::from_str(&text).ok()?;
        let result = body["data"]["result"].as_array()?.first()?.clone();
        Some(result)
    };
    let mut found = None;
    for _ in 0..300 {
        if let Some(r) = query("ebb_decided_capacity").await {
            found = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let up = query("up").await;
    let _ = child.kill();
    let _ = child.wait();
    served.stop().await;
    let found = found.expect("Prometheus never stored ebb_decided_capacity");
    assert_eq!(found["metric"]["target"], "web");
    assert_eq!(found["value"][1], "7");
    assert_eq!(
        up.expect("up series")["value"][1],
        "1",
        "the scrape succeeded"
    );
}

#[tokio::test]
async fn healthz_warns_of_a_failed_reload_or_fails_if_configured_so() {
    use ebb::alert::ReloadFailure;
    use std::collections::BTreeMap;
    let failures = BTreeMap::from([(
        "/etc/ebb/policies/web.toml".to_string(),
        ReloadFailure {
            target: Some("web".into()),
            error: "line 7: target: expected a number".into(),
        },
    )]);
    for unhealthy_on_reload_failure in [false, true] {
        let clock = ManualClock::new(t0());
        let config = TelemetryConfig {
            unhealthy_on_reload_failure,
            ..TelemetryConfig::default()
        };
        let telemetry = Arc::new(Telemetry::new(&config, Arc::new(clock.clone())));
        telemetry
            .health
            .set_targets(&[("web".into(), Duration::from_secs(60))]);
        telemetry.observe(&record("web", t0(), None), Duration::ZERO);
        telemetry.health.set_reload_failures(&failures);
        let served = serve(telemetry.clone()).await;
        let r = reqwest::get(format!("{}/healthz", served.url))
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        let want = if unhealthy_on_reload_failure {
            503
        } else {
            200
        };
        assert_eq!(status, want, "{body}");
        assert_eq!(
            body["warnings"][0],
            "/etc/ebb/policies/web.toml: policy reload failed: line 7: target: expected a number"
        );
        let warning = body["targets"]["web"]["warning"].as_str().unwrap();
        assert!(warning.contains("old policy stays in force"), "{warning}");
        // Fixed: the warning goes.
        telemetry.health.set_reload_failures(&BTreeMap::new());
        let r = reqwest::get(format!("{}/healthz", served.url))
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let body: serde_json::Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
        assert!(body.get("warnings").is_none(), "{body}");
    }
}

/// A lower-cardinality page: per-target series off, or for an allow-list
/// only; the totals are there either way. Scraped over loopback.
#[tokio::test]
async fn per_target_series_can_be_off_or_allow_listed_and_totals_stay() {
    let targets: Vec<(String, Duration)> = (0..100)
        .map(|i| (format!("g{i:03}"), Duration::from_secs(60)))
        .collect();
    let page = |config: TelemetryConfig| {
        let targets = targets.clone();
        async move {
            let telemetry = Arc::new(Telemetry::new(&config, Arc::new(ManualClock::new(t0()))));
            telemetry.set_targets(&targets);
            for (target, _) in &targets {
                telemetry.observe(&record(target, t0(), None), Duration::from_millis(5));
            }
            let served = serve(telemetry).await;
            let text = reqwest::get(format!("{}/metrics", served.url))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            served.stop().await;
            text
        }
    };
    let all = page(TelemetryConfig::default()).await;
    let off = page(TelemetryConfig {
        per_target_series: false,
        ..TelemetryConfig::default()
    })
    .await;
    let some = page(TelemetryConfig {
        per_target_only: vec!["g007".into()],
        ..TelemetryConfig::default()
    })
    .await;
    for text in [&all, &off, &some] {
        let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
        assert_eq!(sample(&scrape, "ebb_targets", &[]), Some(100.0));
        assert_eq!(
            sample(&scrape, "ebb_evaluations_all_total", &[]),
            Some(100.0)
        );
        assert_eq!(
            sample(
                &scrape,
                "ebb_decisions_all_total",
                &[("action", "scale-out"), ("outcome", "applied")]
            ),
            Some(100.0)
        );
    }
    assert!(all.contains("target=\"g042\""));
    assert!(!off.contains("target="), "{off}");
    assert!(some.contains("target=\"g007\""));
    assert!(!some.contains("target=\"g042\""));
    assert!(
        off.len() * 10 < all.len(),
        "{} bytes without per-target series, {} with",
        off.len(),
        all.len()
    );
}
