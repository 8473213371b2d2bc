//! One daemon per state directory: an exclusive lock on `ebb.lock` in it,
//! held for the daemon's life. The kernel releases it when the process
//! ends, however it ends (a crash or SIGKILL leaves no stale lock). The file
//! holds the holder's pid and host, for the message a second daemon gives.

use std::fs::{File, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file's name in the state directory.
pub const LOCK_FILE: &str = "ebb.lock";

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub struct StateDirLock {
    _file: File,
    path: PathBuf,
}

/// Why the state directory could not be locked.
#[derive(Debug, thiserror::Error)]
pub enum StateLockError {
    /// Another daemon holds the lock.
    #[error(
        "{dir}: another ebb daemon ({holder}) is running on this state directory; \
         one daemon per state directory (lock file {lock})"
    )]
    Held {
        /// The state directory.
        dir: PathBuf,
        /// The lock file in it.
        lock: PathBuf,
        /// Who holds it, as its lock file says (pid and host).
        holder: String,
    },
    /// The lock file could not be created or locked.
    #[error("{path}: cannot lock the state directory: {source}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The operating system's error.
        source: std::io::Error,
    },
}

impl StateDirLock {
    /// Takes the lock without waiting (creating the directory if needed),
    /// and writes this process's pid and host into the lock file.
    pub fn acquire(dir: &Path, host: &str) -> Result<StateDirLock, StateLockError> {
        let path = dir.join(LOCK_FILE);
        let io = |source| StateLockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(StateLockError::Held {
                    dir: dir.to_path_buf(),
                    lock: path.clone(),
                    holder: describe_holder(&text),
                });
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        // Only the holder writes, so a reader sees the holder's own lines.
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        writeln!(file, "pid {}\nhost {host}", std::process::id()).map_err(io)?;
        file.sync_all().map_err(io)?;
        Ok(StateDirLock { _file: file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// "pid 1234 on host-a" from the lock file's lines, as far as they go.
fn describe_holder(text: &str) -> String {
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    match (field("pid"), field("host")) {
        (Some(pid), Some(host)) => format!("pid {pid} on {host}"),
        (Some(pid), None) => format!("pid {pid}"),
        _ => "pid unknown: the lock file is still being written".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_directory_names_the_holder() {
        let dir = tempfile::tempdir().unwrap();
        let held = StateDirLock::acquire(dir.path(), "host-a").unwrap();
        // flock locks belong to the open file: a second open conflicts even
        // within one process, as a second daemon would.
        let err = StateDirLock::acquire(dir.path(), "host-b").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains(&format!("pid {} on host-a", std::process::id())),
            "{message}"
        );
        assert!(message.contains("ebb.lock"), "{message}");
        drop(held);
        // Released: the next one takes it.
        StateDirLock::acquire(dir.path(), "host-b").unwrap();
    }

    #[test]
    fn the_holder_is_described_from_what_the_file_holds() {
        assert_eq!(describe_holder("pid 7\nhost h\n"), "pid 7 on h");
        assert_eq!(describe_holder("pid 7\n"), "pid 7");
        assert!(describe_holder("").contains("unknown"));
    }
}
