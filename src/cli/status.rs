//! `ebb status`: who holds the leader lease, or in shard mode which host
//! holds which shards, read from the lease table the daemon config names.

use crate::daemon::config::DaemonConfig;
use crate::daemon::leader::ElectionMode;
use crate::daemon::lease_table::{LeaseTable, ScannedLease};
use crate::daemon::shard_election::shard_of_key;
use anyhow::{Context, bail};
use clap::Args;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

/// `ebb status`'s arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Daemon config file (TOML) with a `[leader_election]` table;
    /// `EBB_*` environment variables override it.
    #[arg(long, short, env = "EBB_CONFIG")]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One lease as `ebb status` shows it.
#[derive(Debug, Serialize)]
struct LeaseRow {
    /// The shard (shard mode), absent for the single lease.
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<u32>,
    holder: String,
    /// Fencing token: one more each time the lease changed hands.
    token: u64,
    /// One more on every write (renewals included).
    version: u64,
    lease_duration_ms: u128,
    released: bool,
    /// The holder's wall clock at its last write (for people: expiry is
    /// judged by each host's own clock, this plus the duration roughly).
    written_at: Option<String>,
}

#[derive(Debug, Serialize)]
struct Status {
    table: String,
    lease_name: String,
    mode: ElectionMode,
    /// Shard mode: how many shards the config says.
    #[serde(skip_serializing_if = "Option::is_none")]
    shards: Option<u32>,
    /// Shard mode: holder -> the shards it holds (not released).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    hosts: BTreeMap<String, Vec<u32>>,
    leases: Vec<LeaseRow>,
}

/// Reads the lease table and prints who holds what.
pub fn run(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let config = DaemonConfig::load(args.config.as_deref())?;
    let Some(election) = config.leader_election.clone() else {
        bail!("the daemon config has no [leader_election] table: there is no lease to show");
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let scanned = runtime.block_on(async {
        let sdk = crate::daemon::aws::sdk_config(&config.aws, None).await;
        let table = LeaseTable::new(
            aws_sdk_dynamodb::Client::new(&sdk),
            &election.table,
            &election.lease_name,
        );
        table.scan(&election.lease_name).await
    })?;
    let status = status(
        &election.table,
        &election.lease_name,
        election.mode,
        election.shards,
        scanned,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", human(&status));
    }
    Ok(ExitCode::SUCCESS)
}

/// The status from the items scanned (keys starting with the lease name).
fn status(
    table: &str,
    lease_name: &str,
    mode: ElectionMode,
    shards: u32,
    scanned: Vec<ScannedLease>,
) -> Status {
    let mut leases: Vec<LeaseRow> = scanned
        .into_iter()
        .filter_map(|lease| {
            let shard = match mode {
                ElectionMode::Single if lease.key == lease_name => None,
                ElectionMode::Shards => Some(shard_of_key(lease_name, &lease.key)?),
                ElectionMode::Single => return None,
            };
            Some(LeaseRow {
                shard,
                holder: lease.record.holder,
                token: lease.record.token,
                version: lease.record.version,
                lease_duration_ms: lease.record.duration.as_millis(),
                released: lease.record.released,
                written_at: lease.written_at,
            })
        })
        .collect();
    leases.sort_by_key(|l| l.shard);
    let mut hosts: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for lease in leases.iter().filter(|l| !l.released) {
        if let Some(shard) = lease.shard {
            hosts.entry(lease.holder.clone()).or_default().push(shard);
        }
    }
    Status {
        table: table.to_string(),
        lease_name: lease_name.to_string(),
        mode,
        shards: (mode == ElectionMode::Shards).then_some(shards),
        hosts,
        leases,
    }
}

fn human(status: &Status) -> String {
    let mut out = format!(
        "lease table {}, lease {}, mode {}\n",
        status.table,
        status.lease_name,
        match status.mode {
            ElectionMode::Single => "single".to_string(),
            ElectionMode::Shards => format!("shards ({})", status.shards.unwrap_or(0)),
        }
    );
    if status.leases.is_empty() {
        out.push_str("no lease items yet: no instance has run\n");
        return out;
    }
    if let Some(shards) = status.shards {
        for (host, held) in &status.hosts {
            let list: Vec<String> = held.iter().map(u32::to_string).collect();
            out.push_str(&format!(
                "{host}: {} shards ({})\n",
                held.len(),
                list.join(", ")
            ));
        }
        let held: usize = status.hosts.values().map(Vec::len).sum();
        out.push_str(&format!(
            "unheld: {} of {shards} (never taken or released)\n",
            shards as usize - held.min(shards as usize)
        ));
    }
    out.push_str("\nshard  holder  token  version  duration  released  written_at\n");
    for lease in &status.leases {
        out.push_str(&format!(
            "{:>5}  {}  {}  {}  {}ms  {}  {}\n",
            lease.shard.map_or("-".to_string(), |s| s.to_string()),
            lease.holder,
            lease.token,
            lease.version,
            lease.lease_duration_ms,
            if lease.released { "yes" } else { "no" },
            lease.written_at.as_deref().unwrap_or("-"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::lease::LeaseRecord;
    use std::time::Duration;

    fn scanned(key: &str, holder: &str, released: bool) -> ScannedLease {
        ScannedLease {
            key: key.to_string(),
            record: LeaseRecord {
                holder: holder.to_string(),
                token: 2,
                version: 9,
                duration: Duration::from_secs(3),
                released,
            },
            written_at: None,
        }
    }

    #[test]
    fn shards_are_grouped_by_holder_and_released_ones_are_unheld() {
        let s = status(
            "t",
            "ebb",
            ElectionMode::Shards,
            4,
            vec![
                scanned("ebb/shard-0002", "b", false),
                scanned("ebb/shard-0000", "a", false),
                scanned("ebb/shard-0001", "a", true),
                scanned("ebb", "old-single", false),
                scanned("ebbx/shard-0003", "z", false),
            ],
        );
        assert_eq!(s.hosts["a"], vec![0]);
        assert_eq!(s.hosts["b"], vec![2]);
        assert_eq!(s.leases.len(), 3);
        let text = human(&s);
        assert!(text.contains("a: 1 shards (0)"), "{text}");
        assert!(text.contains("unheld: 2 of 4"), "{text}");
    }
}
