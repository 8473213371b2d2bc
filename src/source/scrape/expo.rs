//! Parsing the Prometheus text exposition format (0.0.4) and OpenMetrics
//! text (1.0) into flat samples.
//!
//! Both formats are line based and share the sample syntax
//! `name{label="value",...} value [timestamp]`; OpenMetrics adds `# EOF`,
//! `# UNIT`, exemplars after ` # ` and float timestamps. One parser reads both.
//!
//! Like Prometheus itself, a body with any malformed sample line, or with a
//! series twice (labels in any order, `le="1"` and `le="1.0"` alike), is
//! rejected whole (the error names the line): a half-understood page must not feed a
//! scaling decision. Timestamps in the page are ignored; ebb times a sample
//! by when it scraped it.
//!
//! Why not a crate: `prometheus-parse` splits label pairs on `,` and `=`
//! (label values containing them are mangled), skips metric names with `:`,
//! does not unescape values and silently drops lines it cannot read, so
//! garbage parses as an empty page; `openmetrics-parser` is LGPL-3.0 and
//! strict OpenMetrics only. The grammar is small enough to own.

use std::collections::HashMap;
use std::fmt;

/// One sample line: a name, its labels (in page order) and its value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The metric name, e.g. `http_requests_total` or `..._bucket`.
    pub name: String,
    /// The labels, in page order.
    pub labels: Vec<(String, String)>,
    /// The sample's value.
    pub value: f64,
}

impl Sample {
    /// The value of the label `name`, if the sample has it.
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a page could not be parsed: the 1-based line and what is wrong there.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct ParseError {
    /// The 1-based line of the page.
    pub line: usize,
    /// What is wrong there.
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

/// Parses a whole page. Comment lines (`# HELP`, `# TYPE`, `# UNIT`, any
/// other `#` text) are skipped; parsing stops at OpenMetrics' `# EOF`.
pub fn parse(text: &str) -> Result<Vec<Sample>, ParseError> {
    let mut samples = Vec::new();
    // Each series' identity and the line it was first on: Prometheus
    // rejects a page with a series twice, and summing both would be wrong.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        let trimmed = line.trim_start();
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if comment.trim() == "EOF" {
                break;
            }
            continue;
        }
        let sample = parse_sample(trimmed).map_err(|message| ParseError {
            line: i + 1,
            message,
        })?;
        if let Some(first) = seen.insert(series_identity(&sample), i + 1) {
            return Err(ParseError {
                line: i + 1,
                message: format!(
                    "series `{}` already appeared on line {first}: a page may hold each series once",
                    trimmed.split([' ', '\t']).next().unwrap_or(trimmed)
                ),
            });
        }
        samples.push(sample);
    }
    Ok(samples)
}

/// What makes a series one: its name and labels in any order, with `le`
/// and `quantile` compared as numbers (`1` and `1.0` are one bucket).
fn series_identity(sample: &Sample) -> String {
    let mut labels: Vec<(&str, String)> = sample
        .labels
        .iter()
        .map(|(k, v)| {
            let value = match (k.as_str(), parse_value(v)) {
                ("le" | "quantile", Ok(number)) => number.to_string(),
                _ => v.clone(),
            };
            (k.as_str(), value)
        })
        .collect();
    labels.sort();
    format!("{}{labels:?}", sample.name)
}

/// A cursor over one line.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.rest = &self.rest[c.len_utf8()..];
        Some(c)
    }

    fn skip_blanks(&mut self) {
        self.rest = self.rest.trim_start_matches([' ', '\t']);
    }

    fn expect(&mut self, wanted: char) -> Result<(), String> {
        match self.bump() {
            Some(c) if c == wanted => Ok(()),
            Some(c) => Err(format!("expected `{wanted}`, found `{c}`")),
            None => Err(format!("expected `{wanted}`, found the end of the line")),
        }
    }

    /// `[a-zA-Z_:][a-zA-Z0-9_:]*` (metric names) or, without colons, label names.
    fn name(&mut self, colons: bool, what: &str) -> Result<&'a str, String> {
        let ok = |c: char, first: bool| {
            c.is_ascii_alphabetic()
                || c == '_'
                || (colons && c == ':')
                || (!first && c.is_ascii_digit())
        };
        let mut end = 0;
        for (i, c) in self.rest.char_indices() {
            if !ok(c, i == 0) {
                break;
            }
            end = i + c.len_utf8();
        }
        if end == 0 {
            return Err(match self.peek() {
                Some(c) => format!("{what} expected, found `{c}`"),
                None => format!("{what} expected, found the end of the line"),
            });
        }
        let (name, rest) = self.rest.split_at(end);
        self.rest = rest;
        Ok(name)
    }

    /// A double-quoted label value with `\\`, `\"` and `\n` escapes.
    fn quoted(&mut self) -> Result<String, String> {
        self.expect('"')?;
        let mut value = String::new();
        loop {
            match self.bump() {
                Some('"') => return Ok(value),
                Some('\\') => match self.bump() {
                    Some('n') => value.push('\n'),
                    Some('\\') => value.push('\\'),
                    Some('"') => value.push('"'),
                    Some(c) => {
                        // The 0.0.4 format passes unknown escapes through.
                        value.push('\\');
                        value.push(c);
                    }
                    None => return Err("label value not closed".into()),
                },
                Some(c) => value.push(c),
                None => return Err("label value not closed".into()),
            }
        }
    }

    /// The next blank-separated token.
    fn token(&mut self) -> &'a str {
        let end = self.rest.find([' ', '\t']).unwrap_or(self.rest.len());
        let (token, rest) = self.rest.split_at(end);
        self.rest = rest;
        token
    }
}

/// `{name="value", ...}` with an optional trailing comma.
fn parse_labels(cur: &mut Cursor) -> Result<Vec<(String, String)>, String> {
    cur.expect('{')?;
    let mut labels: Vec<(String, String)> = Vec::new();
    loop {
        cur.skip_blanks();
        if cur.peek() == Some('}') {
            cur.bump();
            return Ok(labels);
        }
        let name = cur.name(false, "label name")?.to_string();
        cur.skip_blanks();
        cur.expect('=')?;
        cur.skip_blanks();
        let value = cur.quoted()?;
        if labels.iter().any(|(k, _)| *k == name) {
            return Err(format!("label `{name}` appears twice"));
        }
        labels.push((name, value));
        cur.skip_blanks();
        match cur.bump() {
            Some(',') => {}
            Some('}') => return Ok(labels),
            Some(c) => return Err(format!("expected `,` or `}}` after a label, found `{c}`")),
            None => return Err("labels not closed with `}`".into()),
        }
    }
}

fn parse_sample(line: &str) -> Result<Sample, String> {
    let mut cur = Cursor { rest: line };
    let name = cur.name(true, "metric name")?.to_string();
    let labels = if cur.peek() == Some('{') {
        parse_labels(&mut cur)?
    } else {
        Vec::new()
    };
    if !matches!(cur.peek(), Some(' ' | '\t')) {
        return Err(match cur.peek() {
            Some(c) => format!("expected a blank before the value, found `{c}`"),
            None => format!("sample `{name}` has no value"),
        });
    }
    cur.skip_blanks();
    let value = parse_value(cur.token())?;
    cur.skip_blanks();
    // Optional timestamp (ignored), then an optional OpenMetrics exemplar.
    if !cur.rest.is_empty() && !cur.rest.starts_with('#') {
        let ts = cur.token();
        if ts.parse::<f64>().map_or(true, |t| !t.is_finite()) {
            return Err(format!("`{ts}` is not a timestamp"));
        }
        cur.skip_blanks();
    }
    if let Some(exemplar) = cur.rest.strip_prefix('#') {
        let mut ex = Cursor { rest: exemplar };
        ex.skip_blanks();
        parse_labels(&mut ex).map_err(|e| format!("exemplar: {e}"))?;
    } else if !cur.rest.is_empty() {
        return Err(format!("unexpected `{}` after the value", cur.rest));
    }
    Ok(Sample {
        name,
        labels,
        value,
    })
}

/// Go-style floats: `NaN`, `+Inf`, `-Inf` as well as Rust's syntax.
fn parse_value(token: &str) -> Result<f64, String> {
    if token.is_empty() {
        return Err("value expected".into());
    }
    match token {
        "NaN" => Ok(f64::NAN),
        "+Inf" | "Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => token
            .parse::<f64>()
            .ok()
            // Rust also reads "inf"/"infinity"/"nan" in any case; the formats do not.
            .filter(|_| {
                token
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
            })
            .ok_or_else(|| format!("`{token}` is not a number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn reads_the_prometheus_text_format() {
        let page = "# HELP http_requests_total The total number of HTTP requests.\n\
                    # TYPE http_requests_total counter\n\
                    http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                    http_requests_total{method=\"post\",code=\"400\"}    3 1395066363000\n\
                    \n\
                    msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n\
                    metric_without_timestamp_and_labels 12.47\n\
                    something_weird{problem=\"division by zero\"} +Inf -3982045\n\
                    rpc:latency_seconds_bucket{le=\"+Inf\",} 144320\n";
        let samples = parse(page).unwrap();
        assert_eq!(samples.len(), 6);
        assert_eq!(
            samples[0].labels,
            labels(&[("method", "post"), ("code", "200")])
        );
        assert_eq!(samples[1].value, 3.0);
        assert_eq!(samples[2].label("path"), Some("C:\\DIR\\FILE.TXT"));
        assert_eq!(
            samples[2].label("error"),
            Some("Cannot find file:\n\"FILE.TXT\"")
        );
        assert_eq!(samples[3].labels, vec![]);
        assert_eq!(samples[4].value, f64::INFINITY);
        assert_eq!(samples[5].name, "rpc:latency_seconds_bucket");
        assert_eq!(samples[5].label("le"), Some("+Inf"));
    }

    #[test]
    fn reads_openmetrics_with_exemplars_and_eof() {
        let page = "# TYPE foo counter\n# UNIT foo seconds\n\
                    foo_total{a=\"x,y=z\"} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
                    foo_created 1520430000.123\n\
                    # EOF\n\
                    this is past the end\n";
        let samples = parse(page).unwrap();
        assert_eq!(samples.len(), 2);
        assert_eq!(samples[0].label("a"), Some("x,y=z"));
        assert_eq!(samples[0].value, 17.0);
    }

    #[test]
    fn rejects_garbage_naming_the_line() {
        let err = parse("# TYPE x gauge\nx 1\n<html><body>oops</body></html>\n").unwrap_err();
        assert_eq!(err.line, 3);
        for bad in [
            "x",
            "x{a=\"1\"",
            "x{a=1} 2",
            "x{a=\"1\",a=\"2\"} 3",
            "x one",
            "x 1 2 3",
            "x inf",
            "x{a=\"1\"}2",
            "9x 1",
        ] {
            assert!(parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn rejects_a_series_twice_naming_both_lines() {
        for page in [
            "m{route=\"/\"} 50\nm{route=\"/\"} 70\n",
            "m{a=\"1\",b=\"2\"} 50\nm{b=\"2\",a=\"1\"} 70\n",
            "h_bucket{le=\"1\"} 5\nh_bucket{le=\"1.0\"} 6\n",
            "m 1\nm 2\n",
        ] {
            let err = parse(page).unwrap_err();
            assert_eq!(err.line, 2, "{page}");
            assert!(
                err.message.contains("already appeared on line 1"),
                "{page}: {err}"
            );
        }
        // Different values of a label are different series.
        assert_eq!(
            parse("m{route=\"/\"} 50\nm{route=\"/a\"} 70\n")
                .unwrap()
                .len(),
            2
        );
    }
}
