//! Reading the policy directory for the daemon, file by file, so one broken
//! file does not take the others down on a reload.

use super::accounts::{Accounts, unknown_account};
use crate::evaluator::TargetEvaluator;
use crate::policy_file::{PolicyFile, PolicyFileError, load_with_shadows, toml_files_in};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One valid policy file and the shadow candidates it names.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadedPolicy {
    /// Where the policy file was read from.
    pub path: PathBuf,
    /// The validated policy, shared with the target's evaluator.
    pub file: Arc<PolicyFile>,
    /// (candidate name: its file name, candidate policy).
    pub shadows: Vec<(String, Arc<PolicyFile>)>,
}

impl LoadedPolicy {
    /// A fresh evaluator for this policy and its shadows.
    pub fn evaluator(&self) -> TargetEvaluator {
        TargetEvaluator::new(Arc::clone(&self.file)).with_shadows(self.shadows.clone())
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

impl DirContents {
    /// Moves every valid file whose target names an account the daemon
    /// config does not define to `invalid`, saying so.
    pub fn refuse_unknown_accounts(&mut self, accounts: &Accounts) {
        let refused: Vec<(String, PolicyFileError)> = self
            .valid
            .iter()
            .filter_map(|(group, policy)| {
                unknown_account(&policy.path, &policy.file.target, accounts)
                    .map(|e| (group.clone(), e))
            })
            .collect();
        for (group, error) in refused {
            if let Some(policy) = self.valid.remove(&group) {
                self.invalid.insert(policy.path, vec![error]);
            }
        }
    }
}

/// Loads every `*.toml` file of `dir`, sorted by name. Only an unreadable
/// directory is an error; each bad file is reported in `invalid`.
pub fn read_dir(dir: &Path) -> Result<DirContents, PolicyFileError> {
    let paths = toml_files_in(dir).map_err(|e| PolicyFileError {
        file: dir.to_path_buf(),
        field: None,
        line: None,
        message: format!("cannot read the policy directory: {e}"),
    })?;
    let mut contents = DirContents::default();
    for path in paths {
        match load_with_shadows(&path) {
            Ok(loaded) => {
                let group = loaded.file.target.group.clone();
                if let Some(other) = contents.valid.get(&group) {
                    contents
                        .invalid
                        .insert(path, vec![loaded.group_taken_by(&other.path)]);
                } else {
                    let shadows = loaded
                        .shadows
                        .into_iter()
                        .map(|(candidate, shadow)| {
                            let name = candidate
                                .file_name()
                                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
                            (name, Arc::new(shadow))
                        })
                        .collect();
                    contents.valid.insert(
                        group,
                        LoadedPolicy {
                            path,
                            file: Arc::new(loaded.file),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluator::tests::policy_text;

    #[test]
    fn each_bad_file_is_reported_with_its_line_and_the_good_ones_load() {
        let dir = tempfile::tempdir().unwrap();
        let web = policy_text("web", "active", "");
        std::fs::write(dir.path().join("a-web.toml"), &web).unwrap();
        // The same group again: refused, pointing at its `group` line.
        std::fs::write(dir.path().join("b-web-again.toml"), &web).unwrap();
        std::fs::write(
            dir.path().join("c-api.toml"),
            policy_text("api", "active", "").replace("target = 50.0", "target = -5.0"),
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();

        let contents = read_dir(dir.path()).unwrap();
        assert_eq!(contents.valid.keys().collect::<Vec<_>>(), ["web"]);
        assert_eq!(contents.invalid.len(), 2);
        let again = &contents.invalid[&dir.path().join("b-web-again.toml")][0];
        assert_eq!(again.field.as_deref(), Some("target.group"));
        assert_eq!(again.line, Some(3));
        assert!(again.message.contains("a-web.toml"), "{again}");
        let api = &contents.invalid[&dir.path().join("c-api.toml")][0];
        assert_eq!(api.field.as_deref(), Some("policies[0].target"));
        assert_eq!(api.line, Some(20), "{api}");
    }

    #[test]
    fn the_evaluator_shares_the_loaded_policy_instead_of_copying_it() {
        // At 10,000 targets a copy of each policy file per evaluator was
        // ~5 KiB a target (benches/fleet_tick.rs): one copy is kept.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("web.toml"),
            policy_text("web", "active", ""),
        )
        .unwrap();
        let contents = read_dir(dir.path()).unwrap();
        let loaded = &contents.valid["web"];
        let evaluator = loaded.evaluator();
        assert!(std::ptr::eq(evaluator.file(), &*loaded.file));
        // A reloaded evaluator (a fresh one from the same load) shares it too.
        assert!(std::ptr::eq(loaded.evaluator().file(), evaluator.file()));
    }

    #[test]
    fn an_unreadable_directory_is_the_only_error() {
        let err = read_dir(Path::new("/nonexistent/ebb-policies")).unwrap_err();
        assert!(
            err.message.contains("cannot read the policy directory"),
            "{err}"
        );
    }
}
