//! The per-round state write with 1,000 predictive targets, each with 14
//! days of 5-minute load history (4,032 buckets): the time of a round's save
//! when no bucket completes (`state.json` only), of one where every
//! history's bucket completes (every history file rewritten, as happens once
//! per bucket, every 5 minutes), the files' sizes, and this process's peak
//! RSS with all of it in memory. Prints a table.
//!
//! `cargo bench --bench state_write` runs 1,000 targets. Under `cargo test
//! --all-targets` (no `--bench` argument) it runs 20, as a smoke pass.

#[path = "../tests/support/predictive_state.rs"]
mod predictive_state;

use chrono::Duration;
use ebb::daemon::state::StateStore;
use predictive_state::{ingest_one, predictive_state};
use std::time::Instant;

const ROUNDS: usize = 20;

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let targets = if full { 1000 } else { 20 };
    let days = 14;
    let (mut state, now) = predictive_state(targets, days);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut store = StateStore::new(dir.path());
    let first = Instant::now();
    store.save(&state).expect("first save");
    let first = first.elapsed();

    // Rounds inside the newest bucket: state.json only. Right after the
    // first save its 146 MB are still being written back, and each
    // state.json fsync waits behind them; then the rounds of the rest of
    // the 5 minutes, once the disk has caught up (`sync`).
    let mut behind_ms = save_rounds(&mut store, &mut state, now, 0);
    let synced = std::process::Command::new("sync").status();
    assert!(matches!(&synced, Ok(s) if s.success()), "sync: {synced:?}");
    let mut round_ms = save_rounds(&mut store, &mut state, now, ROUNDS);
    // A round where every bucket completes.
    ingest_one(&mut state, now + Duration::minutes(5));
    let t = Instant::now();
    store.save(&state).expect("save");
    let bucket_round = t.elapsed();

    round_ms.sort_by(f64::total_cmp);
    behind_ms.sort_by(f64::total_cmp);
    let median = round_ms[round_ms.len() / 2];
    let max = round_ms[round_ms.len() - 1];
    let state_bytes = std::fs::metadata(store.path()).map_or(0, |m| m.len());
    let history_bytes: u64 = std::fs::read_dir(dir.path().join("histories"))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    println!("\nstate write: {targets} predictive targets, {days} days of 5-minute buckets each\n");
    println!("| what | value |");
    println!("| --- | ---: |");
    println!("| per-round save, no bucket completes (median of {ROUNDS}) | {median:.1} ms |");
    println!("| per-round save, no bucket completes (max) | {max:.1} ms |");
    println!(
        "| per-round save while the first save's files are written back (median, max of {ROUNDS}) | {:.1} ms, {:.0} ms |",
        behind_ms[behind_ms.len() / 2],
        behind_ms[behind_ms.len() - 1]
    );
    println!(
        "| save where every history's bucket completes (every 5 min) | {:.0} ms |",
        bucket_round.as_secs_f64() * 1000.0
    );
    println!(
        "| first save (every history file written) | {:.0} ms |",
        first.as_secs_f64() * 1000.0
    );
    println!("| state.json | {:.1} KiB |", state_bytes as f64 / 1024.0);
    println!(
        "| histories/ ({targets} files) | {:.1} MiB |",
        history_bytes as f64 / 1024.0 / 1024.0
    );
    println!(
        "| peak RSS of this process | {:.1} MiB |",
        peak_rss_kib() as f64 / 1024.0
    );
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Saves `ROUNDS` rounds (the `skip` rounds before them already saved),
/// each after every history took in a datapoint; the saves' times, ms.
fn save_rounds(
    store: &mut StateStore,
    state: &mut ebb::daemon::state::SavedState,
    now: chrono::DateTime<chrono::Utc>,
    skip: usize,
) -> Vec<f64> {
    (skip..skip + ROUNDS)
        .map(|round| {
            ingest_one(state, now + Duration::seconds(25 + round as i64));
            let t = Instant::now();
            store.save(state).expect("save");
            t.elapsed().as_secs_f64() * 1000.0
        })
        .collect()
}
