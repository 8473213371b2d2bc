//! A load metric's history at a fixed step, as the predictive policy keeps
//! it: datapoints averaged into step-long buckets, a bounded window, short
//! gaps bridged, long ones reported, and a serde form the daemon keeps in
//! its state file so a restart does not refetch two weeks of data.

use crate::series::Datapoint;
use crate::signal::{Admission, Intake};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Gaps up to this many missing buckets are bridged by linear
/// interpolation (CloudWatch and the traces both drop a period now and
/// then); a longer gap ends the usable history.
pub const MAX_FILLED_GAP: usize = 3;

/// Bucketed history of one metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadHistory {
    step_secs: i64,
    window_secs: i64,
    /// Bucket start (seconds since the epoch, a multiple of the step) ->
    /// sum and count of the datapoints in it.
    buckets: BTreeMap<i64, Bucket>,
    /// Which datapoints were taken in (the rule the signals use); saved as
    /// the latest datapoint's time.
    #[serde(rename = "latest")]
    intake: Intake,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
struct Bucket {
    sum: f64,
    count: u32,
}

/// A history's shape when a store wrote it ([`LoadHistory::mark`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryMark {
    /// Seconds between buckets.
    pub step_secs: i64,
    /// The window, in seconds.
    pub window_secs: i64,
    /// How many buckets it held.
    pub buckets: usize,
    /// The newest bucket's start, if any.
    pub newest: Option<i64>,
}

/// What a history gained since a [`HistoryMark`]: the buckets from the
/// mark's newest one on, and the latest datapoint taken in. A few hundred
/// bytes where the whole history is up to 150 KB.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HistoryTail {
    /// The first bucket start this tail replaces from.
    from: i64,
    buckets: BTreeMap<i64, Bucket>,
    #[serde(rename = "latest")]
    intake: Intake,
}

impl HistoryTail {
    /// The first bucket start this tail replaces from (`i64::MIN`: all).
    pub fn from(&self) -> i64 {
        self.from
    }

    /// The newest bucket's start in this tail, if it has any.
    pub fn newest(&self) -> Option<i64> {
        self.buckets.last_key_value().map(|(start, _)| *start)
    }

    /// This tail followed by a `newer` one of the same history, as one.
    pub fn then(mut self, newer: HistoryTail) -> HistoryTail {
        drop(self.buckets.split_off(&newer.from));
        self.buckets.extend(newer.buckets);
        HistoryTail {
            from: self.from.min(newer.from),
            buckets: self.buckets,
            intake: newer.intake,
        }
    }
}

/// The usable part of a history: regular, oldest first.
#[derive(Debug, Clone, PartialEq)]
pub struct RegularSeries {
    /// The time of the first value's bucket.
    pub start: DateTime<Utc>,
    /// Seconds between values.
    pub step_secs: i64,
    /// The values, oldest first, gaps interpolated.
    pub values: Vec<f64>,
    /// Buckets filled by interpolation.
    pub filled: usize,
    /// The gap (first missing bucket, first bucket after it) the series
    /// starts after, when a long gap cut the history short.
    pub gap: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

impl RegularSeries {
    /// The time just after the last value's bucket: where a forecast starts.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + chrono::Duration::seconds(self.step_secs * self.values.len() as i64)
    }

    /// The time of the bucket of the value at `index`.
    pub fn time_of(&self, index: usize) -> DateTime<Utc> {
        self.start + chrono::Duration::seconds(self.step_secs * index as i64)
    }
}

impl LoadHistory {
    /// An empty history of `window` at `step` (both in seconds, step > 0).
    pub fn new(step_secs: i64, window_secs: i64) -> LoadHistory {
        assert!(step_secs > 0, "history step must be positive");
        LoadHistory {
            step_secs,
            window_secs,
            buckets: BTreeMap::new(),
            intake: Intake::default(),
        }
    }

    /// Seconds between buckets.
    pub fn step_secs(&self) -> i64 {
        self.step_secs
    }

    /// The newest datapoint time taken in, if any.
    pub fn latest(&self) -> Option<DateTime<Utc>> {
        self.intake.seen_until()
    }

    /// True when no bucket holds a value.
    pub fn is_empty(&self) -> bool {
        self.buckets.is_empty()
    }

    /// Which buckets the history holds: how many, and the newest one's
    /// start. It changes when a bucket starts or ages out of the window, not
    /// while the newest one fills, so a store can write the history once a
    /// bucket completes rather than every round.
    pub fn bucket_marks(&self) -> (usize, Option<i64>) {
        (
            self.buckets.len(),
            self.buckets.last_key_value().map(|(start, _)| *start),
        )
    }

    /// What a store remembers of this history when it writes it: enough to
    /// tell, at the next write, whether only a tail is new
    /// ([`LoadHistory::tail_since`]).
    pub fn mark(&self) -> HistoryMark {
        let (buckets, newest) = self.bucket_marks();
        HistoryMark {
            step_secs: self.step_secs,
            window_secs: self.window_secs,
            buckets,
            newest,
        }
    }

    /// What this history gained since it was as `mark` says: every bucket
    /// from the newest one then on (that one may have been filling), and
    /// the latest datapoint. Older buckets cannot have changed since: a
    /// datapoint is taken in only when newer than every one before it, so
    /// it lands in the newest bucket or a later one; they can only have
    /// aged out, which [`LoadHistory::apply_tail`] redoes from the latest
    /// datapoint and the window. `None` when the step or window differ or
    /// the newest bucket is older than the mark's: not the same history
    /// grown, so only a whole copy describes it.
    pub fn tail_since(&self, mark: &HistoryMark) -> Option<HistoryTail> {
        if mark.step_secs != self.step_secs || mark.window_secs != self.window_secs {
            return None;
        }
        let newest = self.buckets.last_key_value().map(|(start, _)| *start);
        if newest < mark.newest {
            return None;
        }
        let from = mark.newest.unwrap_or(i64::MIN);
        Some(HistoryTail {
            from,
            buckets: self
                .buckets
                .range(from..)
                .map(|(start, bucket)| (*start, *bucket))
                .collect(),
            intake: self.intake,
        })
    }

    /// Applies a tail taken by [`LoadHistory::tail_since`] from a mark of
    /// this history as it is: the buckets from the tail's start on are
    /// replaced by the tail's, the latest datapoint moves, and buckets that
    /// fell out of the window go.
    pub fn apply_tail(&mut self, tail: &HistoryTail) {
        drop(self.buckets.split_off(&tail.from));
        self.buckets
            .extend(tail.buckets.iter().map(|(k, v)| (*k, *v)));
        self.intake = tail.intake;
        self.trim();
    }

    /// The window, in seconds.
    pub fn window_secs(&self) -> i64 {
        self.window_secs
    }

    /// Takes in datapoints (oldest first) at `now`, each multiplied by
    /// `scale`, by the signals' rule ([`Intake`]): ones already seen are
    /// skipped, ones stamped in the future refused; returns notes on the ones
    /// rejected.
    pub fn ingest(&mut self, now: DateTime<Utc>, points: &[Datapoint], scale: f64) -> Vec<String> {
        let mut notes = Vec::new();
        for point in points {
            match self.intake.admit(now, point.time) {
                Admission::Seen => continue,
                Admission::Future(ahead) => {
                    notes.push(format!(
                        "history: rejected {} at {}: timestamp {}s in the future",
                        point.value,
                        point.time,
                        ahead.num_seconds()
                    ));
                    continue;
                }
                Admission::New => {}
            }
            let value = point.value * scale;
            if !value.is_finite() || value < 0.0 {
                notes.push(format!(
                    "history: rejected {} at {}",
                    point.value, point.time
                ));
                continue;
            }
            let start = point.time.timestamp().div_euclid(self.step_secs) * self.step_secs;
            let bucket = self
                .buckets
                .entry(start)
                .or_insert(Bucket { sum: 0.0, count: 0 });
            bucket.sum += value;
            bucket.count += 1;
        }
        self.trim();
        notes
    }

    /// Drops buckets older than the window before the latest datapoint.
    fn trim(&mut self) {
        if let Some(latest) = self.intake.seen_until() {
            let cutoff = latest.timestamp().saturating_sub(self.window_secs);
            self.buckets = self.buckets.split_off(&cutoff);
        }
    }

    /// The usable history: complete buckets (all but the one the latest
    /// datapoint fell in, which may still be filling) back to the first
    /// gap longer than [`MAX_FILLED_GAP`] buckets. `None` when there is no
    /// complete bucket.
    pub fn series(&self) -> Option<RegularSeries> {
        self.series_of(true)
    }

    /// [`LoadHistory::series`] with the latest bucket too: for a finished
    /// record such as a trace, where no bucket is still filling.
    pub fn finished_series(&self) -> Option<RegularSeries> {
        self.series_of(false)
    }

    fn series_of(&self, last_may_be_filling: bool) -> Option<RegularSeries> {
        let mut complete: Vec<(i64, f64)> = self
            .buckets
            .iter()
            .map(|(t, b)| (*t, b.sum / b.count as f64))
            .collect();
        if last_may_be_filling {
            complete.pop();
        }
        let (last_time, _) = *complete.last()?;
        // Walk back to the first long gap.
        let mut first = complete.len() - 1;
        let mut gap = None;
        while first > 0 {
            let missing = (complete[first].0 - complete[first - 1].0) / self.step_secs - 1;
            if missing as usize > MAX_FILLED_GAP {
                gap = Some((
                    to_time(complete[first - 1].0 + self.step_secs),
                    to_time(complete[first].0),
                ));
                break;
            }
            first -= 1;
        }
        let start = complete[first].0;
        let len = ((last_time - start) / self.step_secs + 1) as usize;
        let mut values = Vec::with_capacity(len);
        let mut filled = 0;
        for pair in complete[first..].windows(2) {
            let ((t0, v0), (t1, v1)) = (pair[0], pair[1]);
            values.push(v0);
            let steps = (t1 - t0) / self.step_secs;
            for k in 1..steps {
                values.push(v0 + (v1 - v0) * k as f64 / steps as f64);
                filled += 1;
            }
        }
        values.push(complete[complete.len() - 1].1);
        Some(RegularSeries {
            start: to_time(start),
            step_secs: self.step_secs,
            values,
            filled,
            gap,
        })
    }

    /// This history kept over `window_secs` instead of the window it was
    /// saved with (the policy file may have changed it since).
    pub fn with_window(mut self, window_secs: i64) -> LoadHistory {
        self.window_secs = window_secs;
        self.trim();
        self
    }
}

fn to_time(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0)
        .single()
        .expect("bucket times are within chrono's range")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Well after every datapoint of these tests.
    const NOW: DateTime<Utc> = DateTime::from_timestamp(1_800_000_000, 0).unwrap();

    fn at(minute: i64, value: f64) -> Datapoint {
        Datapoint {
            time: to_time(1_700_000_220 + minute * 60),
            value,
        }
    }

    #[test]
    fn averages_points_into_buckets_and_leaves_out_the_filling_one() {
        let mut h = LoadHistory::new(300, 86_400);
        let points: Vec<_> = (0..12).map(|m| at(m, m as f64)).collect();
        h.ingest(NOW, &points, 1.0);
        let s = h.series().unwrap();
        // Buckets start on multiples of 300 s; 1_700_000_220 is 120 s into one.
        assert_eq!(s.start.timestamp(), 1_700_000_100);
        // minutes 0-2 (bucket 1), 3-7 (bucket 2); 8-11 are still filling.
        assert_eq!(s.values, vec![1.0, 5.0]);
        assert_eq!(s.end().timestamp(), 1_700_000_100 + 600);
    }

    #[test]
    fn overlapping_fetches_do_not_count_twice_and_scale_applies() {
        let mut h = LoadHistory::new(60, 86_400);
        h.ingest(NOW, &[at(0, 1.0), at(1, 2.0)], 1.0);
        h.ingest(NOW, &[at(1, 2.0), at(2, 3.0), at(3, 4.0)], 1.0);
        assert_eq!(h.series().unwrap().values, vec![1.0, 2.0, 3.0]);
        let mut scaled = LoadHistory::new(60, 86_400);
        scaled.ingest(NOW, &[at(0, 10.0), at(1, 0.0)], 0.2);
        assert_eq!(scaled.series().unwrap().values, vec![2.0]);
    }

    #[test]
    fn short_gaps_are_bridged_and_long_ones_cut_the_history() {
        let mut h = LoadHistory::new(60, 86_400);
        // 0..10, a 2-minute gap (bridged), 13..20, a 10-minute gap, 31..40.
        let minutes = (0..10).chain(12..20).chain(30..40);
        let points: Vec<_> = minutes.map(|m| at(m, m as f64)).collect();
        h.ingest(NOW, &points, 1.0);
        let s = h.series().unwrap();
        assert_eq!(s.values, (30..39).map(|m| m as f64).collect::<Vec<_>>());
        let (from, to) = s.gap.unwrap();
        assert_eq!((to - from).num_minutes(), 10);

        let mut bridged = LoadHistory::new(60, 86_400);
        let points: Vec<_> = (0..10).chain(12..20).map(|m| at(m, m as f64)).collect();
        bridged.ingest(NOW, &points, 1.0);
        let s = bridged.series().unwrap();
        assert_eq!(s.values.len(), 19);
        assert_eq!(s.filled, 2);
        assert_eq!(s.values[10], 10.0);
        assert_eq!(s.gap, None);
    }

    #[test]
    fn the_window_drops_old_buckets_and_bad_values_are_noted() {
        let mut h = LoadHistory::new(60, 600);
        let mut points: Vec<_> = (0..30).map(|m| at(m, 1.0)).collect();
        points[20].value = f64::NAN;
        let notes = h.ingest(NOW, &points, 1.0);
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(h.series().unwrap().values.len() <= 10);
    }

    #[test]
    fn a_shorter_window_drops_what_falls_outside_it() {
        let mut h = LoadHistory::new(60, 86_400);
        h.ingest(NOW, &(0..30).map(|m| at(m, 1.0)).collect::<Vec<_>>(), 1.0);
        let narrowed = h.clone().with_window(600);
        assert!(narrowed.series().unwrap().values.len() <= 10);
        assert_eq!(narrowed.latest(), h.latest());
    }
}

#[cfg(test)]
mod tail_tests {
    use super::*;

    fn minute(m: i64) -> Datapoint {
        Datapoint {
            time: to_time(1_700_000_000 + m * 60),
            value: m as f64,
        }
    }

    fn now() -> DateTime<Utc> {
        to_time(1_800_000_000)
    }

    /// A copy brought up to date by the tails taken at each step (merged or
    /// not) equals the history itself, window trimming included.
    #[test]
    fn tails_bring_a_copy_up_to_date() {
        let mut live = LoadHistory::new(300, 3600);
        live.ingest(now(), &(0..50).map(minute).collect::<Vec<_>>(), 1.0);
        let mut copy = live.clone();
        let mut merged: Option<HistoryTail> = None;
        let merged_base = live.clone();
        for step in 0..6 {
            let mark = live.mark();
            let points: Vec<_> = (50 + step * 7..57 + step * 7).map(minute).collect();
            live.ingest(now(), &points, 1.0);
            let tail = live.tail_since(&mark).unwrap();
            assert!(tail.buckets.len() <= 3, "{tail:?}");
            copy.apply_tail(&tail);
            assert_eq!(copy, live, "step {step}");
            merged = Some(match merged {
                Some(older) => older.then(tail),
                None => tail,
            });
        }
        let mut from_merged = merged_base;
        from_merged.apply_tail(&merged.unwrap());
        assert_eq!(from_merged, live);
        // The window is full: buckets aged out on both sides.
        assert_eq!(
            live.bucket_marks().0,
            12,
            "92 minutes of 5-minute buckets, 1 hour kept"
        );
    }

    #[test]
    fn another_shape_gives_no_tail() {
        let mut live = LoadHistory::new(300, 3600);
        live.ingest(now(), &(0..20).map(minute).collect::<Vec<_>>(), 1.0);
        let mark = live.mark();
        assert!(live.clone().with_window(1800).tail_since(&mark).is_none());
        assert!(LoadHistory::new(60, 3600).tail_since(&mark).is_none());
        let empty = LoadHistory::new(300, 3600);
        assert!(empty.tail_since(&mark).is_none(), "older than the mark");
        let mut from_empty = empty.clone();
        from_empty.apply_tail(&live.tail_since(&empty.mark()).unwrap());
        assert_eq!(from_empty, live);
    }
}

#[cfg(test)]
mod future_tests {
    use super::*;

    /// A Prometheus server whose clock runs a day ahead sends one datapoint:
    /// it is refused, and the history neither loses its window nor stops
    /// taking in the real datapoints that follow.
    #[test]
    fn a_datapoint_from_the_future_is_refused_and_wipes_nothing() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let minute = |m: i64| t0 + chrono::Duration::minutes(m);
        let mut h = LoadHistory::new(60, 3600);
        let points: Vec<Datapoint> = (0..30)
            .map(|m| Datapoint {
                time: minute(m),
                value: 5.0,
            })
            .collect();
        h.ingest(minute(30), &points, 1.0);
        let before = h.series().unwrap().values.len();
        let ahead = Datapoint {
            time: minute(30 + 24 * 60),
            value: 5.0,
        };
        let notes = h.ingest(minute(31), &[ahead], 1.0);
        assert!(notes[0].contains("in the future"), "{notes:?}");
        assert_eq!(h.series().unwrap().values.len(), before);
        let next = Datapoint {
            time: minute(30),
            value: 5.0,
        };
        let after = Datapoint {
            time: minute(31),
            value: 5.0,
        };
        h.ingest(minute(33), &[next, after], 1.0);
        let s = h.series().unwrap();
        assert_eq!(s.values.len(), before + 2, "{s:?}");
        assert_eq!(h.latest(), Some(minute(31)));
    }
}
