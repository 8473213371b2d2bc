//! Signals: turning a metric's raw datapoints into the one value policies use.
//!
//! Each metric of a target has a [`Signal`] that keeps just enough history to
//! smooth (an EWMA's last value, or a window's datapoints), rejects values
//! that cannot be right, and says when the metric is stale or missing.

use crate::decision::{MetricRecord, MetricStatus};
use crate::policy_file::{MetricSpec, Smoothing, WindowAggregate};
use crate::source::{Datapoint, FetchError, Series};
use chrono::{DateTime, Duration, Utc};
use std::collections::VecDeque;

/// One metric's smoothing state.
#[derive(Debug, Clone)]
pub struct Signal {
    name: String,
    smoothing: Smoothing,
    stale_after: Duration,
    max_value: Option<f64>,
    /// Latest accepted datapoint.
    latest: Option<Datapoint>,
    ewma: Option<f64>,
    /// Accepted datapoints within the smoothing window (window smoothing only).
    window: VecDeque<Datapoint>,
}

/// A signal's state after an update: the value policies may use (only when
/// the metric is ok) and the record of how it looked.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    pub value: Option<f64>,
    pub record: MetricRecord,
}

impl Signal {
    pub fn new(name: &str, spec: &MetricSpec) -> Signal {
        Signal {
            name: name.to_string(),
            smoothing: spec.smoothing,
            stale_after: to_chrono(spec.stale_after),
            max_value: spec.max_value,
            latest: None,
            ewma: None,
            window: VecDeque::new(),
        }
    }

    /// How far back a source should return datapoints so that smoothing has
    /// what it needs, measured from now.
    pub fn lookback(&self) -> Duration {
        let smoothing = match self.smoothing {
            Smoothing::Latest => Duration::zero(),
            Smoothing::Ewma { half_life } => to_chrono(half_life) * 4,
            Smoothing::Window { window, .. } => to_chrono(window),
        };
        smoothing.max(self.stale_after)
    }

    /// The time of the latest accepted datapoint.
    pub fn latest_time(&self) -> Option<DateTime<Utc>> {
        self.latest.map(|p| p.time)
    }

    /// Feeds what the source returned and reads the signal at `now`.
    pub fn update(
        &mut self,
        now: DateTime<Utc>,
        fetched: Option<&Result<Series, FetchError>>,
    ) -> Reading {
        let mut notes = Vec::new();
        let mut detail = None;
        let mut stale_now = None;
        match fetched {
            None => notes.push("no answer from the source".to_string()),
            Some(Err(e)) => notes.push(format!("fetch failed: {e}")),
            Some(Ok(series)) => {
                detail = series.detail.clone();
                stale_now = series.stale.clone();
                for point in &series.points {
                    self.accept(*point, &mut notes);
                }
            }
        }
        let mut reading = self.read(now, notes, detail);
        if let Some(reason) = stale_now {
            reading
                .record
                .notes
                .push(format!("source says stale: {reason}"));
            if reading.record.status == MetricStatus::Ok {
                reading.value = None;
                reading.record.status = MetricStatus::Stale;
            }
        }
        reading
    }

    fn accept(&mut self, point: Datapoint, notes: &mut Vec<String>) {
        if self.latest.is_some_and(|l| point.time <= l.time) {
            return; // already seen: sources return overlapping windows
        }
        if let Some(reason) = self.rejection(point.value) {
            notes.push(format!(
                "rejected {} at {}: {reason}",
                point.value,
                point.time.format("%H:%M:%S")
            ));
            return;
        }
        match self.smoothing {
            Smoothing::Latest => {}
            Smoothing::Ewma { half_life } => {
                let next = match (self.ewma, self.latest) {
                    (Some(prev), Some(last)) => {
                        let dt = (point.time - last.time).num_milliseconds() as f64;
                        let hl = half_life.as_millis().max(1) as f64;
                        let alpha = 1.0 - 0.5f64.powf(dt / hl);
                        prev + alpha * (point.value - prev)
                    }
                    _ => point.value,
                };
                self.ewma = Some(next);
            }
            Smoothing::Window { .. } => self.window.push_back(point),
        }
        self.latest = Some(point);
    }

    fn rejection(&self, value: f64) -> Option<String> {
        if value.is_nan() {
            return Some("not a number".into());
        }
        if value.is_infinite() {
            return Some("infinite".into());
        }
        if value < 0.0 {
            return Some("negative, and no metric ebb scales on can be".into());
        }
        match self.max_value {
            Some(max) if value > max => Some(format!("above max_value {max}")),
            _ => None,
        }
    }

    fn read(
        &mut self,
        now: DateTime<Utc>,
        mut notes: Vec<String>,
        detail: Option<serde_json::Value>,
    ) -> Reading {
        let Some(latest) = self.latest else {
            notes.push("no datapoint yet".into());
            return Reading {
                value: None,
                record: self.record(MetricStatus::Missing, None, None, notes, detail),
            };
        };
        let age = now - latest.time;
        let smoothed = self.smoothed(now);
        let status = if age > self.stale_after {
            notes.push(format!(
                "latest datapoint is {}s old, stale after {}s",
                age.num_seconds(),
                self.stale_after.num_seconds()
            ));
            MetricStatus::Stale
        } else {
            MetricStatus::Ok
        };
        let value = (status == MetricStatus::Ok).then_some(smoothed);
        Reading {
            value,
            record: MetricRecord {
                age_s: Some(age.num_seconds()),
                ..self.record(status, Some(latest.value), Some(smoothed), notes, detail)
            },
        }
    }

    fn smoothed(&mut self, now: DateTime<Utc>) -> f64 {
        let latest = self
            .latest
            .expect("smoothed is read only after a datapoint")
            .value;
        match self.smoothing {
            Smoothing::Latest => latest,
            Smoothing::Ewma { .. } => self.ewma.unwrap_or(latest),
            Smoothing::Window {
                window,
                aggregate,
                percentile,
            } => {
                let cutoff = now - to_chrono(window);
                while self.window.len() > 1 && self.window.front().is_some_and(|p| p.time <= cutoff)
                {
                    self.window.pop_front();
                }
                let mut values: Vec<f64> = self.window.iter().map(|p| p.value).collect();
                aggregate_values(&mut values, aggregate, percentile.unwrap_or(50.0))
            }
        }
    }

    fn record(
        &self,
        status: MetricStatus,
        raw: Option<f64>,
        smoothed: Option<f64>,
        notes: Vec<String>,
        detail: Option<serde_json::Value>,
    ) -> MetricRecord {
        MetricRecord {
            name: self.name.clone(),
            status,
            raw,
            smoothed,
            age_s: None,
            notes,
            detail,
        }
    }
}

/// Mean, median, max or percentile (linear interpolation between closest
/// ranks) of a non-empty list.
pub fn aggregate_values(values: &mut [f64], aggregate: WindowAggregate, percentile: f64) -> f64 {
    debug_assert!(!values.is_empty());
    match aggregate {
        WindowAggregate::Mean => values.iter().sum::<f64>() / values.len() as f64,
        WindowAggregate::Max => values.iter().cloned().fold(f64::MIN, f64::max),
        WindowAggregate::Median => quantile(values, 0.5),
        WindowAggregate::Percentile => quantile(values, percentile / 100.0),
    }
}

/// The q-quantile (0..=1) of a non-empty list, interpolating between ranks.
pub fn quantile(values: &mut [f64], q: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = q.clamp(0.0, 1.0) * (values.len() - 1) as f64;
    let (lo, hi) = (rank.floor() as usize, rank.ceil() as usize);
    values[lo] + (values[hi] - values[lo]) * (rank - lo as f64)
}

pub(crate) fn to_chrono(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_file::{CloudWatchMetric, MetricSourceSpec};

    fn spec() -> MetricSpec {
        MetricSpec {
            source: MetricSourceSpec::Cloudwatch(CloudWatchMetric {
                namespace: None,
                metric_name: None,
                dimensions: Default::default(),
                statistic: None,
                period: std::time::Duration::from_secs(60),
                expression: None,
                queries: Default::default(),
                delay_periods: 0,
            }),
            smoothing: Smoothing::Latest,
            stale_after: std::time::Duration::from_secs(300),
            max_value: None,
            simulated_as: None,
        }
    }

    #[test]
    fn a_series_marked_stale_makes_the_signal_stale_at_once() {
        let t0 = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let mut signal = Signal::new("m", &spec());
        let fresh = Series {
            points: vec![Datapoint {
                time: t0,
                value: 5.0,
            }],
            ..Series::default()
        };
        let ok = signal.update(t0, Some(&Ok(fresh)));
        assert_eq!(ok.value, Some(5.0));
        let stale = Series {
            stale: Some("1 of 4 targets answered".into()),
            ..Series::default()
        };
        let later = t0 + Duration::seconds(60);
        let reading = signal.update(later, Some(&Ok(stale)));
        assert_eq!(reading.value, None);
        assert_eq!(reading.record.status, MetricStatus::Stale);
        assert!(
            reading
                .record
                .notes
                .iter()
                .any(|n| n.contains("1 of 4 targets answered"))
        );
    }
}
