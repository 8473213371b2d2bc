//! Reading policy files from disk, with errors that name the file, the field
//! and what is wrong.

use super::PolicyFile;
use super::validate::validate;
use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with one policy file.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyFileError {
    pub file: PathBuf,
    /// Dotted path of the field, e.g. `governor.scale_in_cooldown`, when known.
    pub field: Option<String>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    pub message: String,
}

impl fmt::Display for PolicyFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ": {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Everything wrong with a set of policy files.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct LoadError(pub Vec<PolicyFileError>);

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// Parses and validates one policy file's text; `file` is only used in errors.
pub fn parse_str(text: &str, file: &Path) -> Result<PolicyFile, LoadError> {
    let parsed: PolicyFile = toml::from_str(text).map_err(|e| {
        let line = e.span().map(|span| line_of(text, span.start));
        LoadError(vec![PolicyFileError {
            file: file.to_path_buf(),
            field: None,
            line,
            message: e.message().to_string(),
        }])
    })?;
    let errors = validate(&parsed);
    if errors.is_empty() {
        Ok(parsed)
    } else {
        Err(LoadError(
            errors
                .into_iter()
                .map(|(field, message)| PolicyFileError {
                    file: file.to_path_buf(),
                    line: line_of_field(text, &field),
                    field: Some(field),
                    message,
                })
                .collect(),
        ))
    }
}

/// Reads and validates one policy file.
pub fn load_file(path: &Path) -> Result<PolicyFile, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        LoadError(vec![PolicyFileError {
            file: path.to_path_buf(),
            field: None,
            line: None,
            message: format!("cannot read: {e}"),
        }])
    })?;
    parse_str(&text, path)
}

/// Loads every `*.toml` file in a directory, sorted by name.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, PolicyFile)>, LoadError> {
    load_paths(&[dir.to_path_buf()])
}

/// Loads files and directories (their `*.toml` files), checking also that no
/// two files target the same group. All errors are collected.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<(PathBuf, PolicyFile)>, LoadError> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.is_dir() {
            match std::fs::read_dir(path) {
                Ok(entries) => {
                    let mut found: Vec<PathBuf> = entries
                        .filter_map(|e| e.ok().map(|e| e.path()))
                        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
                        .collect();
                    found.sort();
                    files.extend(found);
                }
                Err(e) => errors.push(PolicyFileError {
                    file: path.clone(),
                    field: None,
                    line: None,
                    message: format!("cannot read directory: {e}"),
                }),
            }
        } else {
            files.push(path.clone());
        }
    }
    let mut loaded: Vec<(PathBuf, PolicyFile)> = Vec::new();
    for file in files {
        match load_file(&file) {
            Ok(policy) => {
                if let Some((other, _)) = loaded
                    .iter()
                    .find(|(_, p)| p.target.group == policy.target.group)
                {
                    errors.push(PolicyFileError {
                        file: file.clone(),
                        field: Some("target.group".into()),
                        line: None,
                        message: format!(
                            "group `{}` is already targeted by {}",
                            policy.target.group,
                            other.display()
                        ),
                    });
                } else {
                    loaded.push((file, policy));
                }
            }
            Err(LoadError(mut e)) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(LoadError(errors))
    }
}

/// Loads the shadow candidates a policy file names, relative to its folder.
/// Each must target the same group and name no shadows of its own.
pub fn load_shadows(
    path: &Path,
    file: &PolicyFile,
) -> Result<Vec<(PathBuf, PolicyFile)>, LoadError> {
    let folder = path.parent().unwrap_or(Path::new("."));
    let mut loaded = Vec::new();
    let mut errors = Vec::new();
    let refuse = |message: String| PolicyFileError {
        file: path.to_path_buf(),
        field: Some("target.shadows".into()),
        line: None,
        message,
    };
    for relative in &file.target.shadows {
        let candidate_path = folder.join(relative);
        match load_file(&candidate_path) {
            Ok(candidate) if candidate.target.group != file.target.group => {
                errors.push(refuse(format!(
                    "shadow {} targets group `{}`, not `{}`",
                    candidate_path.display(),
                    candidate.target.group,
                    file.target.group
                )))
            }
            Ok(candidate) if !candidate.target.shadows.is_empty() => errors.push(refuse(format!(
                "shadow {} names shadows of its own; a candidate cannot have candidates",
                candidate_path.display()
            ))),
            Ok(candidate) => loaded.push((candidate_path, candidate)),
            Err(LoadError(mut e)) => errors.append(&mut e),
        }
    }
    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(LoadError(errors))
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Best-effort line of a dotted field path: the line where its last key is
/// assigned, or its table header.
fn line_of_field(text: &str, field: &str) -> Option<usize> {
    let last = field.rsplit('.').next()?;
    let last = last.split('[').next()?;
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with(&format!("{last} "))
                || l.starts_with(&format!("{last}="))
                || l.contains(&format!(".{last}]"))
        })
        .map(|i| i + 1)
}
