//! The state kept across restarts: each target's governor state (last scaling
//! times and direction, recent recommendations, the capacity ebb last set),
//! so a restart resets no cooldown or stabilization window, with the
//! hypothetical state of a target in dry run or on a standby in a section of
//! its own (`hypothetical`), so it can never be read back as live; the load
//! histories predictive policies learn from, so a restart does not refetch
//! weeks of data; and what the alert rules remember, so a restart neither
//! notifies again what was firing nor forgets to resolve it.
//!
//! One JSON file, `state.json` in the state directory, replaced atomically:
//! written to a temporary file in the same directory, synced, then renamed
//! over the old one. A crash leaves either the old file or the new one.
//! The load histories are not in it: they live in a file per target
//! ([`super::history_files`]), appended to when a bucket completes, so the
//! per-round write stays small however many predictive targets there are.
//! (A `state.json` of an older ebb that holds them is still read; they move
//! to their files at the next save.)

use super::history_changes::{ChangeTracker, HistoryChange};
use super::history_files::{HistoryFiles, HistorySave};
use crate::alert::SavedAlerts;
use crate::forecast::history::LoadHistory;
use crate::governor::GovernorState;
use crate::governor_memory::{GovernorMemory, HypotheticalState};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What the file holds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedState {
    /// Format version, for later changes.
    pub version: u32,
    /// By target (Auto Scaling group name): the live governor state, what
    /// really happened; shared with the targets' evaluators
    /// ([`GovernorMemory::live_shared`]).
    #[serde(with = "crate::shared_map")]
    pub targets: BTreeMap<String, Arc<GovernorState>>,
    /// By target: the hypothetical governor state of a target in dry run or
    /// on a standby, resumed after a restart in the same mode and dropped at
    /// the first live decision. Shadow candidates' states are not kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hypothetical: BTreeMap<String, HypotheticalState>,
    /// By target, then by policy name. Saved in their own files, not in
    /// `state.json`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub histories: BTreeMap<String, BTreeMap<String, LoadHistory>>,
    /// By alert rule name, then target.
    #[serde(default)]
    pub alerts: SavedAlerts,
}

impl SavedState {
    /// A target's saved governor state, live and hypothetical; `None` when
    /// no live state was saved for it.
    pub fn memory(&self, target: &str) -> Option<GovernorMemory> {
        let live = self.targets.get(target)?;
        Some(GovernorMemory::new(
            live.clone(),
            self.hypothetical.get(target).cloned(),
        ))
    }

    /// Keeps a target's governor state to save.
    pub fn keep_memory(&mut self, target: &str, memory: &GovernorMemory) {
        let live = Arc::clone(memory.live_shared());
        match self.targets.get_mut(target) {
            Some(kept) => *kept = live,
            None => {
                self.targets.insert(target.to_string(), live);
            }
        }
        match memory.hypothetical() {
            Some(hypothetical) => {
                self.hypothetical
                    .insert(target.to_string(), hypothetical.clone());
            }
            None => {
                self.hypothetical.remove(target);
            }
        }
    }
}

/// Replaces `path` (in `dir`) with `bytes`: written to a temporary file in
/// the same directory (named with `prefix`), synced, then renamed over it.
/// A crash leaves the old file or the new one, and maybe the temporary one.
pub(super) fn replace_atomically(
    dir: &Path,
    prefix: &str,
    path: &Path,
    bytes: &[u8],
) -> Result<(), String> {
    replace_atomically_with(dir, prefix, path, |file| file.write_all(bytes))
}

/// [`replace_atomically`] with what `write` writes to the temporary file:
/// a large file streamed to it, never whole in memory.
fn replace_atomically_with(
    dir: &Path,
    prefix: &str,
    path: &Path,
    write: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), String> {
    let mut temp = tempfile::Builder::new()
        .prefix(prefix)
        .tempfile_in(dir)
        .map_err(|e| format!("cannot create a temporary file: {e}"))?;
    write(temp.as_file_mut())
        .and_then(|()| temp.as_file().sync_all())
        .map_err(|e| format!("cannot write: {e}"))?;
    temp.persist(path)
        .map_err(|e| format!("cannot replace: {e}"))?;
    Ok(())
}

/// Temporary files being written start with this; one left by a crash
/// (killed between create and rename) is removed at the next load.
const TEMP_PREFIX: &str = ".state.json.";

/// What `state.json` holds: the state without the histories, borrowed, so
/// a save copies nothing.
#[derive(Serialize)]
struct StateFile<'a> {
    version: u32,
    #[serde(serialize_with = "shared_targets")]
    targets: &'a BTreeMap<String, Arc<GovernorState>>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    hypothetical: &'a BTreeMap<String, HypotheticalState>,
    alerts: &'a SavedAlerts,
}

/// [`StateFile`]'s targets, written as in [`SavedState`].
fn shared_targets<S: serde::Serializer>(
    targets: &&BTreeMap<String, Arc<GovernorState>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    crate::shared_map::serialize(targets, serializer)
}

/// Where the state lives.
#[derive(Debug, Clone)]
pub struct StateStore {
    path: PathBuf,
    histories: HistoryFiles,
    /// What [`StateStore::save`] last wrote of the histories.
    tracker: ChangeTracker,
}

/// Why the state could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct StateError {
    /// The state file.
    pub path: PathBuf,
    /// What went wrong reading or writing it.
    pub message: String,
}

impl StateStore {
    /// The state kept in `dir/state.json` (and the histories beside it).
    pub fn new(dir: &Path) -> StateStore {
        StateStore {
            path: dir.join("state.json"),
            histories: HistoryFiles::new(dir),
            tracker: ChangeTracker::default(),
        }
    }

    /// The state file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The saved state, histories included; `None` when there is no
    /// `state.json` yet. The histories' files are read either way: with
    /// `state.json` gone they are all there is, and `Some` then holds them.
    pub fn load(&mut self) -> Result<Option<SavedState>, StateError> {
        self.remove_leftovers();
        let histories = self.histories.load();
        self.tracker = ChangeTracker::new(self.histories.marks(&histories));
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if histories.is_empty() {
                    return Ok(None);
                }
                return Ok(Some(SavedState {
                    histories,
                    ..SavedState::default()
                }));
            }
            Err(e) => return Err(self.error(format!("cannot read: {e}"))),
        };
        let mut state: SavedState = serde_json::from_str(&text)
            .map_err(|e| self.error(format!("not a valid state file: {e}")))?;
        // A file per target wins over an older ebb's section in state.json.
        state.histories.extend(histories);
        Ok(Some(state))
    }

    /// The histories' marks as their files hold them (after
    /// [`StateStore::load`]), for a writer elsewhere to hand over changes
    /// from ([`StateStore::save_changes`]).
    pub fn tracker(&self) -> ChangeTracker {
        self.tracker.clone()
    }

    /// Replaces the saved state atomically, and writes what the histories
    /// gained since they were last written: a record appended to each file
    /// whose buckets changed, a whole file for a history that is new or
    /// changed shape.
    pub fn save(&mut self, state: &SavedState) -> Result<(), StateError> {
        let changes = self.tracker.changes(&state.histories);
        let present: BTreeSet<String> = state.histories.keys().cloned().collect();
        let done = self.save_changes(state, &changes, &present)?;
        self.tracker.forget(done.needs_whole);
        match done.error {
            Some(e) => Err(StateError {
                path: e.path,
                message: e.message,
            }),
            None => Ok(()),
        }
    }

    /// Replaces `state.json` with `state` (its `histories` are not read)
    /// and writes the histories' `changes`; `present` names every target
    /// that has histories, the files of others are removed. `Err` when
    /// `state.json` could not be written; what befell the histories is in
    /// the [`HistorySave`] (its `needs_whole` must be handed whole next).
    pub fn save_changes(
        &mut self,
        state: &SavedState,
        changes: &BTreeMap<String, HistoryChange>,
        present: &BTreeSet<String>,
    ) -> Result<HistorySave, StateError> {
        let done = self.histories.save(changes, present);
        let dir = self.path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)
            .map_err(|e| self.error(format!("cannot create the state directory: {e}")))?;
        let file = StateFile {
            version: state.version,
            targets: &state.targets,
            hypothetical: &state.hypothetical,
            alerts: &state.alerts,
        };
        // Streamed: at 10,000 targets the file is megabytes, and a buffer
        // of it (grown by doubling) was a transient peak of every round.
        replace_atomically_with(dir, TEMP_PREFIX, &self.path, |temp| {
            let mut out = std::io::BufWriter::with_capacity(64 * 1024, temp);
            serde_json::to_writer(&mut out, &file)?;
            out.flush()
        })
        .map_err(|message| self.error(message))?;
        Ok(done)
    }

    /// Deletes temporary files a killed daemon left half-written. Only the
    /// daemon that owns the state directory loads it, once at start, so none
    /// of them is being written now.
    fn remove_leftovers(&self) {
        let Some(dir) = self.path.parent() else {
            return;
        };
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                match std::fs::remove_file(entry.path()) {
                    Ok(()) => {
                        tracing::info!(file = %entry.path().display(), "removed a temporary state file left by a crash")
                    }
                    Err(e) => {
                        tracing::warn!(file = %entry.path().display(), error = %e, "cannot remove a leftover temporary state file")
                    }
                }
            }
        }
    }

    fn error(&self, message: String) -> StateError {
        StateError {
            path: self.path.clone(),
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governor_memory::Hypothesis;
    use chrono::{TimeZone, Utc};

    #[test]
    fn state_round_trips_and_a_missing_file_is_no_state() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::new(&dir.path().join("nested"));
        assert_eq!(store.load().unwrap(), None);
        let mut state = SavedState::default();
        state.targets.insert(
            "web".into(),
            GovernorState {
                last_scale_out: Some(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()),
                last_set: Some(4),
                ..GovernorState::default()
            }
            .into(),
        );
        store.save(&state).unwrap();
        store.save(&state).unwrap();
        assert_eq!(store.load().unwrap(), Some(state));
        // No temporary files are left behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("nested"))
                .unwrap()
                .count(),
            1
        );
    }

    #[test]
    fn a_hypothetical_state_is_saved_apart_and_never_read_as_live() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::new(dir.path());
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let live = GovernorState {
            last_set: Some(4),
            ..GovernorState::default()
        };
        let supposed = HypotheticalState {
            hypothesis: Hypothesis::DryRun,
            state: GovernorState {
                last_scale_in: Some(at),
                last_set: Some(4),
                ..GovernorState::default()
            },
        };
        let mut state = SavedState::default();
        state.keep_memory(
            "web",
            &GovernorMemory::new(live.clone(), Some(supposed.clone())),
        );
        store.save(&state).unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        let json: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            json["targets"]["web"]["last_scale_in"],
            serde_json::Value::Null
        );
        assert_eq!(json["hypothetical"]["web"]["hypothesis"], "dry-run");
        let memory = store.load().unwrap().unwrap().memory("web").unwrap();
        assert_eq!(memory, GovernorMemory::new(live.clone(), Some(supposed)));
        // Once the target acts for real, the section goes.
        state.keep_memory("web", &GovernorMemory::new(live, None));
        store.save(&state).unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(!text.contains("hypothetical"), "{text}");
    }

    #[test]
    fn a_state_file_without_a_hypothetical_section_loads() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::new(dir.path());
        std::fs::write(
            store.path(),
            r#"{"version": 0, "targets": {"web": {"last_set": 3}}}"#,
        )
        .unwrap();
        let memory = store.load().unwrap().unwrap().memory("web").unwrap();
        assert_eq!(memory.live().last_set, Some(3));
        assert_eq!(memory.hypothetical(), None);
    }

    #[test]
    fn a_temporary_file_left_by_a_crash_is_removed_on_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::new(dir.path());
        store.save(&SavedState::default()).unwrap();
        let leftover = dir.path().join(format!("{TEMP_PREFIX}abc123"));
        std::fs::write(&leftover, "{\"version\": 0, \"targ").unwrap();
        assert_eq!(store.load().unwrap(), Some(SavedState::default()));
        assert!(!leftover.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_corrupt_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = StateStore::new(dir.path());
        std::fs::write(store.path(), "{not json").unwrap();
        let e = store.load().unwrap_err().to_string();
        assert!(e.contains("state.json"), "{e}");
    }
}
