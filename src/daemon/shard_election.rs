//! Shard mode's election task: each renew interval, one consistent scan of
//! the lease table, then this host's writes ([`ShardLeases::steps`]:
//! renewals, releases, takes, at most one steal) sent together, each a
//! conditional put on its shard's item. On a clean stop every shard held
//! is released, so the other hosts take them at once.
//!
//! Items: `{lease_name}/shard-NNNN`, one per shard, with the attributes of
//! [`super::lease_table`].

use super::lease::Step;
use super::lease_table::{LeaseError, LeaseTable};
use super::shard_lease::ShardLeases;
use crate::lock::lock;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The key of a shard's lease item.
pub fn shard_key(lease_name: &str, shard: u32) -> String {
    format!("{lease_name}/shard-{shard:04}")
}

/// The shard a lease item's key names, if it is one of `lease_name`'s.
pub fn shard_of_key(lease_name: &str, key: &str) -> Option<u32> {
    key.strip_prefix(lease_name)?
        .strip_prefix("/shard-")?
        .parse()
        .ok()
}

/// The shard-keeping loop: one round per renew interval until stopped,
/// then the shards held released.
pub(super) async fn keep_shards(
    table: LeaseTable,
    leases: Arc<Mutex<ShardLeases>>,
    mut stopped: watch::Receiver<bool>,
) {
    let timing = lock(&leases).timing();
    // One call may take up to the interval, so renewals keep their pace.
    let limit = timing.renew_interval();
    let mut was_held = Vec::new();
    loop {
        round(&table, &leases, limit).await;
        let held = lock(&leases).held();
        if held != was_held {
            tracing::info!(
                holder = %lock(&leases).holder(),
                shards = held.len(),
                held = ?held,
                "leader election (shards): the shards this instance holds changed"
            );
            was_held = held;
        }
        tokio::select! {
            _ = tokio::time::sleep(timing.renew_interval()) => {}
            _ = stopped.changed() => break,
        }
    }
    let releases = lock(&leases).releases();
    let released = releases.len();
    write_all(&table, &leases, releases, limit).await;
    tracing::info!(
        shards = released,
        "leader election (shards): leases released"
    );
}

/// Reads every shard lease, then sends this round's writes.
async fn round(table: &LeaseTable, leases: &Arc<Mutex<ShardLeases>>, limit: Duration) {
    let shards = lock(leases).shards();
    match read_rows(table, shards, limit).await {
        Ok(rows) => lock(leases).read(Instant::now(), rows),
        // Renewals go on (conditional writes need no fresh read); takes
        // and steals are planned on the last view and refused if stale.
        Err(e) => tracing::warn!(error = %e, "leader election (shards): cannot read the leases"),
    }
    let steps = lock(leases).steps(Instant::now());
    write_all(table, leases, steps, limit).await;
}

/// Every shard's record (index: shard), from one scan.
pub async fn read_rows(
    table: &LeaseTable,
    shards: u32,
    limit: Duration,
) -> Result<Vec<Option<super::lease::LeaseRecord>>, LeaseError> {
    let prefix = format!("{}/shard-", table.name());
    let scanned = tokio::time::timeout(limit, table.scan(&prefix))
        .await
        .map_err(|_| LeaseError::Call {
            operation: "Scan",
            table: table.table().to_string(),
            message: "timed out".to_string(),
        })??;
    let mut rows = vec![None; shards as usize];
    for lease in scanned {
        if let Some(shard) = shard_of_key(table.name(), &lease.key)
            && let Some(row) = rows.get_mut(shard as usize)
        {
            *row = Some(lease.record);
        }
    }
    Ok(rows)
}

/// Sends the writes together and feeds each answer (or its absence) to
/// its shard's lease.
async fn write_all(
    table: &LeaseTable,
    leases: &Arc<Mutex<ShardLeases>>,
    steps: Vec<(u32, Step)>,
    limit: Duration,
) {
    let mut writes = JoinSet::new();
    for (shard, step) in steps {
        if step == Step::Read {
            continue;
        }
        let item = table.named(shard_key(table.name(), shard));
        writes.spawn(async move {
            let sent = Instant::now();
            let outcome = tokio::time::timeout(limit, item.write(&step)).await;
            (shard, step, sent, outcome)
        });
    }
    while let Some(done) = writes.join_next().await {
        let Ok((shard, step, sent, outcome)) = done else {
            continue;
        };
        let mut leases = lock(leases);
        match outcome {
            Ok(Ok(outcome)) => leases.written(shard, &step, sent, Instant::now(), outcome),
            Ok(Err(e)) => {
                tracing::warn!(shard, error = %e, "leader election (shards): lease write failed");
                leases.unanswered(shard, &step, sent);
            }
            Err(_) => {
                tracing::warn!(shard, "leader election (shards): lease write timed out");
                leases.unanswered(shard, &step, sent);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_keys_round_trip() {
        assert_eq!(shard_key("ebb", 7), "ebb/shard-0007");
        assert_eq!(shard_of_key("ebb", "ebb/shard-0007"), Some(7));
        assert_eq!(shard_of_key("ebb", "ebb"), None);
        assert_eq!(shard_of_key("ebb", "other/shard-0001"), None);
        assert_eq!(shard_of_key("ebb", "ebb/shard-x"), None);
    }
}
