//! The documented range of every duration, count and capacity a user can
//! give ebb (policy files, the daemon config, command-line flags), checked
//! where each is loaded so that no absurd value reaches the arithmetic of the
//! core: a `stale_after` of a hundred billion days is refused by `ebb check`
//! rather than overflowing a timestamp in the daemon.
//!
//! Each range says what is wrong in the loaders' words ("must be between 1s
//! and 30d, got 90d"); the loaders add the file, line and field. The README's
//! "Ranges" table lists every field with its range: keep the two in step.

use crate::duration::{self, Formatted};
use std::time::Duration;

const DAY: Duration = Duration::from_secs(86_400);

/// The longest duration any setting may have, unless its own range says
/// otherwise: 30 days.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 86_400);

/// The most instances a capacity may name: far beyond any real group, and
/// well inside AWS's own limit (its capacities are 32-bit integers).
pub const MAX_CAPACITY: u64 = 1_000_000;

/// An inclusive range of durations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DurationRange {
    /// The shortest duration allowed.
    pub min: Duration,
    /// The longest duration allowed.
    pub max: Duration,
}

impl DurationRange {
    /// The durations from `min` to `max`, both included.
    pub const fn new(min: Duration, max: Duration) -> DurationRange {
        DurationRange { min, max }
    }

    /// What is wrong with `value`, if it is outside the range.
    pub fn check(&self, value: Duration) -> Result<(), String> {
        if value < self.min || value > self.max {
            Err(format!("{} is out of range: {self}", Formatted(value)))
        } else {
            Ok(())
        }
    }

    /// A clap value parser: the one duration syntax, then this range.
    pub fn parser(self) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync {
        move |text| {
            let value = duration::parse(text).map_err(|e| e.to_string())?;
            self.check(value).map(|()| value)
        }
    }
}

impl std::fmt::Display for DurationRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "must be between {} and {}",
            Formatted(self.min),
            Formatted(self.max)
        )
    }
}

/// Any duration: 0 to 30 days.
pub const DURATION: DurationRange = DurationRange::new(Duration::ZERO, MAX_DURATION);
/// A duration that must not be zero (timeouts, windows): 1ms to 30 days.
pub const POSITIVE_DURATION: DurationRange =
    DurationRange::new(Duration::from_millis(1), MAX_DURATION);
/// How often something repeats (evaluation intervals, staleness, smoothing):
/// 1s to 30 days.
pub const INTERVAL: DurationRange = DurationRange::new(Duration::from_secs(1), MAX_DURATION);
/// A predictive policy's lead: more than 0, at most 1 day.
pub const LEAD: DurationRange = DurationRange::new(Duration::from_secs(1), DAY);
/// A predictive policy's history: 1 day (one season) to 63 days
/// (CloudWatch's 5-minute retention).
pub const HISTORY: DurationRange = DurationRange::new(DAY, Duration::from_secs(63 * 86_400));
/// How far target tracking extrapolates a rising demand (`trend_lead`): 0
/// (off) to 1 hour; a boot time is the useful value.
pub const TREND_LEAD: DurationRange = DurationRange::new(Duration::ZERO, Duration::from_secs(3600));
/// The window target tracking measures the demand's trend over
/// (`trend_window`): 1 minute (two evaluations at the least) to 1 hour.
pub const TREND_WINDOW: DurationRange =
    DurationRange::new(Duration::from_secs(60), Duration::from_secs(3600));
/// The simulated cloud's boot time and publish delay: 0 to 1 day.
pub const SIMULATED_DELAY: DurationRange = DurationRange::new(Duration::ZERO, DAY);
/// How far `ebb forecast` looks ahead: 1 minute to 14 days.
pub const FORECAST_HORIZON: DurationRange =
    DurationRange::new(Duration::from_secs(60), Duration::from_secs(14 * 86_400));

/// An inclusive range of whole numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountRange {
    /// The smallest number allowed.
    pub min: u64,
    /// The largest number allowed.
    pub max: u64,
}

impl CountRange {
    /// The numbers from `min` to `max`, both included.
    pub const fn new(min: u64, max: u64) -> CountRange {
        CountRange { min, max }
    }

    /// What is wrong with `value`, if it is outside the range.
    pub fn check(&self, value: impl Into<u64>) -> Result<(), String> {
        let value = value.into();
        if value < self.min || value > self.max {
            Err(format!("{value} is out of range: {self}"))
        } else {
            Ok(())
        }
    }

    /// [`check`](Self::check) for a `usize`.
    pub fn check_usize(&self, value: usize) -> Result<(), String> {
        self.check(u64::try_from(value).unwrap_or(u64::MAX))
    }

    /// A clap value parser for a `u32` flag in this range.
    pub fn parser(self) -> impl Fn(&str) -> Result<u32, String> + Clone + Send + Sync {
        move |text| {
            let value: u32 = text
                .trim()
                .parse()
                .map_err(|_| format!("`{text}` is not a whole number; {self}"))?;
            self.check(value).map(|()| value)
        }
    }
}

impl std::fmt::Display for CountRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "must be between {} and {}",
            thousands(self.min),
            thousands(self.max)
        )
    }
}

/// `1000000` as `1,000,000`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A group's capacity: 0 to 1,000,000 instances.
pub const CAPACITY: CountRange = CountRange::new(0, MAX_CAPACITY);
/// Instances per step: 1 to 1,000,000.
pub const STEP_INSTANCES: CountRange = CountRange::new(1, MAX_CAPACITY);
/// Attempts of one call or delivery, the first included: 1 to 100.
pub const ATTEMPTS: CountRange = CountRange::new(1, 100);
/// A count of evaluations, changes or intervals in a rule: 1 to 10,000.
pub const RULE_COUNT: CountRange = CountRange::new(1, 10_000);
/// CloudWatch periods skipped as incomplete: 0 to 60.
pub const DELAY_PERIODS: CountRange = CountRange::new(0, 60);
/// Events queued per alert sink, or scrapes in flight: 1 to 1,000,000.
pub const QUEUE: CountRange = CountRange::new(1, 1_000_000);
/// Scrapes in flight for one metric: 1 to 1,000.
pub const CONCURRENCY: CountRange = CountRange::new(1, 1_000);
/// `[[policies]]` in one policy file: at most 50, AWS's own limit of scaling
/// policies per group. Every policy is evaluated and recorded each tick, so
/// an unbounded count is unbounded memory in `ebb simulate` and the daemon.
pub const POLICIES_PER_FILE: CountRange = CountRange::new(0, 50);
/// `[metrics.*]` in one policy file: at most 100.
pub const METRICS_PER_FILE: CountRange = CountRange::new(0, 100);
/// `target.shadows` of one policy file: at most 10 candidates.
pub const SHADOWS_PER_FILE: CountRange = CountRange::new(0, 10);
/// Candidates `ebb tune` simulates: 1 to 100,000.
pub const TUNE_CANDIDATES: CountRange = CountRange::new(1, 100_000);
/// Shards of shard-mode leader election (one lease item each): 1 to 1,024.
pub const SHARDS: CountRange = CountRange::new(1, 1024);
/// Shards a host evaluates warm in shard mode, beyond those it holds.
pub const WARM_SHARDS: CountRange = CountRange::new(0, 1024);
/// Days of synthetic trace, or of history exported from CloudWatch: 1 to
/// 455 (CloudWatch's longest retention).
pub const DAYS: CountRange = CountRange::new(1, 455);

/// What is wrong with a quantity that must be a positive, finite number no
/// larger than `max` (a capacity per instance, a step in percent), if
/// anything.
pub fn check_positive(value: f64, max: f64) -> Result<(), String> {
    if value > 0.0 && value <= max {
        Ok(())
    } else {
        Err(format!(
            "{value} is out of range: must be a number above 0 and at most {max}"
        ))
    }
}

/// The largest step, in percent of current capacity (`max_step_out.percent`).
pub const MAX_STEP_PERCENT: f64 = 1_000.0;

/// The largest load one instance may serve (`--capacity-per-instance`).
pub const MAX_CAPACITY_PER_INSTANCE: f64 = 1e12;

/// A clap value parser for `--capacity-per-instance`: positive, finite, at
/// most [`MAX_CAPACITY_PER_INSTANCE`].
pub fn parse_capacity_per_instance(text: &str) -> Result<f64, String> {
    let value: f64 = text
        .trim()
        .parse()
        .map_err(|_| format!("`{text}` is not a number"))?;
    check_positive(value, MAX_CAPACITY_PER_INSTANCE).map(|()| value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_duration_out_of_range_says_the_range() {
        assert_eq!(INTERVAL.check(Duration::from_secs(1)), Ok(()));
        assert_eq!(INTERVAL.check(MAX_DURATION), Ok(()));
        assert_eq!(
            INTERVAL.check(Duration::from_millis(500)).unwrap_err(),
            "500ms is out of range: must be between 1s and 30d"
        );
        let huge = duration::parse("100000000000d").unwrap();
        assert_eq!(
            DURATION.check(huge).unwrap_err(),
            "100000000000d is out of range: must be between 0s and 30d"
        );
    }

    #[test]
    fn a_count_out_of_range_says_the_range() {
        assert_eq!(CAPACITY.check(1_000_000u32), Ok(()));
        assert_eq!(
            CAPACITY.check(4_294_967_295u32).unwrap_err(),
            "4294967295 is out of range: must be between 0 and 1,000,000"
        );
        assert!(ATTEMPTS.check(0u32).is_err());
        assert!(QUEUE.check_usize(usize::MAX).is_err());
    }

    #[test]
    fn flag_parsers_read_then_bound() {
        let horizon = FORECAST_HORIZON.parser();
        assert_eq!(horizon("48h"), Ok(Duration::from_secs(48 * 3_600)));
        assert!(horizon("100000000000d").unwrap_err().contains("14d"));
        assert!(horizon("10M").unwrap_err().contains("`m` is minutes"));
        let days = DAYS.parser();
        assert_eq!(days("14"), Ok(14));
        assert!(days("4294967295").unwrap_err().contains("455"));
        assert!(days("0").is_err());
        assert!(parse_capacity_per_instance("NaN").is_err());
        assert!(parse_capacity_per_instance("inf").is_err());
        assert!(parse_capacity_per_instance("-1").is_err());
        assert!(parse_capacity_per_instance("0").is_err());
        assert_eq!(parse_capacity_per_instance("250"), Ok(250.0));
    }
}
