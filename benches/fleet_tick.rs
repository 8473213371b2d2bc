//! Fleet-scale benchmark: `ebb run` (the real binary) with 10,000 reactive
//! target-tracking targets (one CloudWatch CPU metric each) against a
//! loopback stub of the AWS APIs (support/aws_stub.rs; moto is too slow at
//! this size), for 50 rounds. Prints one row per round: the round's
//! GetMetricData and DescribeAutoScalingGroups calls (goal 20 and 200), the
//! daemon's CPU in the round (utime + stime from /proc/PID/stat; goal < 2 s
//! on 2 cores), its RSS at the round's end (VmRSS) and the highest RSS
//! sampled during the round (every `EBB_BENCH_RSS_SAMPLE_MS`, 10 ms unless
//! set; goal: peak < 100 MB, flat across the rounds), then a summary with
//! the machine's load.
//!
//! `cargo bench --bench fleet_tick` runs 10,000 targets, 50 rounds of 10 s.
//! `EBB_BENCH_TARGETS` and `EBB_BENCH_ROUNDS` change the size. Under `cargo
//! test --all-targets` (no `--bench` argument) it runs 100 targets for 3
//! rounds of 5 s, as a smoke pass.
//!
//! Heap profile of the daemon (heaptrack; the bench itself is not traced;
//! with `--features system-allocator`, as heaptrack sees glibc's malloc and
//! not jemalloc): `mkfifo F; heaptrack_interpret < F | zstd > ht.zst &`
//! (from heaptrack's libexec), then run the bench with
//! `EBB_BENCH_DAEMON_ENV="LD_PRELOAD=
//! <lib>/libheaptrack_preload.so DUMP_HEAPTRACK_OUTPUT=F"` and
//! `EBB_BENCH_KILL=1` (its last snapshot is then the heap between rounds;
//! the bench's exit check fails, its table is printed first).

#[path = "support/aws_stub.rs"]
mod aws_stub;
#[path = "support/fleet_config.rs"]
mod fleet_config;
#[path = "support/proc_stats.rs"]
mod proc_stats;
#[path = "../tests/support/mod.rs"]
mod support;

use aws_stub::{AwsStub, CallCounts};
use fleet_config::{spawn_daemon, stop_daemon, write_config};
use proc_stats::{RssSampler, cpu_seconds, status_kib};
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// What was measured at the end of one round.
struct Round {
    calls: std::collections::BTreeMap<String, usize>,
    cpu_s: f64,
    rss_kib: u64,
    /// The highest RSS sampled from the previous round's end to this one's.
    peak_kib: u64,
    /// From the round's first decision to its last.
    wall: Duration,
    errors: usize,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let size = |name: &str, default: usize| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (targets, rounds, interval) = if full {
        (
            size("EBB_BENCH_TARGETS", 10_000),
            size("EBB_BENCH_ROUNDS", 50),
            10,
        )
    } else {
        (100, 3, 5)
    };
    let groups: Vec<String> = (0..targets).map(|i| format!("fleet-{i:05}")).collect();
    let stub = AwsStub::start(&groups);
    let dir = tempfile::tempdir().expect("temp dir");
    write_config(dir.path(), &groups, interval, &stub.url());

    let mut child = spawn_daemon(dir.path());
    let pid = child.id();
    let sampler = RssSampler::start(
        pid,
        Duration::from_millis(size("EBB_BENCH_RSS_SAMPLE_MS", 10) as u64),
    );

    let mut log = DecisionLog::new(&dir.path().join("decisions.jsonl"));
    let mut before = CallCounts::default();
    let mut cpu_before = 0.0;
    let mut startup = None;
    let mut measured = Vec::new();
    for round in 1..=rounds {
        let (wall, errors) = log.wait_for(targets, &mut child);
        let counts = stub.counts();
        let cpu = cpu_seconds(pid);
        let mut calls = counts.since(&before);
        if round == 1 {
            // Start-up reads each group's activity history and own scaling
            // once; rounds never do. Counted apart from round 1.
            let once = [
                "DescribeScalingActivities",
                "DescribePolicies",
                "DescribeScheduledActions",
            ];
            startup = Some(
                once.iter()
                    .map(|op| (*op, calls.remove(*op).unwrap_or(0)))
                    .collect::<Vec<_>>(),
            );
        }
        let row = Round {
            calls,
            cpu_s: cpu - cpu_before,
            rss_kib: status_kib(pid, "VmRSS:"),
            peak_kib: sampler.take_peak(),
            wall,
            errors,
        };
        eprintln!(
            "round {round}: cpu {:.2}s, rss {:.1} MiB, peak {:.1} MiB, {} errors",
            row.cpu_s,
            row.rss_kib as f64 / 1024.0,
            row.peak_kib as f64 / 1024.0,
            row.errors
        );
        measured.push(row);
        before = counts;
        cpu_before = cpu;
    }
    let peak_kib = status_kib(pid, "VmHWM:");
    drop(sampler);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let status = stop_daemon(child);
    let counts = stub.counts();

    print_table(targets, interval, &measured);
    if let Some(startup) = startup {
        let parts: Vec<String> = startup.iter().map(|(op, n)| format!("{op} {n}")).collect();
        println!("start-up only: {}", parts.join(", "));
    }
    print_summary(&measured, peak_kib, &counts);
    println!("machine load (1, 5, 15 min): {}", load.trim());

    assert!(status.success(), "ebb run exited with {status}");
    assert!(
        counts.most_names <= 50,
        "{} names in one call",
        counts.most_names
    );
    assert!(
        counts.most_queries <= 500,
        "{} queries in one call",
        counts.most_queries
    );
    for (i, row) in measured.iter().enumerate() {
        assert_eq!(row.errors, 0, "round {}: decisions with errors", i + 1);
    }
    // Rounds are told apart by their decisions: when a round's decisions
    // straddle two ticks (the schedule drifts under load), one row holds
    // parts of two; over all rounds the calls still add up.
    let total = |op: &str| {
        measured
            .iter()
            .map(|r| r.calls.get(op).copied().unwrap_or(0))
            .sum::<usize>()
    };
    for (op, per_tick) in [
        ("GetMetricData", targets.div_ceil(500)),
        ("DescribeAutoScalingGroups", targets.div_ceil(50)),
    ] {
        let expected = (rounds - 1) * per_tick..=(rounds + 1) * per_tick;
        assert!(
            expected.contains(&total(op)),
            "{op}: {} calls in {rounds} rounds",
            total(op)
        );
    }
    // Every tenth group starts hot: ebb scales it out.
    assert!(stub.desired("fleet-00000").is_some_and(|d| d > 2));
}

fn print_table(targets: usize, interval: u64, rounds: &[Round]) {
    println!(
        "\n`ebb run` against the loopback AWS stub: {targets} target-tracking targets, \
         one CloudWatch metric each, {interval} s interval\n"
    );
    println!(
        "| round | GetMetricData | DescribeAutoScalingGroups | SetDesiredCapacity | other calls | daemon CPU | RSS | RSS peak in round | decisions' span |"
    );
    println!("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
    for (i, row) in rounds.iter().enumerate() {
        let n = |op: &str| row.calls.get(op).copied().unwrap_or(0);
        let main = n("GetMetricData") + n("DescribeAutoScalingGroups") + n("SetDesiredCapacity");
        let other = row.calls.values().sum::<usize>() - main;
        println!(
            "| {} | {} | {} | {} | {other} | {:.2} s | {:.1} MiB | {:.1} MiB | {:.2} s |",
            i + 1,
            n("GetMetricData"),
            n("DescribeAutoScalingGroups"),
            n("SetDesiredCapacity"),
            row.cpu_s,
            row.rss_kib as f64 / 1024.0,
            row.peak_kib as f64 / 1024.0,
            row.wall.as_secs_f64(),
        );
    }
}

fn print_summary(rounds: &[Round], peak_kib: u64, counts: &CallCounts) {
    let mut cpu: Vec<f64> = rounds.iter().map(|r| r.cpu_s).collect();
    cpu.sort_by(f64::total_cmp);
    let mib = |kib: u64| kib as f64 / 1024.0;
    let rss: Vec<u64> = rounds.iter().map(|r| r.rss_kib).collect();
    let later = &rss[rss.len() / 2..];
    println!(
        "\ndaemon CPU per round: median {:.2} s, max {:.2} s (goal < 2 s)",
        cpu[cpu.len() / 2],
        cpu[cpu.len() - 1]
    );
    println!(
        "RSS: round 1 {:.1} MiB, last {:.1} MiB, second half {:.1}-{:.1} MiB; peak (VmHWM) {:.1} MiB (goal < 100 MB, flat)",
        mib(rss[0]),
        mib(rss[rss.len() - 1]),
        mib(*later.iter().min().unwrap_or(&0)),
        mib(*later.iter().max().unwrap_or(&0)),
        mib(peak_kib)
    );
    let peaks: Vec<u64> = rounds.iter().map(|r| r.peak_kib).collect();
    let later = &peaks[peaks.len() / 2..];
    println!(
        "RSS peak in a round: round 1 {:.1} MiB, second half {:.1}-{:.1} MiB, {} of {} rounds >= 95 MiB",
        mib(peaks[0]),
        mib(*later.iter().min().unwrap_or(&0)),
        mib(*later.iter().max().unwrap_or(&0)),
        peaks.iter().filter(|&&p| p >= 95 * 1024).count(),
        peaks.len()
    );
    println!(
        "largest batch: {} names per DescribeAutoScalingGroups (<= 50), {} queries per GetMetricData (<= 500)",
        counts.most_names, counts.most_queries
    );
}

/// The decisions log, read as it grows.
struct DecisionLog {
    path: std::path::PathBuf,
    offset: u64,
    partial: String,
}

impl DecisionLog {
    fn new(path: &Path) -> DecisionLog {
        DecisionLog {
            path: path.to_path_buf(),
            offset: 0,
            partial: String::new(),
        }
    }

    /// Waits for the next `records` decisions (one round); returns the span
    /// of their times and how many carry an error.
    fn wait_for(&mut self, records: usize, child: &mut Child) -> (Duration, usize) {
        let deadline = Instant::now() + Duration::from_secs(600);
        let (mut seen, mut errors) = (0, 0);
        let (mut first, mut last): (Option<String>, Option<String>) = (None, None);
        while seen < records {
            assert!(
                Instant::now() < deadline,
                "{seen} of {records} decisions of a round after 10 minutes"
            );
            if let Ok(Some(status)) = child.try_wait() {
                panic!("ebb run exited early: {status}");
            }
            let Ok(mut file) = std::fs::File::open(&self.path) else {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            file.seek(SeekFrom::Start(self.offset)).expect("seek log");
            let mut reader = BufReader::new(file);
            let mut line = std::mem::take(&mut self.partial);
            let mut progressed = false;
            while seen < records {
                let read = reader.read_line(&mut line).expect("read log");
                if read == 0 || !line.ends_with('\n') {
                    self.offset += read as u64;
                    break;
                }
                self.offset += read as u64;
                progressed = true;
                let record: serde_json::Value =
                    serde_json::from_str(line.trim_end()).expect("a decision record is JSON");
                if !record["outcome"]["error"].is_null() {
                    errors += 1;
                    if errors == 1 {
                        eprintln!("a decision with an error: {}", line.trim_end());
                    }
                }
                let time = record["time"].as_str().unwrap_or_default().to_string();
                first.get_or_insert_with(|| time.clone());
                last = Some(time);
                seen += 1;
                line.clear();
            }
            self.partial = line;
            if !progressed {
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let at = |t: &Option<String>| {
            t.as_deref()
                .and_then(|t| t.parse::<chrono::DateTime<chrono::Utc>>().ok())
        };
        let span = match (at(&first), at(&last)) {
            (Some(a), Some(b)) => (b - a).to_std().unwrap_or_default(),
            _ => Duration::ZERO,
        };
        (span, errors)
    }
}
