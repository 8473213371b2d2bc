//! Writes tuned values into a policy file's own text with `toml_edit`, so
//! its comments, order and layout stay as they were.

use super::space::Segment;
use toml_edit::{DocumentMut, InlineTable, Item, Table, Value};

/// A value to write at a path.
#[derive(Debug, Clone, PartialEq)]
pub enum NewValue {
    /// A number, written as TOML writes it.
    Number(f64),
    /// A duration, already formatted (`"90s"`).
    Text(String),
}

impl NewValue {
    fn to_value(&self) -> Value {
        match self {
            NewValue::Number(n) => Value::from(*n),
            NewValue::Text(t) => Value::from(t.as_str()),
        }
    }
}

/// Why a value cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum RewriteError {
    /// The file is not TOML.
    #[error("the policy file is not TOML: {0}")]
    Parse(#[from] toml_edit::TomlError),
    /// A path leads through something that is not a table: the dotted path so far.
    #[error("`{0}` is not a table in the policy file")]
    NotATable(String),
}

/// `text` with each path set to its value; a missing table is added (an
/// inline one below a table), a replaced value keeps its comments.
pub fn rewrite(text: &str, edits: &[(Vec<Segment>, NewValue)]) -> Result<String, RewriteError> {
    let mut document: DocumentMut = text.parse()?;
    for (path, value) in edits {
        set(document.as_item_mut(), path, value.to_value())?;
    }
    Ok(document.to_string())
}

fn set(item: &mut Item, path: &[Segment], new: Value) -> Result<(), RewriteError> {
    let Some((last, parents)) = path.split_last() else {
        return Ok(());
    };
    let mut here = item;
    for (depth, segment) in parents.iter().enumerate() {
        let shown = || super::space::dotted(&path[..=depth]);
        here = match segment {
            Segment::Index(i) => here
                .get_mut(*i)
                .ok_or_else(|| RewriteError::NotATable(shown()))?,
            Segment::Key(key) => {
                let inline_parent = here.is_inline_table();
                let table = here
                    .as_table_like_mut()
                    .ok_or_else(|| RewriteError::NotATable(shown()))?;
                if table.get(key).is_none() {
                    // Top-level sections (`[governor]`) as tables, anything
                    // deeper (`max_step_out = { percent = 50 }`) inline.
                    let fresh = if depth == 0 && !inline_parent {
                        Item::Table(Table::new())
                    } else {
                        Item::Value(Value::InlineTable(InlineTable::new()))
                    };
                    table.insert(key, fresh);
                }
                table
                    .get_mut(key)
                    .ok_or_else(|| RewriteError::NotATable(shown()))?
            }
        };
    }
    let Segment::Key(key) = last else {
        return Err(RewriteError::NotATable(super::space::dotted(path)));
    };
    let table = here
        .as_table_like_mut()
        .ok_or_else(|| RewriteError::NotATable(super::space::dotted(parents)))?;
    let mut new = new;
    match table.get_mut(key) {
        // Replaced in place: the key keeps the comment lines above it, the
        // value those after it.
        Some(existing) => {
            if let Some(old) = existing.as_value() {
                *new.decor_mut() = old.decor().clone();
            }
            *existing = Item::Value(new);
        }
        None => {
            table.insert(key, Item::Value(new));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_file::parse_str;
    use std::path::Path;

    fn key(k: &str) -> Segment {
        Segment::Key(k.into())
    }

    #[test]
    fn rewriting_keeps_every_comment_and_changes_only_the_values() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-cpu.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        let edits = vec![
            (
                vec![key("policies"), Segment::Index(0), key("target")],
                NewValue::Number(62.5),
            ),
            (
                vec![
                    key("metrics"),
                    key("cpu"),
                    key("smoothing"),
                    key("half_life"),
                ],
                NewValue::Text("45s".into()),
            ),
            (
                vec![key("governor"), key("scale_in_cooldown")],
                NewValue::Text("2m".into()),
            ),
            (
                vec![key("governor"), key("max_step_in"), key("percent")],
                NewValue::Number(25.0),
            ),
        ];
        let out = rewrite(&text, &edits).unwrap();
        let comments = |t: &str| -> Vec<String> {
            t.lines()
                .filter_map(|l| l.find('#').map(|i| l[i..].to_string()))
                .collect()
        };
        assert_eq!(comments(&out), comments(&text), "{out}");
        assert!(out.contains("target = 62.5\n"), "{out}");
        assert!(
            out.contains("scale_in_cooldown = \"2m\"\n"),
            "the old value's layout kept: {out}"
        );
        assert!(
            out.contains("max_step_in = { percent = 25.0 }  # at most halve per decision"),
            "{out}"
        );
        assert!(out.contains("half_life = \"45s\" }"), "{out}");
        let changed_lines = text
            .lines()
            .zip(out.lines())
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(changed_lines, 4, "{out}");
        let file = parse_str(&out, &path).unwrap();
        assert_eq!(file.governor.scale_in_cooldown.as_secs(), 120);
    }

    #[test]
    fn comment_lines_above_a_rewritten_key_are_kept() {
        let text = "[governor]\n# Why the window is long:\n# two lines of it.\nscale_in_stabilization = \"30m\" # and after\nwarmup = \"5m\"\n";
        let out = rewrite(
            text,
            &[(
                vec![key("governor"), key("scale_in_stabilization")],
                NewValue::Text("10m".into()),
            )],
        )
        .unwrap();
        assert_eq!(
            out,
            text.replace("\"30m\"", "\"10m\""),
            "only the value changes"
        );
    }

    #[test]
    fn missing_tables_and_fields_are_added() {
        let text = "[target]\ngroup = \"g\"\nmin_capacity = 1\nmax_capacity = 4\n\n\
                    [metrics.cpu.source.cloudwatch]\nnamespace = \"AWS/EC2\"\nmetric_name = \"CPUUtilization\"\nstatistic = \"Average\"\n\n\
                    [[policies]]\nkind = \"target-tracking\"\nname = \"cpu\"\nmetric = \"cpu\"\ntarget = 50.0\n";
        let out = rewrite(
            text,
            &[
                (
                    vec![key("governor"), key("max_step_out"), key("percent")],
                    NewValue::Number(150.0),
                ),
                (
                    vec![key("governor"), key("warmup")],
                    NewValue::Text("90s".into()),
                ),
            ],
        )
        .unwrap();
        assert!(out.starts_with(text), "{out}");
        assert!(
            out.contains("[governor]\nmax_step_out = { percent = 150.0 }\nwarmup = \"90s\"\n"),
            "{out}"
        );
        let file = parse_str(&out, Path::new("g.toml")).unwrap();
        assert_eq!(file.governor.max_step_out.percent, Some(150.0));
        assert!(!file.group_defaults.warmup, "the warm-up is now written");
    }

    #[test]
    fn a_path_through_a_value_is_an_error() {
        let err = rewrite(
            "[target]\ngroup = \"g\"\n",
            &[(
                vec![key("target"), key("group"), key("x")],
                NewValue::Number(1.0),
            )],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "`target.group` is not a table in the policy file"
        );
    }
}
