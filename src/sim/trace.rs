//! Load traces: a regular series of `timestamp,value` rows that drives the
//! simulated cloud, and that backtests and forecasts read.
//!
//! Timestamps may be ISO-8601 / RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC) or epoch
//! seconds; the step may be any regular interval. Missing rows (a gap that is a
//! whole number of steps) are filled by linear interpolation and counted, so a
//! reader can tell how much of the trace was made up; anything else irregular
//! is an error naming the line.
//!
//! A trace exported from CloudWatch (`ebb trace export`) may carry two more
//! columns, `desired,in_service`: the group's own recorded capacity, which
//! `ebb simulate` scores beside ebb and the baselines.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};
use std::fmt::Write as _;
use std::path::Path;

/// A regular series of load values.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    start: DateTime<Utc>,
    step: Duration,
    values: Vec<f64>,
    filled: usize,
    /// The group's recorded capacity at each step, when the trace has it.
    recorded: Option<Vec<RecordedCapacity>>,
}

/// What the real group ran at one step of a trace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RecordedCapacity {
    pub desired: f64,
    pub in_service: f64,
}

/// One timestamped row, as read or fetched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Row {
    pub time: DateTime<Utc>,
    pub value: f64,
    pub recorded: Option<RecordedCapacity>,
}

/// Why a trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("{origin}: {source}")]
    Io {
        origin: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}, line {line}: {message}")]
    Line {
        origin: String,
        line: usize,
        message: String,
    },
    #[error("{origin}: {message}")]
    Whole { origin: String, message: String },
}

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
            values,
            filled: 0,
            recorded: None,
        })
    }

    /// Reads a trace file.
    pub fn load(path: &Path) -> Result<Trace, TraceError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| TraceError::Io {
            origin: origin.clone(),
            source,
        })?;
        Trace::parse(&text, &origin)
    }

    /// Parses CSV text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Trace, TraceError> {
        let line_error = |line: usize, message: String| TraceError::Line {
            origin: origin.to_string(),
            line,
            message,
        };
        let mut rows: Vec<(usize, Row)> = Vec::new();
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
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
            let time = parse_timestamp(fields[0]).map_err(|m| line_error(number, m))?;
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
                    time,
                    value,
                    recorded,
                },
            ));
        }
        Trace::from_rows(&rows).map_err(|(line, message)| match line {
            Some(line) => line_error(line, message),
            None => TraceError::Whole {
                origin: origin.to_string(),
                message,
            },
        })
    }

    /// Builds a trace from rows in time order (each with a line number, for
    /// errors), filling whole-step gaps by linear interpolation.
    pub fn from_rows(rows: &[(usize, Row)]) -> Result<Trace, (Option<usize>, String)> {
        if rows.len() < 2 {
            return Err((
                None,
                format!("a trace needs at least 2 rows, found {}", rows.len()),
            ));
        }
        let step = smallest_step(rows).map_err(|(line, m)| (Some(line), m))?;
        let mut values = Vec::with_capacity(rows.len());
        let mut recorded = rows[0].1.recorded.map(|_| Vec::with_capacity(rows.len()));
        let mut filled = 0;
        let blend = |a: f64, b: f64, k: i64, n: i64| a + (b - a) * k as f64 / n as f64;
        for pair in rows.windows(2) {
            let (_, r0) = pair[0];
            let (line, r1) = pair[1];
            let gap = r1.time - r0.time;
            if gap.num_seconds() % step.num_seconds() != 0 {
                return Err((
                    Some(line),
                    format!(
                        "timestamp {} is {}s after the previous row, not a multiple of the trace's {}s step",
                        r1.time,
                        gap.num_seconds(),
                        step.num_seconds()
                    ),
                ));
            }
            let steps = gap.num_seconds() / step.num_seconds();
            for k in 0..steps {
                values.push(blend(r0.value, r1.value, k, steps));
                if let (Some(out), Some(a), Some(b)) = (&mut recorded, r0.recorded, r1.recorded) {
                    out.push(RecordedCapacity {
                        desired: blend(a.desired, b.desired, k, steps),
                        in_service: blend(a.in_service, b.in_service, k, steps),
                    });
                }
            }
            filled += (steps - 1) as usize;
        }
        let last = rows[rows.len() - 1].1;
        values.push(last.value);
        if let (Some(out), Some(r)) = (&mut recorded, last.recorded) {
            out.push(r);
        }
        Ok(Trace {
            start: rows[0].1.time,
            step,
            values,
            filled,
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

    pub fn start(&self) -> DateTime<Utc> {
        self.start
    }

    /// The time of the last value.
    pub fn end(&self) -> DateTime<Utc> {
        self.time_of(self.values.len() - 1)
    }

    pub fn step(&self) -> Duration {
        self.step
    }

    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// How many values were interpolated over gaps.
    pub fn filled(&self) -> usize {
        self.filled
    }

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

/// The smallest positive interval between consecutive rows, which every
/// other interval must be a multiple of.
fn smallest_step(rows: &[(usize, Row)]) -> Result<Duration, (usize, String)> {
    let mut step: Option<Duration> = None;
    for pair in rows.windows(2) {
        let (line, t1) = (pair[1].0, pair[1].1.time);
        let gap = t1 - pair[0].1.time;
        if gap <= Duration::zero() {
            return Err((
                line,
                format!(
                    "timestamp {t1} is not after the previous row's {}",
                    pair[0].1.time
                ),
            ));
        }
        if gap.num_seconds() == 0 {
            return Err((line, "rows less than a second apart".to_string()));
        }
        step = Some(step.map_or(gap, |s| s.min(gap)));
    }
    Ok(step.expect("at least two rows"))
}

/// Parses one timestamp: RFC 3339, `YYYY-MM-DD HH:MM:SS` (UTC), ISO-8601
/// without an offset (UTC), or epoch seconds.
pub fn parse_timestamp(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in [
        "%Y-%m-%d %H:%M:%S",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(text, format) {
            return Ok(Utc.from_utc_datetime(&t));
        }
    }
    if let Ok(seconds) = text.parse::<f64>()
        && seconds.is_finite()
        && let Some(t) = DateTime::from_timestamp(seconds.trunc() as i64, 0)
    {
        return Ok(t);
    }
    Err(format!(
        "timestamp `{text}` is neither ISO-8601, `YYYY-MM-DD HH:MM:SS` nor epoch seconds"
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
            err.contains("x.csv, line 3") && err.contains("not a multiple"),
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
