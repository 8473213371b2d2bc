//! The format of a target's history file: a log of records, one a line,
//! each `HASH JSON` where HASH is the 64-bit FNV-1a of the JSON in 16 hex
//! digits. The first record is a snapshot of every history of the target;
//! each later one appends tails ([`crate::forecast::history::HistoryTail`])
//! to them. Reading replays the log and stops at the first line that is
//! cut short, does not match its hash or does not apply: what a crash in
//! the middle of an append (or a disk that lost it) leaves at the end.

use super::history_changes::TargetHistories;
use crate::fnv::fnv1a;
use crate::forecast::history::HistoryTail;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A record as read.
#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
enum Record {
    Snapshot(TargetHistories),
    Append(BTreeMap<String, HistoryTail>),
}

/// A record to write, borrowed.
#[derive(Serialize)]
#[serde(rename_all = "snake_case")]
enum RecordRef<'a> {
    Snapshot(&'a TargetHistories),
    Append(&'a BTreeMap<String, HistoryTail>),
}

/// The line of a snapshot record.
pub fn snapshot_line(histories: &TargetHistories) -> Result<Vec<u8>, String> {
    line(&RecordRef::Snapshot(histories))
}

/// The line of an append record.
pub fn append_line(tails: &BTreeMap<String, HistoryTail>) -> Result<Vec<u8>, String> {
    line(&RecordRef::Append(tails))
}

fn line(record: &RecordRef<'_>) -> Result<Vec<u8>, String> {
    let json = serde_json::to_vec(record).map_err(|e| e.to_string())?;
    let mut out = format!("{:016x} ", fnv1a(&json)).into_bytes();
    out.extend_from_slice(&json);
    out.push(b'\n');
    Ok(out)
}

/// A log read back.
#[derive(Debug)]
pub struct ReadLog {
    /// The histories after every good record.
    pub histories: TargetHistories,
    /// Bytes of the snapshot record.
    pub snapshot_bytes: u64,
    /// Bytes of the good append records after it.
    pub appended_bytes: u64,
    /// What was wrong at the end, when the good records end before the
    /// file does (at `snapshot_bytes + appended_bytes`).
    pub torn: Option<String>,
}

/// Replays a log. An error when not even the snapshot record is good.
pub fn read_log(bytes: &[u8]) -> Result<ReadLog, String> {
    let mut offset = 0;
    let mut read: Option<ReadLog> = None;
    while offset < bytes.len() {
        let rest = &bytes[offset..];
        let end = rest.iter().position(|b| *b == b'\n');
        let record = match end {
            None => Err(format!("a record cut short at byte {offset}")),
            Some(end) => parse(&rest[..end]).map_err(|e| format!("byte {offset}: {e}")),
        };
        let length = end.map_or(rest.len(), |end| end + 1) as u64;
        match (record, read.as_mut()) {
            (Ok(Record::Snapshot(histories)), None) => {
                read = Some(ReadLog {
                    histories,
                    snapshot_bytes: length,
                    appended_bytes: 0,
                    torn: None,
                });
            }
            (Ok(Record::Append(tails)), Some(log)) => match apply(&mut log.histories, &tails) {
                Ok(()) => log.appended_bytes += length,
                Err(e) => {
                    log.torn = Some(format!("byte {offset}: {e}"));
                    break;
                }
            },
            (Ok(Record::Append(_)), None) => {
                return Err("the first record is not a snapshot".to_string());
            }
            (Ok(Record::Snapshot(_)), Some(log)) => {
                log.torn = Some(format!("byte {offset}: a second snapshot record"));
                break;
            }
            (Err(e), None) => return Err(e),
            (Err(e), Some(log)) => {
                log.torn = Some(e);
                break;
            }
        }
        offset += length as usize;
    }
    read.ok_or_else(|| "empty".to_string())
}

fn parse(line: &[u8]) -> Result<Record, String> {
    let (hash, json) = line
        .split_at_checked(17)
        .filter(|(hash, _)| hash.ends_with(b" "))
        .ok_or("no hash")?;
    let hash = std::str::from_utf8(&hash[..16])
        .ok()
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .ok_or("a hash that is not 16 hex digits")?;
    if hash != fnv1a(json) {
        return Err("the record does not match its hash".to_string());
    }
    serde_json::from_slice(json).map_err(|e| format!("not a history record: {e}"))
}

fn apply(
    histories: &mut TargetHistories,
    tails: &BTreeMap<String, HistoryTail>,
) -> Result<(), String> {
    if let Some(policy) = tails.keys().find(|p| !histories.contains_key(*p)) {
        return Err(format!("a tail for policy {policy}, which has no history"));
    }
    for (policy, tail) in tails {
        if let Some(history) = histories.get_mut(policy) {
            history.apply_tail(tail);
        }
    }
    Ok(())
}
