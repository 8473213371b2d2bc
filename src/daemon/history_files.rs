//! The load histories predictive policies learn from, kept out of
//! `state.json`: one file per target under `histories/` in the state
//! directory, `NAME.log`, a log of records ([`super::history_log`]): a
//! snapshot of the target's histories, then a small record appended each
//! time a bucket completes (the buckets from the newest one written on),
//! not every round. With 14 days of buckets per policy, rewriting every
//! history whole when its bucket completed was 146 MB every 5 minutes at
//! 1,000 targets; an append is a few hundred bytes.
//!
//! A file is rewritten whole (temporary file, sync, rename, as
//! `state.json`) when a history changes shape (first write, a policy added
//! or removed, another window), when an append could not be written, and to
//! compact it: once its appended records outgrow its snapshot (by 1 to 2
//! times, spread by target name, so targets started together do not all
//! compact in the same round), at most [`COMPACTIONS_PER_SAVE`] a save.
//!
//! Appends are not synced: a crash of the process loses none, a crash of
//! the machine may lose the last ones the kernel had not written back (or
//! leave a torn or zeroed record at the end). Reading stops at the first
//! bad record and cuts the file there; the history then ends at an older
//! latest datapoint, and the policy fetches from there again. A file whose
//! snapshot cannot be read is logged and skipped: its target refetches its
//! history, as with no file at all. Files of older ebbs (`NAME.json`, one
//! JSON document) are read and rewritten as logs at load.

use super::history_changes::{HistoryChange, TargetHistories, TargetMarks, marks_of};
use super::history_log::{ReadLog, append_line, read_log, snapshot_line};
use crate::fnv::fnv1a;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Temporary files being written start with this.
const TEMP_PREFIX: &str = ".history.";

/// At most this many files are compacted in one save, so a save stays short
/// even when many logs come due together.
pub const COMPACTIONS_PER_SAVE: usize = 4;

/// Logs are not compacted before their appends reach this, whatever their
/// snapshot's size (a young history's snapshot is small).
const MIN_COMPACT_BYTES: u64 = 64 * 1024;

/// What a target's file holds, as this process last read or wrote it.
#[derive(Debug, Clone)]
struct FileState {
    /// By policy, the newest bucket's start in the file.
    newest: BTreeMap<String, Option<i64>>,
    snapshot_bytes: u64,
    appended_bytes: u64,
}

impl FileState {
    fn of(histories: &TargetHistories, snapshot_bytes: u64, appended_bytes: u64) -> FileState {
        FileState {
            newest: histories
                .iter()
                .map(|(policy, history)| (policy.clone(), history.mark().newest))
                .collect(),
            snapshot_bytes,
            appended_bytes,
        }
    }

    /// Whether `tails` continue what the file holds: each names one of its
    /// policies and replaces from its newest bucket or earlier.
    fn takes(&self, tails: &BTreeMap<String, crate::forecast::history::HistoryTail>) -> bool {
        tails.iter().all(|(policy, tail)| {
            self.newest
                .get(policy)
                .is_some_and(|newest| tail.from() <= newest.unwrap_or(i64::MIN))
        })
    }

    /// Whether the log is due for compaction: its appends outgrew its
    /// snapshot by a factor from 1 to 2 that depends on the target's name.
    fn due(&self, target: &str) -> bool {
        let spread = 1.0 + (fnv1a(target.as_bytes()) % 1024) as f64 / 1024.0;
        let limit = (self.snapshot_bytes.max(MIN_COMPACT_BYTES) as f64 * spread) as u64;
        self.appended_bytes > limit
    }
}

/// The `histories/` folder, and what this process knows its files hold.
#[derive(Debug, Clone)]
pub struct HistoryFiles {
    dir: PathBuf,
    files: HashMap<String, FileState>,
}

/// Why a history file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct HistoryFileError {
    /// The history file.
    pub path: PathBuf,
    /// What went wrong writing it.
    pub message: String,
}

/// What a save did.
#[derive(Debug, Default)]
pub struct HistorySave {
    /// Files written whole (first write, changed shape, migrated).
    pub rewritten: usize,
    /// Records appended.
    pub appended: usize,
    /// Files compacted.
    pub compacted: usize,
    /// Targets whose change could not be written or appended: their next
    /// change must be whole ([`super::history_changes::ChangeTracker::forget`]).
    pub needs_whole: Vec<String>,
    /// The first error met (the other targets were still written).
    pub error: Option<HistoryFileError>,
}

impl HistoryFiles {
    /// The history files under `state_dir/histories`.
    pub fn new(state_dir: &Path) -> HistoryFiles {
        HistoryFiles {
            dir: state_dir.join("histories"),
            files: HashMap::new(),
        }
    }

    /// The folder the history files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The marks of the histories as their files hold them (after
    /// [`HistoryFiles::load`]): the changes to hand over start from these.
    pub fn marks(
        &self,
        loaded: &BTreeMap<String, TargetHistories>,
    ) -> HashMap<String, TargetMarks> {
        loaded
            .iter()
            .filter(|(target, _)| self.files.contains_key(*target))
            .map(|(target, histories)| (target.clone(), marks_of(histories)))
            .collect()
    }

    /// Every target's histories on disk. A torn end is cut off, an older
    /// ebb's file rewritten as a log; unreadable files (and temporary ones
    /// a crash left) are logged and skipped.
    pub fn load(&mut self) -> BTreeMap<String, TargetHistories> {
        let mut found = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return found;
        };
        let mut legacy = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(&path);
            } else if let Some(target) = name.strip_suffix(".log").and_then(decode) {
                if let Some(histories) = self.load_log(&target, &path) {
                    found.insert(target, histories);
                }
            } else if let Some(target) = name.strip_suffix(".json").and_then(decode) {
                legacy.push((target, path));
            }
        }
        for (target, path) in legacy {
            if !found.contains_key(&target)
                && let Some(histories) = self.migrate(&target, &path)
            {
                found.insert(target, histories);
            }
            if let Err(e) = std::fs::remove_file(&path) {
                tracing::warn!(file = %path.display(), error = %e, "cannot remove an older history file");
            }
        }
        found
    }

    fn load_log(&mut self, target: &str, path: &Path) -> Option<TargetHistories> {
        let read = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| read_log(&bytes));
        let ReadLog {
            histories,
            snapshot_bytes,
            appended_bytes,
            torn,
        } = match read {
            Ok(read) => read,
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "ignoring a history file: its target refetches its history");
                return None;
            }
        };
        if let Some(torn) = torn {
            let good = snapshot_bytes + appended_bytes;
            tracing::warn!(file = %path.display(), error = %torn, kept_bytes = good, "a history file ends in a bad record (a crash during an append): dropped; the history is refetched from its latest datapoint");
            let cut = std::fs::OpenOptions::new()
                .write(true)
                .open(path)
                .and_then(|file| file.set_len(good));
            if let Err(e) = cut {
                // Appends would land after the bad record: rewrite whole.
                tracing::error!(file = %path.display(), error = %e, "cannot cut a history file's bad end");
                return Some(histories);
            }
        }
        self.files.insert(
            target.to_string(),
            FileState::of(&histories, snapshot_bytes, appended_bytes),
        );
        Some(histories)
    }

    fn migrate(&mut self, target: &str, path: &Path) -> Option<TargetHistories> {
        let read = std::fs::read_to_string(path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<TargetHistories>(&text).map_err(|e| e.to_string())
            });
        match read {
            Ok(histories) => {
                if let Err(e) = self.write_whole(target, &histories) {
                    tracing::error!(error = %e, "cannot rewrite an older history file as a log");
                }
                Some(histories)
            }
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "ignoring a history file: its target refetches its history");
                None
            }
        }
    }

    /// Writes `changes` (whole or appended), compacts up to
    /// [`COMPACTIONS_PER_SAVE`] logs that are due, and removes the files of
    /// targets not in `present` (the targets that have histories). A
    /// target's failure does not stop the others.
    pub fn save(
        &mut self,
        changes: &BTreeMap<String, HistoryChange>,
        present: &BTreeSet<String>,
    ) -> HistorySave {
        let mut done = HistorySave::default();
        let fail = |done: &mut HistorySave, target: &str, e: HistoryFileError| {
            done.needs_whole.push(target.to_string());
            if done.error.is_none() {
                done.error = Some(e);
            }
        };
        for (target, change) in changes {
            match change {
                HistoryChange::Whole(histories) => match self.write_whole(target, histories) {
                    Ok(()) => done.rewritten += 1,
                    Err(e) => fail(&mut done, target, e),
                },
                HistoryChange::Tails(tails) if tails.is_empty() => {}
                HistoryChange::Tails(tails) => {
                    let takes = self.files.get(target).is_some_and(|f| f.takes(tails));
                    if !takes {
                        // An earlier change never reached the file.
                        done.needs_whole.push(target.clone());
                        continue;
                    }
                    match self.append(target, tails) {
                        Ok(()) => done.appended += 1,
                        Err(e) => fail(&mut done, target, e),
                    }
                    let due = self.files.get(target).is_some_and(|f| f.due(target));
                    if due && done.compacted < COMPACTIONS_PER_SAVE {
                        match self.compact(target) {
                            Ok(()) => done.compacted += 1,
                            Err(e) => fail(&mut done, target, e),
                        }
                    }
                }
            }
        }
        let gone: Vec<String> = self
            .files
            .keys()
            .filter(|target| !present.contains(*target))
            .cloned()
            .collect();
        for target in gone {
            let path = self.path_of(&target);
            match std::fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    fail(
                        &mut done,
                        &target,
                        HistoryFileError {
                            path,
                            message: format!("cannot remove: {e}"),
                        },
                    );
                    continue;
                }
            }
            self.files.remove(&target);
        }
        done
    }

    fn path_of(&self, target: &str) -> PathBuf {
        self.dir.join(format!("{}.log", encode(target)))
    }

    fn error(&self, target: &str, message: String) -> HistoryFileError {
        HistoryFileError {
            path: self.path_of(target),
            message,
        }
    }

    /// Replaces the target's file with a snapshot of `histories`.
    fn write_whole(
        &mut self,
        target: &str,
        histories: &TargetHistories,
    ) -> Result<(), HistoryFileError> {
        // Until it is written, nothing may be appended to the old file.
        self.files.remove(target);
        let path = self.path_of(target);
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| self.error(target, format!("cannot create the folder: {e}")))?;
        let line = snapshot_line(histories).map_err(|e| self.error(target, e))?;
        super::state::replace_atomically(&self.dir, TEMP_PREFIX, &path, &line)
            .map_err(|e| self.error(target, e))?;
        self.files.insert(
            target.to_string(),
            FileState::of(histories, line.len() as u64, 0),
        );
        Ok(())
    }

    /// Appends a record of `tails` to the target's log (not synced).
    fn append(
        &mut self,
        target: &str,
        tails: &BTreeMap<String, crate::forecast::history::HistoryTail>,
    ) -> Result<(), HistoryFileError> {
        let line = append_line(tails).map_err(|e| self.error(target, e))?;
        let written = std::fs::OpenOptions::new()
            .append(true)
            .open(self.path_of(target))
            .and_then(|mut file| file.write_all(&line));
        if let Err(e) = written {
            // It may have written part of the line: rewrite whole next.
            self.files.remove(target);
            return Err(self.error(target, format!("cannot append: {e}")));
        }
        let Some(file) = self.files.get_mut(target) else {
            return Ok(());
        };
        file.appended_bytes += line.len() as u64;
        for (policy, tail) in tails {
            if let (Some(newest), Some(tail_newest)) = (file.newest.get_mut(policy), tail.newest())
            {
                *newest = Some(newest.map_or(tail_newest, |n| n.max(tail_newest)));
            }
        }
        Ok(())
    }

    /// Rewrites the target's log as one snapshot of what it holds.
    fn compact(&mut self, target: &str) -> Result<(), HistoryFileError> {
        let read = std::fs::read(self.path_of(target))
            .map_err(|e| e.to_string())
            .and_then(|bytes| read_log(&bytes));
        match read {
            Ok(read) if read.torn.is_none() => self.write_whole(target, &read.histories),
            Ok(read) => {
                self.files.remove(target);
                Err(self.error(
                    target,
                    format!("cannot compact: {}", read.torn.unwrap_or_default()),
                ))
            }
            Err(e) => {
                self.files.remove(target);
                Err(self.error(target, format!("cannot compact: {e}")))
            }
        }
    }
}

/// A group name as a file name: letters, digits, `-` and `_` as they are,
/// every other byte as `%XX` (group names may hold `/`, spaces, dots).
fn encode(target: &str) -> String {
    let mut out = String::with_capacity(target.len());
    for byte in target.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn decode(name: &str) -> Option<String> {
    let bytes = name.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = name.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::history::LoadHistory;
    use crate::series::Datapoint;
    use chrono::{TimeZone, Utc};
    use std::collections::HashMap;

    use super::super::history_changes::ChangeTracker;

    fn start() -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
    }

    /// A 14-day history at 5 minutes, with `minutes` of datapoints.
    fn history(minutes: i64) -> LoadHistory {
        let mut h = LoadHistory::new(300, 14 * 86_400);
        grow(&mut h, 0, minutes);
        h
    }

    fn grow(h: &mut LoadHistory, from: i64, to: i64) {
        let points: Vec<Datapoint> = (from..to)
            .map(|m| Datapoint {
                time: start() + chrono::Duration::minutes(m),
                value: m as f64,
            })
            .collect();
        h.ingest(start() + chrono::Duration::minutes(to), &points, 1.0);
    }

    fn one(target: &str, h: LoadHistory) -> BTreeMap<String, TargetHistories> {
        BTreeMap::from([(
            target.to_string(),
            TargetHistories::from([("p".to_string(), h)]),
        )])
    }

    /// The daemon's path: a tracker hands changes, the files take them.
    struct Store {
        tracker: ChangeTracker,
        files: HistoryFiles,
    }

    impl Store {
        fn open(dir: &Path) -> (Store, BTreeMap<String, TargetHistories>) {
            let mut files = HistoryFiles::new(dir);
            let loaded = files.load();
            let tracker = ChangeTracker::new(files.marks(&loaded));
            (Store { tracker, files }, loaded)
        }

        fn save(&mut self, all: &BTreeMap<String, TargetHistories>) -> HistorySave {
            let changes = self.tracker.changes(all);
            let present = all.keys().cloned().collect();
            let done = self.files.save(&changes, &present);
            self.tracker.forget(done.needs_whole.clone());
            done
        }
    }

    fn size(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    #[test]
    fn a_completed_bucket_is_appended_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path());
        // Minutes up to 4321: the newest bucket (from minute 4320) filling.
        let mut all = one("web/a", history(3 * 1440 + 2));
        let done = store.save(&all);
        assert_eq!(done.rewritten, 1);
        let path = store.files.path_of("web/a");
        let whole = size(&path);
        assert!(whole > 20_000, "{whole}");
        // The newest bucket fills: nothing written.
        grow(
            all.get_mut("web/a").unwrap().get_mut("p").unwrap(),
            3 * 1440 + 2,
            3 * 1440 + 4,
        );
        let done = store.save(&all);
        assert_eq!((done.rewritten, done.appended), (0, 0));
        // Buckets complete: appended, a few hundred bytes each.
        for k in 0..5 {
            let from = 3 * 1440 + 4 + k * 5;
            grow(
                all.get_mut("web/a").unwrap().get_mut("p").unwrap(),
                from,
                from + 5,
            );
            let done = store.save(&all);
            assert_eq!((done.rewritten, done.appended), (0, 1), "bucket {k}");
        }
        let grown = size(&path) - whole;
        assert!(grown < 5 * 400, "{grown} bytes for 5 appends");
        // Read back by a new daemon: the same, and nothing to write.
        let (mut again, loaded) = Store::open(dir.path());
        assert_eq!(loaded, all);
        let done = again.save(&all);
        assert_eq!((done.rewritten, done.appended), (0, 0));
        // A target without histories any more: its file goes.
        again.save(&BTreeMap::new());
        assert_eq!(std::fs::read_dir(store.files.dir()).unwrap().count(), 0);
    }

    /// A crash in the middle of an append leaves a piece of a record (or
    /// zeros) at the end: it is dropped, the records before it kept, and
    /// later appends read back.
    #[test]
    fn a_torn_append_at_the_end_is_dropped_on_read() {
        for torn in [
            &b"00ab12"[..],
            &[0u8; 300][..],
            &b"0123456789abcdef {\"append\":{}}\n"[..],
        ] {
            let dir = tempfile::tempdir().unwrap();
            let (mut store, _) = Store::open(dir.path());
            let mut all = one("web", history(1440));
            store.save(&all);
            grow(
                all.get_mut("web").unwrap().get_mut("p").unwrap(),
                1440,
                1446,
            );
            store.save(&all);
            let before_tear = all.clone();
            let path = store.files.path_of("web");
            let good = size(&path);
            let mut file = std::fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .unwrap();
            file.write_all(torn).unwrap();
            drop(file);

            let (mut again, loaded) = Store::open(dir.path());
            assert_eq!(loaded, before_tear, "{torn:?}");
            assert_eq!(size(&path), good, "the bad end is cut off");
            grow(
                all.get_mut("web").unwrap().get_mut("p").unwrap(),
                1446,
                1456,
            );
            let done = again.save(&all);
            assert_eq!((done.rewritten, done.appended), (0, 1));
            assert_eq!(Store::open(dir.path()).1, all);
        }
    }

    /// An append lost (here: a record cut off by hand, as a crash of the
    /// machine may) leaves the history at an older latest datapoint, from
    /// which the policy fetches again; nothing after it is misread.
    #[test]
    fn a_lost_append_leaves_an_older_history_not_a_wrong_one() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path());
        let mut all = one("web", history(1440));
        store.save(&all);
        let first = all.clone();
        let path = store.files.path_of("web");
        let first_size = size(&path);
        grow(
            all.get_mut("web").unwrap().get_mut("p").unwrap(),
            1440,
            1450,
        );
        store.save(&all);
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(first_size + 10).unwrap();
        assert_eq!(Store::open(dir.path()).1, first);
    }

    #[test]
    fn an_older_json_history_file_is_read_and_rewritten_as_a_log() {
        let dir = tempfile::tempdir().unwrap();
        let histories = dir.path().join("histories");
        std::fs::create_dir_all(&histories).unwrap();
        let all = one("web/a", history(600));
        std::fs::write(
            histories.join("web%2Fa.json"),
            serde_json::to_vec(&all["web/a"]).unwrap(),
        )
        .unwrap();
        let (mut store, loaded) = Store::open(dir.path());
        assert_eq!(loaded, all);
        let names: Vec<String> = std::fs::read_dir(&histories)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["web%2Fa.log"]);
        let done = store.save(&all);
        assert_eq!(
            (done.rewritten, done.appended),
            (0, 0),
            "nothing new to write"
        );
        assert_eq!(Store::open(dir.path()).1, all);
    }

    #[test]
    fn a_log_is_compacted_once_its_appends_outgrow_its_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path());
        // A full 1-day window: every new bucket drops the oldest.
        let mut h = LoadHistory::new(300, 86_400);
        grow(&mut h, 0, 1440);
        let mut all = one("web", h);
        store.save(&all);
        let path = store.files.path_of("web");
        let snapshot = size(&path);
        let mut minute = 1440;
        let mut compacted_at = None;
        for round in 0..2000 {
            grow(
                all.get_mut("web").unwrap().get_mut("p").unwrap(),
                minute,
                minute + 5,
            );
            minute += 5;
            let done = store.save(&all);
            if done.compacted == 1 {
                compacted_at = Some(round);
                break;
            }
        }
        let round = compacted_at.expect("compacted");
        assert!(round > 100, "not at once: round {round}");
        let after = size(&path);
        assert!(
            after < snapshot + snapshot / 10,
            "one snapshot again: {after} bytes, the first {snapshot}"
        );
        assert_eq!(Store::open(dir.path()).1, all);
    }

    #[test]
    fn a_tail_that_does_not_continue_the_file_asks_for_a_whole_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = HistoryFiles::new(dir.path());
        let mut h = history(600);
        let all = one("web", h.clone());
        let present: BTreeSet<String> = all.keys().cloned().collect();
        let mut tracker = ChangeTracker::new(HashMap::new());
        files.save(&tracker.changes(&all), &present);
        // Two buckets complete; the first change never reaches the file.
        grow(&mut h, 600, 610);
        tracker.changes(&one("web", h.clone()));
        grow(&mut h, 610, 620);
        let all = one("web", h);
        let done = files.save(&tracker.changes(&all), &present);
        assert_eq!(done.needs_whole, ["web"]);
        assert_eq!(done.appended, 0);
        tracker.forget(done.needs_whole);
        let done = files.save(&tracker.changes(&all), &present);
        assert_eq!(done.rewritten, 1);
        assert_eq!(HistoryFiles::new(dir.path()).load(), all);
    }

    #[test]
    fn names_round_trip_through_file_names() {
        for name in ["web", "a/b c.d", "ünï", "%41"] {
            let encoded = encode(name);
            assert!(
                !encoded.contains('/') && !encoded.contains('.'),
                "{encoded}"
            );
            assert_eq!(decode(&encoded).as_deref(), Some(name));
        }
    }

    #[test]
    fn a_corrupt_history_file_is_skipped_and_the_others_load() {
        let dir = tempfile::tempdir().unwrap();
        let (mut store, _) = Store::open(dir.path());
        let mut all = one("web", history(60));
        all.extend(one("api", history(60)));
        store.save(&all);
        std::fs::write(store.files.path_of("api"), "{not json").unwrap();
        let (_, loaded) = Store::open(dir.path());
        assert_eq!(loaded.keys().collect::<Vec<_>>(), ["web"]);
    }
}
