//! The per-round state write with 1,000 predictive targets, each with 14
//! days of 5-minute load history (4,032 buckets): the time of a round's save
//! when no bucket completes (`state.json` only), of one where every
//! history's bucket completes (a record appended to every history file, as
//! happens once per bucket, every 5 minutes), of the saves that compact
//! logs (rewrite them whole once their appends outgrow their snapshot), of
//! the first save (every history file written whole), the files' sizes, and
//! this process's peak RSS with all of it in memory. Prints a table.
//!
//! `cargo bench --bench state_write` runs 1,000 targets through bucket
//! completions until compactions have run (about 1,500 buckets: 5 days of
//! buckets, saved back to back). Under `cargo test --all-targets` (no
//! `--bench` argument) it runs 20 targets and 50 buckets, as a smoke pass.

#[path = "../tests/support/predictive_state.rs"]
mod predictive_state;

use chrono::Duration;
use ebb::daemon::history_files::HistorySave;
use ebb::daemon::state::{SavedState, StateStore};
use predictive_state::{ingest_one, predictive_state};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Instant;

const ROUNDS: usize = 20;
/// Compacting saves to time before stopping (full run).
const COMPACTING_SAVES: usize = 40;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (targets, max_buckets) = if full { (1000, 3000) } else { (20, 50) };
    let days = 14;
    let (mut state, now) = predictive_state(targets, days);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = StateStore::new(dir.path());
    let mut tracker = store.tracker();
    let present: BTreeSet<String> = state.histories.keys().cloned().collect();
    let mut save = |store: &mut StateStore, state: &SavedState| -> (f64, HistorySave) {
        let t = Instant::now();
        let changes = tracker.changes(&state.histories);
        let done = store.save_changes(state, &changes, &present).expect("save");
        assert!(done.error.is_none(), "{:?}", done.error);
        (t.elapsed().as_secs_f64() * 1000.0, done)
    };
    let (first, _) = save(&mut store, &state);
    let first_history_bytes = dir_bytes(&dir.path().join("histories"));

    // Rounds inside the newest bucket: state.json only. Right after the
    // first save its 146 MB are still being written back, and each
    // state.json fsync waits behind them; then the rounds of the rest of
    // the 5 minutes, once the disk has caught up (`sync`).
    let mut behind_ms = Vec::new();
    for round in 0..ROUNDS {
        ingest_one(&mut state, now + Duration::seconds(25 + round as i64));
        behind_ms.push(save(&mut store, &state).0);
    }
    sync();
    let mut round_ms = Vec::new();
    for round in ROUNDS..2 * ROUNDS {
        ingest_one(&mut state, now + Duration::seconds(25 + round as i64));
        round_ms.push(save(&mut store, &state).0);
    }

    // Bucket after bucket: every history appends; some saves compact.
    let mut bucket_ms = Vec::new();
    let mut compacting_ms = Vec::new();
    let mut compacted = 0;
    let mut first_compaction = 0;
    let mut buckets = 0;
    let mut peak_history_bytes = 0;
    for bucket in 1..=max_buckets {
        ingest_one(&mut state, now + Duration::minutes(5 * bucket as i64));
        let (ms, done) = save(&mut store, &state);
        assert_eq!(done.appended, targets, "bucket {bucket}: {done:?}");
        buckets = bucket;
        if done.compacted > 0 {
            if compacted == 0 {
                first_compaction = bucket;
            }
            compacted += done.compacted;
            compacting_ms.push(ms);
            if compacting_ms.len() >= COMPACTING_SAVES {
                break;
            }
        } else {
            bucket_ms.push(ms);
        }
        if bucket % 100 == 0 {
            peak_history_bytes = peak_history_bytes.max(dir_bytes(&dir.path().join("histories")));
        }
    }
    // All histories in memory, saved through every kind of save.
    let peak_saving_kib = peak_rss_kib();
    let reread = Instant::now();
    let loaded = StateStore::new(dir.path())
        .load()
        .expect("load")
        .expect("state");
    let reread = reread.elapsed();
    assert_eq!(loaded.histories, state.histories, "read back as saved");
    drop(loaded);

    let state_bytes = std::fs::metadata(store.path()).map_or(0, |m| m.len());
    println!("\nstate write: {targets} predictive targets, {days} days of 5-minute buckets each\n");
    println!("| what | value |");
    println!("| --- | ---: |");
    println!(
        "| per-round save, no bucket completes (median, max of {ROUNDS}) | {} |",
        median_max(&mut round_ms)
    );
    println!(
        "| per-round save while the first save's files are written back (median, max of {ROUNDS}) | {} |",
        median_max(&mut behind_ms)
    );
    println!(
        "| save where every history's bucket completes: {targets} appends (median, max of {}) | {} |",
        bucket_ms.len(),
        median_max(&mut bucket_ms)
    );
    if compacting_ms.is_empty() {
        println!("| save that also compacts logs | not reached in {buckets} buckets |");
    } else {
        println!(
            "| save that also compacts up to {} logs (median, max of {}; {compacted} compacted, from bucket {}) | {} |",
            ebb::daemon::history_files::COMPACTIONS_PER_SAVE,
            compacting_ms.len(),
            first_compaction,
            median_max(&mut compacting_ms)
        );
    }
    println!("| first save (every history file written whole) | {first:.0} ms |");
    println!(
        "| reading everything back (start-up) | {:.0} ms |",
        reread.as_secs_f64() * 1000.0
    );
    println!("| state.json | {:.1} KiB |", state_bytes as f64 / 1024.0);
    println!(
        "| histories/ ({targets} files): after the first save, largest seen, after {buckets} buckets | {:.1}, {:.1}, {:.1} MiB |",
        mib(first_history_bytes),
        mib(peak_history_bytes),
        mib(dir_bytes(&dir.path().join("histories")))
    );
    println!(
        "| peak RSS of this process: saving, then reading a second copy back | {:.1} MiB, {:.1} MiB |",
        peak_saving_kib as f64 / 1024.0,
        peak_rss_kib() as f64 / 1024.0
    );
}

fn median_max(ms: &mut [f64]) -> String {
    if ms.is_empty() {
        return "-".to_string();
    }
    ms.sort_by(f64::total_cmp);
    format!("{:.1} ms, {:.1} ms", ms[ms.len() / 2], ms[ms.len() - 1])
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}

fn sync() {
    let synced = std::process::Command::new("sync").status();
    assert!(matches!(&synced, Ok(s) if s.success()), "sync: {synced:?}");
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
