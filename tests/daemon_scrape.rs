//! End to end with a scrape metric: the `ebb run` binary against a real
//! moto_server for the group, scraping test HTTP servers on 127.0.0.1 for
//! in-flight requests; the test reads the desired capacity back from moto
//! and the per-target detail from the decisions log.

mod http_fixture;
mod support;

use http_fixture::{Reply, TestServer};
use serde_json::Value;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use support::moto::{MotoServer, create_group, desired, sdk_config};

/// `ebb run`, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn decisions(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_scales_on_scraped_in_flight_requests() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let asg = aws_sdk_autoscaling::Client::new(&sdk_config(&moto.url()).await);
    create_group(&asg, "web-scrape", 1, 10, 2).await;
    let app = TestServer::start();
    // Two instances, 120 in flight on average, against a target of 60: 4 instances.
    app.set(
        "/a",
        Reply::text(
            "# TYPE http_requests_in_flight gauge\nhttp_requests_in_flight{route=\"/\"} 100\n",
        ),
    );
    app.set(
        "/b",
        Reply::text(
            "http_requests_in_flight{route=\"/\"} 130\nhttp_requests_in_flight{route=\"/x\"} 10\n",
        ),
    );
    app.set("/c", Reply::Hang(Duration::from_secs(30)));

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("policies")).unwrap();
    std::fs::write(
        dir.path().join("ebb.toml"),
        format!(
            "policy_dir = \"{0}/policies\"\ndecisions_log = \"{0}/decisions.jsonl\"\nstate_dir = \"{0}/state\"\n\
             jitter = \"100ms\"\n\n[aws]\nregion = \"us-east-1\"\nendpoint_url = \"{1}\"\nmax_attempts = 2\n\n[telemetry]\nlisten = \"127.0.0.1:0\"\n",
            dir.path().display(),
            moto.url()
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("policies/web.toml"),
        format!(
            "[target]\ngroup = \"web-scrape\"\nmin_capacity = 1\nmax_capacity = 10\ninterval = \"1s\"\n\n\
             [metrics.inflight.source.scrape]\nselector = 'http_requests_in_flight'\nvalue = \"gauge\"\naggregate = \"avg\"\n\
             urls = [\"{}\", \"{}\", \"{}\"]\ntimeout = \"300ms\"\n\n\
             [[policies]]\nkind = \"target-tracking\"\nname = \"inflight-60\"\nmetric = \"inflight\"\ntarget = 60.0\n\n\
             [governor]\nwarmup = \"0s\"\nscale_out_cooldown = \"1h\"\n",
            app.url("/a"),
            app.url("/b"),
            app.url("/c"),
        ),
    )
    .unwrap();
    let _daemon = Daemon(
        Command::new(env!("CARGO_BIN_EXE_ebb"))
            .args(["run", "--config"])
            .arg(dir.path().join("ebb.toml"))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start ebb run"),
    );

    let deadline = Instant::now() + Duration::from_secs(60);
    let scaled = loop {
        let log = decisions(&dir.path().join("decisions.jsonl"));
        if let Some(r) = log.iter().find(|r| r["action"] == "scale-out") {
            break r.clone();
        }
        assert!(Instant::now() < deadline, "no scale-out in {log:#?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(scaled["desired"], 4, "{scaled:#}");
    assert_eq!(desired(&asg, "web-scrape").await, 4);
    let metric = &scaled["metrics"][0];
    assert_eq!(metric["raw"], 120.0, "{metric:#}");
    let detail = &metric["detail"];
    assert_eq!(detail["targets"], 3, "{detail:#}");
    assert_eq!(detail["answered"], 2, "{detail:#}");
    assert_eq!(detail["values"][app.url("/b")], 140.0, "{detail:#}");
    let failed = detail["failed"][0]["error"].as_str().unwrap();
    assert!(failed.contains("timed out after 300ms"), "{failed}");
}
