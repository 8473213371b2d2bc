//! The decisions log: one JSON line per evaluation, appended.
//!
//! Each record is serialized first and written with a single `write_all` of
//! the whole line to a file opened for appending, so a reader (or a crash)
//! never sees half a line from ebb, and lines from a restarted daemon follow
//! the old ones. The file is not buffered in ebb: once `append` returns, the
//! line is in the operating system's hands. [`DecisionsLog::reopen`] follows
//! a log rotated away (logrotate's `create` mode).

use crate::decision::DecisionRecord;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// An open decisions log.
#[derive(Debug)]
pub struct DecisionsLog {
    path: PathBuf,
    file: File,
}

impl DecisionsLog {
    /// Opens (creating it and its directory when missing) the log for appending.
    pub fn open(path: &Path) -> std::io::Result<DecisionsLog> {
        Ok(DecisionsLog {
            path: path.to_path_buf(),
            file: open_append(path)?,
        })
    }

    /// The file the log is written to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line.
    pub fn append(&mut self, record: &DecisionRecord) -> std::io::Result<()> {
        self.append_json(&record_json(record)?)
    }

    /// Appends a record already serialized by [`record_json`] (one JSON
    /// object, no newline) as one line: the daemon serializes each record
    /// once, for this log and for tracing.
    pub fn append_json(&mut self, json: &str) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(json.len() + 1);
        line.extend_from_slice(json.as_bytes());
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.flush()
    }

    /// Opens the path again, for after the file was moved away.
    pub fn reopen(&mut self) -> std::io::Result<()> {
        self.file = open_append(&self.path)?;
        Ok(())
    }
}

/// A record as one line of the log (without its newline).
pub fn record_json(record: &DecisionRecord) -> std::io::Result<String> {
    serde_json::to_string(record).map_err(std::io::Error::other)
}

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluator::TargetEvaluator;
    use crate::policy_file::load_file;

    fn record(error: &str) -> DecisionRecord {
        let policy =
            load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-cpu.toml"))
                .expect("the example policy loads");
        TargetEvaluator::new(policy).unavailable(
            chrono::Utc::now(),
            &crate::series::FetchResults::new(),
            crate::evaluator::Unavailable::ReadFailed(crate::error_kind::CallError::other(error)),
        )
    }

    fn lines(path: &Path) -> Vec<DecisionRecord> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).expect("a whole record per line"))
            .collect()
    }

    #[test]
    fn records_are_appended_one_per_line_and_a_rotated_log_is_recreated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log/decisions.jsonl");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, "").unwrap();
        let mut log = DecisionsLog::open(&path).unwrap();
        log.append(&record("one")).unwrap();
        // A second writer (a restarted daemon) appends after the first.
        let mut again = DecisionsLog::open(&path).unwrap();
        again.append(&record("two")).unwrap();
        let errors: Vec<_> = lines(&path)
            .into_iter()
            .map(|r| r.outcome.error().map(str::to_string))
            .collect();
        let failed = |why: &str| Some(format!("describing groups failed: {why}"));
        assert_eq!(errors, [failed("one"), failed("two")]);

        // logrotate moves the file away; SIGHUP reopens the path.
        let rotated = dir.path().join("log/decisions.jsonl.1");
        std::fs::rename(&path, &rotated).unwrap();
        log.append(&record("three")).unwrap(); // still the old file
        log.reopen().unwrap();
        log.append(&record("four")).unwrap();
        assert_eq!(lines(&rotated).len(), 3);
        assert_eq!(
            lines(&path)[0].outcome.error(),
            Some("describing groups failed: four")
        );
    }
}
