//! The load histories predictive policies learn from, kept out of
//! `state.json`: one file per target under `histories/` in the state
//! directory, written only when one of its histories gains or loses a
//! bucket (every few minutes), not every round. With 14 days of buckets per
//! policy, writing them with the per-round state made that file and its
//! write grow with every predictive target.
//!
//! Each file is replaced atomically (temporary file, sync, rename), as
//! `state.json` is. A file that cannot be read is logged and skipped: its
//! target refetches its history, as with no file at all.

use crate::forecast::history::LoadHistory;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// One target's histories, by policy name.
pub type TargetHistories = BTreeMap<String, LoadHistory>;

/// Temporary files being written start with this.
const TEMP_PREFIX: &str = ".history.";

/// Which buckets each policy's history held when its file was written.
type Marks = BTreeMap<String, (usize, Option<i64>)>;

fn marks(histories: &TargetHistories) -> Marks {
    histories
        .iter()
        .map(|(policy, history)| (policy.clone(), history.bucket_marks()))
        .collect()
}

/// The `histories/` folder, and what was last written to it.
#[derive(Debug, Clone)]
pub struct HistoryFiles {
    dir: PathBuf,
    written: HashMap<String, Marks>,
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

impl HistoryFiles {
    /// The history files under `state_dir/histories`.
    pub fn new(state_dir: &Path) -> HistoryFiles {
        HistoryFiles {
            dir: state_dir.join("histories"),
            written: HashMap::new(),
        }
    }

    /// The folder the history files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every target's histories on disk. Unreadable files (and temporary
    /// ones a crash left) are logged and skipped.
    pub fn load(&mut self) -> BTreeMap<String, TargetHistories> {
        let mut found = BTreeMap::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return found;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with(TEMP_PREFIX) {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            let Some(target) = name.strip_suffix(".json").and_then(decode) else {
                continue;
            };
            let read = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    serde_json::from_str::<TargetHistories>(&text).map_err(|e| e.to_string())
                });
            match read {
                Ok(histories) => {
                    self.written.insert(target.clone(), marks(&histories));
                    found.insert(target, histories);
                }
                Err(e) => {
                    tracing::error!(file = %path.display(), error = %e, "ignoring a history file: its target refetches its history");
                }
            }
        }
        found
    }

    /// Writes the histories of every target whose buckets changed since
    /// they were last written, and removes the files of targets that have
    /// none any more. Returns how many files it wrote.
    pub fn save(
        &mut self,
        histories: &BTreeMap<String, TargetHistories>,
    ) -> Result<usize, HistoryFileError> {
        let present: BTreeSet<String> = histories.keys().cloned().collect();
        self.save_some(histories, &present)
    }

    /// Like [`HistoryFiles::save`], when `histories` holds only some of the
    /// targets that have histories (those that may have changed) and
    /// `present` names them all: the files of targets not in `present` are
    /// removed, the others' kept.
    pub fn save_some(
        &mut self,
        histories: &BTreeMap<String, TargetHistories>,
        present: &BTreeSet<String>,
    ) -> Result<usize, HistoryFileError> {
        let mut wrote = 0;
        for (target, of_target) in histories {
            let now = marks(of_target);
            if self.written.get(target) == Some(&now) {
                continue;
            }
            self.write(target, of_target)?;
            self.written.insert(target.clone(), now);
            wrote += 1;
        }
        let gone: Vec<String> = self
            .written
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
                    return Err(HistoryFileError {
                        path,
                        message: format!("cannot remove: {e}"),
                    });
                }
            }
            self.written.remove(&target);
        }
        Ok(wrote)
    }

    fn path_of(&self, target: &str) -> PathBuf {
        self.dir.join(format!("{}.json", encode(target)))
    }

    fn write(&self, target: &str, histories: &TargetHistories) -> Result<(), HistoryFileError> {
        let path = self.path_of(target);
        let error = |message: String| HistoryFileError {
            path: path.clone(),
            message,
        };
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| error(format!("cannot create the folder: {e}")))?;
        let text = serde_json::to_vec(histories).map_err(|e| error(e.to_string()))?;
        super::state::replace_atomically(&self.dir, TEMP_PREFIX, &path, &text).map_err(error)
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
    use crate::series::Datapoint;
    use chrono::{TimeZone, Utc};

    fn history(minutes: i64) -> LoadHistory {
        let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let points: Vec<Datapoint> = (0..minutes)
            .map(|m| Datapoint {
                time: start + chrono::Duration::minutes(m),
                value: m as f64,
            })
            .collect();
        let mut h = LoadHistory::new(300, 14 * 86_400);
        h.ingest(start + chrono::Duration::minutes(minutes), &points, 1.0);
        h
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
    fn a_history_is_written_when_a_bucket_completes_not_every_round() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = HistoryFiles::new(dir.path());
        let mut all = BTreeMap::from([(
            "web/a".to_string(),
            TargetHistories::from([("p".to_string(), history(12))]),
        )]);
        assert_eq!(files.save(&all).unwrap(), 1);
        // The newest bucket fills (minute 12 -> 13, same 5-minute bucket): no write.
        all.get_mut("web/a")
            .unwrap()
            .insert("p".into(), history(13));
        assert_eq!(files.save(&all).unwrap(), 0);
        // A new bucket starts: written.
        all.get_mut("web/a")
            .unwrap()
            .insert("p".into(), history(16));
        assert_eq!(files.save(&all).unwrap(), 1);
        // Read back by a new daemon: the same, and nothing to write.
        let mut again = HistoryFiles::new(dir.path());
        let loaded = again.load();
        assert_eq!(loaded, all);
        assert_eq!(again.save(&all).unwrap(), 0);
        // A target without histories any more: its file goes.
        assert_eq!(again.save(&BTreeMap::new()).unwrap(), 0);
        assert_eq!(
            std::fs::read_dir(files.dir()).unwrap().count(),
            0,
            "no file, and no temporary file left"
        );
    }

    #[test]
    fn a_corrupt_history_file_is_skipped_and_the_others_load() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = HistoryFiles::new(dir.path());
        let all = BTreeMap::from([
            (
                "web".to_string(),
                TargetHistories::from([("p".to_string(), history(12))]),
            ),
            (
                "api".to_string(),
                TargetHistories::from([("p".to_string(), history(12))]),
            ),
        ]);
        files.save(&all).unwrap();
        std::fs::write(files.dir().join("api.json"), "{not json").unwrap();
        let loaded = HistoryFiles::new(dir.path()).load();
        assert_eq!(loaded.keys().collect::<Vec<_>>(), ["web"]);
    }
}
