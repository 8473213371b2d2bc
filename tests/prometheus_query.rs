//! The Prometheus query source against a real Prometheus (Debian's
//! `prometheus` package) started here on a free loopback port, scraping a
//! test HTTP server; and against test servers for what a real Prometheus
//! will not do on demand (hang, sit behind a failing proxy, demand auth).
//! Without `prometheus` on PATH the real-server test is skipped with a
//! message, unless EBB_REQUIRE_TEST_SERVERS=1 (CI), where it fails.

mod http_fixture;

use chrono::{DateTime, Utc};
use ebb::error_kind::ErrorKind;
use ebb::policy_file::parse_str;
use ebb::series::{FetchError, MetricKey, MetricRequest, Series};
use ebb::source::MetricSource;
use ebb::source::prometheus_query::PrometheusQuerySource;
use http_fixture::{Reply, TestServer};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn request(url: &str, query: &str, extra: &str) -> MetricRequest {
    let text = format!(
        "[target]\ngroup = \"web\"\nmin_capacity = 1\nmax_capacity = 10\n\n\
         [metrics.m.source.prometheus]\nurl = \"{url}\"\nquery = '{query}'\n{extra}\n\n\
         [[policies]]\nkind = \"target-tracking\"\nname = \"p\"\nmetric = \"m\"\ntarget = 10.0\n"
    );
    let file = parse_str(&text, Path::new("q.toml")).unwrap_or_else(|e| panic!("{e}\n{text}"));
    MetricRequest {
        key: MetricKey::new("web", "m"),
        spec: std::sync::Arc::clone(&file.metrics["m"]),
        since: Utc::now(),
    }
}

async fn run(url: &str, query: &str, extra: &str) -> Result<Series, FetchError> {
    let r = request(url, query, extra);
    let mut source = PrometheusQuerySource::new();
    let mut results = source.fetch(Utc::now(), std::slice::from_ref(&r)).await;
    results.remove(&r.key).expect("an answer for the request")
}

fn find_on_path(binary: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(binary))
            .find(|p| p.is_file())
    })
}

/// A Prometheus server child process; killed and reaped on drop.
struct Prometheus {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_prometheus(binary: &Path, scrape_target: &str) -> Prometheus {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             scrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{scrape_target}']\n"
        ),
    )
    .unwrap();
    let port = free_port();
    let child = Command::new(binary)
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .arg("--log.level=warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    Prometheus {
        child,
        url: format!("http://127.0.0.1:{port}"),
        _dir: dir,
    }
}

/// Polls `query` until it yields a value, for at most `limit`.
async fn wait_for(url: &str, query: &str, limit: Duration) -> Series {
    let started = Instant::now();
    loop {
        match run(url, query, "timeout = \"2s\"").await {
            Ok(series) => return series,
            Err(e) if started.elapsed() > limit => {
                panic!("Prometheus never answered `{query}`: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(250)).await,
        }
    }
}

fn only_value(series: &Series) -> f64 {
    assert_eq!(series.points.len(), 1);
    series.points[0].value
}

#[tokio::test]
async fn instant_queries_against_a_real_prometheus() {
    let Some(binary) = find_on_path("prometheus") else {
        if std::env::var("EBB_REQUIRE_TEST_SERVERS").as_deref() == Ok("1") {
            panic!(
                "prometheus is not installed (apt-get install prometheus) and EBB_REQUIRE_TEST_SERVERS=1"
            );
        }
        eprintln!("SKIPPED: prometheus is not on PATH (apt-get install prometheus)");
        return;
    };
    let app = TestServer::start();
    let page = |requests: u64| {
        format!(
            "# TYPE app_inflight gauge\napp_inflight{{slot=\"a\"}} 3\napp_inflight{{slot=\"b\"}} 5\n\
             # TYPE app_requests_total counter\napp_requests_total {requests}\n"
        )
    };
    app.set("/metrics", Reply::text(page(0)));
    let prometheus = start_prometheus(&binary, &format!("127.0.0.1:{}", app.port()));
    let url = prometheus.url.clone();

    let started = Instant::now();
    let mut requests = 0;
    // The counter climbs 10 per loop (100 ms sleep + a query) while Prometheus scrapes it twice.
    let counted = loop {
        requests += 10;
        app.set("/metrics", Reply::text(page(requests)));
        if let Ok(series) = run(
            &url,
            "sum(rate(app_requests_total[5s]))",
            "timeout = \"2s\"",
        )
        .await
            && series.points.first().is_some_and(|p| p.value > 0.0)
        {
            break series;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "Prometheus did not scrape the app in 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let rate = only_value(&counted);
    // At most 10 per 100 ms; slower when the machine is busy (each loop also queries).
    assert!(
        rate > 0.0 && rate <= 150.0,
        "rate of a counter climbing at most 100/s: {rate}"
    );

    // A one-series vector and a scalar both give one value, timed by Prometheus.
    let sum = wait_for(&url, "sum(app_inflight)", Duration::from_secs(10)).await;
    assert_eq!(only_value(&sum), 8.0);
    let age = Utc::now() - sum.points[0].time;
    assert!(
        age.num_seconds().abs() < 30,
        "evaluation time {}",
        sum.points[0].time
    );
    assert_eq!(
        only_value(&run(&url, "scalar(max(app_inflight))", "").await.unwrap()),
        5.0
    );
    let labelled = run(&url, "app_inflight{slot=\"b\"}", "").await.unwrap();
    assert_eq!(only_value(&labelled), 5.0);
    assert_eq!(labelled.detail.unwrap()["labels"]["slot"], "b");

    // More or fewer than one series, a range vector, bad PromQL: errors naming the query.
    let two = run(&url, "app_inflight", "").await.unwrap_err();
    assert_eq!(two.kind, ErrorKind::BadResponse);
    let two = two.message;
    assert!(
        two.contains("query `app_inflight`") && two.contains("returned 2 series"),
        "{two}"
    );
    let none = run(&url, "no_such_metric_anywhere", "")
        .await
        .unwrap_err()
        .message;
    assert!(none.contains("returned 0 series"), "{none}");
    let range = run(&url, "app_inflight[1m]", "").await.unwrap_err().message;
    assert!(range.contains("range vector"), "{range}");
    let bad = run(&url, "sum(", "").await.unwrap_err().message;
    assert!(
        bad.contains("query `sum(`") && bad.contains("bad_data"),
        "{bad}"
    );

    drop(prometheus);
}

#[tokio::test]
async fn timeouts_proxies_and_auth() {
    let server = TestServer::start();
    server.set("/hang/api/v1/query", Reply::Hang(Duration::from_secs(10)));
    server.set(
        "/proxy/api/v1/query",
        Reply::Status(502, "<html>Bad Gateway</html>".into()),
    );
    server.set(
        "/auth/api/v1/query",
        Reply::RequireAuth {
            authorization: "Bearer q-token".into(),
            body: r#"{"status":"success","data":{"resultType":"scalar","result":[1700000000.5,"42"]}}"#.into(),
        },
    );
    server.set(
        "/busy/api/v1/query",
        Reply::Status(429, "too many requests".into()),
    );
    server.set(
        "/gone/api/v1/query",
        Reply::Status(404, "no such path".into()),
    );
    let started = Instant::now();
    let hang = run(&server.url("/hang"), "up", "timeout = \"300ms\"")
        .await
        .unwrap_err();
    assert_eq!(hang.kind, ErrorKind::Timeout);
    let hang = hang.message;
    assert!(hang.contains("timed out after 300ms"), "{hang}");
    assert!(started.elapsed() < Duration::from_secs(3));
    let proxy = run(&server.url("/proxy"), "up", "").await.unwrap_err();
    assert_eq!(proxy.kind, ErrorKind::Other);
    let proxy = proxy.message;
    assert!(
        proxy.contains("query `up`: HTTP 502") && proxy.contains("Bad Gateway"),
        "{proxy}"
    );
    // The HTTP status decides the kind: 429 throttled, 404 not found.
    let busy = run(&server.url("/busy"), "up", "").await.unwrap_err();
    assert_eq!(busy.kind, ErrorKind::Throttled, "{busy}");
    let gone = run(&server.url("/gone"), "up", "").await.unwrap_err();
    assert_eq!(gone.kind, ErrorKind::NotFound, "{gone}");

    // SAFETY: only this test uses this variable.
    unsafe { std::env::set_var("EBB_QUERY_TEST_TOKEN", "q-token") };
    let ok = run(
        &server.url("/auth"),
        "up",
        "auth = { bearer_token_env = \"EBB_QUERY_TEST_TOKEN\" }",
    )
    .await
    .unwrap();
    assert_eq!(only_value(&ok), 42.0);
    assert_eq!(
        ok.points[0].time,
        DateTime::<Utc>::from_timestamp_millis(1_700_000_000_500).unwrap()
    );
    let refused = run(&server.url("/auth"), "up", "").await.unwrap_err();
    assert_eq!(refused.kind, ErrorKind::AccessDenied);
    assert!(refused.message.contains("HTTP 401"), "{refused}");
}

#[test]
fn bad_prometheus_sections_are_named_in_errors() {
    let check = |body: &str| {
        let text = format!(
            "[target]\ngroup = \"web\"\nmin_capacity = 1\nmax_capacity = 10\n\n\
             [metrics.m.source.prometheus]\n{body}\n\n\
             [[policies]]\nkind = \"target-tracking\"\nname = \"p\"\nmetric = \"m\"\ntarget = 10.0\n"
        );
        parse_str(&text, Path::new("q.toml"))
            .unwrap_err()
            .to_string()
    };
    let e = check("url = \"prometheus:9090\"\nquery = 'up'");
    assert!(e.contains("metrics.m.source.prometheus.url"), "{e}");
    let e = check("url = \"http://prometheus:9090\"\nquery = ' '");
    assert!(
        e.contains("metrics.m.source.prometheus.query: must not be empty"),
        "{e}"
    );
    let e = check("url = \"http://p:9090\"\nquery = 'up'\nauth = { username = \"u\" }");
    assert!(
        e.contains("metrics.m.source.prometheus.auth") && e.contains("password"),
        "{e}"
    );
    let e = check("url = \"http://p:9090\"");
    assert!(e.contains("query"), "{e}");
}
