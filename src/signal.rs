//! Signals: turning a metric's raw datapoints into the one value policies use.
//!
//! Each metric of a target has a [`Signal`] that keeps just enough history to
//! smooth (an EWMA's last value, or a window's datapoints), rejects values
//! that cannot be right, and says when the metric is stale or missing.
//!
//! Late datapoints: CloudWatch may revise a period after ebb read it (a late
//! PutMetricData, a publish delay longer than `delay_periods`). The latest
//! `max(delay_periods, 1)` periods a signal has read are asked for again at
//! each tick, and a changed value replaces the one used (see
//! [`Signal::fetch_since`]); older periods are final.

use crate::decision::{MetricRecord, MetricStatus};
use crate::policy_file::{MetricSpec, Smoothing, WindowAggregate};
use crate::series::{Datapoint, FetchError, Series};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How far ahead of the loop's clock a datapoint's timestamp may be: sources
/// that stamp datapoints with their own clock read it a little later.
const MAX_CLOCK_SKEW: Duration = Duration::seconds(60);

/// The one rule for taking in a metric's datapoints, shared by [`Signal`]
/// and the predictive policy's history: a datapoint at or before the last
/// one looked at is already seen (sources return overlapping windows); one
/// stamped more than [`MAX_CLOCK_SKEW`] ahead of the loop's clock is refused
/// and marks nothing as seen. Taking it would make every real datapoint until
/// then look already seen, freezing the metric while it reads as fresh.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Intake {
    seen_until: Option<DateTime<Utc>>,
}

/// What [`Intake::admit`] says of a datapoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// New: take it in (it is now seen, whatever its value).
    New,
    /// At or before a datapoint already looked at.
    Seen,
    /// Stamped this far ahead of now.
    Future(Duration),
}

impl Intake {
    /// Whether to take in a datapoint stamped `time`, at `now`.
    pub fn admit(&mut self, now: DateTime<Utc>, time: DateTime<Utc>) -> Admission {
        if self.seen_until.is_some_and(|t| time <= t) {
            return Admission::Seen;
        }
        let ahead = time - now;
        if ahead > MAX_CLOCK_SKEW {
            return Admission::Future(ahead);
        }
        self.seen_until = Some(time);
        Admission::New
    }

    /// The latest datapoint admitted.
    pub fn seen_until(&self) -> Option<DateTime<Utc>> {
        self.seen_until
    }
}

/// One metric's smoothing state.
#[derive(Debug, Clone)]
pub struct Signal {
    name: String,
    smoothing: Smoothing,
    stale_after: Duration,
    max_value: Option<f64>,
    /// Latest accepted datapoint.
    latest: Option<Datapoint>,
    /// Which datapoints were looked at, accepted or rejected.
    intake: Intake,
    ewma: Option<f64>,
    /// Accepted datapoints within the smoothing window (window smoothing only).
    window: VecDeque<Datapoint>,
    /// How far before the latest datapoint a source may still revise values
    /// (zero: never).
    revisable: Duration,
    /// The EWMA before the latest datapoint was folded in, and the time of
    /// the datapoint before it: to fold in a revised latest value instead.
    ewma_before_latest: Option<(f64, DateTime<Utc>)>,
}

/// A signal's state after an update: the value policies may use (only when
/// the metric is ok) and the record of how it looked.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// The smoothed value, only when the metric is ok (fresh); `None` when stale or missing.
    pub value: Option<f64>,
    /// How the metric looked, for the decision record.
    pub record: MetricRecord,
}

impl Signal {
    /// A signal for the metric `name` as `spec` describes it, with no datapoint yet.
    pub fn new(name: &str, spec: &MetricSpec) -> Signal {
        Signal {
            name: name.to_string(),
            smoothing: spec.smoothing,
            stale_after: to_chrono(spec.stale_after),
            max_value: spec.max_value,
            latest: None,
            intake: Intake::default(),
            ewma: None,
            window: VecDeque::new(),
            revisable: revisable(spec),
            ewma_before_latest: None,
        }
    }

    /// From when a source should return datapoints, given the earliest time
    /// smoothing needs (`window_start`): what is new since the latest
    /// datapoint, plus the periods before it the source may still revise.
    pub fn fetch_since(&self, window_start: DateTime<Utc>) -> DateTime<Utc> {
        match self.latest_time() {
            None => window_start,
            Some(latest) => latest
                .checked_sub_signed(self.revisable)
                .unwrap_or(latest)
                .max(window_start),
        }
    }

    /// How far back a source should return datapoints so that smoothing has
    /// what it needs, measured from now.
    pub fn lookback(&self) -> Duration {
        let smoothing = match self.smoothing {
            Smoothing::Latest => Duration::zero(),
            Smoothing::Ewma {
                half_life,
                half_life_down,
            } => to_chrono(half_life.max(half_life_down.unwrap_or_default())) * 4,
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
                // Oldest first, whatever order the source used: a newer
                // datapoint taken first would make the older ones look seen.
                let mut points = series.points.clone();
                points.sort_by_key(|p| p.time);
                for point in points {
                    self.accept(now, point, &mut notes);
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

    fn accept(&mut self, now: DateTime<Utc>, point: Datapoint, notes: &mut Vec<String>) {
        let mut reject = |reason: String| {
            notes.push(format!(
                "rejected {} at {}: {reason}",
                point.value,
                point.time.format("%H:%M:%S")
            ))
        };
        // A rejected value is seen from here on: reported once, not again
        // with every fetch that overlaps it.
        match self.intake.admit(now, point.time) {
            // Already seen (sources return overlapping windows), unless the
            // source revised it since.
            Admission::Seen => return self.revise(point, notes),
            Admission::Future(ahead) => {
                return reject(format!("timestamp {}s in the future", ahead.num_seconds()));
            }
            Admission::New => {}
        }
        if let Some(reason) = self.rejection(point.value) {
            return reject(reason);
        }
        match self.smoothing {
            Smoothing::Latest => {}
            Smoothing::Ewma { .. } => {
                let before = self.ewma.zip(self.latest.map(|p| p.time));
                self.ewma = Some(ewma_step(before, point, self.smoothing));
                self.ewma_before_latest = before;
            }
            Smoothing::Window { .. } => self.window.push_back(point),
        }
        self.latest = Some(point);
    }

    /// Takes a new value for a datapoint already accepted, if it is within
    /// what the source may revise and it changed; says so in the notes.
    fn revise(&mut self, point: Datapoint, notes: &mut Vec<String>) {
        let Some(latest) = self.latest else { return };
        let revisable = latest
            .time
            .checked_sub_signed(self.revisable)
            .is_some_and(|from| point.time >= from && self.revisable > Duration::zero());
        if !revisable || self.rejection(point.value).is_some() {
            return;
        }
        let old = match self.smoothing {
            Smoothing::Window { .. } => self.window.iter_mut().find(|p| p.time == point.time),
            // Only the latest value counts: an older one is already folded in.
            Smoothing::Latest | Smoothing::Ewma { .. } => {
                self.latest.as_mut().filter(|p| p.time == point.time)
            }
        };
        let Some(old) = old else { return };
        if old.value == point.value {
            return;
        }
        notes.push(format!(
            "revised {} at {} to {}",
            old.value,
            point.time.format("%H:%M:%S"),
            point.value
        ));
        old.value = point.value;
        if latest.time == point.time {
            self.latest = Some(point);
            if let Smoothing::Ewma { .. } = self.smoothing {
                self.ewma = Some(ewma_step(self.ewma_before_latest, point, self.smoothing));
            }
        }
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
                let cutoff = crate::clock::earlier(now, window);
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

/// The EWMA after folding in `point`, from the EWMA before it and the time
/// of the datapoint that EWMA ended on; with `half_life_down`, a value below
/// the EWMA moves it at that half-life instead.
fn ewma_step(before: Option<(f64, DateTime<Utc>)>, point: Datapoint, smoothing: Smoothing) -> f64 {
    let Smoothing::Ewma {
        half_life,
        half_life_down,
    } = smoothing
    else {
        return point.value;
    };
    match before {
        Some((prev, last)) => {
            let half_life = match half_life_down {
                Some(down) if point.value < prev => down,
                _ => half_life,
            };
            let dt = (point.time - last).num_milliseconds() as f64;
            let hl = half_life.as_millis().max(1) as f64;
            let alpha = 1.0 - 0.5f64.powf(dt / hl);
            prev + alpha * (point.value - prev)
        }
        None => point.value,
    }
}

/// How far back a metric's source may revise datapoints: CloudWatch, the
/// latest `max(delay_periods, 1)` periods; the other sources never.
fn revisable(spec: &MetricSpec) -> Duration {
    match spec.source.cloudwatch() {
        Some(cw) => {
            let periods = cw.delay_periods.max(1);
            to_chrono(cw.period)
                .checked_mul(i32::try_from(periods).unwrap_or(i32::MAX))
                .unwrap_or(Duration::zero())
        }
        None => Duration::zero(),
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

pub(crate) use crate::clock::to_chrono;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_file::{CloudWatchMetric, MetricSourceSpec};

    fn spec() -> MetricSpec {
        MetricSpec {
            source: MetricSourceSpec::Cloudwatch(CloudWatchMetric {
                query: crate::policy_file::CloudWatchQuery::Stat(
                    crate::policy_file::CloudWatchStat {
                        namespace: "AWS/EC2".into(),
                        metric_name: "CPUUtilization".into(),
                        dimensions: Default::default(),
                        statistic: crate::policy_file::Statistic::average(),
                    },
                ),
                period: std::time::Duration::from_secs(60),
                delay_periods: 0,
            }),
            smoothing: Smoothing::Latest,
            stale_after: std::time::Duration::from_secs(300),
            max_value: None,
            simulated_as: None,
        }
    }

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000 + secs, 0).unwrap()
    }

    fn smoothed_by(smoothing: Smoothing) -> Signal {
        Signal::new(
            "m",
            &MetricSpec {
                smoothing,
                ..spec()
            },
        )
    }

    /// EWMA smoothing at one half-life both ways.
    fn ewma(half_life: std::time::Duration) -> Smoothing {
        Smoothing::Ewma {
            half_life,
            half_life_down: None,
        }
    }

    /// A series of (seconds, value) datapoints.
    fn series(points: &[(i64, f64)]) -> Result<Series, FetchError> {
        Ok(Series {
            points: points
                .iter()
                .map(|&(at, value)| Datapoint { time: t(at), value })
                .collect(),
            ..Series::default()
        })
    }

    fn feed(signal: &mut Signal, now: i64, points: &[(i64, f64)]) -> Reading {
        signal.update(t(now), Some(&series(points)))
    }

    #[test]
    fn a_revised_latest_period_replaces_the_value_used() {
        // Period 60s, delay_periods 0: the latest period can still change.
        let mut signal = smoothed_by(Smoothing::Latest);
        assert_eq!(
            feed(&mut signal, 120, &[(0, 10.0), (60, 90.0)]).value,
            Some(90.0)
        );
        assert_eq!(
            signal.fetch_since(t(-300)),
            t(0),
            "the latest period is asked again"
        );
        let reading = feed(&mut signal, 125, &[(60, 50.0)]);
        assert_eq!(reading.value, Some(50.0));
        assert!(
            reading.record.notes[0].contains("revised 90 at"),
            "{:?}",
            reading.record.notes
        );
        // Unchanged on the next read: no note.
        assert!(
            feed(&mut signal, 130, &[(60, 50.0)])
                .record
                .notes
                .is_empty()
        );
        // Older than the revisable periods: final.
        feed(&mut signal, 190, &[(120, 40.0)]);
        assert_eq!(
            feed(&mut signal, 195, &[(0, 99.0), (60, 99.0)]).value,
            Some(40.0)
        );
    }

    #[test]
    fn asymmetric_smoothing_reacts_fast_up_and_slow_down() {
        let mut signal = smoothed_by(Smoothing::Ewma {
            half_life: std::time::Duration::from_secs(30),
            half_life_down: Some(std::time::Duration::from_secs(300)),
        });
        feed(&mut signal, 60, &[(0, 100.0)]);
        // Up at the 30s half-life: three quarters of the way in a minute.
        let up = feed(&mut signal, 120, &[(60, 200.0)]).value.unwrap();
        assert!((up - 175.0).abs() < 1e-9, "{up}");
        // Down at the 5-minute half-life: 2^(-1/5) of the gap remains.
        let down = feed(&mut signal, 180, &[(120, 100.0)]).value.unwrap();
        let expected = 100.0 + 75.0 * 0.5f64.powf(0.2);
        assert!((down - expected).abs() < 1e-9, "{down} vs {expected}");
        assert!(down > 165.0);
        // A symmetric EWMA falls as fast as it rose.
        let mut symmetric = smoothed_by(ewma(std::time::Duration::from_secs(30)));
        feed(&mut symmetric, 120, &[(0, 100.0), (60, 200.0)]);
        let down = feed(&mut symmetric, 180, &[(120, 100.0)]).value.unwrap();
        assert!((down - 118.75).abs() < 1e-9, "{down}");
    }

    #[test]
    fn a_revision_is_smoothed_as_if_it_had_come_first() {
        let half_life = std::time::Duration::from_secs(60);
        let mut revised = smoothed_by(ewma(half_life));
        feed(&mut revised, 120, &[(0, 10.0), (60, 90.0)]);
        let revised = feed(&mut revised, 125, &[(60, 30.0)]).value;
        let mut direct = smoothed_by(ewma(half_life));
        let direct = feed(&mut direct, 125, &[(0, 10.0), (60, 30.0)]).value;
        assert_eq!(revised, direct);

        let mut windowed = smoothed_by(window(300, WindowAggregate::Mean, None));
        feed(&mut windowed, 120, &[(0, 10.0), (60, 90.0)]);
        assert_eq!(feed(&mut windowed, 125, &[(60, 30.0)]).value, Some(20.0));
        // A revision to a value that cannot be right is not taken.
        assert_eq!(
            feed(&mut windowed, 130, &[(60, f64::NAN)]).value,
            Some(20.0)
        );
    }

    #[test]
    fn only_cloudwatch_revises_and_only_its_delay_periods() {
        let mut cw = spec();
        if let MetricSourceSpec::Cloudwatch(c) = &mut cw.source {
            c.delay_periods = 3;
        }
        let mut signal = Signal::new("m", &cw);
        feed(&mut signal, 600, &[(300, 1.0)]);
        assert_eq!(signal.fetch_since(t(0)), t(300 - 180));
        // Never before the smoothing window.
        assert_eq!(signal.fetch_since(t(250)), t(250));
    }

    fn window(secs: u64, aggregate: WindowAggregate, percentile: Option<f64>) -> Smoothing {
        Smoothing::Window {
            window: std::time::Duration::from_secs(secs),
            aggregate,
            percentile,
        }
    }

    fn close(a: Option<f64>, b: f64) -> bool {
        a.is_some_and(|a| (a - b).abs() < 1e-9)
    }

    #[test]
    fn latest_takes_the_newest_datapoint() {
        let mut signal = smoothed_by(Smoothing::Latest);
        let r = feed(&mut signal, 180, &[(0, 10.0), (60, 30.0), (120, 20.0)]);
        assert_eq!(r.value, Some(20.0));
        assert_eq!(r.record.status, MetricStatus::Ok);
        assert_eq!((r.record.raw, r.record.smoothed), (Some(20.0), Some(20.0)));
        assert_eq!(r.record.age_s, Some(60));
    }

    #[test]
    fn ewma_weight_halves_every_half_life() {
        let mut signal = smoothed_by(ewma(std::time::Duration::from_secs(120)));
        assert_eq!(feed(&mut signal, 0, &[(0, 10.0)]).value, Some(10.0));
        // One half-life later the new value gets half the weight.
        let r = feed(&mut signal, 120, &[(120, 20.0)]);
        assert!(close(r.value, 15.0), "{r:?}");
        assert_eq!(r.record.raw, Some(20.0));
        // Two half-lives at once: the old value keeps a quarter.
        let r = feed(&mut signal, 360, &[(360, 35.0)]);
        assert!(close(r.value, 0.25 * 15.0 + 0.75 * 35.0), "{r:?}");
    }

    #[test]
    fn ewma_is_not_skewed_by_datapoints_fetched_twice() {
        let half_life = std::time::Duration::from_secs(60);
        let mut once = smoothed_by(ewma(half_life));
        let mut twice = smoothed_by(ewma(half_life));
        feed(&mut once, 60, &[(0, 10.0), (60, 50.0)]);
        feed(&mut twice, 60, &[(0, 10.0), (60, 50.0)]);
        let a = feed(&mut once, 120, &[(120, 20.0)]);
        // Sources return overlapping windows: the same points come again.
        let b = feed(&mut twice, 120, &[(0, 10.0), (60, 50.0), (120, 20.0)]);
        assert_eq!(a.value, b.value);
    }

    #[test]
    fn window_mean_median_max_and_percentile() {
        let points = [(0, 4.0), (60, 1.0), (120, 5.0), (180, 2.0), (240, 3.0)];
        let read = |smoothing| feed(&mut smoothed_by(smoothing), 240, &points).value;
        assert!(close(read(window(600, WindowAggregate::Mean, None)), 3.0));
        assert!(close(read(window(600, WindowAggregate::Median, None)), 3.0));
        assert!(close(read(window(600, WindowAggregate::Max, None)), 5.0));
        // Rank 0.9 x 4 = 3.6: between 4 and 5.
        let p90 = read(window(600, WindowAggregate::Percentile, Some(90.0)));
        assert!(close(p90, 4.6), "{p90:?}");
        let p0 = read(window(600, WindowAggregate::Percentile, Some(0.0)));
        assert!(close(p0, 1.0), "{p0:?}");
    }

    #[test]
    fn median_of_an_even_count_is_the_middle_pair_mean() {
        let mut values = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(
            aggregate_values(&mut values, WindowAggregate::Median, 50.0),
            2.5
        );
    }

    #[test]
    fn window_forgets_datapoints_older_than_the_window() {
        let mut signal = smoothed_by(window(180, WindowAggregate::Max, None));
        let r = feed(&mut signal, 120, &[(0, 90.0), (60, 10.0), (120, 20.0)]);
        assert_eq!(r.value, Some(90.0));
        // At 240 the window is (60, 240]: 90 at t=0 and 10 at t=60 are out.
        let r = feed(&mut signal, 240, &[(180, 30.0), (240, 15.0)]);
        assert_eq!(r.value, Some(30.0));
        let mut signal = smoothed_by(window(180, WindowAggregate::Mean, None));
        feed(&mut signal, 120, &[(0, 90.0), (60, 10.0), (120, 20.0)]);
        let r = feed(&mut signal, 240, &[(180, 30.0), (240, 40.0)]);
        assert!(close(r.value, 30.0), "{r:?}");
    }

    #[test]
    fn a_datapoint_older_than_stale_after_makes_the_metric_stale() {
        let mut signal = smoothed_by(Smoothing::Latest); // stale after 300 s
        let r = feed(&mut signal, 300, &[(0, 10.0)]);
        assert_eq!((r.value, r.record.status), (Some(10.0), MetricStatus::Ok));
        let r = feed(&mut signal, 301, &[]);
        assert_eq!((r.value, r.record.status), (None, MetricStatus::Stale));
        // The record still shows what the value was and how old.
        assert_eq!((r.record.raw, r.record.age_s), (Some(10.0), Some(301)));
        assert!(
            r.record
                .notes
                .iter()
                .any(|n| n.contains("301s old, stale after 300s"))
        );
        // Fresh data makes it usable again.
        let r = feed(&mut signal, 360, &[(360, 12.0)]);
        assert_eq!((r.value, r.record.status), (Some(12.0), MetricStatus::Ok));
    }

    #[test]
    fn without_any_datapoint_the_metric_is_missing() {
        let mut signal = smoothed_by(Smoothing::Latest);
        let r = feed(&mut signal, 0, &[]);
        assert_eq!((r.value, r.record.status), (None, MetricStatus::Missing));
        let r = signal.update(t(60), None);
        assert_eq!(r.record.status, MetricStatus::Missing);
        assert!(r.record.notes.iter().any(|n| n.contains("no answer")));
        let r = signal.update(t(120), Some(&Err(FetchError::other("throttled"))));
        assert_eq!((r.value, r.record.status), (None, MetricStatus::Missing));
        assert!(
            r.record
                .notes
                .iter()
                .any(|n| n == "fetch failed: throttled")
        );
    }

    #[test]
    fn a_failed_fetch_keeps_the_last_value_until_it_is_stale() {
        let mut signal = smoothed_by(Smoothing::Latest);
        feed(&mut signal, 0, &[(0, 10.0)]);
        let error = Err(FetchError::other("timeout"));
        let r = signal.update(t(60), Some(&error));
        assert_eq!((r.value, r.record.status), (Some(10.0), MetricStatus::Ok));
        let r = signal.update(t(400), Some(&error));
        assert_eq!((r.value, r.record.status), (None, MetricStatus::Stale));
    }

    #[test]
    fn impossible_values_are_rejected_and_noted() {
        let mut signal = Signal::new(
            "m",
            &MetricSpec {
                max_value: Some(100.0),
                ..spec()
            },
        );
        feed(&mut signal, 0, &[(0, 40.0)]);
        for (at, bad, why) in [
            (60, f64::NAN, "not a number"),
            (120, f64::INFINITY, "infinite"),
            (180, -1.0, "negative"),
            (240, 100.5, "above max_value 100"),
        ] {
            let r = feed(&mut signal, at, &[(at, bad)]);
            // The last good value stands; the record says what was thrown away.
            assert_eq!(r.value, Some(40.0), "{bad}");
            assert_eq!(r.record.raw, Some(40.0), "{bad}");
            assert!(
                r.record
                    .notes
                    .iter()
                    .any(|n| n.starts_with("rejected") && n.contains(why)),
                "{bad}: {:?}",
                r.record.notes
            );
        }
        // A value at max_value is fine.
        assert_eq!(feed(&mut signal, 300, &[(300, 100.0)]).value, Some(100.0));
    }

    #[test]
    fn only_rejected_values_let_the_metric_go_stale() {
        let mut signal = smoothed_by(Smoothing::Latest);
        feed(&mut signal, 0, &[(0, 40.0)]);
        let r = feed(&mut signal, 360, &[(300, f64::NAN), (360, -5.0)]);
        assert_eq!((r.value, r.record.status), (None, MetricStatus::Stale));
    }

    #[test]
    fn a_rejected_value_is_reported_once() {
        let mut signal = smoothed_by(Smoothing::Latest);
        let r = feed(&mut signal, 60, &[(0, 40.0), (60, -3.0)]);
        assert_eq!(r.record.notes.len(), 1, "{:?}", r.record.notes);
        // The next fetch overlaps the last: the bad point comes again.
        let r = feed(&mut signal, 120, &[(60, -3.0), (120, 41.0)]);
        assert!(r.record.notes.is_empty(), "{:?}", r.record.notes);
        assert_eq!(r.value, Some(41.0));
    }

    #[test]
    fn a_datapoint_from_the_future_does_not_freeze_the_signal() {
        let mut signal = smoothed_by(Smoothing::Latest);
        let r = feed(&mut signal, 0, &[(0, 10.0), (3600, 99.0)]);
        assert_eq!(r.value, Some(10.0));
        assert!(
            r.record
                .notes
                .iter()
                .any(|n| n.contains("3600s in the future"))
        );
        // Real datapoints after it are still taken.
        let r = feed(&mut signal, 60, &[(60, 20.0)]);
        assert_eq!(r.value, Some(20.0));
        // A little clock skew between a source and the loop is fine.
        let r = feed(&mut signal, 120, &[(150, 30.0)]);
        assert_eq!(r.value, Some(30.0));
    }

    #[test]
    fn datapoints_newest_first_are_all_taken() {
        let half_life = std::time::Duration::from_secs(60);
        let mut oldest_first = smoothed_by(ewma(half_life));
        let mut newest_first = smoothed_by(ewma(half_life));
        let a = feed(
            &mut oldest_first,
            120,
            &[(0, 10.0), (60, 50.0), (120, 20.0)],
        );
        let b = feed(
            &mut newest_first,
            120,
            &[(120, 20.0), (60, 50.0), (0, 10.0)],
        );
        assert_eq!(a.value, b.value);
        assert!(!close(b.value, 20.0), "{b:?}");
    }

    #[test]
    fn lookback_covers_smoothing_and_staleness() {
        let minutes = |m: u64| std::time::Duration::from_secs(60 * m);
        let averaged = smoothed_by(ewma(minutes(2)));
        assert_eq!(averaged.lookback(), Duration::minutes(8));
        // The longer of the two half-lives sets it.
        let asymmetric = smoothed_by(Smoothing::Ewma {
            half_life: minutes(1),
            half_life_down: Some(minutes(3)),
        });
        assert_eq!(asymmetric.lookback(), Duration::minutes(12));
        let long = smoothed_by(window(60 * 15, WindowAggregate::Mean, None));
        assert_eq!(long.lookback(), Duration::minutes(15));
        // Never less than stale_after (5 minutes here).
        assert_eq!(
            smoothed_by(Smoothing::Latest).lookback(),
            Duration::minutes(5)
        );
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

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn any_value() -> impl Strategy<Value = f64> {
            prop_oneof![
                4 => 0.0f64..1000.0,
                1 => Just(f64::NAN),
                1 => Just(f64::INFINITY),
                1 => Just(f64::NEG_INFINITY),
                1 => -1000.0f64..0.0,
            ]
        }

        fn smoothing() -> impl Strategy<Value = Smoothing> {
            let aggregate = prop_oneof![
                Just(WindowAggregate::Mean),
                Just(WindowAggregate::Median),
                Just(WindowAggregate::Max),
                Just(WindowAggregate::Percentile),
            ];
            prop_oneof![
                Just(Smoothing::Latest),
                (1u64..900).prop_map(|s| ewma(std::time::Duration::from_secs(s))),
                (1u64..900, aggregate, 0.0f64..=100.0).prop_map(|(s, aggregate, p)| {
                    Smoothing::Window {
                        window: std::time::Duration::from_secs(s),
                        aggregate,
                        percentile: Some(p),
                    }
                }),
            ]
        }

        proptest! {
            /// Whatever a source sends, a policy sees either nothing or a
            /// finite, non-negative value within the range of the values
            /// accepted so far.
            #[test]
            fn policies_only_ever_see_sane_values(
                smoothing in smoothing(),
                batches in proptest::collection::vec(
                    proptest::collection::vec((0i64..120, any_value()), 0..5), 1..20),
            ) {
                let mut signal = smoothed_by(smoothing);
                let (mut low, mut high) = (f64::INFINITY, f64::NEG_INFINITY);
                let mut now = 0;
                for batch in batches {
                    now += 60;
                    let points: Vec<(i64, f64)> =
                        batch.iter().map(|&(ago, v)| (now - ago, v)).collect();
                    for &(_, v) in &points {
                        if v.is_finite() && v >= 0.0 {
                            low = low.min(v);
                            high = high.max(v);
                        }
                    }
                    let reading = feed(&mut signal, now, &points);
                    if let Some(value) = reading.value {
                        prop_assert!(value.is_finite() && value >= 0.0, "{value}");
                        prop_assert!(low - 1e-9 <= value && value <= high + 1e-9,
                            "{value} outside [{low}, {high}]");
                        prop_assert_eq!(reading.record.status, MetricStatus::Ok);
                    } else {
                        prop_assert_ne!(reading.record.status, MetricStatus::Ok);
                    }
                }
            }
        }
    }
}
