//! Reading policy files from disk, with errors that name the file, the field
//! and what is wrong.

use super::spans::{Spans, named_field};
use super::validate::validate;
use super::written_values::{self, Unparsable};
use super::{PolicyFile, PolicySpec};
use crate::text_file::{MAX_CONFIG_BYTES, ReadError, read_text};
use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with one policy file.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyFileError {
    /// The policy file (or folder) the error is in.
    pub file: PathBuf,
    /// Dotted path of the field, e.g. `governor.scale_in_cooldown`, when known.
    pub field: Option<String>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, for people.
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
    parse_located(text, file).map(|(parsed, _)| parsed)
}

/// Parses and validates, keeping where each field is written for errors
/// found later (a duplicate group across files).
fn parse_located(text: &str, file: &Path) -> Result<(PolicyFile, Spans), LoadError> {
    let spans = Spans::parse(text);
    let syntax = |e: toml::de::Error| LoadError(vec![syntax_error(&e, text, &spans, file)]);
    let document: toml::Table = toml::from_str(text).map_err(syntax)?;
    // Values that do not parse are collected first, with what the rest of
    // the file is read with in their place, so every error is reported.
    let unparsable = written_values::unparsable(&document);
    let mut errors: Vec<(String, String)> = unparsable
        .iter()
        .map(|u| (u.field.clone(), u.problem.clone()))
        .collect();
    let Some(readable) = with_placeholders(text, &spans, &unparsable) else {
        return Err(located(errors, &spans, file));
    };
    let mut parsed: PolicyFile = match toml::from_str(&readable) {
        Ok(parsed) => parsed,
        Err(e) if readable == text => return Err(syntax(e)),
        // Placed in the text it was read from, which has the same fields.
        Err(e) => {
            let spans = Spans::parse(&readable);
            return Err(LoadError(vec![syntax_error(&e, &readable, &spans, file)]));
        }
    };
    parsed.group_defaults = super::GroupDefaults {
        warmup: !spans.contains("governor.warmup"),
        scale_in_cooldown: !spans.contains("governor.scale_in_cooldown"),
    };
    errors.extend(validate(&parsed));
    // In the order they are written, the values that did not parse among the rest.
    errors.sort_by_key(|(field, _)| spans.line_of(field));
    if errors.is_empty() {
        Ok((parsed, spans))
    } else {
        Err(located(errors, &spans, file))
    }
}

/// `text` with each unparsable value replaced by its placeholder (same
/// lines, so the rest of the file's errors are placed as written); `None`
/// when one cannot be replaced.
fn with_placeholders(text: &str, spans: &Spans, unparsable: &[Unparsable]) -> Option<String> {
    let mut replacements = Vec::with_capacity(unparsable.len());
    for u in unparsable {
        replacements.push((spans.value_of(&u.field)?, u.placeholder?));
    }
    // From the end, so the earlier ranges stay where they are.
    replacements.sort_by_key(|(range, _)| std::cmp::Reverse(range.start));
    let mut readable = text.to_string();
    for (range, placeholder) in replacements {
        readable.replace_range(range, placeholder);
    }
    Some(readable)
}

/// Errors found in a file, each placed at its field's line.
fn located(errors: Vec<(String, String)>, spans: &Spans, file: &Path) -> LoadError {
    LoadError(
        errors
            .into_iter()
            .map(|(field, message)| PolicyFileError {
                file: file.to_path_buf(),
                line: spans.line_of(&field),
                field: Some(field),
                message,
            })
            .collect(),
    )
}

/// A TOML or serde error, with the field it is about (see
/// [`Spans::locate_error`]); an error placed on a whole policy is placed on
/// its field.
fn syntax_error(e: &toml::de::Error, text: &str, spans: &Spans, file: &Path) -> PolicyFileError {
    let located = spans.locate_error(e, text, |field, message| {
        is_whole_policy(field)
            .then(|| locate_in_policies(text, spans, message))
            .flatten()
    });
    PolicyFileError {
        file: file.to_path_buf(),
        field: located.field,
        line: located.line,
        message: located.message,
    }
}

/// `policies` or `policies[3]`: an error placed on a policy as a whole.
fn is_whole_policy(path: &str) -> bool {
    path == "policies"
        || path
            .strip_prefix("policies[")
            .and_then(|rest| rest.strip_suffix(']'))
            .is_some_and(|index| index.parse::<usize>().is_ok())
}

/// serde reads each `[[policies]]` table through a buffer (its `kind` says
/// which type the rest is), and the parser then places any error in a
/// policy at the start of the first one. Which policy it is in is found by
/// reading each on its own; which field, by the name or value the message
/// quotes.
fn locate_in_policies(text: &str, spans: &Spans, message: &str) -> Option<String> {
    let document: toml::Table = toml::from_str(text).ok()?;
    let policies = document.get("policies")?.as_array()?;
    let index = policies
        .iter()
        .position(|p| PolicySpec::deserialize(p.clone()).is_err())?;
    let policy = format!("policies[{index}]");
    let found = if let Some(name) = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next())
    {
        spans.lacking_in(&policy, name)
    } else if let Some(name) = named_field(message) {
        spans.key_in(&policy, name)
    } else {
        spans.quoted_in(&policy, message)
    };
    Some(found.map_or(policy, String::from))
}

/// Reads and validates one policy file.
pub fn load_file(path: &Path) -> Result<PolicyFile, LoadError> {
    load_located(path).map(|(parsed, _)| parsed)
}

fn load_located(path: &Path) -> Result<(PolicyFile, Spans), LoadError> {
    let text = read_policy_text(path).map_err(|e| {
        LoadError(vec![PolicyFileError {
            file: path.to_path_buf(),
            field: None,
            line: None,
            message: e.to_string(),
        }])
    })?;
    parse_located(&text, path)
}

/// A policy file's text: a regular file of at most
/// [`MAX_CONFIG_BYTES`](crate::text_file::MAX_CONFIG_BYTES).
pub fn read_policy_text(path: &Path) -> Result<String, ReadError> {
    read_text(path, MAX_CONFIG_BYTES)
}

/// The `*.toml` files of a directory, sorted by name.
pub fn toml_files_in(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    found.sort();
    Ok(found)
}

/// A valid policy file and its shadow candidates.
#[derive(Debug)]
pub struct LoadedWithShadows {
    /// Where the policy file was read from.
    pub path: PathBuf,
    /// The validated policy.
    pub file: PolicyFile,
    /// (candidate's path, candidate policy).
    pub shadows: Vec<(PathBuf, PolicyFile)>,
    spans: Spans,
}

impl LoadedWithShadows {
    /// The error for this file when `other` already targets its group.
    pub fn group_taken_by(&self, other: &Path) -> PolicyFileError {
        PolicyFileError {
            file: self.path.clone(),
            field: Some("target.group".into()),
            line: self.spans.line_of("target.group"),
            message: format!(
                "group `{}` is already targeted by {}",
                self.file.target.group,
                other.display()
            ),
        }
    }
}

/// Loads one policy file and the shadow candidates it names: a file whose
/// candidates are wrong is refused, by `ebb check` and the daemon alike.
pub fn load_with_shadows(path: &Path) -> Result<LoadedWithShadows, LoadError> {
    let (file, spans) = load_located(path)?;
    let shadows = load_shadows(path, &file).map_err(|LoadError(errors)| {
        LoadError(
            errors
                .into_iter()
                .map(|mut e| {
                    if e.file == path && e.line.is_none() {
                        e.line = e.field.as_deref().and_then(|f| spans.line_of(f));
                    }
                    e
                })
                .collect(),
        )
    })?;
    Ok(LoadedWithShadows {
        path: path.to_path_buf(),
        file,
        shadows,
        spans,
    })
}

/// Loads every `*.toml` policy file in `dir` and validates each; every error of every file is
/// returned, not just the first.
pub fn load_dir(dir: &Path) -> Result<Vec<(PathBuf, PolicyFile)>, LoadError> {
    load_paths(&[dir.to_path_buf()])
}

/// Loads files and directories (their `*.toml` files), checking also that no
/// two files target the same group and that each file's shadow candidates
/// load. All errors are collected.
pub fn load_paths(paths: &[PathBuf]) -> Result<Vec<(PathBuf, PolicyFile)>, LoadError> {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    for path in paths {
        if path.is_dir() {
            match toml_files_in(path) {
                Ok(found) if found.is_empty() => errors.push(PolicyFileError {
                    file: path.clone(),
                    field: None,
                    line: None,
                    message: "no policy files (*.toml) in this directory".into(),
                }),
                Ok(found) => files.extend(found),
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
    // A file named twice (or named and inside a folder named) is one file,
    // not a second one targeting its group.
    let mut seen = std::collections::HashSet::new();
    files.retain(|file| seen.insert(std::fs::canonicalize(file).unwrap_or_else(|_| file.clone())));
    let mut loaded: Vec<(PathBuf, PolicyFile)> = Vec::new();
    for file in files {
        match load_with_shadows(&file) {
            Ok(policy) => {
                if let Some((other, _)) = loaded
                    .iter()
                    .find(|(_, p)| p.target.group == policy.file.target.group)
                {
                    errors.push(policy.group_taken_by(other));
                } else {
                    loaded.push((file, policy.file));
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
    for (i, relative) in file.target.shadows.iter().enumerate() {
        let refuse = |message: String| PolicyFileError {
            file: path.to_path_buf(),
            field: Some(format!("target.shadows[{i}]")),
            line: None,
            message,
        };
        if relative.as_os_str().is_empty() {
            errors.push(refuse("an empty path names no policy file".into()));
            continue;
        }
        let candidate_path = folder.join(relative);
        // A candidate that cannot be read is reported where it is named.
        let text = match read_policy_text(&candidate_path) {
            Ok(text) => text,
            Err(e) => {
                errors.push(refuse(format!("shadow {}: {e}", candidate_path.display())));
                continue;
            }
        };
        match parse_str(&text, &candidate_path) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid file with every kind of table; tests break one line of it.
    const GOOD: &str = r#"[target]
group = "web"
min_capacity = 2
max_capacity = 10

[metrics.cpu]
smoothing = { kind = "ewma", half_life = "2m" }

[metrics.cpu.source.cloudwatch]
namespace = "AWS/EC2"
metric_name = "CPUUtilization"
statistic = "Average"

[[policies]]
kind = "target-tracking"
name = "cpu-50"
metric = "cpu"
target = 50.0

[[policies]]
kind = "schedule"
name = "office-hours"
timezone = "Europe/Berlin"
windows = [{ days = "mon-fri", start = "08:00", end = "18:00", min_capacity = 4 }]

[governor]
scale_out_cooldown = "1m"
scale_in_cooldown = "5m"
"#;

    /// The errors for GOOD with `from` replaced by `to`.
    fn errors(from: &str, to: &str) -> Vec<PolicyFileError> {
        assert!(GOOD.contains(from), "{from}");
        let text = GOOD.replacen(from, to, 1);
        match parse_str(&text, Path::new("p.toml")) {
            Ok(_) => panic!("accepted with {to:?}"),
            Err(LoadError(errors)) => errors,
        }
    }

    /// The one error for GOOD with `from` replaced by `to`, as
    /// (field, line, message).
    fn error(from: &str, to: &str) -> (String, usize, String) {
        let errors = errors(from, to);
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        assert_eq!(e.file, Path::new("p.toml"));
        (
            e.field.clone().unwrap_or_default(),
            e.line.expect("a line"),
            e.message.clone(),
        )
    }

    #[test]
    fn the_good_file_loads() {
        parse_str(GOOD, Path::new("p.toml")).unwrap();
    }

    #[test]
    fn an_unknown_field_is_named_with_its_line() {
        let (field, line, message) =
            error("scale_in_cooldown = \"5m\"", "scale_in_cooldwn = \"5m\"");
        assert_eq!((field.as_str(), line), ("governor.scale_in_cooldwn", 28));
        assert!(
            message.starts_with("unknown field `scale_in_cooldwn`"),
            "{message}"
        );
        let (field, line, _) = error("min_capacity = 2", "min_capacity = 2\nminimum = 1");
        assert_eq!((field.as_str(), line), ("target.minimum", 4));
    }

    #[test]
    fn an_unknown_field_in_a_policy_or_inline_table_is_named() {
        let (field, line, message) = error("target = 50.0", "target = 50.0\ntarget_value = 50.0");
        assert_eq!((field.as_str(), line), ("policies[0].target_value", 19));
        assert!(
            message.contains("unknown field `target_value`"),
            "{message}"
        );
        let (field, line, _) = error("half_life = \"2m\"", "half_life = \"2m\", alpha = 0.5");
        assert_eq!((field.as_str(), line), ("metrics.cpu.smoothing.alpha", 7));
        let (field, line, _) = error("min_capacity = 4 }", "min_capacity = 4, max = 9 }");
        assert_eq!((field.as_str(), line), ("policies[1].windows[0].max", 24));
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_field() {
        let (field, line, message) = error("min_capacity = 2", "min_capacity = \"two\"");
        assert_eq!((field.as_str(), line), ("target.min_capacity", 3));
        assert!(message.contains("invalid type"), "{message}");
        let (field, line, _) = error("min_capacity = 2", "min_capacity = -1");
        assert_eq!((field.as_str(), line), ("target.min_capacity", 3));
        let (field, line, _) = error("target = 50.0", "target = \"50%\"");
        assert_eq!((field.as_str(), line), ("policies[0].target", 18));
    }

    #[test]
    fn a_cooldown_that_is_not_a_duration_names_the_field() {
        for bad in ["\"5 parsecs\"", "300", "\"soon\""] {
            let (field, line, message) = error(
                "scale_in_cooldown = \"5m\"",
                &format!("scale_in_cooldown = {bad}"),
            );
            assert_eq!(
                (field.as_str(), line),
                ("governor.scale_in_cooldown", 28),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn a_missing_field_is_named() {
        let (field, line, message) = error("max_capacity = 10\n", "");
        assert_eq!((field.as_str(), line), ("target.max_capacity", 1));
        assert!(
            message.contains("missing field `max_capacity`"),
            "{message}"
        );
        let (field, _, _) = error("metric = \"cpu\"\n", "");
        assert_eq!(field, "policies[0].metric");
    }

    #[test]
    fn a_missing_table_is_named() {
        let without_target = &GOOD[GOOD.find("[metrics.cpu]").unwrap()..];
        let LoadError(errors) = parse_str(without_target, Path::new("p.toml")).unwrap_err();
        assert_eq!(errors[0].field.as_deref(), Some("target"));
        assert_eq!(errors[0].line, Some(1));
        let LoadError(errors) = parse_str("", Path::new("p.toml")).unwrap_err();
        assert_eq!(
            errors[0].to_string(),
            "p.toml:1: target: missing field `target`"
        );
    }

    #[test]
    fn a_field_missing_from_one_window_of_several_is_placed_there() {
        let two_windows = GOOD.replacen(
            "min_capacity = 4 }]",
            "min_capacity = 4 },\n  { days = \"sat\", start = \"10:00\", end = \"12:00\" }]",
            1,
        );
        let LoadError(errors) = parse_str(&two_windows, Path::new("p.toml")).unwrap_err();
        assert_eq!(
            errors[0].field.as_deref(),
            Some("policies[1].windows[1].min_capacity")
        );
        assert_eq!(errors[0].line, Some(25));
        let (field, line, message) = error("kind = \"schedule\"\n", "");
        assert_eq!((field.as_str(), line), ("policies[1].kind", 20));
        assert_eq!(message, "missing field `kind`");
    }

    #[test]
    fn a_duplicate_key_names_the_field() {
        let (field, line, message) =
            error("max_capacity = 10", "max_capacity = 10\nmax_capacity = 12");
        assert_eq!((field.as_str(), line), ("target.max_capacity", 5));
        assert!(message.contains("duplicate key"), "{message}");
    }

    #[test]
    fn broken_toml_gives_its_line() {
        let (_, line, _) = error("statistic = \"Average\"", "statistic = ");
        assert_eq!(line, 12);
        let (_, line, _) = error(
            "[[policies]]\nkind = \"schedule\"",
            "[[policies]\nkind = \"schedule\"",
        );
        assert_eq!(line, 20);
    }

    #[test]
    fn an_unknown_policy_kind_is_named() {
        let (field, line, message) = error("kind = \"schedule\"", "kind = \"magic\"");
        assert_eq!((field.as_str(), line), ("policies[1].kind", 21));
        assert!(message.contains("unknown variant `magic`"), "{message}");
    }

    #[test]
    fn min_above_max_names_the_field_and_line() {
        let (field, line, message) = error("min_capacity = 2", "min_capacity = 12");
        assert_eq!((field.as_str(), line), ("target.min_capacity", 3));
        assert_eq!(message, "min_capacity 12 is greater than max_capacity 10");
    }

    #[test]
    fn a_target_value_of_zero_or_less_is_refused() {
        for bad in ["0.0", "-5.0", "nan", "inf"] {
            let (field, line, message) = error("target = 50.0", &format!("target = {bad}"));
            assert_eq!((field.as_str(), line), ("policies[0].target", 18), "{bad}");
            assert!(message.starts_with("target value must be > 0"), "{message}");
        }
    }

    #[test]
    fn a_metric_referenced_but_not_defined_is_named() {
        let (field, line, message) = error("metric = \"cpu\"", "metric = \"cpu_avg\"");
        assert_eq!((field.as_str(), line), ("policies[0].metric", 17));
        assert!(
            message.contains("`cpu_avg` is referenced but not defined"),
            "{message}"
        );
    }

    #[test]
    fn schedule_errors_point_into_the_window() {
        let (field, line, message) = error("Europe/Berlin", "Europe/Atlantis");
        assert_eq!((field.as_str(), line), ("policies[1].timezone", 23));
        assert!(
            message.contains("`Europe/Atlantis` is not an IANA time zone"),
            "{message}"
        );
        let (field, line, message) = error("mon-fri", "mon-fry");
        assert_eq!((field.as_str(), line), ("policies[1].windows[0].days", 24));
        assert!(message.contains("`fry` is not a day"), "{message}");
        let (field, line, message) = error("\"18:00\"", "\"08:00\"");
        assert_eq!((field.as_str(), line), ("policies[1].windows[0].end", 24));
        assert!(message.contains("same time"), "{message}");
        let (field, line, message) = error("min_capacity = 4 }", "min_capacity = 11 }");
        assert_eq!(
            (field.as_str(), line),
            ("policies[1].windows[0].min_capacity", 24)
        );
        assert_eq!(message, "11 is above target.max_capacity 10");
    }

    #[test]
    fn a_time_of_day_that_is_not_one_is_refused() {
        for bad in ["\"25:00\"", "\"8am\"", "800"] {
            let errors = errors("\"08:00\"", bad);
            assert_eq!(errors.len(), 1, "{errors:?}");
            let e = &errors[0];
            assert_eq!(
                e.field.as_deref(),
                Some("policies[1].windows[0].start"),
                "{e}"
            );
            assert_eq!(e.line, Some(24), "{e}");
        }
    }

    #[test]
    fn a_statistic_cloudwatch_does_not_know_is_refused() {
        for good in ["Sum", "p99", "p99.9", "tm99", "TM(10%:90%)", "IQM"] {
            let text = GOOD.replacen("\"Average\"", &format!("\"{good}\""), 1);
            parse_str(&text, Path::new("p.toml")).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        let (field, line, message) = error("\"Average\"", "\"Avg\"");
        assert_eq!(
            (field.as_str(), line),
            ("metrics.cpu.source.cloudwatch.statistic", 12)
        );
        assert!(
            message.starts_with("`Avg` is not a CloudWatch statistic"),
            "{message}"
        );
        let (_, _, message) = error("\"Average\"", "\"p101\"");
        assert!(message.contains("p0-p100"), "{message}");
    }

    #[test]
    fn a_metric_that_would_always_be_stale_is_refused() {
        // 5-minute periods, the 2 latest skipped: the newest datapoint is
        // at least 15 minutes old, older than the default stale_after of 5.
        let (field, line, message) = error(
            "statistic = \"Average\"",
            "statistic = \"Average\"\nperiod = \"5m\"",
        );
        assert_eq!((field.as_str(), line), ("metrics.cpu.stale_after", 6));
        assert!(
            message.contains("= 15m): the metric would always be stale"),
            "{message}"
        );
        let text = GOOD
            .replacen(
                "statistic = \"Average\"",
                "statistic = \"Average\"\nperiod = \"5m\"",
                1,
            )
            .replacen("[metrics.cpu]", "[metrics.cpu]\nstale_after = \"20m\"", 1);
        parse_str(&text, Path::new("p.toml")).unwrap();
    }

    #[test]
    fn a_max_value_of_zero_or_less_is_refused() {
        let (field, line, message) = error("[metrics.cpu]", "[metrics.cpu]\nmax_value = 0");
        assert_eq!((field.as_str(), line), ("metrics.cpu.max_value", 7));
        assert!(
            message.contains("every value would be rejected"),
            "{message}"
        );
    }

    #[test]
    fn a_policy_needs_a_name() {
        let (field, line, _) = error("name = \"cpu-50\"", "name = \" \"");
        assert_eq!((field.as_str(), line), ("policies[0].name", 16));
    }

    #[test]
    fn every_error_is_reported_not_only_the_first() {
        let text = GOOD
            .replacen("min_capacity = 2", "min_capacity = 12", 1)
            .replacen("target = 50.0", "target = 0.0", 1)
            .replacen("mon-fri", "someday", 1);
        let LoadError(errors) = parse_str(&text, Path::new("p.toml")).unwrap_err();
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_deref().unwrap()).collect();
        assert_eq!(
            fields,
            [
                "target.min_capacity",
                "policies[0].target",
                "policies[1].windows[0].days"
            ]
        );
    }

    #[test]
    fn a_history_step_without_seasons_is_refused_where_written() {
        let text = GOOD.replacen(
            "[governor]",
            "[[policies]]\nkind = \"predictive\"\nname = \"forecast\"\nmetric = \"cpu\"\ntarget_per_instance = 5.0\nhistory_step = \"7m\"\n\n[governor]",
            1,
        );
        assert_ne!(text, GOOD);
        let LoadError(errors) = parse_str(&text, Path::new("p.toml")).unwrap_err();
        let e = &errors[0];
        assert_eq!(e.field.as_deref(), Some("policies[2].history_step"), "{e}");
        assert!(e.message.contains("divides a day"), "{e}");
    }

    #[test]
    fn the_error_line_reads_file_line_field_message() {
        let e = &errors("min_capacity = 2", "min_capacity = 12")[0];
        assert_eq!(
            e.to_string(),
            "p.toml:3: target.min_capacity: min_capacity 12 is greater than max_capacity 10"
        );
    }

    #[test]
    fn the_same_group_in_two_files_is_refused_at_the_second() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.toml"), GOOD).unwrap();
        std::fs::write(dir.path().join("b.toml"), GOOD).unwrap();
        let LoadError(errors) = load_dir(dir.path()).unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].file, dir.path().join("b.toml"));
        assert_eq!(errors[0].field.as_deref(), Some("target.group"));
        assert_eq!(errors[0].line, Some(2));
        assert!(
            errors[0].message.contains("already targeted by"),
            "{}",
            errors[0]
        );
        assert!(errors[0].message.contains("a.toml"), "{}", errors[0]);
    }

    #[test]
    fn a_directory_without_policy_files_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a policy").unwrap();
        let LoadError(errors) = load_dir(dir.path()).unwrap_err();
        assert!(
            errors[0].message.contains("no policy files"),
            "{:?}",
            errors
        );
        let LoadError(errors) = load_file(&dir.path().join("absent.toml")).unwrap_err();
        assert!(errors[0].message.starts_with("cannot read"), "{:?}", errors);
    }
}
