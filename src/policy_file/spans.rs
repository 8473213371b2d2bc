//! Where each field of a policy file is written: dotted field paths (as
//! validation names them, e.g. `policies[1].windows[0].days`) mapped to
//! lines, from the TOML parser's spans, so that every error can point at
//! its line.

use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// A TOML or serde error placed in its file.
#[derive(Debug, Clone, PartialEq)]
pub struct LocatedError {
    /// Dotted path of the field, when known.
    pub field: Option<String>,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// What is wrong, for people.
    pub message: String,
}

/// The fields of one file and where they are.
#[derive(Debug, Default)]
pub struct Spans {
    /// Byte offset of each line's start.
    line_starts: Vec<usize>,
    /// Every key and array element, parents before children.
    fields: Vec<Field>,
}

#[derive(Debug)]
struct Field {
    path: String,
    /// The key, for table entries; absent for array elements.
    key: Option<Range<usize>>,
    /// The value; for a table opened by a header, the header.
    value: Range<usize>,
    /// A plain value's text as written, without quotes; none for tables and
    /// arrays.
    text: Option<String>,
}

impl Spans {
    /// The fields of `text`, as far as it can be read.
    pub fn parse(text: &str) -> Spans {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        let mut spans = Spans {
            line_starts,
            fields: Vec::new(),
        };
        // What can be read of a broken file still places its errors.
        let (table, _errors) = DeTable::parse_recoverable(text);
        spans.table(table.get_ref(), "", text);
        spans
    }

    fn table(&mut self, table: &DeTable<'_>, prefix: &str, text: &str) {
        for (key, value) in table.iter() {
            let path = if prefix.is_empty() {
                key.get_ref().to_string()
            } else {
                format!("{prefix}.{}", key.get_ref())
            };
            self.fields.push(Field {
                path: path.clone(),
                key: Some(key.span()),
                value: value.span(),
                text: plain_text(value.get_ref(), &text[value.span()]),
            });
            self.value(value.get_ref(), &path, text);
        }
    }

    fn value(&mut self, value: &DeValue<'_>, path: &str, text: &str) {
        match value {
            DeValue::Table(table) => self.table(table, path, text),
            DeValue::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let path = format!("{path}[{i}]");
                    self.fields.push(Field {
                        path: path.clone(),
                        key: None,
                        value: item.span(),
                        text: plain_text(item.get_ref(), &text[item.span()]),
                    });
                    self.value(item.get_ref(), &path, text);
                }
            }
            _ => {}
        }
    }

    /// 1-based line of a byte offset.
    pub fn line_at(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|start| *start <= offset)
    }

    /// Where a field's value is written, in bytes.
    pub fn value_of(&self, path: &str) -> Option<Range<usize>> {
        self.fields
            .iter()
            .find(|f| f.path == path)
            .map(|f| f.value.clone())
    }

    /// The line a field is written on; for a field that is not written (a
    /// missing one), the line of the nearest enclosing field that is.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut path = path;
        loop {
            if let Some(field) = self.fields.iter().find(|f| f.path == path) {
                let at = field.key.as_ref().unwrap_or(&field.value).start;
                return Some(self.line_at(at));
            }
            path = parent(path)?;
        }
    }

    /// Whether a field is written in the file.
    pub fn contains(&self, path: &str) -> bool {
        self.fields.iter().any(|f| f.path == path)
    }

    /// The innermost field whose key or value covers a byte offset.
    pub fn path_at(&self, offset: usize) -> Option<&str> {
        let covers = |r: &Range<usize>| r.start <= offset && offset < r.end.max(r.start + 1);
        self.fields
            .iter()
            .filter(|f| covers(&f.value) || f.key.as_ref().is_some_and(covers))
            .max_by_key(|f| f.path.len())
            .map(|f| f.path.as_str())
    }

    /// The field under `within` whose key is `name`, at any depth.
    pub fn key_in(&self, within: &str, name: &str) -> Option<&str> {
        let suffix = format!(".{name}");
        self.fields
            .iter()
            .find(|f| is_under(&f.path, within) && f.path.ends_with(&suffix))
            .map(|f| f.path.as_str())
    }

    /// The array element under `within` that lacks key `name` while the
    /// other elements of its array have it, if there is exactly one: the
    /// table a "missing field" error is about.
    pub fn lacking_in(&self, within: &str, name: &str) -> Option<&str> {
        let has = |table: &str| self.contains(&format!("{table}.{name}"));
        let mut lacking = self
            .fields
            .iter()
            .filter(|f| is_under(&f.path, within) && f.key.is_none() && !has(&f.path))
            .filter(|f| {
                let array = parent(&f.path).unwrap_or_default();
                self.fields.iter().any(|sibling| {
                    sibling.key.is_none()
                        && parent(&sibling.path) == Some(array)
                        && has(&sibling.path)
                })
            });
        match (lacking.next(), lacking.next()) {
            (Some(only), None) => Some(only.path.as_str()),
            _ => None,
        }
    }

    /// The field with key `name` written last before `offset`.
    pub fn preceding_key(&self, name: &str, offset: usize) -> Option<&str> {
        self.fields
            .iter()
            .filter(|f| f.path.rsplit('.').next() == Some(name))
            .filter_map(|f| Some((f.key.as_ref()?.start, f.path.as_str())))
            .filter(|(start, _)| *start < offset)
            .max_by_key(|(start, _)| *start)
            .map(|(_, path)| path)
    }

    /// The plain field under `within` whose value `message` quotes (in
    /// backticks or double quotes), as serde does in "invalid value" errors.
    pub fn quoted_in(&self, within: &str, message: &str) -> Option<&str> {
        self.fields
            .iter()
            .filter(|f| is_under(&f.path, within))
            .find(|f| {
                f.text.as_ref().is_some_and(|v| {
                    message.contains(&format!("`{v}`")) || message.contains(&format!("\"{v}\""))
                })
            })
            .map(|f| f.path.as_str())
    }
}

impl Spans {
    /// Where a TOML or serde error from reading this text is: the field at
    /// the error's position and, for an unknown or missing field, that field.
    /// `relocate` may move an error serde placed on a whole table it read
    /// through a buffer (given the field and the message) to a better field.
    pub fn locate_error(
        &self,
        e: &toml::de::Error,
        text: &str,
        relocate: impl Fn(&str, &str) -> Option<String>,
    ) -> LocatedError {
        let message = e.message().trim().to_string();
        // An empty span at the start is the document itself (a missing table).
        let offset = e.span().filter(|span| span.end > 0).map(|span| span.start);
        let mut field = offset.and_then(|o| self.path_at(o)).map(String::from);
        if let (None, Some(span)) = (&field, e.span())
            && message == "duplicate key"
        {
            // The second key is not in the parsed document: name the first.
            let key = text
                .get(span.clone())
                .unwrap_or_default()
                .trim()
                .trim_matches('"');
            field = self.preceding_key(key, span.start).map(String::from);
        }
        if let Some(moved) = field.as_deref().and_then(|f| relocate(f, &message)) {
            field = Some(moved);
        } else if let Some(inner) = field.as_deref().and_then(|f| self.quoted_in(f, &message)) {
            // A tagged table (`smoothing = { kind = ... }`) is read through a
            // buffer too: the value the message quotes says which field.
            field = Some(inner.to_string());
        }
        if let Some(name) = named_field(&message) {
            field = Some(match field {
                Some(path) if path == name || path.ends_with(&format!(".{name}")) => path,
                Some(path) => format!("{path}.{name}"),
                None => name.to_string(),
            });
        }
        let at_error = e.span().map(|span| self.line_at(span.start));
        let line = if message == "duplicate key" {
            at_error // the second one's line, where the fix goes
        } else {
            field.as_deref().and_then(|f| self.line_of(f)).or(at_error)
        };
        LocatedError {
            field,
            line,
            message,
        }
    }
}

/// The field serde names in "unknown field `x`" and "missing field `x`".
pub fn named_field(message: &str) -> Option<&str> {
    let rest = ["unknown field `", "missing field `"]
        .iter()
        .find_map(|prefix| message.strip_prefix(prefix))?;
    rest.split('`').next()
}

/// A plain value as written, quotes taken off.
fn plain_text(value: &DeValue<'_>, written: &str) -> Option<String> {
    match value {
        DeValue::Table(_) | DeValue::Array(_) => None,
        DeValue::String(s) => Some(s.to_string()),
        _ => Some(written.trim().to_string()),
    }
}

/// Whether `path` lies inside `within`: `a[1].b` is inside `a[1]`, `a[10]` is not.
fn is_under(path: &str, within: &str) -> bool {
    path.strip_prefix(within)
        .is_some_and(|rest| rest.starts_with(['.', '[']))
}

/// `a.b[2].c` -> `a.b[2]` -> `a.b` -> `a` -> none.
fn parent(path: &str) -> Option<&str> {
    let cut = path.rfind(['.', '['])?;
    Some(&path[..cut])
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# comment
[target]
group = "web"
min_capacity = 2

[metrics.cpu]
smoothing = { kind = "ewma", half_life = "2m" }

[[policies]]
name = "a"

[[policies]]
name = "b"
windows = [
  { days = "mon", start = "08:00", end = "09:00", min_capacity = 1 },
  { days = "tue", start = "08:00", end = "09:00", min_capacity = 1 },
]
"#;

    #[test]
    fn every_field_has_its_line() {
        let spans = Spans::parse(TEXT);
        assert_eq!(spans.line_of("target"), Some(2));
        assert_eq!(spans.line_of("target.group"), Some(3));
        assert_eq!(spans.line_of("target.min_capacity"), Some(4));
        assert_eq!(spans.line_of("metrics.cpu"), Some(6));
        assert_eq!(spans.line_of("metrics.cpu.smoothing.half_life"), Some(7));
        assert_eq!(spans.line_of("policies[0].name"), Some(10));
        assert_eq!(spans.line_of("policies[1].name"), Some(13));
        assert_eq!(spans.line_of("policies[1].windows[1].days"), Some(16));
    }

    #[test]
    fn a_field_not_written_is_placed_at_its_table() {
        let spans = Spans::parse(TEXT);
        assert_eq!(spans.line_of("target.max_capacity"), Some(2));
        assert_eq!(spans.line_of("policies[1].metric"), Some(12));
        assert_eq!(spans.line_of("governor.warmup"), None);
        assert!(!spans.contains("target.max_capacity"));
        assert!(spans.contains("policies[1].windows[0].end"));
    }

    #[test]
    fn the_one_element_lacking_a_key_its_siblings_have() {
        let text = TEXT.replacen(
            ", min_capacity = 1 },\n  { days = \"tue\"",
            " },\n  { days = \"tue\"",
            1,
        );
        let spans = Spans::parse(&text);
        assert_eq!(
            spans.lacking_in("policies[1]", "min_capacity"),
            Some("policies[1].windows[0]")
        );
        // Every element has it, or none does: no single one to blame.
        assert_eq!(
            Spans::parse(TEXT).lacking_in("policies[1]", "min_capacity"),
            None
        );
        assert_eq!(spans.lacking_in("policies[1]", "timezone"), None);
    }

    #[test]
    fn a_file_that_is_not_valid_toml_is_read_as_far_as_it_can_be() {
        let spans = Spans::parse("[target]\ngroup = \"web\"\ngroup = \"api\"\n");
        assert_eq!(spans.line_of("target.group"), Some(2));
    }

    #[test]
    fn an_offset_maps_to_the_innermost_field() {
        let spans = Spans::parse(TEXT);
        let at = |needle: &str| spans.path_at(TEXT.find(needle).unwrap()).map(String::from);
        assert_eq!(at("\"web\"").as_deref(), Some("target.group"));
        assert_eq!(
            at("min_capacity = 2").as_deref(),
            Some("target.min_capacity")
        );
        assert_eq!(
            at("\"2m\"").as_deref(),
            Some("metrics.cpu.smoothing.half_life")
        );
        assert_eq!(
            at("\"tue\"").as_deref(),
            Some("policies[1].windows[1].days")
        );
        assert_eq!(at("# comment"), None);
    }

    #[test]
    fn lines_count_from_one() {
        let spans = Spans::parse("a = 1\nb = 2\n");
        assert_eq!(spans.line_at(0), 1);
        assert_eq!(spans.line_at(5), 1);
        assert_eq!(spans.line_at(6), 2);
        assert_eq!(spans.line_of("b"), Some(2));
    }
}
