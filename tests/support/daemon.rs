//! The `ebb run` binary as a process for end-to-end tests: a config and
//! policy directory in a temporary directory, the daemon started and stopped
//! (killed when dropped), its decisions log read back; and a moto cloud with
//! groups and CPU datapoints.

use super::moto::{MotoServer, create_group, desired, put_metric, sdk_config};
use chrono::{Duration, Utc};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

pub const WAIT: std::time::Duration = std::time::Duration::from_secs(40);

/// A policy on CPU with 5-second periods so tests run in seconds.
pub fn policy(group: &str, target: f64, scale_out_cooldown: &str) -> String {
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
delay_periods = 1

[[policies]]
kind = "target-tracking"
name = "cpu"
metric = "cpu"
target = {target:.1}
tolerance = 0.1

[governor]
scale_out_cooldown = "{scale_out_cooldown}"
scale_in_cooldown = "2s"
scale_in_stabilization = "1s"
warmup = "0s"
"#
    )
}

/// An `[alerts]` section: `rules` (TOML `[[alerts.rules]]` bodies) sent to
/// one webhook at `url`, repeated at most hourly.
pub fn webhook_alerts(rules: &[&str], url: &str) -> String {
    let rules: String = rules
        .iter()
        .map(|rule| format!("\n[[alerts.rules]]\n{rule}\n"))
        .collect();
    format!(
        "\n[alerts]\nrepeat_interval = \"1h\"\n{rules}\n[[alerts.sinks]]\nkind = \"webhook\"\nname = \"hook\"\nurl = \"{url}\"\n"
    )
}

/// A directory with a daemon config and a policy directory.
pub struct Setup {
    pub dir: tempfile::TempDir,
}

impl Setup {
    pub fn new(endpoint: &str) -> Setup {
        Setup::with_extra(endpoint, "")
    }

    /// Like [`Setup::new`], with `extra` TOML appended to the daemon config.
    pub fn with_extra(endpoint: &str, extra: &str) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("policies")).unwrap();
        let config = format!(
            r#"
policy_dir = "{0}/policies"
decisions_log = "{0}/log/decisions.jsonl"
state_dir = "{0}/state"
jitter = "100ms"

[aws]
region = "us-east-1"
endpoint_url = "{endpoint}"
max_attempts = 2
connect_timeout = "500ms"
attempt_timeout = "15s"
operation_timeout = "30s"

# Tests run daemons side by side: each on a port of its own.
[telemetry]
listen = "127.0.0.1:0"
{extra}
"#,
            dir.path().display()
        );
        std::fs::write(dir.path().join("ebb.toml"), config).unwrap();
        Setup { dir }
    }

    pub fn write_policy(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.path().join("policies").join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("log/decisions.jsonl")
    }

    pub fn start(&self, extra: &[&str]) -> Ebb {
        self.start_with_env(extra, &[])
    }

    /// Like [`Setup::start`], with more environment variables.
    pub fn start_with_env(&self, extra: &[&str], env: &[(&str, &str)]) -> Ebb {
        let stderr = self
            .dir
            .path()
            .join(format!("stderr-{}.log", Utc::now().timestamp_micros()));
        let child = Command::new(env!("CARGO_BIN_EXE_ebb"))
            .arg("run")
            .arg("--config")
            .arg(self.dir.path().join("ebb.toml"))
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_PROFILE")
            .env("EBB_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start ebb run");
        Ebb { child, stderr }
    }

    /// Every decisions log line so far, each parsed (a torn line fails here).
    pub fn records(&self) -> Vec<Value> {
        records(&self.log_path())
    }

    /// Waits until the log holds a record matching `pred`; returns it.
    pub fn wait_record(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(r) = self.records().into_iter().find(|r| pred(r)) {
                return r;
            }
            assert!(
                Instant::now() < deadline,
                "no record {what} in {:#?}",
                self.records()
            );
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
    }
}

pub fn records(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        text.is_empty() || text.ends_with('\n'),
        "the log ends with a whole line"
    );
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l}: {e}")))
        .collect()
}

pub struct Ebb {
    pub child: Child,
    pub stderr: PathBuf,
}

impl Ebb {
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args(["-s", name, &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, and the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        self.signal("TERM");
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "ebb did not stop on SIGTERM: {}",
                self.stderr()
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// SIGKILL: no chance to finish anything. Returns once it is gone.
    pub fn kill(mut self) {
        self.child.kill().expect("SIGKILL ebb");
        self.child.wait().expect("reap ebb");
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Ebb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn wait_desired(client: &aws_sdk_autoscaling::Client, group: &str, want: i32) {
    let deadline = Instant::now() + WAIT;
    loop {
        let got = desired(client, group).await;
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "desired capacity of {group} stayed {got}, want {want}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// CPU datapoints every 5s over [from, to) seconds relative to now.
pub async fn put_cpu(cw: &aws_sdk_cloudwatch::Client, group: &str, from: i64, to: i64, value: f64) {
    let now = Utc::now();
    let points: Vec<_> = (from..to)
        .step_by(5)
        .map(|s| (now + Duration::seconds(s), value))
        .collect();
    put_metric(
        cw,
        "AWS/EC2",
        "CPUUtilization",
        ("AutoScalingGroupName", group),
        &points,
    )
    .await;
}

/// moto with groups at desired 2 (of 1-10) and a minute of CPU datapoints.
pub struct Cloud {
    pub moto: MotoServer,
    pub asg: aws_sdk_autoscaling::Client,
    pub cw: aws_sdk_cloudwatch::Client,
}

pub async fn cloud(groups: &[&str], cpu: f64, until_s: i64) -> Option<Cloud> {
    let moto = MotoServer::start()?;
    let config = sdk_config(&moto.url()).await;
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    for group in groups {
        create_group(&asg, group, 1, 10, 2).await;
        put_cpu(&cw, group, -60, until_s, cpu).await;
    }
    Some(Cloud { moto, asg, cw })
}

pub fn action(r: &Value) -> &str {
    r["action"].as_str().unwrap_or("")
}
