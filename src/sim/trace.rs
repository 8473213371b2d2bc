//! Load traces: a regular series of `timestamp,value` rows that drives the
//! simulated cloud, and that backtests and forecasts read.
//!
//! Timestamps may be ISO-8601 / RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC), epoch
//! seconds, or epoch milliseconds (any number above 1e11, which as seconds
//! would be past the year 5000; noted when read). The step is the most common
//! interval between rows; a timestamp within a tenth of the step of its place
//! on that grid is snapped to it (counted), anything further is an error
//! naming the line. Rows repeating a timestamp are merged (mean by default,
//! see [`Duplicates`]); rows going back in time are an error. Missing rows (a
//! gap of whole steps) are filled by linear interpolation and counted, so a
//! reader can tell how much of the trace was made up: a trace more than half
//! made up is refused unless gaps are allowed; no trace may span more than
//! [`MAX_SPAN_DAYS`] days or hold more than [`MAX_VALUES`] values.
//!
//! The file is read as bytes: a UTF-8 byte-order mark is skipped, lines may
//! end in LF, CRLF or CR, and a line that is not UTF-8 is named.
//!
//! A trace exported from CloudWatch (`ebb trace export`) may carry two more
//! columns, `desired,in_service`: the group's own recorded capacity, which
//! `ebb simulate` scores beside ebb and the baselines.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

/// The most values a trace may hold (filled ones included): about two years
/// at one minute. Bounds memory whatever the timestamps say.
pub const MAX_VALUES: i64 = 1_000_000;

/// The longest span a trace may cover: a simulation replays every minute of it.
pub const MAX_SPAN_DAYS: i64 = 400;

/// The largest share of a trace's values that may be interpolated unless
/// gaps are allowed.
pub const MAX_FILLED_SHARE: f64 = 0.5;

/// Numeric timestamps above this are epoch milliseconds (as seconds they
/// would be after the year 5000).
const EPOCH_MILLIS_ABOVE: f64 = 1e11;

/// A regular series of load values.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    start: DateTime<Utc>,
    step: Duration,
    values: Vec<f64>,
    /// Which values were interpolated over gaps rather than read.
    interpolated: Vec<bool>,
    reading: Reading,
    /// The group's recorded capacity at each step, when the trace has it.
    recorded: Option<Vec<RecordedCapacity>>,
}

/// What the real group ran at one step of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordedCapacity {
    /// The group's desired capacity then.
    pub desired: f64,
    /// Instances in service then.
    pub in_service: f64,
}

/// One timestamped row, as read or fetched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    /// When the value was measured.
    pub time: DateTime<Utc>,
    /// The load, in the trace's units.
    pub value: f64,
    /// What the real group ran then, when the trace records it.
    pub recorded: Option<RecordedCapacity>,
}

/// What to do with rows that repeat the previous row's timestamp (duplicate
/// rows, local time around a daylight-saving change).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Duplicates {
    /// Keep the first row.
    First,
    /// Keep the last row.
    Last,
    /// Average them.
    #[default]
    Mean,
    /// Refuse the trace.
    Error,
}

/// How to read a trace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReadOptions {
    /// What to do with rows repeating the previous row's timestamp.
    pub duplicates: Duplicates,
    /// Accept a trace mostly made of interpolated values.
    pub allow_gaps: bool,
}

/// What reading a trace did to its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reading {
    /// Data rows in the file.
    pub rows: usize,
    /// Values interpolated over gaps.
    pub filled: usize,
    /// Rows merged into the row before them for repeating its timestamp.
    pub merged: usize,
    /// Timestamps moved onto the step's grid.
    pub snapped: usize,
    /// Whether the timestamps were epoch milliseconds.
    pub epoch_millis: bool,
}

impl Reading {
    /// The reading in words, e.g. `1440 rows, 3 values interpolated over gaps`.
    pub fn describe(&self, step: Duration) -> String {
        let mut out = format!(
            "{} rows, {} values interpolated over gaps",
            self.rows, self.filled
        );
        if self.merged > 0 {
            let _ = write!(
                out,
                ", {} rows with a repeated timestamp merged",
                self.merged
            );
        }
        if self.snapped > 0 {
            let _ = write!(
                out,
                ", {} timestamps snapped to the {}s step",
                self.snapped,
                step.num_seconds()
            );
        }
        if self.epoch_millis {
            out.push_str(", timestamps read as epoch milliseconds");
        }
        out
    }
}

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    /// The file could not be read.
    #[error("{origin}: {source}")]
    Io {
        /// The file the trace came from, or the name its reader gave it.
        origin: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A row is wrong.
    #[error("{origin}, line {line}: {message}")]
    Line {
        /// The file the trace came from, or the name its reader gave it.
        origin: String,
        /// The 1-based line of the row.
        line: usize,
        /// What is wrong with the row.
        message: String,
    },
    /// The trace as a whole is wrong (empty, all gaps, no regular step).
    #[error("{origin}: {message}")]
    Whole {
        /// The file the trace came from, or the name its reader gave it.
        origin: String,
        /// What is wrong with it.
        message: String,
    },
}

/// A row error: the line when one is to blame, and what is wrong.
pub type RowError = (Option<usize>, String);

impl Trace {
    /// Builds a trace from values at a regular step. Errors when there are
    /// fewer than two values, the step is not positive, or a value is not a
    /// finite non-negative number.
    pub fn new(start: DateTime<Utc>, step: Duration, values: Vec<f64>) -> Result<Trace, String> {
        if values.len() < 2 {
            return Err(format!(
                "a trace needs at least 2 values, got {}",
                values.len()
            ));
        }
        if step <= Duration::zero() {
            return Err(format!("the step must be positive, got {step}"));
        }
        if let Some(i) = values.iter().position(|v| !v.is_finite() || *v < 0.0) {
            return Err(format!(
                "value {} at index {i} is not a finite non-negative number",
                values[i]
            ));
        }
        Ok(Trace {
            start,
            step,
            reading: Reading {
                rows: values.len(),
                ..Reading::default()
            },
            interpolated: vec![false; values.len()],
            values,
            recorded: None,
        })
    }

    /// Reads a trace file with the default options.
    pub fn load(path: &Path) -> Result<Trace, TraceError> {
        Trace::load_with(path, ReadOptions::default())
    }

    /// Reads a trace file.
    pub fn load_with(path: &Path, options: ReadOptions) -> Result<Trace, TraceError> {
        let origin = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| TraceError::Io {
            origin: origin.clone(),
            source,
        })?;
        Trace::parse_bytes(&bytes, &origin, options)
    }

    /// Parses CSV text with the default options; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Trace, TraceError> {
        Trace::parse_bytes(text.as_bytes(), origin, ReadOptions::default())
    }

    /// Parses CSV bytes; `origin` names it in errors.
    pub fn parse_bytes(
        bytes: &[u8],
        origin: &str,
        options: ReadOptions,
    ) -> Result<Trace, TraceError> {
        let line_error = |line: usize, message: String| TraceError::Line {
            origin: origin.to_string(),
            line,
            message,
        };
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        let mut rows: Vec<(usize, Row)> = Vec::new();
        let mut epoch_millis = false;
        for (index, line) in lines(bytes).enumerate() {
            let number = index + 1;
            let line = std::str::from_utf8(line).map_err(|e| {
                let at = e.valid_up_to();
                line_error(
                    number,
                    format!(
                        "byte 0x{:02X} at column {} is not UTF-8 (Latin-1?): save the trace as UTF-8",
                        line[at],
                        at + 1
                    ),
                )
            })?;
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let fields: Vec<&str> = line.split(',').map(str::trim).collect();
            if rows.is_empty() && fields[0].eq_ignore_ascii_case("timestamp") {
                continue;
            }
            if fields.len() != 2 && fields.len() != 4 {
                return Err(line_error(
                    number,
                    format!(
                        "expected `timestamp,value` or `timestamp,value,desired,in_service`, got `{line}`"
                    ),
                ));
            }
            let stamp = parse_timestamp(fields[0]).map_err(|m| line_error(number, m))?;
            epoch_millis |= stamp.epoch_millis;
            let number_at = |i: usize, what: &str| -> Result<f64, TraceError> {
                let v: f64 = fields[i].parse().map_err(|_| {
                    line_error(number, format!("{what} `{}` is not a number", fields[i]))
                })?;
                if !v.is_finite() || v < 0.0 {
                    return Err(line_error(
                        number,
                        format!("{what} {v} is not a finite non-negative number"),
                    ));
                }
                Ok(v)
            };
            let value = number_at(1, "value")?;
            let recorded = if fields.len() == 4 {
                Some(RecordedCapacity {
                    desired: number_at(2, "desired")?,
                    in_service: number_at(3, "in_service")?,
                })
            } else {
                None
            };
            if let Some((_, first)) = rows.first()
                && first.recorded.is_some() != recorded.is_some()
            {
                return Err(line_error(
                    number,
                    "every row must have the same number of columns".into(),
                ));
            }
            rows.push((
                number,
                Row {
                    time: stamp.time,
                    value,
                    recorded,
                },
            ));
        }
        let mut trace = Trace::from_rows(&rows, options).map_err(|(line, message)| match line {
            Some(line) => line_error(line, message),
            None => TraceError::Whole {
                origin: origin.to_string(),
                message,
            },
        })?;
        trace.reading.epoch_millis = epoch_millis;
        Ok(trace)
    }

    /// Builds a trace from rows in time order (each with a line number, for
    /// errors): merges repeated timestamps, snaps timestamps to the step's
    /// grid and fills whole-step gaps by linear interpolation.
    pub fn from_rows(rows: &[(usize, Row)], options: ReadOptions) -> Result<Trace, RowError> {
        let merged = merge_duplicates(rows, options.duplicates)?;
        let rows = merged.rows;
        if rows.len() < 2 {
            return Err((
                None,
                format!(
                    "a trace needs at least 2 rows at different times, found {}",
                    rows.len()
                ),
            ));
        }
        let grid = Grid::of(&rows)?;
        let slots = grid.place(&rows)?;
        let (first, last) = (slots[0], slots[slots.len() - 1]);
        let length = last - first + 1;
        let covers = grid.step_ms.saturating_mul(length);
        if covers < 60_000 {
            return Err((
                None,
                format!(
                    "the trace covers {}s ({length} rows of {}s); it needs at least a minute",
                    covers / 1000,
                    grid.step_ms / 1000
                ),
            ));
        }
        check_span(&rows, &slots, &grid, options.allow_gaps)?;
        let step = Duration::milliseconds(grid.step_ms);
        let mut values = Vec::with_capacity(length as usize);
        let mut interpolated = Vec::with_capacity(length as usize);
        let mut recorded = rows[0]
            .1
            .recorded
            .map(|_| Vec::with_capacity(length as usize));
        let blend = |a: f64, b: f64, k: i64, n: i64| a + (b - a) * k as f64 / n as f64;
        for (pair, slot) in rows.windows(2).zip(slots.windows(2)) {
            let (r0, r1) = (pair[0].1, pair[1].1);
            let steps = slot[1] - slot[0];
            for k in 0..steps {
                values.push(blend(r0.value, r1.value, k, steps));
                interpolated.push(k > 0);
                if let (Some(out), Some(a), Some(b)) = (&mut recorded, r0.recorded, r1.recorded) {
                    out.push(RecordedCapacity {
                        desired: blend(a.desired, b.desired, k, steps),
                        in_service: blend(a.in_service, b.in_service, k, steps),
                    });
                }
            }
        }
        let last_row = rows[rows.len() - 1].1;
        values.push(last_row.value);
        interpolated.push(false);
        if let (Some(out), Some(r)) = (&mut recorded, last_row.recorded) {
            out.push(r);
        }
        let filled = values.len() - rows.len();
        Ok(Trace {
            start: grid.time_of(first),
            step,
            values,
            interpolated,
            reading: Reading {
                rows: rows.len() + merged.merged,
                filled,
                merged: merged.merged,
                snapped: grid.snapped(&rows, &slots),
                epoch_millis: false,
            },
            recorded,
        })
    }

    /// The group's recorded capacity at each step, when the trace has it.
    pub fn recorded(&self) -> Option<&[RecordedCapacity]> {
        self.recorded.as_deref()
    }

    /// The recorded capacity in force at a time (the step it falls in).
    pub fn recorded_at(&self, time: DateTime<Utc>) -> Option<RecordedCapacity> {
        let recorded = self.recorded.as_ref()?;
        let offset = (time - self.start)
            .num_seconds()
            .div_euclid(self.step.num_seconds());
        let index = offset.clamp(0, recorded.len() as i64 - 1) as usize;
        Some(recorded[index])
    }

    /// Time of the first value.
    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The time of the last value.
    pub fn end(&self) -> DateTime<Utc> {
        self.time_of(self.values.len() - 1)
    }

    /// Time between values.
    pub fn step(&self) -> Duration {
        self.step
    }

    /// The load values, one per step, gaps interpolated.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// The values read from the file, leaving out those interpolated over
    /// gaps: for readers with a gap rule of their own.
    pub fn read_points(&self) -> Vec<crate::series::Datapoint> {
        self.values
            .iter()
            .zip(&self.interpolated)
            .enumerate()
            .filter(|(_, (_, made_up))| !**made_up)
            .map(|(i, (value, _))| crate::series::Datapoint {
                time: self.time_of(i),
                value: *value,
            })
            .collect()
    }

    /// How many values were interpolated over gaps.
    pub fn filled(&self) -> usize {
        self.reading.filled
    }

    /// What reading the trace did to its rows.
    pub fn reading(&self) -> Reading {
        self.reading
    }

    /// [`Reading::describe`] for this trace's step.
    pub fn describe_reading(&self) -> String {
        self.reading.describe(self.step)
    }

    /// The time of the value at `index`.
    pub fn time_of(&self, index: usize) -> DateTime<Utc> {
        self.start + self.step * index as i32
    }

    /// The largest value.
    pub fn peak(&self) -> f64 {
        self.values.iter().copied().fold(0.0, f64::max)
    }

    /// The load at any time, interpolated linearly between rows and held
    /// constant outside the trace.
    pub fn load_at(&self, time: DateTime<Utc>) -> f64 {
        let offset =
            (time - self.start).num_milliseconds() as f64 / self.step.num_milliseconds() as f64;
        if offset <= 0.0 {
            return self.values[0];
        }
        let last = self.values.len() - 1;
        let index = offset.floor() as usize;
        if index >= last {
            return self.values[last];
        }
        let fraction = offset - index as f64;
        self.values[index] * (1.0 - fraction) + self.values[index + 1] * fraction
    }

    /// The values before `index` and those from `index` on, as two traces;
    /// `None` unless each part keeps at least 2 values.
    pub fn split_at(&self, index: usize) -> Option<(Trace, Trace)> {
        if index < 2 || self.values.len().saturating_sub(index) < 2 {
            return None;
        }
        let part = |range: std::ops::Range<usize>| Trace {
            start: self.time_of(range.start),
            step: self.step,
            values: self.values[range.clone()].to_vec(),
            interpolated: self.interpolated[range.clone()].to_vec(),
            reading: Reading {
                rows: range.len(),
                filled: self.interpolated[range.clone()]
                    .iter()
                    .filter(|&&f| f)
                    .count(),
                ..self.reading
            },
            recorded: self.recorded.as_ref().map(|r| r[range].to_vec()),
        };
        Some((part(0..index), part(index..self.values.len())))
    }

    /// Multiplies every value by `factor`.
    pub fn scaled(&self, factor: f64) -> Trace {
        Trace {
            values: self.values.iter().map(|v| v * factor).collect(),
            ..self.clone()
        }
    }

    /// The trace as CSV with a header, timestamps `YYYY-MM-DD HH:MM:SS` UTC.
    pub fn to_csv(&self) -> String {
        let mut out = String::from(match self.recorded {
            Some(_) => "timestamp,value,desired,in_service\n",
            None => "timestamp,value\n",
        });
        for (i, value) in self.values.iter().enumerate() {
            let time = self.time_of(i).format("%Y-%m-%d %H:%M:%S");
            let _ = match self.recorded.as_ref().map(|r| r[i]) {
                Some(r) => writeln!(out, "{time},{value},{},{}", r.desired, r.in_service),
                None => writeln!(out, "{time},{value}"),
            };
        }
        out
    }
}

/// Splits bytes into lines ending in LF, CRLF or CR.
fn lines(bytes: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = bytes;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let Some(end) = rest.iter().position(|b| *b == b'\n' || *b == b'\r') else {
            let line = rest;
            rest = &[];
            return Some(line);
        };
        let line = &rest[..end];
        let crlf = rest[end] == b'\r' && rest.get(end + 1) == Some(&b'\n');
        rest = &rest[end + if crlf { 2 } else { 1 }..];
        Some(line)
    })
}

/// Rows with every repeated timestamp merged into one row.
struct Merged {
    rows: Vec<(usize, Row)>,
    merged: usize,
}

/// Merges rows that repeat the previous row's timestamp as `how` says;
/// errors at the first row that goes back in time.
fn merge_duplicates(rows: &[(usize, Row)], how: Duplicates) -> Result<Merged, RowError> {
    for pair in rows.windows(2) {
        let ((_, r0), (line, r1)) = (pair[0], pair[1]);
        if r1.time < r0.time {
            return Err((
                Some(line),
                format!(
                    "timestamp {} is not after the previous row's {}: rows must be in time order",
                    r1.time, r0.time
                ),
            ));
        }
        if r1.time == r0.time && how == Duplicates::Error {
            return Err((
                Some(line),
                format!(
                    "timestamp {} repeats the previous row's; pass --duplicates first, last or mean to merge repeated rows",
                    r1.time
                ),
            ));
        }
    }
    let mut out = Vec::with_capacity(rows.len());
    for group in rows.chunk_by(|a, b| a.1.time == b.1.time) {
        let (line, first) = group[0];
        let row = match how {
            Duplicates::First | Duplicates::Error => first,
            Duplicates::Last => group[group.len() - 1].1,
            Duplicates::Mean => {
                let n = group.len() as f64;
                let mean = |f: fn(&Row) -> f64| group.iter().map(|(_, r)| f(r)).sum::<f64>() / n;
                Row {
                    time: first.time,
                    value: mean(|r| r.value),
                    recorded: first.recorded.map(|_| RecordedCapacity {
                        desired: mean(|r| r.recorded.map_or(0.0, |c| c.desired)),
                        in_service: mean(|r| r.recorded.map_or(0.0, |c| c.in_service)),
                    }),
                }
            }
        };
        out.push((line, row));
    }
    Ok(Merged {
        merged: rows.len() - out.len(),
        rows: out,
    })
}

/// The regular grid a trace's timestamps sit on, in milliseconds since the
/// epoch: `phase + k x step` for whole `k`.
struct Grid {
    step_ms: i64,
    phase_ms: i64,
}

impl Grid {
    /// The grid of rows in strictly increasing time: the most common interval
    /// between rows (in whole seconds; the shorter on a tie), at the most
    /// common phase.
    fn of(rows: &[(usize, Row)]) -> Result<Grid, RowError> {
        let seconds = |row: &Row| (row.time.timestamp_millis() + 500).div_euclid(1000);
        let mut gaps: HashMap<i64, usize> = HashMap::new();
        for pair in rows.windows(2) {
            let gap = seconds(&pair[1].1) - seconds(&pair[0].1);
            if gap > 0 {
                *gaps.entry(gap).or_default() += 1;
            }
        }
        let step = most_common(&gaps).ok_or_else(|| {
            (
                Some(rows[1].0),
                "rows less than a second apart: the step must be at least a second".to_string(),
            )
        })?;
        let mut phases: HashMap<i64, usize> = HashMap::new();
        for (_, row) in rows {
            *phases.entry(seconds(row).rem_euclid(step)).or_default() += 1;
        }
        let phase = most_common(&phases).unwrap_or(0);
        Ok(Grid {
            step_ms: step * 1000,
            phase_ms: phase * 1000,
        })
    }

    /// Each row's place on the grid; errors at a row further than a tenth of
    /// the step from its place, or sharing a place with the row before.
    fn place(&self, rows: &[(usize, Row)]) -> Result<Vec<i64>, RowError> {
        let tolerance = self.step_ms / 10;
        let mut slots: Vec<i64> = Vec::with_capacity(rows.len());
        for (i, (line, row)) in rows.iter().enumerate() {
            let offset = row.time.timestamp_millis() - self.phase_ms;
            let slot = (offset + self.step_ms / 2).div_euclid(self.step_ms);
            let off_by = offset - slot * self.step_ms;
            if off_by.abs() > tolerance {
                return Err((
                    Some(*line),
                    format!(
                        "timestamp {} is {}s off the trace's {}s step (its most common interval between rows); a timestamp may be off by at most a tenth of the step",
                        row.time,
                        off_by as f64 / 1000.0,
                        self.step_ms / 1000
                    ),
                ));
            }
            if let Some(previous) = slots.last()
                && *previous == slot
            {
                let (before_line, before) = rows[i - 1];
                return Err((
                    Some(*line),
                    format!(
                        "timestamp {} falls on the same {}s step as line {before_line}'s {}",
                        row.time,
                        self.step_ms / 1000,
                        before.time
                    ),
                ));
            }
            slots.push(slot);
        }
        Ok(slots)
    }

    /// The time of a place on the grid.
    fn time_of(&self, slot: i64) -> DateTime<Utc> {
        let millis = self.phase_ms + slot * self.step_ms;
        DateTime::from_timestamp_millis(millis).unwrap_or_default()
    }

    /// How many rows were moved to their place.
    fn snapped(&self, rows: &[(usize, Row)], slots: &[i64]) -> usize {
        rows.iter()
            .zip(slots)
            .filter(|((_, row), slot)| row.time != self.time_of(**slot))
            .count()
    }
}

/// The most frequent key; the smallest on a tie.
fn most_common(counts: &HashMap<i64, usize>) -> Option<i64> {
    counts
        .iter()
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
        .map(|(key, _)| *key)
}

/// Refuses a trace holding more than [`MAX_VALUES`] values or spanning more
/// than [`MAX_SPAN_DAYS`] and, unless gaps are allowed, one more than
/// [`MAX_FILLED_SHARE`] interpolated. The error names the row after the
/// largest gap: usually a typo in a date.
fn check_span(
    rows: &[(usize, Row)],
    slots: &[i64],
    grid: &Grid,
    allow_gaps: bool,
) -> Result<(), RowError> {
    let length = slots[slots.len() - 1] - slots[0] + 1;
    let filled = length - rows.len() as i64;
    let span_days = (length - 1).saturating_mul(grid.step_ms) / 86_400_000;
    let widest = (1..slots.len())
        .max_by_key(|i| slots[*i] - slots[*i - 1])
        .unwrap_or(1);
    let (line, row) = rows[widest];
    let gap_ms = (slots[widest] - slots[widest - 1]).saturating_mul(grid.step_ms);
    let gap = humantime::format_duration(std::time::Duration::from_secs(
        u64::try_from(gap_ms / 1000).unwrap_or(u64::MAX),
    ));
    let at = format!("timestamp {} is {gap} after the previous row", row.time);
    let step = grid.step_ms / 1000;
    if length > MAX_VALUES {
        return Err((
            Some(line),
            format!(
                "{at}: the trace would hold {length} values of {step}s, more than the {MAX_VALUES} a trace may hold (a typo in a date?)"
            ),
        ));
    }
    if span_days > MAX_SPAN_DAYS {
        return Err((
            Some(line),
            format!(
                "{at}: the trace would span {span_days} days, more than the {MAX_SPAN_DAYS} days a trace may span (a typo in a date?)"
            ),
        ));
    }
    if allow_gaps {
        return Ok(());
    }
    if filled as f64 > MAX_FILLED_SHARE * length as f64 {
        return Err((
            Some(line),
            format!(
                "{at}: {filled} of the trace's {length} values of {step}s would be interpolated, more than half; pass --allow-gaps to accept it"
            ),
        ));
    }
    Ok(())
}

/// A parsed timestamp, and whether it was epoch milliseconds.
struct Stamp {
    time: DateTime<Utc>,
    epoch_millis: bool,
}

/// Parses one timestamp: RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC), ISO-8601
/// without an offset (UTC), epoch seconds, or epoch milliseconds (numbers
/// above 1e11).
fn parse_timestamp(text: &str) -> Result<Stamp, String> {
    let stamp = |time| Stamp {
        time,
        epoch_millis: false,
    };
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(stamp(t.with_timezone(&Utc)));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(stamp(Utc.from_utc_datetime(&t)));
        }
    }
    if let Ok(number) = text.parse::<f64>()
        && number.is_finite()
    {
        let epoch_millis = number.abs() > EPOCH_MILLIS_ABOVE;
        let millis = if epoch_millis {
            number.round()
        } else {
            (number * 1000.0).round()
        };
        // `as` saturates; anything that far out is out of chrono's range.
        return match DateTime::from_timestamp_millis(millis as i64) {
            Some(time) => Ok(Stamp { time, epoch_millis }),
            None => Err(format!("timestamp `{text}` is out of range")),
        };
    }
    Err(format!(
        "timestamp `{text}` is neither ISO-8601, `YYYY-MM-DD HH:MM:SS`, epoch seconds nor epoch milliseconds"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iso_epoch_and_space_separated_timestamps_alike() {
        let a = Trace::parse(
            "timestamp,value\n2026-01-01 00:00:00,1\n2026-01-01 00:05:00,2\n",
            "a",
        )
        .unwrap();
        let b = Trace::parse("2026-01-01T00:00:00Z,1\n2026-01-01T00:05:00Z,2\n", "b").unwrap();
        let c = Trace::parse("1767225600,1\n1767225900,2\n", "c").unwrap();
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.step(), Duration::minutes(5));
    }

    #[test]
    fn fills_whole_step_gaps_and_counts_them() {
        let t = Trace::parse("0,0\n60,10\n240,40\n", "t").unwrap();
        assert_eq!(t.values(), &[0.0, 10.0, 20.0, 30.0, 40.0]);
        assert_eq!(t.filled(), 2);
    }

    #[test]
    fn rejects_irregular_unordered_and_bad_rows_with_the_line() {
        let err = Trace::parse("0,0\n60,1\n150,2\n", "x.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.csv, line 3") && err.contains("30s off the trace's 60s step"),
            "{err}"
        );
        let err = Trace::parse("60,0\n0,1\n", "x.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("not after"), "{err}");
        let err = Trace::parse("0,1\n60,-3\n", "x.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("non-negative"),
            "{err}"
        );
        let err = Trace::parse("0,1\nyesterday,3\n", "x.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("timestamp"), "{err}");
        let err = Trace::parse("0,1\n", "x.csv").unwrap_err().to_string();
        assert!(err.contains("at least 2"), "{err}");
    }

    fn read(text: &[u8], options: ReadOptions) -> Result<Trace, String> {
        Trace::parse_bytes(text, "t.csv", options).map_err(|e| e.to_string())
    }

    fn rows(times: &[i64]) -> String {
        times.iter().map(|t| format!("{t},{}\n", t / 60)).collect()
    }

    #[test]
    fn strips_a_bom_and_accepts_crlf_and_cr_line_endings() {
        let plain = Trace::parse("timestamp,value\n0,1\n60,2\n120,3\n", "t").unwrap();
        for text in [
            &b"\xEF\xBB\xBFtimestamp,value\n0,1\n60,2\n120,3\n"[..],
            b"timestamp,value\r\n0,1\r\n60,2\r\n120,3\r\n",
            b"timestamp,value\r0,1\r60,2\r120,3\r",
        ] {
            assert_eq!(read(text, ReadOptions::default()).unwrap(), plain);
        }
    }

    #[test]
    fn names_the_line_of_bytes_that_are_not_utf8() {
        let err = read(
            b"0,1\r\n60,2\r\n# caf\xE9\r\n120,3\r\n",
            ReadOptions::default(),
        )
        .unwrap_err();
        assert!(
            err.contains("t.csv, line 3") && err.contains("0xE9") && err.contains("UTF-8"),
            "{err}"
        );
    }

    #[test]
    fn reads_epoch_milliseconds_and_says_so() {
        let t = Trace::parse("1767225600000,1\n1767225660000,2\n", "t").unwrap();
        assert_eq!(
            t.start(),
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
        );
        assert_eq!(t.step(), Duration::minutes(1));
        assert!(t.reading().epoch_millis);
        assert!(t.describe_reading().contains("epoch milliseconds"));
    }

    #[test]
    fn merges_repeated_timestamps_as_asked_and_counts_them() {
        let text = b"0,1\n60,2\n60,4\n60,9\n120,3\n";
        let with = |duplicates| {
            read(
                text,
                ReadOptions {
                    duplicates,
                    allow_gaps: false,
                },
            )
        };
        let mean = with(Duplicates::Mean).unwrap();
        assert_eq!(mean.values(), &[1.0, 5.0, 3.0]);
        assert_eq!(mean.reading().merged, 2);
        assert!(
            mean.describe_reading()
                .contains("2 rows with a repeated timestamp merged")
        );
        assert_eq!(with(Duplicates::First).unwrap().values(), &[1.0, 2.0, 3.0]);
        assert_eq!(with(Duplicates::Last).unwrap().values(), &[1.0, 9.0, 3.0]);
        let err = with(Duplicates::Error).unwrap_err();
        assert!(
            err.contains("line 3") && err.contains("--duplicates"),
            "{err}"
        );
        // Going back in time is still refused.
        let err = read(b"0,1\n120,2\n60,3\n", ReadOptions::default()).unwrap_err();
        assert!(err.contains("line 3") && err.contains("not after"), "{err}");
    }

    #[test]
    fn snaps_jitter_to_the_most_common_step_and_names_a_row_too_far_off() {
        let mut times: Vec<i64> = (0..100).map(|i| i * 60).collect();
        times[40] += 1;
        let t = Trace::parse(&rows(&times), "t").unwrap();
        assert_eq!(
            (t.step(), t.values().len(), t.filled()),
            (Duration::minutes(1), 100, 0)
        );
        assert_eq!(t.reading().snapped, 1);
        // Millisecond jitter on every row.
        let jitter: String = (0..100)
            .map(|i| format!("{},1\n", 1_767_225_600_000i64 + i * 60_000 + (i % 7) - 3))
            .collect();
        let t = Trace::parse(&jitter, "t").unwrap();
        assert_eq!((t.step(), t.values().len()), (Duration::minutes(1), 100));
        // Too far off the grid: that row is named.
        times[40] += 20;
        let err = Trace::parse(&rows(&times), "t.csv")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 41") && err.contains("21s off"), "{err}");
    }

    #[test]
    fn refuses_a_trace_mostly_made_up_unless_gaps_are_allowed() {
        let text = rows(&[0, 60, 120, 600]);
        let err = read(text.as_bytes(), ReadOptions::default()).unwrap_err();
        assert!(
            err.contains("line 4")
                && err.contains("7 of the trace's 11 values")
                && err.contains("--allow-gaps"),
            "{err}"
        );
        let allowed = ReadOptions {
            allow_gaps: true,
            ..ReadOptions::default()
        };
        let t = read(text.as_bytes(), allowed).unwrap();
        assert_eq!(t.filled(), 7);
        assert!(t.describe_reading().contains("7 values interpolated"));
    }

    #[test]
    fn refuses_a_year_typo_naming_its_row_and_bounds_any_trace() {
        let mut text: String = (0..600)
            .map(|i| {
                format!(
                    "2026-01-0{} {:02}:{:02}:00,5\n",
                    1 + i / 1440,
                    (i / 60) % 24,
                    i % 60
                )
            })
            .collect();
        text.push_str("2062-01-01 10:00:00,5\n");
        let err = Trace::parse(&text, "t.csv").unwrap_err().to_string();
        assert!(
            err.contains("line 601") && err.contains("a typo in a date"),
            "{err}"
        );
        let allowed = ReadOptions {
            allow_gaps: true,
            ..ReadOptions::default()
        };
        let err = read(b"1970-01-01 00:00:00,1\n9999-01-01 00:00:00,1\n", allowed).unwrap_err();
        assert!(
            err.contains("line 2") && err.contains("more than the 400 days"),
            "{err}"
        );
        let err = read(rows(&[0, 1, 2, 100_000_000]).as_bytes(), allowed).unwrap_err();
        assert!(
            err.contains("line 4") && err.contains("more than the 1000000"),
            "{err}"
        );
    }

    #[test]
    fn refuses_a_trace_shorter_than_a_minute() {
        let err = Trace::parse("0,1\n10,2\n20,3\n", "t.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("30s") && err.contains("at least a minute"),
            "{err}"
        );
        assert!(Trace::parse("0,1\n30,2\n", "t").is_ok());
    }

    #[test]
    fn interpolates_between_rows_and_holds_outside() {
        let t = Trace::parse("0,0\n60,10\n", "t").unwrap();
        let at = |s| t.load_at(DateTime::from_timestamp(s, 0).unwrap());
        assert_eq!(at(-100), 0.0);
        assert_eq!(at(30), 5.0);
        assert_eq!(at(1000), 10.0);
    }

    #[test]
    fn carries_recorded_capacity_through_gaps_and_csv() {
        let text = "timestamp,value,desired,in_service\n0,10,2,2\n60,20,3,2\n180,40,5,3\n";
        let t = Trace::parse(text, "t").unwrap();
        assert_eq!(t.values(), &[10.0, 20.0, 30.0, 40.0]);
        let middle = t.recorded().unwrap()[2];
        assert_eq!((middle.desired, middle.in_service), (4.0, 2.5));
        let at = t
            .recorded_at(DateTime::from_timestamp(150, 0).unwrap())
            .unwrap();
        assert_eq!(at.desired, 4.0);
        let again = Trace::parse(&t.to_csv(), "again").unwrap();
        assert_eq!(
            (again.values(), again.recorded()),
            (t.values(), t.recorded())
        );
        let err = Trace::parse("0,1,2,2\n60,1\n", "m.csv")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("line 2") && err.contains("same number of columns"),
            "{err}"
        );
    }

    #[test]
    fn csv_round_trips() {
        let t = Trace::parse("0,1.5\n300,2\n600,7.25\n", "t").unwrap();
        assert_eq!(Trace::parse(&t.to_csv(), "again").unwrap(), t);
    }
}
