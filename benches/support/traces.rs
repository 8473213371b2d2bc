//! The real traces the benches read: every CSV in `../shared/traces/` beside
//! the project, or in `EBB_TRACES_DIR`.

use std::path::{Path, PathBuf};

/// The trace files in name order, or the folder looked in when it cannot be read.
pub fn trace_files(root: &Path) -> Result<Vec<PathBuf>, PathBuf> {
    let dir = std::env::var_os("EBB_TRACES_DIR")
        .map_or_else(|| root.join("../shared/traces"), PathBuf::from);
    let entries = std::fs::read_dir(&dir).map_err(|_| dir.clone())?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "csv"))
        .collect();
    paths.sort();
    Ok(paths)
}
