//! The daemon configuration the fleet benches run `ebb run` with: one
//! target-tracking policy file per group (CPU from CloudWatch, target 50%)
//! and an `ebb.toml` pointing the AWS clients at a loopback endpoint.

use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};

const POLICY: &str = r#"
[target]
group = "GROUP"
min_capacity = 1
max_capacity = 10
interval = "INTERVAL"

[metrics.cpu]
[metrics.cpu.source.cloudwatch]
namespace = "AWS/EC2"
metric_name = "CPUUtilization"
dimensions = { AutoScalingGroupName = "GROUP" }
statistic = "Average"
period = "1m"

[[policies]]
kind = "target-tracking"
name = "cpu"
metric = "cpu"
target = 50.0
"#;

/// Writes `dir/policies/<group>.toml` for each group and `dir/ebb.toml`
/// (decisions in `dir/decisions.jsonl`, state in `dir/state`).
pub fn write_config(dir: &Path, groups: &[String], interval_s: u64, endpoint: &str) {
    std::fs::create_dir(dir.join("policies")).expect("policies dir");
    for group in groups {
        let text = POLICY
            .replace("GROUP", group)
            .replace("INTERVAL", &format!("{interval_s}s"));
        std::fs::write(dir.join(format!("policies/{group}.toml")), text).expect("policy");
    }
    std::fs::write(
        dir.join("ebb.toml"),
        format!(
            "policy_dir = \"{0}/policies\"\ndecisions_log = \"{0}/decisions.jsonl\"\n\
             state_dir = \"{0}/state\"\njitter = \"0s\"\nbatch_window = \"2s\"\n\
             [aws]\nregion = \"us-east-1\"\nendpoint_url = \"{endpoint}\"\n\
             attempt_timeout = \"60s\"\noperation_timeout = \"120s\"\n\
             [telemetry]\nlisten = \"127.0.0.1:0\"\n",
            dir.display(),
        ),
    )
    .expect("daemon config");
}

/// Starts the real `ebb run` on the configuration `write_config` wrote in
/// `dir`, with test credentials and warnings-only logs.
pub fn spawn_daemon(dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ebb"))
        .args(["run", "--config"])
        .arg(dir.join("ebb.toml"))
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("EBB_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start ebb run")
}

/// Stops the daemon as systemd would (SIGTERM) and waits for it to exit.
pub fn stop_daemon(mut child: Child) -> ExitStatus {
    let _ = Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status();
    child.wait().expect("ebb exits")
}
