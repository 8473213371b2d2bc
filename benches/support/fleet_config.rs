//! The daemon configuration the fleet benches run `ebb run` with: one
//! target-tracking policy file per group (CPU from CloudWatch, target 50%)
//! and an `ebb.toml` pointing the AWS clients at a loopback endpoint, with
//! `/metrics` at the totals only (`per_target_series = false`, the setting
//! for fleets of thousands of targets).

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
             [telemetry]\nlisten = \"127.0.0.1:0\"\nper_target_series = false\n",
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
        .envs(profiler_env())
        .stdout(Stdio::null())
        .spawn()
        .expect("start ebb run")
}

/// Stops the daemon as systemd would (SIGTERM) and waits for it to exit.
/// With `EBB_BENCH_KILL` set, SIGKILL instead: a heap profiler's last
/// snapshot is then what the daemon held between rounds, not what is left
/// after its shutdown freed everything.
pub fn stop_daemon(mut child: Child) -> ExitStatus {
    let signal = if std::env::var_os("EBB_BENCH_KILL").is_some() {
        "KILL"
    } else {
        "TERM"
    };
    let _ = Command::new("kill")
        .args(["-s", signal, &child.id().to_string()])
        .status();
    child.wait().expect("ebb exits")
}

/// Extra environment for the daemon only, from `EBB_BENCH_DAEMON_ENV`
/// (`"NAME=VALUE NAME=VALUE"`): a heap profiler's preload library, say
/// (`LD_PRELOAD=.../libheaptrack_preload.so DUMP_HEAPTRACK_OUTPUT=FIFO`),
/// without profiling the bench itself.
fn profiler_env() -> Vec<(String, String)> {
    std::env::var("EBB_BENCH_DAEMON_ENV")
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
