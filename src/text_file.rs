//! Reading a file a user points ebb at (a policy file, the daemon config):
//! regular files only, and only up to a size, so that a FIFO named
//! `*.toml` cannot hang `ebb check` or a reload, and a huge file cannot
//! take gigabytes of memory to check.

use std::io::Read;
use std::path::Path;

/// The largest policy file or daemon config read: 1 MB, a hundred times the
/// largest real one.
pub const MAX_CONFIG_BYTES: u64 = 1_000_000;

/// Why a file was not read; the caller adds the file's name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    /// The operating system refused the read: its error.
    #[error("cannot read: {0}")]
    Io(String),
    /// The path is a directory, a device or another thing that is not a regular file.
    #[error("cannot read: not a regular file ({0}); only regular files are read")]
    NotRegular(&'static str),
    /// The file is larger than the caller reads.
    #[error("cannot read: larger than the limit of {limit} bytes")]
    TooLarge {
        /// The most bytes the caller reads.
        limit: u64,
    },
    /// The contents are not valid UTF-8.
    #[error("cannot read: not UTF-8 text")]
    NotText,
}

/// Reads `path` as UTF-8 text when it is a regular file (symbolic links
/// followed) of at most `limit` bytes.
pub fn read_text(path: &Path, limit: u64) -> Result<String, ReadError> {
    // Checked before opening: opening a FIFO blocks until a writer comes.
    let kind = std::fs::metadata(path).map_err(|e| ReadError::Io(e.to_string()))?;
    check_kind(&kind)?;
    let file = std::fs::File::open(path).map_err(|e| ReadError::Io(e.to_string()))?;
    // The file opened may not be the one looked at (renamed meanwhile).
    check_kind(&file.metadata().map_err(|e| ReadError::Io(e.to_string()))?)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Io(e.to_string()))?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { limit });
    }
    String::from_utf8(bytes).map_err(|_| ReadError::NotText)
}

fn check_kind(metadata: &std::fs::Metadata) -> Result<(), ReadError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(ReadError::NotRegular(if kind.is_dir() {
        "a directory"
    } else if is_fifo(&kind) {
        "a FIFO"
    } else {
        "a device, socket or other special file"
    }))
}

#[cfg(unix)]
fn is_fifo(kind: &std::fs::FileType) -> bool {
    std::os::unix::fs::FileTypeExt::is_fifo(kind)
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::FileType) -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_regular_file_within_the_limit_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.toml");
        std::fs::write(&path, "a = 1\n").unwrap();
        assert_eq!(read_text(&path, 6).unwrap(), "a = 1\n");
        assert_eq!(read_text(&path, 5), Err(ReadError::TooLarge { limit: 5 }));
    }

    #[test]
    fn a_directory_or_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            read_text(dir.path(), 10),
            Err(ReadError::NotRegular("a directory"))
        );
        assert!(matches!(
            read_text(&dir.path().join("absent"), 10),
            Err(ReadError::Io(_))
        ));
        let path = dir.path().join("bin.toml");
        std::fs::write(&path, [0xff, 0xfe]).unwrap();
        assert_eq!(read_text(&path, 10), Err(ReadError::NotText));
    }

    #[cfg(unix)]
    #[test]
    fn a_fifo_is_refused_without_waiting_for_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.toml");
        let made = std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap();
        assert!(made.success());
        assert_eq!(read_text(&path, 10), Err(ReadError::NotRegular("a FIFO")));
    }
}
