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
//! histories (up to 14 days of buckets per predictive policy) only those
//! that gained or lost a bucket since the last snapshot: those are the ones
//! the store writes ([`super::history_files`]).

use super::state::{SavedState, StateStore};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// The least time between two writes of the state file.
pub const MIN_GAP: Duration = Duration::from_secs(1);

/// A state to write: `state.histories` holds the histories that changed
/// since the last snapshot, `present` names every target that has some.
struct Snapshot {
    state: SavedState,
    present: BTreeSet<String>,
}

impl Snapshot {
    /// This snapshot, taking in the changed histories of an `older` one
    /// that was never written (this one's win).
    fn after(mut self, older: Snapshot) -> Snapshot {
        for (target, histories) in older.state.histories {
            if self.present.contains(&target) {
                self.state.histories.entry(target).or_insert(histories);
            }
        }
        self
    }
}

/// Which buckets each policy's history held, by policy: a history whose
/// marks are unchanged has nothing new to write.
type Marks = BTreeMap<String, (usize, Option<i64>)>;

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
}

impl Shared {
    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        // Nothing panics while holding the lock; a poisoned lock still holds
        // a consistent snapshot.
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes the state file on a writer task, the latest snapshot only.
pub struct StateSaver {
    path: std::path::PathBuf,
    shared: Arc<Shared>,
    writer: JoinHandle<()>,
    /// The marks of each target's histories as last handed to the writer.
    handed: HashMap<String, Marks>,
}

impl StateSaver {
    /// Starts the writer task for `store` (needs a tokio runtime).
    pub fn start(store: StateStore) -> StateSaver {
        StateSaver::with_gap(store, MIN_GAP)
    }

    /// Like [`StateSaver::start`], writes at least `min_gap` apart.
    fn with_gap(store: StateStore, min_gap: Duration) -> StateSaver {
        let shared = Arc::new(Shared::default());
        let path = store.path().to_path_buf();
        let writer = tokio::spawn(write_latest(store, Arc::clone(&shared), min_gap));
        StateSaver {
            path,
            shared,
            writer,
            handed: HashMap::new(),
        }
    }

    /// The state file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Leaves a snapshot of `state` to be written, in place of any not
    /// written yet. Returns at once. A history handed over in a snapshot
    /// whose write fails is written again once it gains a bucket.
    pub fn save(&mut self, state: &SavedState) {
        let mut changed = BTreeMap::new();
        for (target, histories) in &state.histories {
            let marks: Marks = histories
                .iter()
                .map(|(policy, history)| (policy.clone(), history.bucket_marks()))
                .collect();
            if self.handed.get(target) != Some(&marks) {
                changed.insert(target.clone(), histories.clone());
                self.handed.insert(target.clone(), marks);
            }
        }
        self.handed
            .retain(|target, _| state.histories.contains_key(target));
        let snapshot = Snapshot {
            state: SavedState {
                version: state.version,
                targets: state.targets.clone(),
                hypothetical: state.hypothetical.clone(),
                histories: changed,
                alerts: state.alerts.clone(),
            },
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
                let result = taken.save_some_histories(&snapshot.state, &snapshot.present);
                (taken, result)
            })
            .await;
            match written {
                Ok((taken, result)) => {
                    store = Some(taken);
                    if let Err(e) = result {
                        // The next round's snapshot is written in its place.
                        tracing::error!(error = %e, "cannot save the state");
                    }
                }
                // Lost with its thread: a new one writes every history next.
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
}
