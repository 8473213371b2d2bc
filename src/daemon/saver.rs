//! Saving the state file off the daemon's loop.
//!
//! Writing state.json (a write and an fsync) takes milliseconds to seconds
//! on a slow disk; done on the owner task it would hold up dispatching every
//! target. The owner hands a snapshot to a [`StateSaver`] and goes on; a
//! writer task writes it on a blocking thread. Snapshots that arrive while
//! one is written replace each other, so only the latest is written, and
//! writes are at least [`MIN_GAP`] apart. [`StateSaver::finish`] writes the
//! last snapshot and waits for it.
//!
//! A snapshot copies the governor and alert state (small), but of the load
//! histories (up to 14 days of buckets per predictive policy) only what
//! changed since the last snapshot ([`super::history_changes`]): the tail
//! of a history that gained a bucket (appended to its file), a whole copy
//! only of one that is new or changed shape.

use super::history_changes::{ChangeTracker, HistoryChange};
use super::state::{SavedState, StateStore};
use crate::lock::lock;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The least time between two writes of the state file.
pub const MIN_GAP: Duration = Duration::from_secs(1);

/// A state to write (its `histories` empty), the histories' changes since
/// the last snapshot, and `present`: every target that has histories.
struct Snapshot {
    state: SavedState,
    changes: BTreeMap<String, HistoryChange>,
    present: BTreeSet<String>,
}

impl Snapshot {
    /// This snapshot, taking in the history changes of an `older` one that
    /// was never written (each followed by this one's).
    fn after(mut self, older: Snapshot) -> Snapshot {
        for (target, before) in older.changes {
            if !self.present.contains(&target) {
                continue;
            }
            let merged = match self.changes.remove(&target) {
                Some(newer) => before.then(newer),
                None => before,
            };
            self.changes.insert(target, merged);
        }
        self
    }
}

/// What the owner left for the writer.
#[derive(Default)]
struct Pending {
    /// The latest snapshot not yet written.
    snapshot: Option<Snapshot>,
    /// The daemon is stopping: write what is pending, then stop.
    closed: bool,
}

/// What the owner and the writer share.
#[derive(Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
    /// Targets whose history change the writer could not write: the owner
    /// hands them whole next.
    needs_whole: Mutex<Vec<String>>,
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        lock(&self.pending)
    }
}

/// Writes the state file on a writer task, the latest snapshot only.
pub struct StateSaver {
    path: std::path::PathBuf,
    shared: Arc<Shared>,
    writer: JoinHandle<()>,
    /// What was last handed to the writer of each target's histories.
    tracker: ChangeTracker,
}

impl StateSaver {
    /// Starts the writer task for `store` (needs a tokio runtime), handing
    /// over history changes from what `store` loaded.
    pub fn start(store: StateStore) -> StateSaver {
        StateSaver::with_gap(store, MIN_GAP)
    }

    /// Like [`StateSaver::start`], writes at least `min_gap` apart.
    fn with_gap(store: StateStore, min_gap: Duration) -> StateSaver {
        let shared = Arc::new(Shared::default());
        let path = store.path().to_path_buf();
        let tracker = store.tracker();
        let writer = tokio::spawn(write_latest(store, Arc::clone(&shared), min_gap));
        StateSaver {
            path,
            shared,
            writer,
            tracker,
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves a snapshot of `state` to be written, in place of any not
    /// written yet. Returns at once. A history whose change could not be
    /// written is handed whole at the next save.
    pub fn save(&mut self, state: &SavedState) {
        let failed = std::mem::take(&mut *lock(&self.shared.needs_whole));
        self.tracker.forget(failed);
        let snapshot = Snapshot {
            state: SavedState {
                version: state.version,
                targets: state.targets.clone(),
                hypothetical: state.hypothetical.clone(),
                histories: BTreeMap::new(),
                alerts: state.alerts.clone(),
            },
            changes: self.tracker.changes(&state.histories),
            present: state.histories.keys().cloned().collect(),
        };
        let mut pending = self.shared.pending();
        pending.snapshot = Some(match pending.snapshot.take() {
            Some(older) => snapshot.after(older),
            None => snapshot,
        });
        drop(pending);
        self.shared.wake.notify_one();
    }

    /// Writes the last snapshot left (at once, whatever the gap) and waits
    /// until it is on disk.
    pub async fn finish(self) {
        self.shared.pending().closed = true;
        self.shared.wake.notify_one();
        if let Err(e) = self.writer.await {
            tracing::error!(error = %e, "the state file's writer task failed");
        }
    }
}

/// The writer task: waits for a snapshot, waits out the gap since the last
/// write (unless closing), writes the latest snapshot on a blocking thread.
async fn write_latest(store: StateStore, shared: Arc<Shared>, min_gap: Duration) {
    let dir = store
        .path()
        .parent()
        .unwrap_or(Path::new("."))
        .to_path_buf();
    let mut store = Some(store);
    let mut last_write: Option<Instant> = None;
    loop {
        shared.wake.notified().await;
        if let Some(last) = last_write {
            let until = last + min_gap;
            // A wake-up here is a newer snapshot (taken below) or closing.
            while Instant::now() < until && !shared.pending().closed {
                tokio::select! {
                    _ = tokio::time::sleep_until(until) => {}
                    _ = shared.wake.notified() => {}
                }
            }
        }
        let (snapshot, closed) = {
            let mut pending = shared.pending();
            (pending.snapshot.take(), pending.closed)
        };
        if let Some(snapshot) = snapshot {
            // The store goes to the blocking thread and comes back with it.
            let mut taken = store.take().unwrap_or_else(|| StateStore::new(&dir));
            let written = tokio::task::spawn_blocking(move || {
                let result =
                    taken.save_changes(&snapshot.state, &snapshot.changes, &snapshot.present);
                (taken, result)
            })
            .await;
            match written {
                Ok((taken, result)) => {
                    store = Some(taken);
                    match result {
                        Ok(done) => {
                            if let Some(e) = done.error {
                                tracing::error!(error = %e, "cannot save a load history: it is written whole next time");
                            }
                            lock(&shared.needs_whole).extend(done.needs_whole);
                        }
                        // The next round's snapshot is written in its place.
                        Err(e) => tracing::error!(error = %e, "cannot save the state"),
                    }
                }
                // Lost with its thread: a new store knows no file, so it
                // sends every history's next change back to be handed whole.
                Err(e) => tracing::error!(error = %e, "saving the state failed"),
            }
            last_write = Some(Instant::now());
        }
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governor_memory::GovernorMemory;

    fn snapshot(group: &str) -> SavedState {
        let mut state = SavedState::default();
        state.keep_memory(group, &GovernorMemory::default());
        state
    }

    #[tokio::test]
    async fn the_last_snapshot_is_on_disk_when_finish_returns() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::new(dir.path());
        let mut saver = StateSaver::start(store.clone());
        saver.save(&snapshot("web"));
        saver.save(&snapshot("api"));
        saver.finish().await;
        assert_eq!(store.load().unwrap(), Some(snapshot("api")));
    }

    /// Snapshots coming faster than the gap are not each written: the writer
    /// waits out the gap and writes the latest (at once when finishing).
    #[tokio::test]
    async fn snapshots_within_the_gap_are_written_once_the_latest() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::new(dir.path());
        // A gap no test run comes near: the check below cannot race it.
        let mut saver = StateSaver::with_gap(store.clone(), Duration::from_secs(600));
        saver.save(&snapshot("first"));
        // Not `load`, which removes the temporary files a write is using.
        while !store.path().exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        for group in ["a", "b", "c"] {
            saver.save(&snapshot(group));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let written: SavedState =
            serde_json::from_str(&std::fs::read_to_string(store.path()).unwrap()).unwrap();
        assert_eq!(written, snapshot("first"));
        saver.finish().await;
        assert_eq!(store.load().unwrap(), Some(snapshot("c")));
    }

    /// A history handed over in a snapshot that a newer one replaced before
    /// it was written is still written: the newer snapshot, in which it has
    /// not changed, takes it in.
    #[tokio::test]
    async fn a_changed_history_survives_a_newer_snapshot() {
        use crate::forecast::history::LoadHistory;
        use crate::series::Datapoint;
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::new(dir.path());
        let mut saver = StateSaver::with_gap(store.clone(), Duration::from_secs(600));
        saver.save(&snapshot("web"));
        // Not `load`, which removes the temporary files a write is using.
        while !store.path().exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut history = LoadHistory::new(60, 86_400);
        let at = chrono::DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let points = [Datapoint {
            time: at,
            value: 5.0,
        }];
        history.ingest(at + chrono::Duration::minutes(5), &points, 1.0);
        let mut state = snapshot("web");
        state
            .histories
            .insert("web".into(), BTreeMap::from([("p".into(), history)]));
        saver.save(&state); // changed: handed over
        saver.save(&state); // unchanged: not copied again
        saver.finish().await;
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.histories, state.histories);
    }

    /// Tails of two snapshots, the first replaced by the second before it
    /// was written, are appended as one: the file reads back as the latest.
    #[tokio::test]
    async fn tails_of_replaced_snapshots_are_merged() {
        use crate::forecast::history::LoadHistory;
        use crate::series::Datapoint;
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::new(dir.path());
        let mut saver = StateSaver::with_gap(store.clone(), Duration::from_secs(600));
        let start = chrono::DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let mut history = LoadHistory::new(60, 86_400);
        let grow = |history: &mut LoadHistory, minutes: std::ops::Range<i64>| {
            let points: Vec<Datapoint> = minutes
                .clone()
                .map(|m| Datapoint {
                    time: start + chrono::Duration::minutes(m),
                    value: m as f64,
                })
                .collect();
            history.ingest(start + chrono::Duration::minutes(minutes.end), &points, 1.0);
        };
        let mut state = snapshot("web");
        let mut save = |saver: &mut StateSaver, history: &LoadHistory| {
            state.histories.insert(
                "web".into(),
                BTreeMap::from([("p".into(), history.clone())]),
            );
            saver.save(&state);
            state.clone()
        };
        grow(&mut history, 0..30);
        save(&mut saver, &history); // whole, written at once
        while !store.path().exists() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        grow(&mut history, 30..33);
        save(&mut saver, &history); // a tail, left pending
        grow(&mut history, 33..40);
        let last = save(&mut saver, &history); // a tail, merged with it
        saver.finish().await;
        let loaded = store.load().unwrap().unwrap();
        assert_eq!(loaded.histories, last.histories);
        let log = std::fs::read_to_string(dir.path().join("histories/web.log")).unwrap();
        assert_eq!(log.lines().count(), 2, "a snapshot and one append: {log}");
    }
}
