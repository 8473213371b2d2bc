//! What `ebb tune` searches: which fields of a policy file, over which
//! ranges. [`FIELDS`] is the one table of tunable fields; a new policy field
//! becomes tunable with one row there.
//!
//! Each field applies to some places of a file (every target-tracking
//! policy, every EWMA-smoothed metric, the governor...); one field at one
//! place is a [`Dimension`] of the search. A small TOML file (`--space`)
//! narrows or widens a field's range, or keeps it as written.

use crate::duration;
use crate::policy_file::{LoadError, MetricType, PolicyFile, PolicyFileError, PolicySpec};
use crate::policy_file::{PredictiveMode, Smoothing};
use serde::Serialize;
use std::path::Path;

/// How a field's values are written in a policy file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unit {
    /// A duration, written `"90s"`; searched in seconds.
    Seconds,
    /// A plain number.
    Number,
}

/// Which places of a file a field applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every target-tracking policy: `policies[i]`.
    TargetTracking,
    /// Every predictive policy that scales (`mode = "forecast-and-scale"`).
    Predictive,
    /// Every metric smoothed by an EWMA: `metrics.NAME`.
    EwmaMetric,
    /// `governor`.
    Governor,
    /// `governor`, only when the file does not write the field (warm-up is
    /// known when written; otherwise it is the group's, unknown here).
    GovernorUnwritten,
}

/// One tunable field.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field {
    /// Its name in a space file and in reports.
    pub name: &'static str,
    /// Where in a policy file the field lives: the governor, each policy of a kind, or each EWMA metric.
    pub scope: Scope,
    /// Its keys below the place, e.g. `["max_step_out", "percent"]`.
    pub keys: &'static [&'static str],
    /// Whether the field is a number or a duration (in seconds).
    pub unit: Unit,
    /// The loader's range, inclusive: a space file may not leave it.
    pub allowed: (f64, f64),
    /// Whether `allowed`'s ends are themselves refused (a quantile is within (0, 1)).
    pub open_ends: (bool, bool),
    /// The range searched unless a space file says otherwise.
    pub default: (f64, f64),
    /// Values are rounded to a multiple of this (0: three significant digits).
    pub step: f64,
    /// When the file leaves the field unwritten and it has no default of its
    /// own, it behaves as this sibling key at the same place (`half_life_down`
    /// as `half_life`): the search starts there, so its first candidate is
    /// the input policy itself.
    pub unset_as: Option<&'static [&'static str]>,
}

const MAX_SECONDS: f64 = 30.0 * 86_400.0;

/// Every tunable field, with its default range. Ranges are documented in
/// the README's "Tuning a policy" section: keep the two in step.
pub const FIELDS: [Field; 15] = [
    Field {
        name: "target",
        scope: Scope::TargetTracking,
        keys: &["target"],
        unit: Unit::Number,
        allowed: (0.0, f64::MAX),
        open_ends: (true, false),
        // A utilization in percent; a load target is searched from 0.6x to
        // 1.5x its current value instead (see `default_range`).
        default: (30.0, 85.0),
        step: 0.0,
        unset_as: None,
    },
    Field {
        name: "tolerance",
        scope: Scope::TargetTracking,
        keys: &["tolerance"],
        unit: Unit::Number,
        allowed: (0.0, 1.0),
        open_ends: (false, true),
        default: (0.0, 0.25),
        step: 0.01,
        unset_as: None,
    },
    Field {
        name: "trend_lead",
        scope: Scope::TargetTracking,
        keys: &["trend_lead"],
        unit: Unit::Seconds,
        allowed: (0.0, 3_600.0),
        open_ends: (false, false),
        // Workload-dependent (helped rds_cpu and ec2_network_in, hurt the
        // Twitter traces): up to two boot times.
        default: (0.0, 600.0),
        step: 15.0,
        unset_as: None,
    },
    Field {
        name: "trend_window",
        scope: Scope::TargetTracking,
        keys: &["trend_window"],
        unit: Unit::Seconds,
        allowed: (60.0, 3_600.0),
        open_ends: (false, false),
        default: (120.0, 900.0),
        step: 15.0,
        unset_as: None,
    },
    Field {
        name: "half_life",
        scope: Scope::EwmaMetric,
        keys: &["smoothing", "half_life"],
        unit: Unit::Seconds,
        allowed: (1.0, MAX_SECONDS),
        open_ends: (false, false),
        default: (10.0, 300.0),
        step: 5.0,
        unset_as: None,
    },
    Field {
        name: "half_life_down",
        scope: Scope::EwmaMetric,
        keys: &["smoothing", "half_life_down"],
        unit: Unit::Seconds,
        allowed: (1.0, MAX_SECONDS),
        open_ends: (false, false),
        default: (30.0, 900.0),
        step: 15.0,
        unset_as: Some(&["smoothing", "half_life"]),
    },
    Field {
        name: "scale_out_cooldown",
        scope: Scope::Governor,
        keys: &["scale_out_cooldown"],
        unit: Unit::Seconds,
        allowed: (0.0, MAX_SECONDS),
        open_ends: (false, false),
        default: (0.0, 300.0),
        step: 15.0,
        unset_as: None,
    },
    Field {
        name: "scale_in_cooldown",
        scope: Scope::Governor,
        keys: &["scale_in_cooldown"],
        unit: Unit::Seconds,
        allowed: (0.0, MAX_SECONDS),
        open_ends: (false, false),
        default: (0.0, 900.0),
        step: 15.0,
        unset_as: None,
    },
    Field {
        name: "scale_in_stabilization",
        scope: Scope::Governor,
        keys: &["scale_in_stabilization"],
        unit: Unit::Seconds,
        allowed: (0.0, MAX_SECONDS),
        open_ends: (false, false),
        default: (0.0, 3_600.0),
        step: 15.0,
        unset_as: None,
    },
    Field {
        name: "scale_in_quantile",
        scope: Scope::Governor,
        keys: &["scale_in_quantile"],
        unit: Unit::Number,
        allowed: (0.0, 1.0),
        open_ends: (true, false),
        // Below 1 (the max of the window) was worse on every trace measured:
        // searched narrowly.
        default: (0.8, 1.0),
        step: 0.05,
        unset_as: None,
    },
    Field {
        name: "max_step_out_percent",
        scope: Scope::Governor,
        keys: &["max_step_out", "percent"],
        unit: Unit::Number,
        allowed: (0.0, crate::ranges::MAX_STEP_PERCENT),
        open_ends: (true, false),
        default: (25.0, 300.0),
        step: 5.0,
        unset_as: None,
    },
    Field {
        name: "max_step_in_percent",
        scope: Scope::Governor,
        keys: &["max_step_in", "percent"],
        unit: Unit::Number,
        allowed: (0.0, crate::ranges::MAX_STEP_PERCENT),
        open_ends: (true, false),
        default: (5.0, 100.0),
        step: 5.0,
        unset_as: None,
    },
    Field {
        name: "warmup",
        scope: Scope::GovernorUnwritten,
        keys: &["warmup"],
        unit: Unit::Seconds,
        allowed: (0.0, MAX_SECONDS),
        open_ends: (false, false),
        default: (0.0, 600.0),
        step: 15.0,
        unset_as: None,
    },
    Field {
        name: "quantile",
        scope: Scope::Predictive,
        keys: &["quantile"],
        unit: Unit::Number,
        allowed: (0.0, 1.0),
        open_ends: (true, true),
        default: (0.5, 0.99),
        step: 0.01,
        unset_as: None,
    },
    Field {
        name: "buffer_percent",
        scope: Scope::Predictive,
        keys: &["buffer_percent"],
        unit: Unit::Number,
        allowed: (0.0, 1_000.0),
        open_ends: (false, false),
        default: (0.0, 30.0),
        step: 1.0,
        unset_as: None,
    },
];

/// The field named `name`.
pub fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// One segment of a path into a policy file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Segment {
    /// A table key.
    Key(String),
    /// An index into an array of tables.
    Index(usize),
}

/// One field at one place: a coordinate of the search.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Dimension {
    /// The field this is a place of.
    #[serde(skip)]
    pub field: &'static Field,
    /// Dotted path, as `ebb diff` names fields: `policies[0].target`.
    pub path: String,
    /// The path as keys and indices, to rewrite the file with.
    #[serde(skip)]
    pub segments: Vec<Segment>,
    /// Searched range, inclusive.
    pub low: f64,
    /// The searched range's upper end.
    pub high: f64,
    /// The input file's value (its default when unwritten); `None` when unset.
    pub current: Option<f64>,
}

impl Dimension {
    /// The value at `u` in [0, 1] of the range, rounded to the field's step
    /// and kept inside the range.
    pub fn value_at(&self, u: f64) -> f64 {
        let raw = self.low + u.clamp(0.0, 1.0) * (self.high - self.low);
        let rounded = round_to(raw, self.field.step);
        if rounded < self.low || rounded > self.high {
            raw
        } else {
            rounded
        }
    }

    /// `value` as the policy file writes it.
    pub fn format(&self, value: f64) -> String {
        match self.field.unit {
            Unit::Seconds => format_seconds(value),
            Unit::Number => format!("{value}"),
        }
    }
}

/// A range of seconds as a policy file writes a duration: `"90s"`, `"5m"`.
pub fn format_seconds(seconds: f64) -> String {
    let whole = seconds.round().max(0.0) as u64;
    if whole > 0 && whole.is_multiple_of(60) {
        format!("{}m", whole / 60)
    } else {
        format!("{whole}s")
    }
}

fn round_to(value: f64, step: f64) -> f64 {
    if step > 0.0 {
        let rounded = (value / step).round() * step;
        // Keep 0.35, not 0.35000000000000003, in the written file.
        (rounded * 1e6).round() / 1e6
    } else if value == 0.0 || !value.is_finite() {
        value
    } else {
        let digits = 2 - value.abs().log10().floor() as i32;
        let scale = 10f64.powi(digits);
        (value * scale).round() / scale
    }
}

/// A space file's say on one field: its range, or kept as written.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Override {
    /// Search from the first value to the second, both included.
    Range(f64, f64),
    /// Keep the value the policy file has.
    Fixed,
}

/// The search space's overrides, by field name, from a `--space` file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SpaceFile {
    /// Each overridden field and what the space file says of it.
    pub overrides: Vec<(&'static Field, Override)>,
}

impl SpaceFile {
    /// Reads and checks a space file.
    pub fn load(path: &Path) -> Result<SpaceFile, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            LoadError(vec![PolicyFileError {
                file: path.to_path_buf(),
                field: None,
                line: None,
                message: format!("cannot read the space file: {e}"),
            }])
        })?;
        SpaceFile::parse(&text, path)
    }

    /// Parses a space file: one key per field, `NAME = [LOW, HIGH]` (durations
    /// as strings, `["10s", "2m"]`) or `NAME = false` to keep it as written.
    pub fn parse(text: &str, path: &Path) -> Result<SpaceFile, LoadError> {
        let error = |span: Option<std::ops::Range<usize>>, field: Option<&str>, message: String| {
            PolicyFileError {
                file: path.to_path_buf(),
                field: field.map(str::to_string),
                line: span.map(|s| line_of(text, s.start)),
                message,
            }
        };
        let document = toml_edit::Document::parse(text)
            .map_err(|e| LoadError(vec![error(e.span(), None, e.message().to_string())]))?;
        let mut errors = Vec::new();
        let mut overrides = Vec::new();
        for (key, item) in document.as_table().iter() {
            let span = document
                .as_table()
                .key(key)
                .and_then(|k| k.span())
                .or_else(|| item.span());
            let Some(field) = field(key) else {
                let names: Vec<_> = FIELDS.iter().map(|f| f.name).collect();
                errors.push(error(
                    span,
                    Some(key),
                    format!("not a tunable field; one of: {}", names.join(", ")),
                ));
                continue;
            };
            match parse_override(field, item) {
                Ok(o) => overrides.push((field, o)),
                Err(message) => errors.push(error(span, Some(key), message)),
            }
        }
        if errors.is_empty() {
            Ok(SpaceFile { overrides })
        } else {
            Err(LoadError(errors))
        }
    }

    fn get(&self, field: &Field) -> Option<Override> {
        self.overrides
            .iter()
            .find(|(f, _)| f.name == field.name)
            .map(|(_, o)| *o)
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn parse_override(field: &Field, item: &toml_edit::Item) -> Result<Override, String> {
    if item.as_bool() == Some(false) {
        return Ok(Override::Fixed);
    }
    let shape = match field.unit {
        Unit::Seconds => {
            "a range [\"LOW\", \"HIGH\"] of durations (e.g. [\"10s\", \"2m\"]) or false"
        }
        Unit::Number => "a range [LOW, HIGH] of numbers or false",
    };
    let Some(array) = item.as_array().filter(|a| a.len() == 2) else {
        return Err(format!("must be {shape}"));
    };
    let mut ends = [0.0; 2];
    for (end, value) in ends.iter_mut().zip(array.iter()) {
        *end = match (field.unit, value) {
            (Unit::Seconds, toml_edit::Value::String(s)) => duration::parse(s.value())
                .map_err(|e| format!("`{}`: {e}", s.value()))?
                .as_secs_f64(),
            (Unit::Number, toml_edit::Value::Float(f)) => *f.value(),
            (Unit::Number, toml_edit::Value::Integer(i)) => *i.value() as f64,
            _ => return Err(format!("must be {shape}")),
        };
    }
    let [low, high] = ends;
    if !(low.is_finite() && high.is_finite()) || low > high {
        return Err(format!(
            "the range's low end must not exceed its high end, got [{low}, {high}]"
        ));
    }
    let (min, max) = field.allowed;
    let below = low < min || (field.open_ends.0 && low <= min);
    let above = high > max || (field.open_ends.1 && high >= max);
    if below || above {
        let (open, close) = (
            if field.open_ends.0 { "(" } else { "[" },
            if field.open_ends.1 { ")" } else { "]" },
        );
        let show = |v: f64| match field.unit {
            Unit::Seconds => format_seconds(v),
            Unit::Number => format!("{v}"),
        };
        return Err(format!(
            "[{}, {}] leaves the range the policy loader accepts, {open}{}, {}{close}",
            show(low),
            show(high),
            show(min),
            if max == f64::MAX {
                "any".to_string()
            } else {
                show(max)
            }
        ));
    }
    Ok(Override::Range(low, high))
}

/// Every dimension of `file` under the overrides; `text` is the file as
/// written (to tell written fields from defaults).
pub fn dimensions(file: &PolicyFile, text: &str, space: &SpaceFile) -> Vec<Dimension> {
    let written = text.parse::<toml_edit::DocumentMut>().ok();
    let json = serde_json::to_value(file).unwrap_or_default();
    let mut out = Vec::new();
    for field in &FIELDS {
        let range = space.get(field);
        if range == Some(Override::Fixed) {
            continue;
        }
        for (place, load_target) in places(file, field.scope) {
            let mut segments = place.clone();
            segments.extend(field.keys.iter().map(|k| Segment::Key(k.to_string())));
            if field.scope == Scope::GovernorUnwritten
                && written
                    .as_ref()
                    .is_some_and(|doc| lookup_item(doc.as_item(), &segments).is_some())
            {
                continue;
            }
            let current = lookup_json(&json, &segments)
                .and_then(|v| json_number(field, v))
                .or_else(|| {
                    let mut sibling = place.clone();
                    sibling.extend(field.unset_as?.iter().map(|k| Segment::Key(k.to_string())));
                    lookup_json(&json, &sibling).and_then(|v| json_number(field, v))
                });
            let (low, high) = match range {
                Some(Override::Range(low, high)) => (low, high),
                _ => default_range(field, load_target, current),
            };
            out.push(Dimension {
                field,
                path: dotted(&segments),
                segments,
                low,
                high,
                current,
            });
        }
    }
    out
}

/// A load target (not a utilization) is searched around its current value.
fn default_range(field: &Field, load_target: bool, current: Option<f64>) -> (f64, f64) {
    match (field.name, load_target, current) {
        ("target", true, Some(now)) => (round_to(0.6 * now, 0.0), round_to(1.5 * now, 0.0)),
        _ => field.default,
    }
}

/// The places `scope` names in `file`, and whether each is a target on load.
fn places(file: &PolicyFile, scope: Scope) -> Vec<(Vec<Segment>, bool)> {
    let policy = |i: usize| vec![Segment::Key("policies".into()), Segment::Index(i)];
    match scope {
        Scope::TargetTracking => file
            .policies
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match p {
                PolicySpec::TargetTracking(tt) => {
                    Some((policy(i), tt.metric_type != MetricType::Utilization))
                }
                _ => None,
            })
            .collect(),
        Scope::Predictive => file
            .policies
            .iter()
            .enumerate()
            .filter_map(|(i, p)| match p {
                PolicySpec::Predictive(pp) if pp.mode == PredictiveMode::ForecastAndScale => {
                    Some((policy(i), false))
                }
                _ => None,
            })
            .collect(),
        Scope::EwmaMetric => file
            .metrics
            .iter()
            .filter(|(_, m)| matches!(m.smoothing, Smoothing::Ewma { .. }))
            .map(|(name, _)| {
                (
                    vec![Segment::Key("metrics".into()), Segment::Key(name.clone())],
                    false,
                )
            })
            .collect(),
        Scope::Governor | Scope::GovernorUnwritten => {
            vec![(vec![Segment::Key("governor".into())], false)]
        }
    }
}

/// `policies[0].target`.
pub fn dotted(segments: &[Segment]) -> String {
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn lookup_json<'a>(
    json: &'a serde_json::Value,
    segments: &[Segment],
) -> Option<&'a serde_json::Value> {
    segments
        .iter()
        .try_fold(json, |value, segment| match segment {
            Segment::Key(k) => value.get(k.as_str()),
            Segment::Index(i) => value.get(*i),
        })
}

fn json_number(field: &Field, value: &serde_json::Value) -> Option<f64> {
    match (field.unit, value) {
        (Unit::Number, v) => v.as_f64(),
        (Unit::Seconds, serde_json::Value::String(s)) => {
            duration::parse(s).ok().map(|d| d.as_secs_f64())
        }
        _ => None,
    }
}

/// The item at `segments` in a TOML document, when written.
pub fn lookup_item<'a>(
    item: &'a toml_edit::Item,
    segments: &[Segment],
) -> Option<&'a toml_edit::Item> {
    let mut item = item;
    for segment in segments {
        item = match segment {
            Segment::Key(k) => item.get(k.as_str())?,
            Segment::Index(i) => item.get(*i)?,
        };
        if item.is_none() {
            return None;
        }
    }
    Some(item)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_file::parse_str;

    fn web_cpu() -> (PolicyFile, String) {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("policies/web-cpu.toml");
        let text = std::fs::read_to_string(&path).unwrap();
        (parse_str(&text, &path).unwrap(), text)
    }

    #[test]
    fn every_default_range_lies_inside_the_loader_range() {
        for field in &FIELDS {
            let (low, high) = field.default;
            assert!(low <= high, "{}", field.name);
            assert!(
                low >= field.allowed.0 && high <= field.allowed.1,
                "{}",
                field.name
            );
            assert!(
                !(field.open_ends.0 && low <= field.allowed.0),
                "{}",
                field.name
            );
            assert!(
                !(field.open_ends.1 && high >= field.allowed.1),
                "{}",
                field.name
            );
        }
    }

    #[test]
    fn the_shipped_cpu_policy_has_one_dimension_per_field_that_applies() {
        let (file, text) = web_cpu();
        let dims = dimensions(&file, &text, &SpaceFile::default());
        let paths: Vec<_> = dims.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "policies[0].target",
                "policies[0].tolerance",
                "policies[0].trend_lead",
                "policies[0].trend_window",
                "metrics.cpu.smoothing.half_life",
                "metrics.cpu.smoothing.half_life_down",
                "governor.scale_out_cooldown",
                "governor.scale_in_cooldown",
                "governor.scale_in_stabilization",
                "governor.scale_in_quantile",
                "governor.max_step_out.percent",
                "governor.max_step_in.percent",
            ],
            "warm-up is written, so known: not searched"
        );
        let current = |path: &str| dims.iter().find(|d| d.path == path).unwrap().current;
        assert_eq!(current("policies[0].target"), Some(50.0));
        assert_eq!(current("policies[0].trend_lead"), Some(0.0), "off");
        assert_eq!(current("metrics.cpu.smoothing.half_life"), Some(30.0));
        assert_eq!(
            current("metrics.cpu.smoothing.half_life_down"),
            Some(30.0),
            "unwritten: the half-life it falls back to"
        );
        assert_eq!(current("governor.scale_in_cooldown"), Some(300.0));
        assert_eq!(current("governor.scale_in_quantile"), Some(1.0));
    }

    #[test]
    fn the_input_values_written_back_leave_the_policy_as_it_was() {
        // The search's first candidate is the input's own values: writing them
        // must change nothing, unwritten fields with a fallback included.
        let (file, text) = web_cpu();
        let dims = dimensions(&file, &text, &SpaceFile::default());
        let values: Vec<f64> = dims.iter().map(|d| d.current.unwrap()).collect();
        let out = crate::tune::run::candidate_text(&text, &dims, &values).unwrap();
        assert_eq!(out, text);
    }

    #[test]
    fn a_searched_lever_is_written_where_the_loader_reads_it() {
        let (file, text) = web_cpu();
        let dims = dimensions(&file, &text, &SpaceFile::default());
        let values: Vec<f64> = dims
            .iter()
            .map(|d| match d.field.name {
                "trend_lead" => 300.0,
                "half_life_down" => 600.0,
                "scale_in_quantile" => 0.9,
                _ => d.current.unwrap(),
            })
            .collect();
        let out = crate::tune::run::candidate_text(&text, &dims, &values).unwrap();
        let tuned = parse_str(&out, Path::new("tuned.toml")).unwrap();
        let PolicySpec::TargetTracking(tt) = &tuned.policies[0] else {
            panic!("{out}")
        };
        assert_eq!(tt.trend_lead.as_secs(), 300);
        assert_eq!(
            tuned.metrics["cpu"].smoothing,
            Smoothing::Ewma {
                half_life: std::time::Duration::from_secs(30),
                half_life_down: Some(std::time::Duration::from_secs(600)),
            }
        );
        assert_eq!(tuned.governor.scale_in_quantile, 0.9);
    }

    #[test]
    fn a_space_file_narrows_a_range_or_keeps_a_field_as_written() {
        let (file, text) = web_cpu();
        let space = SpaceFile::parse(
            "target = [40, 60]\nhalf_life = [\"15s\", \"1m\"]\ntolerance = false\n",
            Path::new("tune.toml"),
        )
        .unwrap();
        let dims = dimensions(&file, &text, &space);
        assert_eq!((dims[0].low, dims[0].high), (40.0, 60.0));
        assert!(dims.iter().all(|d| d.field.name != "tolerance"));
        let half_life = dims.iter().find(|d| d.field.name == "half_life").unwrap();
        assert_eq!((half_life.low, half_life.high), (15.0, 60.0));
    }

    #[test]
    fn space_file_errors_name_file_line_field_and_what_is_wrong() {
        let cases = [
            ("targte = [40, 60]\n", 1, "targte", "not a tunable field"),
            ("\ntarget = [60, 40]\n", 2, "target", "must not exceed"),
            ("quantile = [0.5, 1.0]\n", 1, "quantile", "leaves the range"),
            ("half_life = [10, 20]\n", 1, "half_life", "durations"),
            (
                "half_life = [\"0s\", \"1m\"]\n",
                1,
                "half_life",
                "leaves the range",
            ),
            ("warmup = [\"1m\", \"10q\"]\n", 1, "warmup", "10q"),
            ("target = 50\n", 1, "target", "a range"),
        ];
        for (text, line, field, message) in cases {
            let errors = SpaceFile::parse(text, Path::new("tune.toml")).unwrap_err();
            let shown = errors.to_string();
            assert_eq!(errors.0.len(), 1, "{shown}");
            assert_eq!(errors.0[0].line, Some(line), "{shown}");
            assert_eq!(errors.0[0].field.as_deref(), Some(field), "{shown}");
            assert!(shown.contains(message), "{text}: {shown}");
            assert!(shown.starts_with("tune.toml:"), "{shown}");
        }
        let syntax = SpaceFile::parse("target = [40,", Path::new("tune.toml")).unwrap_err();
        assert_eq!(syntax.0[0].line, Some(1), "{syntax}");
    }

    #[test]
    fn values_are_rounded_to_the_field_step_and_stay_in_range() {
        let (file, text) = web_cpu();
        for dim in dimensions(&file, &text, &SpaceFile::default()) {
            for i in 0..=100 {
                let v = dim.value_at(f64::from(i) / 100.0);
                assert!(v >= dim.low && v <= dim.high, "{} {v}", dim.path);
            }
        }
        assert_eq!(format_seconds(90.0), "90s");
        assert_eq!(format_seconds(300.0), "5m");
        assert_eq!(round_to(0.35000001, 0.01), 0.35);
        assert_eq!(round_to(1234.5, 0.0), 1230.0);
        assert_eq!(round_to(62.46, 0.0), 62.5);
    }
}
