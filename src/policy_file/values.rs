//! Values a policy file writes as text and ebb uses as something else: a
//! day list, a time zone, a CloudWatch statistic, a forecast's history step.
//! Each is parsed once, when the file is read, and can only be made by
//! parsing: a loaded policy cannot hold an invalid one, so the code that
//! uses it has nothing left to check. Each serializes back to its text.
//!
//! A parse error is a serde error, so the loader places it at the field's
//! file and line like any other.

use crate::forecast::Seasons;
use chrono::Weekday;
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;

/// The days a schedule window applies on, in cron style: `mon-fri`,
/// `sat,sun`, `*`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Days {
    text: String,
    /// Indexed by `Weekday::num_days_from_monday`.
    set: [bool; 7],
}

impl Days {
    /// Whether the list holds `day`.
    pub fn contains(&self, day: Weekday) -> bool {
        self.set[day.num_days_from_monday() as usize]
    }

    /// The list as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::str::FromStr for Days {
    type Err = String;

    fn from_str(text: &str) -> Result<Days, String> {
        let mut set = [false; 7];
        for part in text.split(',').map(str::trim) {
            if part == "*" {
                set = [true; 7];
                continue;
            }
            let (first, last) = match part.split_once('-') {
                Some((a, b)) => (parse_day(a)?, parse_day(b)?),
                None => (parse_day(part)?, parse_day(part)?),
            };
            let mut day = first;
            loop {
                set[day.num_days_from_monday() as usize] = true;
                if day == last {
                    break;
                }
                day = day.succ();
            }
        }
        Ok(Days {
            text: text.to_string(),
            set,
        })
    }
}

fn parse_day(text: &str) -> Result<Weekday, String> {
    text.trim()
        .parse::<Weekday>()
        .map_err(|_| format!("`{text}` is not a day (mon, tue, wed, thu, fri, sat, sun)"))
}

impl TryFrom<String> for Days {
    type Error = String;

    fn try_from(text: String) -> Result<Days, String> {
        text.parse()
    }
}

impl From<Days> for String {
    fn from(days: Days) -> String {
        days.text
    }
}

/// An IANA time zone name (e.g. `Europe/Berlin`); UTC when the file names none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TimeZone(Tz);

impl TimeZone {
    /// The time zone, for chrono.
    pub fn tz(self) -> Tz {
        self.0
    }
}

impl Default for TimeZone {
    fn default() -> TimeZone {
        TimeZone(Tz::UTC)
    }
}

impl std::str::FromStr for TimeZone {
    type Err = String;

    fn from_str(name: &str) -> Result<TimeZone, String> {
        name.parse::<Tz>()
            .map(TimeZone)
            .map_err(|_| format!("`{name}` is not an IANA time zone name (e.g. Europe/Berlin)"))
    }
}

impl TryFrom<String> for TimeZone {
    type Error = String;

    fn try_from(name: String) -> Result<TimeZone, String> {
        name.parse()
    }
}

impl From<TimeZone> for String {
    fn from(zone: TimeZone) -> String {
        zone.0.name().to_string()
    }
}

/// A CloudWatch statistic: `Average`, `Sum`, `Minimum`, `Maximum`,
/// `SampleCount`, `IQM`, a percentile `pNN`, or another extended statistic
/// (`tm99`, `TM(10%:90%)`, `wm`, `tc`, `ts`, `PR`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Statistic(String);

impl Statistic {
    /// `Average`: what a CloudWatch metric without one is read with.
    pub fn average() -> Statistic {
        Statistic("Average".into())
    }

    /// `Sum`.
    pub fn sum() -> Statistic {
        Statistic("Sum".into())
    }

    /// The statistic as CloudWatch spells it, e.g. `Average` or `p90`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Statistic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for Statistic {
    type Err = String;

    fn from_str(statistic: &str) -> Result<Statistic, String> {
        const PLAIN: [&str; 6] = ["Average", "Sum", "Minimum", "Maximum", "SampleCount", "IQM"];
        const EXTENDED: [&str; 9] = ["tm", "wm", "tc", "ts", "TM", "WM", "TC", "TS", "PR"];
        let valid = if PLAIN.contains(&statistic) {
            true
        } else if let Some(p) = statistic.strip_prefix('p') {
            match p.parse::<f64>() {
                Ok(p) if (0.0..=100.0).contains(&p) => true,
                _ => {
                    return Err(format!(
                        "`{statistic}` is not a percentile statistic p0-p100"
                    ));
                }
            }
        } else {
            EXTENDED.iter().any(|prefix| {
                statistic
                    .strip_prefix(prefix)
                    .is_some_and(|rest| !rest.is_empty())
            })
        };
        if valid {
            Ok(Statistic(statistic.to_string()))
        } else {
            Err(format!(
                "`{statistic}` is not a CloudWatch statistic (Average, Sum, Minimum, Maximum, SampleCount, pNN)"
            ))
        }
    }
}

impl TryFrom<String> for Statistic {
    type Error = String;

    fn try_from(text: String) -> Result<Statistic, String> {
        text.parse()
    }
}

impl From<Statistic> for String {
    fn from(statistic: Statistic) -> String {
        statistic.0
    }
}

/// The step a predictive policy keeps and forecasts its history at: a whole
/// number of minutes, at most an hour, that divides a day, so it has daily
/// and weekly seasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HistoryStep {
    step: Duration,
    seasons: Seasons,
}

impl HistoryStep {
    /// Checks `step`; the error says what a step must be.
    pub fn new(step: Duration) -> Result<HistoryStep, String> {
        let secs = step.as_secs();
        let whole_minutes = step.subsec_nanos() == 0 && secs.is_multiple_of(60);
        let seasons = Seasons::for_step(secs)
            .ok()
            .filter(|_| whole_minutes && secs <= 3_600)
            .ok_or_else(|| {
                "must be a whole number of minutes, at most 1h, that divides a day".to_string()
            })?;
        Ok(HistoryStep { step, seasons })
    }

    /// The step as a duration.
    pub fn duration(self) -> Duration {
        self.step
    }

    /// The step in whole seconds (60 to 3600).
    pub fn as_secs(self) -> u64 {
        self.step.as_secs()
    }

    /// The daily and weekly season lengths, in steps, at this step.
    pub fn seasons(self) -> Seasons {
        self.seasons
    }
}

impl Default for HistoryStep {
    fn default() -> HistoryStep {
        HistoryStep::new(Duration::from_secs(300)).expect("5m divides a day")
    }
}

impl TryFrom<String> for HistoryStep {
    type Error = String;

    fn try_from(text: String) -> Result<HistoryStep, String> {
        let step = crate::duration::parse(&text).map_err(|e| e.to_string())?;
        HistoryStep::new(step)
    }
}

impl From<HistoryStep> for String {
    fn from(step: HistoryStep) -> String {
        crate::duration::format(step.step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_parse_ranges_lists_and_all() {
        let weekdays: Days = "mon-fri".parse().unwrap();
        assert!(weekdays.contains(Weekday::Mon) && weekdays.contains(Weekday::Fri));
        assert!(!weekdays.contains(Weekday::Sat));
        let around: Days = "fri-mon".parse().unwrap();
        assert!(around.contains(Weekday::Sun) && !around.contains(Weekday::Wed));
        let all: Days = "*".parse().unwrap();
        assert!(all.contains(Weekday::Wed));
        assert_eq!(String::from(weekdays), "mon-fri");
        let e = "someday".parse::<Days>().unwrap_err();
        assert!(e.starts_with("`someday` is not a day"), "{e}");
    }

    #[test]
    fn statistics_cloudwatch_knows_and_does_not() {
        for good in ["Sum", "p99", "p99.9", "tm99", "TM(10%:90%)", "IQM"] {
            assert_eq!(good.parse::<Statistic>().unwrap().as_str(), good);
        }
        let e = "Avg".parse::<Statistic>().unwrap_err();
        assert!(e.starts_with("`Avg` is not a CloudWatch statistic"), "{e}");
        let e = "p101".parse::<Statistic>().unwrap_err();
        assert!(e.contains("p0-p100"), "{e}");
    }

    #[test]
    fn time_zones_and_history_steps() {
        let berlin: TimeZone = "Europe/Berlin".parse().unwrap();
        assert_eq!(String::from(berlin), "Europe/Berlin");
        assert_eq!(TimeZone::default().tz(), Tz::UTC);
        assert!("Mars/Olympus".parse::<TimeZone>().is_err());
        assert_eq!(HistoryStep::default().seasons().daily, 288);
        for bad in [7 * 60, 90, 7_200, 0] {
            assert!(HistoryStep::new(Duration::from_secs(bad)).is_err(), "{bad}");
        }
        let step = HistoryStep::try_from("15m".to_string()).unwrap();
        assert_eq!(
            (step.as_secs(), String::from(step)),
            (900, "15m".to_string())
        );
    }
}
