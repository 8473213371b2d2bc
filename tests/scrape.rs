//! The scrape source against real HTTP servers on 127.0.0.1 serving real
//! exposition text: gauges, counters with a reset, histograms, a target
//! that hangs past the timeout and one that serves garbage.

mod http_fixture;

use chrono::{DateTime, Utc};
use ebb::policy_file::{MetricSourceSpec, parse_str};
use ebb::series::{FetchResults, MetricKey, MetricRequest, Series};
use ebb::source::MetricSource;
use ebb::source::router::{Router, Unavailable};
use ebb::source::scrape::ScrapeSource;
use http_fixture::{Reply, TestServer};
use std::path::Path;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
}

/// A policy file with one metric `m` whose scrape table is `source`, parsed
/// and validated as `ebb check` would; returns the request for `m`.
fn request(source: &str) -> MetricRequest {
    let text = format!(
        "[target]\ngroup = \"web\"\nmin_capacity = 1\nmax_capacity = 10\n\n\
         [metrics.m.source.scrape]\n{source}\n\n\
         [[policies]]\nkind = \"target-tracking\"\nname = \"p\"\nmetric = \"m\"\ntarget = 10.0\n"
    );
    let file = parse_str(&text, Path::new("test.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
    let spec = std::sync::Arc::clone(&file.metrics["m"]);
    assert!(matches!(spec.source, MetricSourceSpec::Scrape(_)));
    MetricRequest {
        key: MetricKey::new("web", "m"),
        spec,
        since: t(-3600),
    }
}

fn urls(server: &TestServer, paths: &[&str]) -> String {
    let list: Vec<String> = paths
        .iter()
        .map(|p| format!("\"{}\"", server.url(p)))
        .collect();
    format!("urls = [{}]", list.join(", "))
}

async fn fetch_one(
    source: &mut impl MetricSource,
    now: DateTime<Utc>,
    request: &MetricRequest,
) -> Series {
    let mut results: FetchResults = source.fetch(now, std::slice::from_ref(request)).await;
    results
        .remove(&request.key)
        .expect("an answer for every request")
        .expect("scrape answers with a series")
}

fn value(series: &Series) -> Option<f64> {
    assert!(series.points.len() <= 1);
    series.points.first().map(|p| p.value)
}

#[tokio::test]
async fn gauges_aggregate_across_targets() {
    let server = TestServer::start();
    server.set(
        "/a",
        Reply::text("# TYPE inflight gauge\ninflight{route=\"/x\"} 3\ninflight{route=\"/y\"} 4\n"),
    );
    server.set("/b", Reply::text("inflight{route=\"/x\"} 5\n"));
    server.set(
        "/c",
        Reply::Ok {
            content_type: "application/openmetrics-text; version=1.0.0; charset=utf-8".into(),
            body: "# TYPE inflight gauge\ninflight{route=\"/x\"} 9 1700000000.5 # {trace_id=\"x\"} 1\n# EOF\n".into(),
        },
    );
    let mut source = ScrapeSource::new();
    for (aggregate, want) in [
        ("sum", 21.0),
        ("avg", 7.0),
        ("max", 9.0),
        ("min", 5.0),
        ("count", 3.0),
    ] {
        let r = request(&format!(
            "selector = 'inflight'\nvalue = \"gauge\"\naggregate = \"{aggregate}\"\n{}",
            urls(&server, &["/a", "/b", "/c"])
        ));
        let series = fetch_one(&mut source, t(0), &r).await;
        assert_eq!(value(&series), Some(want), "{aggregate}: {series:?}");
        assert_eq!(series.stale, None);
        assert_eq!(series.points[0].time, t(0));
    }
    let only_y = request(&format!(
        "selector = 'inflight{{route=\"/y\"}}'\nvalue = \"gauge\"\naggregate = \"sum\"\n{}",
        urls(&server, &["/a", "/b"])
    ));
    let series = fetch_one(&mut source, t(0), &only_y).await;
    assert_eq!(value(&series), Some(4.0));
    let detail = series.detail.unwrap();
    assert_eq!(detail["answered"], 2);
    assert_eq!(detail["values"][server.url("/a")], 4.0);
    assert_eq!(detail["no_value"][server.url("/b")], "no matching series");
    // ebb asked for OpenMetrics first.
    let accept = &server.requests_to("/a")[0]["accept"];
    assert!(
        accept.starts_with("application/openmetrics-text"),
        "{accept}"
    );
}

#[tokio::test]
async fn counters_become_rates_across_a_reset_and_a_new_instance() {
    let server = TestServer::start();
    let page = |n: u64| {
        format!(
            "# TYPE http_requests_total counter\nhttp_requests_total{{code=\"200\"}} {n}\nhttp_requests_total{{code=\"500\"}} 7\n"
        )
    };
    server.set("/a", Reply::text(page(1000)));
    let r = request(&format!(
        "selector = 'http_requests_total{{code!~\"5..\"}}'\nvalue = \"rate\"\naggregate = \"sum\"\n{}",
        urls(&server, &["/a", "/b"])
    ));
    // Each round on a fresh clone, as the daemon does per batch: clones share memory.
    let source = ScrapeSource::new();
    // Round 1: /b is not up yet (404); /a has no rate yet.
    let first = fetch_one(&mut source.clone(), t(0), &r).await;
    assert_eq!(value(&first), None);
    assert!(
        first.stale.as_deref().unwrap().contains("a rate needs two"),
        "{first:?}"
    );
    // Round 2: /a served 600 requests in 60 s; /b came up (a new instance: no rate yet).
    server.set("/a", Reply::text(page(1600)));
    server.set("/b", Reply::text(page(50)));
    let second = fetch_one(&mut source.clone(), t(60), &r).await;
    assert_eq!(value(&second), Some(10.0), "{second:?}");
    // Round 3: /a restarted (counter back to 120 = 120 new requests), /b +300.
    server.set("/a", Reply::text(page(120)));
    server.set("/b", Reply::text(page(350)));
    let third = fetch_one(&mut source.clone(), t(120), &r).await;
    assert_eq!(value(&third), Some(2.0 + 5.0), "{third:?}");
    let detail = third.detail.unwrap();
    assert_eq!(detail["values"][server.url("/a")], 2.0);
    assert_eq!(detail["values"][server.url("/b")], 5.0);
}

#[tokio::test]
async fn histogram_quantiles_come_from_bucket_increases() {
    let server = TestServer::start();
    let page = |fast: u64, slow: u64, total: u64| {
        format!(
            "# HELP request_seconds Latency.\n# TYPE request_seconds histogram\n\
             request_seconds_bucket{{le=\"0.1\"}} {fast}\nrequest_seconds_bucket{{le=\"0.5\"}} {slow}\n\
             request_seconds_bucket{{le=\"+Inf\"}} {total}\nrequest_seconds_sum 12.5\nrequest_seconds_count {total}\n"
        )
    };
    server.set("/a", Reply::text(page(100, 100, 100)));
    server.set("/b", Reply::text(page(0, 0, 0)));
    let r = request(&format!(
        "selector = 'request_seconds'\nvalue = \"quantile\"\nquantile = 0.95\n{}",
        urls(&server, &["/a", "/b"])
    ));
    let mut source = ScrapeSource::new();
    assert_eq!(value(&fetch_one(&mut source, t(0), &r).await), None);
    // Since then: /a 40 fast requests; /b 10 between 0.1 and 0.5 s.
    server.set("/a", Reply::text(page(140, 140, 140)));
    server.set("/b", Reply::text(page(0, 10, 10)));
    let series = fetch_one(&mut source, t(60), &r).await;
    // Fleet: le 0.1: 40, 0.5: 50, +Inf: 50. Rank 47.5 lies in (0.1, 0.5]:
    // 0.1 + 0.4 * (47.5 - 40) / 10 = 0.4
    let p95 = value(&series).unwrap();
    assert!((p95 - 0.4).abs() < 1e-9, "{p95}");
}

#[tokio::test]
async fn a_hanging_and_a_garbage_target_count_as_missing() {
    let server = TestServer::start();
    server.set("/a", Reply::text("up 1\nload 4\n"));
    server.set("/b", Reply::text("load 6\n"));
    server.set("/slow", Reply::Hang(std::time::Duration::from_secs(10)));
    server.set(
        "/garbage",
        Reply::Ok {
            content_type: "text/html".into(),
            body: "<html><body>502 Bad Gateway</body></html>".into(),
        },
    );
    let targets = urls(&server, &["/a", "/b", "/slow", "/garbage"]);
    let r = request(&format!(
        "selector = 'load'\nvalue = \"gauge\"\naggregate = \"avg\"\ntimeout = \"300ms\"\n{targets}"
    ));
    let mut source = ScrapeSource::new();
    let started = std::time::Instant::now();
    let series = fetch_one(&mut source, t(0), &r).await;
    assert!(
        started.elapsed() < std::time::Duration::from_secs(3),
        "the timeout bounds the round"
    );
    // 2 of 4 answered: exactly the default 50%, so the value stands.
    assert_eq!(value(&series), Some(5.0));
    let detail = series.detail.unwrap();
    assert_eq!(detail["targets"], 4);
    assert_eq!(detail["answered"], 2);
    let failed = detail["failed"].as_array().unwrap();
    let error_of = |path: &str| {
        failed
            .iter()
            .find(|f| f["target"] == server.url(path))
            .map(|f| f["error"].as_str().unwrap().to_string())
            .unwrap()
    };
    assert!(
        error_of("/slow").contains("timed out after 300ms"),
        "{failed:?}"
    );
    assert!(error_of("/garbage").contains("line 1"), "{failed:?}");
    let kind_of = |path: &str| {
        failed
            .iter()
            .find(|f| f["target"] == server.url(path))
            .map(|f| f["kind"].clone())
            .unwrap()
    };
    assert_eq!(kind_of("/slow"), "timeout", "{failed:?}");
    assert_eq!(kind_of("/garbage"), "bad-response", "{failed:?}");

    // 3 of 10 meets min_answered 0.3, though 0.3 x 10 is 3.0000000000000004 in floating point.
    let ten: Vec<String> = (0..10).map(|i| format!("/t{i}")).collect();
    for path in &ten[..3] {
        server.set(path, Reply::text("load 1\n"));
    }
    let paths: Vec<&str> = ten.iter().map(String::as_str).collect();
    let three_of_ten = request(&format!(
        "selector = 'load'\nvalue = \"gauge\"\naggregate = \"sum\"\nmin_answered = 0.3\n{}",
        urls(&server, &paths)
    ));
    let series = fetch_one(&mut source, t(30), &three_of_ten).await;
    assert_eq!((series.stale.as_deref(), value(&series)), (None, Some(3.0)));
    // Needing 75%, the same round is stale: the governor must hold.
    let strict = request(&format!(
        "selector = 'load'\nvalue = \"gauge\"\naggregate = \"avg\"\ntimeout = \"300ms\"\nmin_answered = 0.75\n{targets}"
    ));
    let series = fetch_one(&mut source, t(60), &strict).await;
    assert!(series.points.is_empty());
    assert_eq!(
        series.stale.as_deref(),
        Some("2 of 4 scrape targets answered; 75% are needed")
    );
    assert_eq!(
        series.detail.unwrap()["failed"].as_array().unwrap().len(),
        2
    );
}

#[tokio::test]
async fn bearer_and_basic_auth_come_from_file_and_env() {
    let server = TestServer::start();
    server.set(
        "/bearer",
        Reply::RequireAuth {
            authorization: "Bearer t0ken".into(),
            body: "x 1\n".into(),
        },
    );
    server.set(
        "/basic",
        Reply::RequireAuth {
            authorization: "Basic ZWJiOmh1bnRlcjI=".into(), // ebb:hunter2
            body: "x 2\n".into(),
        },
    );
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token");
    std::fs::write(&token, "t0ken\n").unwrap();
    // SAFETY: only this test reads or writes this variable.
    unsafe { std::env::set_var("EBB_SCRAPE_TEST_PASSWORD", "hunter2") };
    let mut source = ScrapeSource::new();
    let bearer = request(&format!(
        "selector = 'x'\nvalue = \"gauge\"\naggregate = \"sum\"\nauth = {{ bearer_token_file = \"{}\" }}\n{}",
        token.display(),
        urls(&server, &["/bearer"])
    ));
    assert_eq!(
        value(&fetch_one(&mut source, t(0), &bearer).await),
        Some(1.0)
    );
    let basic = request(&format!(
        "selector = 'x'\nvalue = \"gauge\"\naggregate = \"sum\"\n\
         auth = {{ username = \"ebb\", password_env = \"EBB_SCRAPE_TEST_PASSWORD\" }}\n{}",
        urls(&server, &["/basic"])
    ));
    assert_eq!(
        value(&fetch_one(&mut source, t(0), &basic).await),
        Some(2.0)
    );
    // Without credentials the target refuses, and the failure says how (not what the secret is).
    let none = request(&format!(
        "selector = 'x'\nvalue = \"gauge\"\naggregate = \"sum\"\n{}",
        urls(&server, &["/bearer"])
    ));
    let refused = fetch_one(&mut source, t(0), &none).await;
    assert!(refused.stale.is_some());
    let detail = refused.detail.unwrap().to_string();
    assert!(detail.contains("HTTP 401"), "{detail}");
    // A missing secret file is a failure naming the file.
    let missing = request(&format!(
        "selector = 'x'\nvalue = \"gauge\"\naggregate = \"sum\"\nauth = {{ bearer_token_file = \"/nonexistent/token\" }}\n{}",
        urls(&server, &["/bearer"])
    ));
    let detail = fetch_one(&mut source, t(0), &missing)
        .await
        .detail
        .unwrap()
        .to_string();
    assert!(detail.contains("/nonexistent/token"), "{detail}");
    assert!(!detail.contains("t0ken") && !detail.contains("hunter2"));
}

#[tokio::test]
async fn a_dns_name_expands_to_every_address() {
    let server = TestServer::start();
    server.set("/metrics", Reply::text("inflight 8\n"));
    let r = request(&format!(
        "selector = 'inflight'\nvalue = \"gauge\"\naggregate = \"sum\"\nmin_answered = 0.1\n\
         dns = {{ name = \"localhost\", port = {} }}",
        server.port()
    ));
    let resolved: Vec<_> = tokio::net::lookup_host(("localhost", server.port()))
        .await
        .unwrap()
        .collect();
    let mut source = ScrapeSource::new();
    let series = fetch_one(&mut source, t(0), &r).await;
    let detail = series.detail.clone().unwrap();
    let mut distinct: Vec<_> = resolved.iter().map(|a| a.ip()).collect();
    distinct.sort();
    distinct.dedup();
    assert_eq!(detail["targets"], distinct.len(), "{detail}");
    // The server listens on 127.0.0.1 only; that address answered.
    let v4 = format!("http://127.0.0.1:{}/metrics", server.port());
    assert_eq!(detail["values"][&v4], 8.0, "{detail}");
    assert_eq!(value(&series), Some(8.0));
}

#[tokio::test]
async fn the_router_sends_each_kind_to_its_source() {
    let server = TestServer::start();
    server.set("/a", Reply::text("x 3\n"));
    let scrape = request(&format!(
        "selector = 'x'\nvalue = \"gauge\"\naggregate = \"sum\"\n{}",
        urls(&server, &["/a"])
    ));
    let file = parse_str(
        "[target]\ngroup = \"web\"\nmin_capacity = 1\nmax_capacity = 2\n\
         [metrics.cpu.source.cloudwatch]\nnamespace = \"AWS/EC2\"\nmetric_name = \"CPUUtilization\"\nstatistic = \"Average\"\n\
         [[policies]]\nkind = \"target-tracking\"\nname = \"p\"\nmetric = \"cpu\"\ntarget = 50.0\n",
        Path::new("cw.toml"),
    )
    .unwrap();
    let cloudwatch = MetricRequest {
        key: MetricKey::new("web", "cpu"),
        spec: std::sync::Arc::clone(&file.metrics["cpu"]),
        since: t(-600),
    };
    let mut router = Router::new(Unavailable("CloudWatch is not configured here".into()));
    let results = router
        .fetch(t(0), &[scrape.clone(), cloudwatch.clone()])
        .await;
    assert_eq!(results.len(), 2);
    assert_eq!(value(results[&scrape.key].as_ref().unwrap()), Some(3.0));
    assert_eq!(
        results[&cloudwatch.key].as_ref().unwrap_err().message,
        "CloudWatch is not configured here"
    );
}

#[test]
fn bad_scrape_sections_are_named_in_errors() {
    let check = |source: &str| {
        let text = format!(
            "[target]\ngroup = \"web\"\nmin_capacity = 1\nmax_capacity = 10\n\n\
             [metrics.m.source.scrape]\n{source}\n\n\
             [[policies]]\nkind = \"target-tracking\"\nname = \"p\"\nmetric = \"m\"\ntarget = 10.0\n"
        );
        parse_str(&text, Path::new("bad.toml"))
            .unwrap_err()
            .to_string()
    };
    let e = check("selector = 'x'\nvalue = \"rate\"\nurls = [\"http://a/metrics\"]");
    assert!(
        e.contains("bad.toml") && e.contains("metrics.m.source.scrape.aggregate"),
        "{e}"
    );
    let e = check(
        "selector = 'x'\nvalue = \"quantile\"\nquantile = 95.0\nurls = [\"http://a/metrics\"]",
    );
    assert!(
        e.contains("metrics.m.source.scrape.quantile: 95 is not within 0-1"),
        "{e}"
    );
    let e = check("selector = 'x'\nvalue = \"gauge\"\naggregate = \"sum\"");
    assert!(e.contains("exactly one of `urls`, `dns` or `asg`"), "{e}");
    let e = check(
        "selector = 'x'\nvalue = \"gauge\"\naggregate = \"sum\"\nurls = [\"ftp://a/metrics\"]",
    );
    assert!(
        e.contains("metrics.m.source.scrape.urls[0]") && e.contains("ftp"),
        "{e}"
    );
    let e = check(
        "selector = 'x{a=~\"(\"}'\nvalue = \"gauge\"\naggregate = \"sum\"\nurls = [\"http://a/\"]",
    );
    assert!(e.contains("bad.toml:7") && e.contains("bad regex"), "{e}");
    let e = check(
        "selector = 'x'\nvalue = \"gauge\"\naggregate = \"sum\"\nurls = [\"http://a/\"]\n\
         auth = { bearer_token_env = \"T\", username = \"u\" }",
    );
    assert!(
        e.contains("metrics.m.source.scrape.auth") && e.contains("not both"),
        "{e}"
    );
    let e =
        check("selector = 'x'\nvalue = \"gauge\"\naggregate = \"median\"\nurls = [\"http://a/\"]");
    assert!(e.contains("median"), "{e}");
}

#[tokio::test]
async fn rounds_share_one_scrape_per_target() {
    let server = TestServer::start();
    server.set("/a", Reply::text("x 1\ny 2\n"));
    let targets = urls(&server, &["/a"]);
    let mut x = request(&format!(
        "selector = 'x'\nvalue = \"gauge\"\naggregate = \"sum\"\n{targets}"
    ));
    let mut y = request(&format!(
        "selector = 'y'\nvalue = \"gauge\"\naggregate = \"sum\"\n{targets}"
    ));
    x.key = MetricKey::new("web", "x");
    y.key = MetricKey::new("web", "y");
    let mut source = ScrapeSource::new();
    let results = source.fetch(t(0), &[x.clone(), y.clone()]).await;
    assert_eq!(value(results[&x.key].as_ref().unwrap()), Some(1.0));
    assert_eq!(value(results[&y.key].as_ref().unwrap()), Some(2.0));
    assert_eq!(
        server.requests_to("/a").len(),
        1,
        "one scrape serves both metrics"
    );
}

/// `ebb simulate` serves scrape metrics through the same source trait: the
/// example in-flight policy and a request-rate policy both run a simulated day.
#[test]
fn scrape_policies_run_in_the_simulator() {
    use ebb::sim::run::{SimOptions, simulate};
    use ebb::sim::synth::{SynthSpec, synthesize};
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-inflight.toml");
    let inflight = ebb::policy_file::load_file(&example).unwrap();
    let rate_text = std::fs::read_to_string(&example)
        .unwrap()
        .replace("value = \"gauge\"", "value = \"rate\"")
        .replace("aggregate = \"avg\"", "aggregate = \"sum\"")
        .replace(
            "selector = 'http_requests_in_flight{job=\"web\"}'",
            "selector = 'http_requests_total'",
        )
        .replace(
            "metric_type = \"utilization\"",
            "metric_type = \"load-total\"",
        )
        .replace("target = 60.0", "target = 4.0");
    let rate = parse_str(&rate_text, Path::new("rate.toml")).unwrap();
    let trace = std::sync::Arc::new(synthesize(&SynthSpec {
        days: 1,
        ..SynthSpec::default()
    }));
    let options = SimOptions {
        baselines: false,
        keep_decisions: true,
        ..SimOptions::default()
    };
    for file in [inflight, rate] {
        let report = simulate(&file, trace.clone(), &options).unwrap();
        let ok = report
            .decisions
            .iter()
            .filter(|d| d.metrics[0].status == ebb::decision::MetricStatus::Ok)
            .count();
        assert!(
            ok > report.decisions.len() / 2,
            "{ok} of {} ok",
            report.decisions.len()
        );
        assert!(
            report
                .decisions
                .iter()
                .any(|d| d.action == ebb::decision::Action::ScaleOut)
        );
        // Following the load: in-flight near its target, or 4 requests/s per instance.
        let run = &report.runs[0];
        assert!(run.score.under_timeshare < 5.0, "{:?}", run.score);
    }
}

#[tokio::test]
async fn https_targets_are_verified_with_rustls() {
    // A self-signed certificate for 127.0.0.1, trusted only through `ca_file`.
    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let server = TestServer::start_tls(cert.cert.der().to_vec(), cert.signing_key.serialize_der());
    server.set("/metrics", Reply::text("inflight 11\n"));
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.cert.pem()).unwrap();
    let targets = urls(&server, &["/metrics"]);
    assert!(targets.contains("https://127.0.0.1:"), "{targets}");
    let mut source = ScrapeSource::new();
    let trusted = request(&format!(
        "selector = 'inflight'\nvalue = \"gauge\"\naggregate = \"sum\"\nca_file = \"{}\"\n{targets}",
        ca.display()
    ));
    let series = fetch_one(&mut source, t(0), &trusted).await;
    assert_eq!(value(&series), Some(11.0), "{series:?}");
    // Without the CA the certificate is refused, and the failure says so.
    let untrusted = request(&format!(
        "selector = 'inflight'\nvalue = \"gauge\"\naggregate = \"sum\"\n{targets}"
    ));
    let refused = fetch_one(&mut source, t(0), &untrusted).await;
    assert!(refused.points.is_empty());
    let detail = refused.detail.unwrap().to_string();
    assert!(detail.to_lowercase().contains("certificate"), "{detail}");
    // A CA file that holds no certificate is an error naming it.
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "not a pem\n").unwrap();
    let bad_ca = request(&format!(
        "selector = 'inflight'\nvalue = \"gauge\"\naggregate = \"sum\"\nca_file = \"{}\"\n{targets}",
        empty.display()
    ));
    let results = source.fetch(t(0), std::slice::from_ref(&bad_ca)).await;
    let err = results[&bad_ca.key].as_ref().unwrap_err().message.clone();
    assert!(err.contains("empty.pem"), "{err}");
}

/// Prometheus refuses a page holding a series twice; summing both (50 + 70)
/// would have doubled the load. The target's scrape fails with the reason.
#[tokio::test]
async fn a_page_with_a_series_twice_fails_that_targets_scrape() {
    let server = TestServer::start();
    server.set("/a", Reply::text("load{route=\"/\"} 5\n"));
    server.set(
        "/dup",
        Reply::text("load{route=\"/\"} 50\nload{route=\"/\"} 70\n"),
    );
    server.set(
        "/reordered",
        Reply::text("load{a=\"1\",b=\"2\"} 50\nload{b=\"2\",a=\"1\"} 70\n"),
    );
    let targets = urls(&server, &["/a", "/dup", "/reordered"]);
    let r = request(&format!(
        "selector = 'load'\nvalue = \"gauge\"\naggregate = \"sum\"\nmin_answered = 0.3\n{targets}"
    ));
    let mut source = ScrapeSource::new();
    let series = fetch_one(&mut source, t(0), &r).await;
    assert_eq!(value(&series), Some(5.0));
    let detail = series.detail.unwrap();
    let failed = detail["failed"].as_array().unwrap();
    for path in ["/dup", "/reordered"] {
        let error = failed
            .iter()
            .find(|f| f["target"] == server.url(path))
            .map(|f| f["error"].as_str().unwrap().to_string())
            .unwrap_or_else(|| panic!("{path} did not fail: {detail}"));
        assert!(
            error.contains("line 2") && error.contains("already appeared on line 1"),
            "{error}"
        );
    }
}

/// Each failed target says in the record what kind of failure it was, from
/// its HTTP status: 404 not found, 403 access denied, 429 throttled.
#[tokio::test]
async fn failed_targets_carry_the_kind_of_their_http_status() {
    let server = TestServer::start();
    server.set("/a", Reply::text("load 4\n"));
    server.set("/denied", Reply::Status(403, "forbidden".into()));
    server.set("/busy", Reply::Status(429, "slow down".into()));
    let targets = urls(&server, &["/a", "/missing", "/denied", "/busy"]);
    let r = request(&format!(
        "selector = 'load'\nvalue = \"gauge\"\naggregate = \"sum\"\nmin_answered = 0.25\n{targets}"
    ));
    let series = fetch_one(&mut ScrapeSource::new(), t(0), &r).await;
    assert_eq!(value(&series), Some(4.0));
    let detail = series.detail.unwrap();
    let failed = detail["failed"].as_array().unwrap();
    let kind_of = |path: &str| {
        failed
            .iter()
            .find(|f| f["target"] == server.url(path))
            .map(|f| f["kind"].clone())
            .unwrap_or_else(|| panic!("{path} did not fail: {detail}"))
    };
    assert_eq!(kind_of("/missing"), "not-found");
    assert_eq!(kind_of("/denied"), "access-denied");
    assert_eq!(kind_of("/busy"), "throttled");
}
