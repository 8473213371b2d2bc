//! The per-round state write stays small with many predictive targets: 1,000
//! targets, each with a governor state and a load history, saved round after
//! round. `state.json` holds the governor states only (its size does not
//! grow with the histories nor from round to round); each history is in a
//! file of its own, appended to (a few hundred bytes) when a bucket
//! completes, not rewritten, and not touched in the rounds between.
//! Before the histories moved out, `state.json` held them all and was
//! rewritten whole every round.

#[path = "support/predictive_state.rs"]
mod predictive_state;

use chrono::{Duration, TimeZone, Utc};
use ebb::daemon::state::StateStore;
use ebb::forecast::history::LoadHistory;
use ebb::series::Datapoint;
use predictive_state::{ingest_one, predictive_state};
use std::path::Path;

const TARGETS: usize = 1000;
/// Two days of 5-minute buckets (a test; the bench takes 14 days).
const HISTORY_DAYS: i64 = 2;

fn modified(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).unwrap().len()
}

#[test]
fn a_thousand_predictive_targets_keep_state_json_small_and_histories_written_per_bucket() {
    let (mut state, now) = predictive_state(TARGETS, HISTORY_DAYS);

    let dir = tempfile::tempdir().unwrap();
    let mut store = StateStore::new(dir.path());
    store.save(&state).unwrap();
    let state_json = store.path().to_path_buf();
    let first = size(&state_json);
    // About 550 bytes a target (ten recent proposals); the histories alone
    // are ~25 KB a target.
    assert!(
        first < TARGETS as u64 * 1024,
        "state.json is {first} bytes for {TARGETS} targets"
    );
    let history_file = dir.path().join("histories/group-0000.log");
    assert!(
        size(&history_file) > 10_000,
        "the history is in its own file"
    );
    let history_files = std::fs::read_dir(dir.path().join("histories"))
        .unwrap()
        .count();
    assert_eq!(history_files, TARGETS);

    // Rounds within the newest bucket: state.json rewritten, same size;
    // no history file rewritten.
    let written = modified(&history_file);
    for minute in 1..=3 {
        ingest_one(&mut state, now + Duration::minutes(minute));
        store.save(&state).unwrap();
        assert_eq!(size(&state_json), first, "round {minute}");
        assert_eq!(modified(&history_file), written, "round {minute}");
    }

    // Every history as saved comes back.
    let mut again = StateStore::new(dir.path());
    let loaded = again.load().unwrap().unwrap();
    assert_eq!(loaded.targets, state.targets);
    assert_eq!(loaded.histories.len(), TARGETS);

    // A new bucket: a small record appended to the history file.
    let before = size(&history_file);
    ingest_one(&mut state, now + Duration::minutes(6));
    store.save(&state).unwrap();
    let appended = size(&history_file) - before;
    assert!(
        (1..1024).contains(&appended),
        "{appended} bytes appended to a {before}-byte file"
    );
    assert_eq!(size(&state_json), first);
    let loaded = StateStore::new(dir.path()).load().unwrap().unwrap();
    assert_eq!(loaded.histories, state.histories);
}

#[test]
fn histories_in_an_older_state_json_move_to_their_own_files() {
    let dir = tempfile::tempdir().unwrap();
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let mut history = LoadHistory::new(300, 86_400);
    history.ingest(
        start + Duration::minutes(20),
        &[Datapoint {
            time: start,
            value: 3.0,
        }],
        1.0,
    );
    let old = serde_json::json!({
        "version": 0,
        "targets": {"web": {"last_set": 3}},
        "histories": {"web": {"forecast": history}},
    });
    std::fs::write(dir.path().join("state.json"), old.to_string()).unwrap();
    let mut store = StateStore::new(dir.path());
    let state = store.load().unwrap().unwrap();
    assert_eq!(state.histories["web"]["forecast"], history);
    store.save(&state).unwrap();
    let text = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
    assert!(!text.contains("histories"), "{text}");
    let loaded = StateStore::new(dir.path()).load().unwrap().unwrap();
    assert_eq!(loaded.histories["web"]["forecast"], history);
}
