//! Series selectors in PromQL's syntax: `name{label="v", code=~"5..", x!="y"}`.
//!
//! A policy file names the series to scale on with a selector; it is parsed
//! when the file is loaded (a bad one is a load error), so a [`Selector`]
//! that exists is always valid.

use super::expo::Sample;
use regex::Regex;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A metric name and label matchers, all of which must hold.
#[derive(Debug, Clone)]
pub struct Selector {
    text: String,
    name: String,
    matchers: Vec<Matcher>,
}

#[derive(Debug, Clone)]
struct Matcher {
    label: String,
    op: MatchOp,
}

#[derive(Debug, Clone)]
enum MatchOp {
    Equal(String),
    NotEqual(String),
    /// Anchored at both ends, as PromQL does.
    Regex(Regex),
    NotRegex(Regex),
}

impl Selector {
    /// Reads a selector: a metric name and optional label matchers in one `{...}` (`=`, `!=`, `=~`,
    /// `!~`).
    pub fn parse(text: &str) -> Result<Selector, String> {
        let trimmed = text.trim();
        let name_end = trimmed
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .unwrap_or(trimmed.len());
        let name = &trimmed[..name_end];
        if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
            return Err(format!("selector `{text}` must start with a metric name"));
        }
        let rest = trimmed[name_end..].trim_start();
        let matchers = if rest.is_empty() {
            Vec::new()
        } else {
            let inner = rest
                .strip_prefix('{')
                .and_then(|r| r.strip_suffix('}'))
                .ok_or_else(|| {
                    format!("selector `{text}`: label matchers go in one `{{...}}` after the name")
                })?;
            parse_matchers(inner).map_err(|e| format!("selector `{text}`: {e}"))?
        };
        Ok(Selector {
            text: trimmed.to_string(),
            name: name.to_string(),
            matchers,
        })
    }

    /// The metric name the selector matches.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a sample's labels satisfy every matcher (the name is checked
    /// by the caller, which may look for `name_bucket` instead). A label the
    /// sample lacks counts as the empty string, as in PromQL.
    pub fn matches_labels(&self, sample: &Sample) -> bool {
        self.matchers.iter().all(|m| {
            let value = sample.label(&m.label).unwrap_or("");
            match &m.op {
                MatchOp::Equal(v) => value == v,
                MatchOp::NotEqual(v) => value != v,
                MatchOp::Regex(re) => re.is_match(value),
                MatchOp::NotRegex(re) => !re.is_match(value),
            }
        })
    }
}

fn parse_matchers(inner: &str) -> Result<Vec<Matcher>, String> {
    let mut matchers = Vec::new();
    let mut rest = inner.trim_start();
    while !rest.is_empty() {
        let label_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let label = &rest[..label_end];
        if label.is_empty() {
            return Err(format!("label name expected at `{rest}`"));
        }
        rest = rest[label_end..].trim_start();
        let (op, after) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|r| (*op, r)))
            .ok_or_else(|| format!("`=`, `!=`, `=~` or `!~` expected after `{label}`"))?;
        let (value, after) =
            quoted(after.trim_start()).map_err(|e| format!("label `{label}`: {e}"))?;
        let regex = || {
            Regex::new(&format!("^(?:{value})$")).map_err(|e| {
                // The regex crate's syntax errors draw a caret over three lines; keep the last.
                let text = e.to_string();
                let why = text
                    .lines()
                    .last()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
                    .to_string();
                format!("label `{label}`: bad regex `{value}`: {why}")
            })
        };
        let op = match op {
            "=" => MatchOp::Equal(value),
            "!=" => MatchOp::NotEqual(value),
            "=~" => MatchOp::Regex(regex()?),
            _ => MatchOp::NotRegex(regex()?),
        };
        matchers.push(Matcher {
            label: label.to_string(),
            op,
        });
        rest = after.trim_start();
        match rest.strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None if rest.is_empty() => {}
            None => return Err(format!("`,` expected before `{rest}`")),
        }
    }
    Ok(matchers)
}

/// A `"..."` or `'...'` string with backslash escapes; returns it and what follows.
fn quoted(text: &str) -> Result<(String, &str), String> {
    let mut chars = text.char_indices();
    let quote = match chars.next() {
        Some((_, q @ ('"' | '\''))) => q,
        _ => return Err("quoted value expected".into()),
    };
    let mut value = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c == quote => return Ok((value, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, e)) => value.push(e),
                None => break,
            },
            c => value.push(c),
        }
    }
    Err("value not closed".into())
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl PartialEq for Selector {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Serialize for Selector {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Selector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Selector::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(labels: &[(&str, &str)]) -> Sample {
        Sample {
            name: "x".into(),
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: 1.0,
        }
    }

    #[test]
    fn matches_like_promql() {
        let s =
            Selector::parse(r#"http_requests_total{code=~"5..", method!="OPTIONS", job='web'}"#)
                .unwrap();
        assert_eq!(s.name(), "http_requests_total");
        assert!(s.matches_labels(&sample(&[
            ("code", "503"),
            ("method", "GET"),
            ("job", "web")
        ])));
        assert!(!s.matches_labels(&sample(&[
            ("code", "5031"),
            ("method", "GET"),
            ("job", "web")
        ])));
        assert!(!s.matches_labels(&sample(&[
            ("code", "500"),
            ("method", "OPTIONS"),
            ("job", "web")
        ])));
        assert!(!s.matches_labels(&sample(&[("code", "500"), ("method", "GET")])));
        let absent = Selector::parse(r#"x{shard!~".+"}"#).unwrap();
        assert!(absent.matches_labels(&sample(&[])));
        assert!(
            Selector::parse("up")
                .unwrap()
                .matches_labels(&sample(&[("a", "b")]))
        );
    }

    #[test]
    fn bad_selectors_say_what_is_wrong() {
        for (bad, why) in [
            ("", "metric name"),
            ("{a=\"b\"}", "metric name"),
            ("x{a=\"b\"", "{...}"),
            ("x{a=b}", "quoted"),
            ("x{a~\"b\"}", "`=`"),
            ("x{a=~\"(\"}", "bad regex"),
            ("x{a=\"b\" c=\"d\"}", "`,` expected"),
        ] {
            let err = Selector::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
