//! The module boundaries the design rests on, checked on the source text.
//!
//! The pure core (signal, policies, governor, evaluator, decisions, forecasts,
//! replay...) does no I/O: it imports nothing from the modules that talk to
//! AWS, scrape targets, run the daemon or simulate a cloud. The simulator
//! runs the same control loop as the daemon without importing the daemon.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Files and folders of the pure core, relative to `src/`.
const CORE: &[&str] = &[
    "clock.rs",
    "decision.rs",
    "error_kind.rs",
    "evaluator.rs",
    "forecast",
    "governor.rs",
    "governor_memory.rs",
    "group.rs",
    "group_features.rs",
    "policy",
    "replay.rs",
    "series.rs",
    "signal.rs",
];

/// Modules that do I/O or run things: the core may not name them.
const NOT_FOR_THE_CORE: &[&str] = &["actuator", "daemon", "sim", "source"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file at or under `path`.
fn rust_files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())) {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn ident_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules a line of Rust names through `crate::`, whether in
/// a `use` (`use crate::source::X;`, `use crate::{source::X, signal}`) or in
/// a path written inline (`crate::source::Datapoint { .. }`).
fn crate_modules_named(line: &str) -> BTreeSet<String> {
    let mut modules = BTreeSet::new();
    let code = line.split("//").next().unwrap_or("");
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = group.split('}').next().unwrap_or("");
            for item in group.split(',') {
                let name = ident_at(item.trim());
                if !name.is_empty() {
                    modules.insert(name.to_string());
                }
            }
        } else {
            let name = ident_at(rest);
            if !name.is_empty() {
                modules.insert(name.to_string());
            }
        }
    }
    modules
}

/// Lines of the files under `roots` that name one of `forbidden`, as
/// `file:line: text`.
fn lines_naming(roots: &[&str], forbidden: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for root in roots {
        let path = src().join(root);
        assert!(path.exists(), "{} does not exist", path.display());
        for file in rust_files(&path) {
            let text = std::fs::read_to_string(&file).unwrap();
            // A `use` list may span lines; join it so its items are seen.
            let mut pending = String::new();
            let mut pending_from = 0;
            for (index, line) in text.lines().enumerate() {
                if pending.is_empty() {
                    pending_from = index + 1;
                }
                pending.push_str(line.trim());
                if pending.contains("crate::{") && !pending.contains('}') {
                    continue;
                }
                let named = crate_modules_named(&pending);
                if named.iter().any(|m| forbidden.contains(&m.as_str())) {
                    let relative = file.strip_prefix(src()).unwrap().display();
                    found.push(format!("src/{relative}:{pending_from}: {pending}"));
                }
                pending.clear();
            }
        }
    }
    found
}

#[test]
fn the_pure_core_imports_nothing_that_does_io() {
    let found = lines_naming(CORE, NOT_FOR_THE_CORE);
    assert!(
        found.is_empty(),
        "the pure core names modules that do I/O:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_simulator_runs_the_control_loop_without_the_daemon() {
    let found = lines_naming(&["sim", "control_loop.rs"], &["daemon"]);
    assert!(
        found.is_empty(),
        "the simulator or the shared control loop names the daemon:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_sees_every_way_of_naming_a_module() {
    for line in [
        "use crate::source::Datapoint;",
        "use crate::{signal, source::Series};",
        "use crate::{ source::{Series, FetchError}, signal };",
        "    points: Vec<crate::source::Datapoint>,",
    ] {
        assert!(
            crate_modules_named(line).contains("source"),
            "not seen in {line:?}"
        );
    }
    assert!(crate_modules_named("use crate::series::Datapoint; // not crate::source").len() == 1);
}
