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

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Appends one record as one line.
    pub fn append(&mut self, record: &DecisionRecord) -> std::io::Result<()> {
        let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
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

fn open_append(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new().create(true).append(true).open(path)
}
