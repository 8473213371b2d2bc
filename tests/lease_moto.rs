//! The leader lease against moto's DynamoDB: conditional writes, a crashed
//! leader taken over within the lease duration, a released lease taken at
//! once, and a fencing token that only grows.

mod support;

use ebb::daemon::leader::Election;
use ebb::daemon::lease::{Lease, LeaseRecord, LeaseTiming, Step, WriteOutcome};
use ebb::daemon::lease_table::LeaseTable;
use std::time::{Duration, Instant};
use support::moto::{MotoServer, sdk_config};

const MS: Duration = Duration::from_millis(1);

fn timing() -> LeaseTiming {
    LeaseTiming::new(1500 * MS, 200 * MS, 1000 * MS).unwrap()
}

async fn table(moto: &MotoServer, name: &str) -> LeaseTable {
    let config = sdk_config(&moto.url()).await;
    let table = LeaseTable::new(aws_sdk_dynamodb::Client::new(&config), name, "ebb");
    table.create_table_if_missing().await.unwrap();
    // A second call finds it there.
    table.create_table_if_missing().await.unwrap();
    table
}

/// Waits until `pred` holds, checking every 20 ms; returns how long it took.
async fn wait_for(what: &str, limit: Duration, pred: impl Fn() -> bool) -> Duration {
    let start = Instant::now();
    while !pred() {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(20 * MS).await;
    }
    start.elapsed()
}

#[tokio::test]
async fn conditional_writes_let_exactly_one_writer_win() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let table = table(&moto, "lease-conditions").await;
    assert_eq!(table.read().await.unwrap(), None);
    let record = |holder: &str, token, version| LeaseRecord {
        holder: holder.into(),
        token,
        version,
        duration: Duration::from_secs(15),
        released: false,
    };
    let create_a = Step::Create {
        record: record("a", 1, 1),
    };
    let create_b = Step::Create {
        record: record("b", 1, 1),
    };
    assert_eq!(table.write(&create_a).await.unwrap(), WriteOutcome::Written);
    assert_eq!(
        table.write(&create_b).await.unwrap(),
        WriteOutcome::Conflict(Some(record("a", 1, 1)))
    );
    let take = |holder: &str, expected| Step::Replace {
        expected_version: expected,
        record: record(holder, 2, expected + 1),
    };
    assert_eq!(
        table.write(&take("b", 1)).await.unwrap(),
        WriteOutcome::Written
    );
    // A stale version loses, and is told who holds the lease now.
    assert_eq!(
        table.write(&take("c", 1)).await.unwrap(),
        WriteOutcome::Conflict(Some(record("b", 2, 2)))
    );
    assert_eq!(table.read().await.unwrap(), Some(record("b", 2, 2)));
}

#[tokio::test]
async fn a_crashed_leader_is_taken_over_within_the_lease_duration() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let table = table(&moto, "lease-crash").await;
    let a = Election::start(table.clone(), Lease::new("a", timing()));
    wait_for("a leads", Duration::from_secs(5), || {
        a.handle.acting().is_some()
    })
    .await;
    let b = Election::start(table.clone(), Lease::new("b", timing()));
    // b stays a standby while a renews.
    tokio::time::sleep(3 * timing().duration()).await;
    assert_eq!(b.handle.acting(), None);
    assert_eq!(a.handle.acting(), Some(1));
    assert_eq!(b.handle.known_holder().as_deref(), Some("a"));

    // a dies without a word (its task is dropped mid-flight, no release).
    let a_handle = a.handle.clone();
    a.abort();
    let crashed = Instant::now();
    wait_for("a stops acting", timing().duration(), || {
        a_handle.acting().is_none()
    })
    .await;
    let a_stopped = crashed.elapsed();
    wait_for(
        "b takes over",
        timing().duration() + 3 * timing().renew_interval(),
        || b.handle.acting().is_some(),
    )
    .await;
    let takeover = crashed.elapsed();
    assert!(a_stopped <= timing().renew_deadline());
    assert!(takeover >= a_stopped, "b acted before a stopped");
    // Within one lease duration after a's last renewal (plus one poll).
    assert!(
        takeover <= timing().duration() + 2 * timing().renew_interval(),
        "takeover took {takeover:?}"
    );
    println!(
        "takeover after a crash: {takeover:?} (lease duration {:?})",
        timing().duration()
    );
    assert_eq!(b.handle.acting(), Some(2));
    b.stop().await;
}

#[tokio::test]
async fn a_released_lease_is_taken_at_once_and_tokens_only_grow() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let table = table(&moto, "lease-release").await;
    let mut tokens = Vec::new();
    let mut current = Election::start(table.clone(), Lease::new("i0", timing()));
    wait_for("i0 leads", Duration::from_secs(5), || {
        current.handle.acting().is_some()
    })
    .await;
    tokens.push(current.handle.acting().unwrap());
    for i in 1..5 {
        let next = Election::start(table.clone(), Lease::new(format!("i{i}"), timing()));
        tokio::time::sleep(3 * timing().renew_interval()).await;
        assert_eq!(
            next.handle.acting(),
            None,
            "i{i} waits while the leader renews"
        );
        let released = Instant::now();
        current.stop().await;
        let took = wait_for(
            "the standby takes a released lease",
            timing().duration(),
            || next.handle.acting().is_some(),
        )
        .await;
        assert!(
            took < timing().duration() / 2,
            "a released lease is taken well within the lease duration ({:?})",
            released.elapsed()
        );
        tokens.push(next.handle.acting().unwrap());
        current = next;
    }
    current.stop().await;
    assert_eq!(tokens, vec![1, 2, 3, 4, 5]);
    let last = table.read().await.unwrap().unwrap();
    assert!(last.released);
    assert_eq!(last.token, 5);
}
