//! Reading the policy directory for the daemon, file by file, so one broken
//! file does not take the others down on a reload.

use crate::evaluator::TargetEvaluator;
use crate::policy_file::{PolicyFile, PolicyFileError, load_file, load_shadows};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One valid policy file and the shadow candidates it names.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPolicy {
    pub path: PathBuf,
    pub file: PolicyFile,
    /// (candidate name: its file name, candidate policy).
    pub shadows: Vec<(String, PolicyFile)>,
}

impl LoadedPolicy {
    /// A fresh evaluator for this policy and its shadows.
    pub fn evaluator(&self) -> TargetEvaluator {
        TargetEvaluator::new(self.file.clone()).with_shadows(self.shadows.clone())
    }
}

/// What a read of the policy directory found.
#[derive(Debug, Default)]
pub struct DirContents {
    /// Valid files, by target group.
    pub valid: BTreeMap<String, LoadedPolicy>,
    /// Files that could not be loaded, with what is wrong.
    pub invalid: BTreeMap<PathBuf, Vec<PolicyFileError>>,
}

/// Loads every `*.toml` file of `dir`, sorted by name. Only an unreadable
/// directory is an error; each bad file is reported in `invalid`.
pub fn read_dir(dir: &Path) -> Result<DirContents, PolicyFileError> {
    let entries = std::fs::read_dir(dir).map_err(|e| PolicyFileError {
        file: dir.to_path_buf(),
        field: None,
        line: None,
        message: format!("cannot read the policy directory: {e}"),
    })?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    paths.sort();
    let mut contents = DirContents::default();
    for path in paths {
        let loaded = load_file(&path).and_then(|file| {
            let shadows = load_shadows(&path, &file)?
                .into_iter()
                .map(|(candidate, shadow)| {
                    let name = candidate
                        .file_name()
                        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                    (name, shadow)
                })
                .collect();
            Ok((file, shadows))
        });
        match loaded {
            Ok((file, shadows)) => {
                let group = file.target.group.clone();
                if let Some(other) = contents.valid.get(&group) {
                    let error = PolicyFileError {
                        file: path.clone(),
                        field: Some("target.group".into()),
                        line: None,
                        message: format!(
                            "group `{group}` is already targeted by {}",
                            other.path.display()
                        ),
                    };
                    contents.invalid.insert(path, vec![error]);
                } else {
                    contents.valid.insert(
                        group,
                        LoadedPolicy {
                            path,
                            file,
                            shadows,
                        },
                    );
                }
            }
            Err(e) => {
                contents.invalid.insert(path, e.0);
            }
        }
    }
    Ok(contents)
}
