//! The real traces the benches read: every CSV in `../shared/traces/` beside
//! the project, or in `EBB_TRACES_DIR`.

// Each bench uses part of this module.
#![allow(dead_code)]

use chrono::Duration;
use ebb::sim::trace::Trace;
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

/// The last `days` of a trace (all of it when shorter).
pub fn last_days(trace: &Trace, days: i64) -> Trace {
    let keep = (Duration::days(days).num_seconds() / trace.step().num_seconds()) as usize;
    let values = trace.values();
    let from = values.len().saturating_sub(keep);
    Trace::new(trace.time_of(from), trace.step(), values[from..].to_vec())
        .expect("a slice of a trace is a trace")
}
