//! Shard mode at fleet size: three `ebb run` processes (the real binary) in
//! shard mode share 3,000 reactive targets in 64 shards. Auto Scaling and
//! CloudWatch are the loopback stub (support/aws_stub.rs); the lease table
//! is moto's DynamoDB, reached through the stub. Prints the targets and
//! shards each host acts on at balance, then SIGKILLs one host and prints:
//! how long until the lease table shows all its shards held by the others
//! (goal: lease duration + one renew interval), targets acted on by two
//! hosts at once (goal 0: no (shard, fencing token) acted under by two
//! hosts, no target's token going down, no host acting on a target after
//! another took it), and the longest gap between two evaluations of any
//! target around the hand-over (goal: 2 target intervals).
//!
//! `cargo bench --bench shard_hosts` runs 3,000 targets, 30 s interval,
//! lease 15 s, renew 3 s (the lease defaults). Under `cargo test
//! --all-targets` (no `--bench` argument) it runs 90 targets, 5 s interval,
//! lease 3 s, renew 500 ms, as a smoke pass. A target's gap can only stay
//! under 2 intervals when the interval is longer than the time to take a
//! dead host's shards (lease + one or two renew intervals).

// The fleet bench's helpers (counts between rounds, one group's capacity)
// are not needed here.
#[allow(dead_code)]
#[path = "support/aws_stub.rs"]
mod aws_stub;
#[path = "support/fleet_config.rs"]
mod fleet_config;
#[path = "../tests/support/mod.rs"]
mod support;

use aws_stub::AwsStub;
use chrono::{DateTime, Utc};
use ebb::daemon::lease_table::LeaseTable;
use fleet_config::{spawn_daemon, stop_daemon, write_config};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const HOSTS: [&str; 3] = ["a", "b", "c"];
const SHARDS: u32 = 64;

struct Size {
    targets: usize,
    interval: Duration,
    lease: Duration,
    renew: Duration,
}

/// One evaluation as a decisions log records it.
#[derive(Debug, Clone)]
struct Eval {
    time: DateTime<Utc>,
    target: String,
    live: bool,
    /// (shard, token) of a live record's fencing notice.
    fencing: Option<(u32, u64)>,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let size = if full {
        Size {
            targets: 3000,
            interval: Duration::from_secs(30),
            lease: Duration::from_secs(15),
            renew: Duration::from_secs(3),
        }
    } else {
        Size {
            targets: 90,
            interval: Duration::from_secs(5),
            lease: Duration::from_secs(3),
            renew: Duration::from_millis(500),
        }
    };
    let Some(moto) = support::moto::MotoServer::start() else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let table = runtime.block_on(async {
        let config = support::moto::sdk_config(&moto.url()).await;
        let table = LeaseTable::new(aws_sdk_dynamodb::Client::new(&config), "ebb-shards", "ebb");
        table.create_table_if_missing().await.expect("lease table");
        table
    });
    let groups: Vec<String> = (0..size.targets).map(|i| format!("fleet-{i:05}")).collect();
    let stub = AwsStub::start_with_dynamodb(&groups, Some(moto.port));
    let dirs: Vec<tempfile::TempDir> = HOSTS
        .iter()
        .map(|host| {
            let dir = tempfile::tempdir().expect("temp dir");
            write_config(dir.path(), &groups, size.interval.as_secs(), &stub.url());
            let extra = format!(
                "\n[leader_election]\n\
                 table = \"ebb-shards\"\nmode = \"shards\"\nshards = {SHARDS}\n\
                 lease_duration = \"{}ms\"\nrenew_interval = \"{}ms\"\nholder_id = \"{host}\"\n",
                size.lease.as_millis(),
                size.renew.as_millis()
            );
            let path = dir.path().join("ebb.toml");
            let mut config = std::fs::read_to_string(&path).expect("config");
            config.push_str(&extra);
            std::fs::write(&path, config).expect("config");
            dir
        })
        .collect();
    let mut logs: Vec<Log> = dirs
        .iter()
        .map(|d| Log::new(&d.path().join("decisions.jsonl")))
        .collect();
    let started = Instant::now();
    let mut children: Vec<Option<std::process::Child>> =
        dirs.iter().map(|d| Some(spawn_daemon(d.path()))).collect();

    // Balance: over the last interval every target acted on by exactly one
    // host, the same split twice in a row.
    let window = chrono::Duration::from_std(size.interval + size.interval / 2).unwrap();
    let mut last_split: Option<Vec<BTreeSet<String>>> = None;
    let balance = loop {
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "no balance within 10 minutes"
        );
        std::thread::sleep(size.interval);
        for log in &mut logs {
            log.read();
        }
        let since = Utc::now() - window;
        let split: Vec<BTreeSet<String>> = logs.iter().map(|l| l.acting_since(since)).collect();
        let all: BTreeSet<&String> = split.iter().flatten().collect();
        let total: usize = split.iter().map(BTreeSet::len).sum();
        let settled = all.len() == size.targets && total == size.targets;
        if settled && last_split.as_ref() == Some(&split) {
            break split;
        }
        last_split = settled.then_some(split);
    };
    let balanced_after = started.elapsed();
    let shards_of = |log: &Log, since: DateTime<Utc>| -> BTreeSet<u32> {
        log.evals
            .iter()
            .filter(|e| e.time >= since)
            .filter_map(|e| e.fencing.map(|(shard, _)| shard))
            .collect()
    };
    let since = Utc::now() - window;
    let shards_at_balance: Vec<usize> = logs.iter().map(|l| shards_of(l, since).len()).collect();

    // SIGKILL c.
    let victim = 2;
    let c_targets = balance[victim].clone();
    let c_shards = shards_of(&logs[victim], since);
    children[victim]
        .take()
        .expect("c runs")
        .kill()
        .expect("SIGKILL c");
    let killed_at = Instant::now();
    let killed = Utc::now();
    let taken = runtime.block_on(async {
        let limit = size.lease + size.renew + Duration::from_secs(60);
        loop {
            let scan = table.scan("ebb/shard-").await;
            if let Ok(leases) = scan {
                let c_left = leases
                    .iter()
                    .filter(|l| l.record.holder == HOSTS[victim])
                    .count();
                let held = leases.iter().filter(|l| !l.record.released).count();
                if c_left == 0 && held == SHARDS as usize {
                    return Some(killed_at.elapsed());
                }
            }
            if killed_at.elapsed() > limit {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // Let the survivors go on for a few intervals after the take-over.
    std::thread::sleep(size.interval * 3);
    for child in children.iter_mut().filter_map(Option::take) {
        assert!(stop_daemon(child).success(), "a survivor failed to stop");
    }
    for log in &mut logs {
        log.read();
    }
    let counts = stub.counts();

    // Acted on by two hosts at once.
    let mut token_owner: HashMap<(u32, u64), usize> = HashMap::new();
    let mut token_clashes = BTreeSet::new();
    let mut per_target: BTreeMap<&str, Vec<Act>> = BTreeMap::new();
    for (host, log) in logs.iter().enumerate() {
        for e in log.evals.iter().filter(|e| e.live) {
            let Some((shard, token)) = e.fencing else {
                panic!("{}: a live record without a fencing notice", HOSTS[host]);
            };
            if *token_owner.entry((shard, token)).or_insert(host) != host {
                token_clashes.insert(e.target.clone());
            }
            per_target
                .entry(&e.target)
                .or_default()
                .push((e.time, token, host));
        }
    }
    // Per target, in time order, the token never goes down: no host acts
    // under an older lease after another acted under a newer one.
    let mut token_down = 0;
    let mut handovers = 0;
    for acts in per_target.values_mut() {
        acts.sort();
        if acts.windows(2).any(|p| p[1].1 < p[0].1) {
            token_down += 1;
        }
        handovers += acts.windows(2).filter(|p| p[1].2 != p[0].2).count();
    }

    // Evaluation gaps around the hand-over: from one interval before the
    // kill until the end, every record (live or standby) of every host.
    let from = killed - chrono::Duration::from_std(size.interval).unwrap();
    let mut times: HashMap<&str, Vec<DateTime<Utc>>> = HashMap::new();
    for e in logs.iter().flat_map(|l| &l.evals) {
        times.entry(&e.target).or_default().push(e.time);
    }
    let mut longest = Duration::ZERO;
    let mut longest_target = String::new();
    let mut over_two = 0;
    for (target, list) in &mut times {
        list.sort();
        let start = list.partition_point(|t| *t < from);
        let first = start.saturating_sub(1);
        let gap = list[first..]
            .windows(2)
            .map(|p| (p[1] - p[0]).to_std().unwrap_or_default())
            .max()
            .unwrap_or_default();
        if gap > size.interval * 2 {
            over_two += 1;
        }
        if gap > longest {
            longest = gap;
            longest_target = target.to_string();
        }
    }
    let survivors_cover = {
        let end = logs[0].evals.last().map_or(killed, |e| e.time);
        let since = end - window;
        let covered: BTreeSet<String> = logs[..2]
            .iter()
            .flat_map(|l| l.acting_since(since))
            .collect();
        covered.len()
    };

    println!(
        "\nshard mode: {} targets, {SHARDS} shards, 3 hosts; interval {:?}, lease {:?}, renew {:?}\n",
        size.targets, size.interval, size.lease, size.renew
    );
    println!("| host | targets acted on at balance | shards acted under |");
    println!("| --- | ---: | ---: |");
    for (i, host) in HOSTS.iter().enumerate() {
        println!(
            "| {host} | {} | {} |",
            balance[i].len(),
            shards_at_balance[i]
        );
    }
    println!(
        "\nbalanced {:.1} s after start. c (SIGKILLed) acted on {} targets in {} shards. \
         Targets changing hands over the whole run (start-up balancing included): {handovers}.\n",
        balanced_after.as_secs_f64(),
        c_targets.len(),
        c_shards.len()
    );
    println!("| after the SIGKILL | goal | measured |");
    println!("| --- | ---: | ---: |");
    println!(
        "| all of c's shards held by a and b (lease table) | <= {:.1} s | {} |",
        (size.lease + size.renew).as_secs_f64(),
        taken.map_or("not within a minute more".to_string(), |t| format!(
            "{:.1} s",
            t.as_secs_f64()
        ))
    );
    println!(
        "| targets acted on by two hosts at once: (shard, token) acted under by two hosts; token going down | 0 | {}; {token_down} |",
        token_clashes.len()
    );
    println!(
        "| longest gap between two evaluations of a target, from one interval before the kill ({longest_target}) | <= {:.0} s | {:.1} s |",
        (size.interval * 2).as_secs_f64(),
        longest.as_secs_f64()
    );
    println!(
        "| targets with a gap over 2 intervals | 0 | {over_two} of {} |",
        size.targets
    );
    println!(
        "| targets acted on by a and b at the end | {} | {survivors_cover} |",
        size.targets
    );
    let dynamo: usize = counts
        .calls
        .iter()
        .filter(|(op, _)| op.starts_with("DynamoDB."))
        .map(|(_, n)| n)
        .sum();
    println!(
        "\nlease table calls in all: {dynamo} ({:?}); DescribeScalingActivities: {}",
        counts
            .calls
            .iter()
            .filter(|(op, _)| op.starts_with("DynamoDB."))
            .collect::<Vec<_>>(),
        counts.get("DescribeScalingActivities")
    );
    println!(
        "machine load (1, 5, 15 min): {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    assert!(taken.is_some(), "c's shards were not all taken");
    assert!(token_clashes.is_empty(), "{token_clashes:?}");
    assert_eq!(token_down, 0);
    assert_eq!(survivors_cover, size.targets);
}

/// A live record: when, under which token, by which host (index).
type Act = (DateTime<Utc>, u64, usize);

/// A decisions log, read as it grows.
struct Log {
    path: PathBuf,
    offset: u64,
    evals: Vec<Eval>,
}

impl Log {
    fn new(path: &Path) -> Log {
        Log {
            path: path.to_path_buf(),
            offset: 0,
            evals: Vec::new(),
        }
    }

    /// Reads the whole lines written since the last read.
    fn read(&mut self) {
        let Ok(mut file) = std::fs::File::open(&self.path) else {
            return;
        };
        file.seek(SeekFrom::Start(self.offset)).expect("seek log");
        let mut reader = BufReader::new(file);
        let mut line = String::new();
        loop {
            line.clear();
            let read = reader.read_line(&mut line).expect("read log");
            if read == 0 || !line.ends_with('\n') {
                return;
            }
            self.offset += read as u64;
            let record: Value = serde_json::from_str(line.trim_end()).expect("a JSON record");
            let Some(time) = record["time"].as_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            let Some(target) = record["target"].as_str() else {
                continue;
            };
            self.evals.push(Eval {
                time,
                target: target.to_string(),
                live: record["role"] == "live",
                fencing: fencing(&record),
            });
        }
    }

    fn acting_since(&self, since: DateTime<Utc>) -> BTreeSet<String> {
        self.evals
            .iter()
            .filter(|e| e.live && e.time >= since)
            .map(|e| e.target.clone())
            .collect()
    }
}

/// (shard, token) from a live record's notice `shard N held by H, fencing
/// token T`.
fn fencing(record: &Value) -> Option<(u32, u64)> {
    record["notices"].as_array()?.iter().find_map(|n| {
        let n = n.as_str()?.strip_prefix("shard ")?;
        let (shard, rest) = n.split_once(" held by ")?;
        let (_, token) = rest.split_once(", fencing token ")?;
        Some((shard.parse().ok()?, token.trim().parse().ok()?))
    })
}
