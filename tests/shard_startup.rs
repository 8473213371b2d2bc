//! Shard mode's start-up reads: a host with a fresh state directory reads a
//! group's activity history (DescribeScalingActivities, to restore its
//! cooldowns) only once the group's shard is here, not for every group at
//! start. One `ebb run` on moto, behind a counting proxy; another holder
//! ("ghost", a lease table row that is never renewed) holds half the
//! shards at start: their groups are not read until this host takes those
//! shards, once the ghost's leases expire, and then each once. The targets
//! are evaluated every 20 s: a shard that comes here is acted on within a
//! renew interval of its arrival, not a target interval.

mod support;

use ebb::daemon::lease::{LeaseRecord, Step, WriteOutcome};
use ebb::daemon::lease_table::LeaseTable;
use ebb::daemon::shard_lease::shard_of;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};
use support::daemon::*;
use support::moto::sdk_config;
use support::proxy::Proxy;

const TARGETS: usize = 24;
const SHARDS: u32 = 8;
/// The ghost's shards: 0 to 3.
const GHOST_SHARDS: u32 = 4;

const ELECTION: &str = r#"
[leader_election]
table = "ebb-shards"
mode = "shards"
shards = 8
lease_duration = "8s"
renew_interval = "500ms"
holder_id = "a"
"#;

/// Reads of each group's activity history so far.
fn activity_reads(proxy: &Proxy) -> BTreeMap<String, usize> {
    let mut reads = BTreeMap::new();
    for call in proxy.calls("DescribeScalingActivities") {
        for (key, value) in &call.fields {
            if key == "AutoScalingGroupName" {
                *reads.entry(value.clone()).or_default() += 1;
            }
        }
    }
    reads
}

/// Targets acted on (live records) so far.
fn acted(setup: &Setup) -> BTreeSet<String> {
    setup
        .records()
        .iter()
        .filter(|r| r["role"] == "live")
        .filter_map(|r| r["target"].as_str().map(str::to_string))
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_is_read_at_start_up_only_once_its_shard_is_here() {
    let names: Vec<String> = (0..TARGETS).map(|i| format!("web-{i:02}")).collect();
    let groups: Vec<&str> = names.iter().map(String::as_str).collect();
    let Some(Cloud { moto, .. }) = cloud(&groups, 50.0, 300).await else {
        return;
    };
    let (ghosts, mine): (Vec<String>, Vec<String>) = names
        .iter()
        .cloned()
        .partition(|name| shard_of(name, SHARDS) < GHOST_SHARDS);
    assert!(
        !ghosts.is_empty() && !mine.is_empty(),
        "{ghosts:?} {mine:?}"
    );

    let config = sdk_config(&moto.url()).await;
    let table = LeaseTable::new(aws_sdk_dynamodb::Client::new(&config), "ebb-shards", "ebb");
    table.create_table_if_missing().await.unwrap();
    for shard in 0..GHOST_SHARDS {
        let record = LeaseRecord {
            holder: "ghost".into(),
            token: 1,
            version: 1,
            duration: Duration::from_secs(8),
            released: false,
        };
        let item = table.named(format!("ebb/shard-{shard:04}"));
        let written = item.write(&Step::Create { record }).await.unwrap();
        assert_eq!(written, WriteOutcome::Written);
    }

    let proxy = Proxy::start(moto.port);
    let setup = Setup::with_extra(&proxy.url(), ELECTION);
    for name in &names {
        let text = policy(name, 50.0, "0s").replace("interval = \"1s\"", "interval = \"20s\"");
        setup.write_policy(&format!("{name}.toml"), &text);
    }
    let started = Instant::now();
    let ebb = setup.start(&[]);

    // This host's half: each group read once, then acted on.
    // Within its first shards' takes (a renew interval or two), not 20 s.
    wait_until("acting on its own shards", Duration::from_secs(12), || {
        mine.iter().all(|name| acted(&setup).contains(name))
    });
    let reads = activity_reads(&proxy);
    let early = started.elapsed();
    if early < Duration::from_secs(8) {
        for name in &ghosts {
            assert_eq!(
                reads.get(name),
                None,
                "{name} (the ghost's shard) read before its shard came here: {reads:?}"
            );
        }
    }
    for name in &mine {
        assert_eq!(reads.get(name), Some(&1), "{name}: {reads:?}");
    }
    println!(
        "after {:.1}s: {} of {TARGETS} groups read, the {} of this host's shards",
        early.as_secs_f64(),
        reads.len(),
        mine.len()
    );

    // The ghost's leases expire: its shards come here, their groups are
    // read then (each once) and acted on.
    // Lease 8 s from the first look, then a renew interval: not the next
    // 20 s tick (2 s more for a loaded machine).
    wait_until("taking the ghost's shards", Duration::from_secs(12), || {
        ghosts.iter().all(|name| acted(&setup).contains(name))
    });
    let reads = activity_reads(&proxy);
    for name in &names {
        assert_eq!(reads.get(name), Some(&1), "{name}: {reads:?}");
    }
    assert!(ebb.stop().success());
}
