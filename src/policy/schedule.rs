//! Scheduled minimum capacity: recurring windows such as weekdays 08:00-18:00.

use super::{Policy, PolicyInput};
use crate::decision::{PolicyRecord, Recommendation};
use crate::policy_file::{ScheduleSpec, ScheduleWindow};
use chrono::{DateTime, Datelike, NaiveTime, Utc, Weekday};
use chrono_tz::Tz;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    name: String,
    timezone: Tz,
    windows: Vec<Window>,
}

#[derive(Debug, Clone)]
struct Window {
    /// Indexed by `Weekday::num_days_from_monday`.
    days: [bool; 7],
    start: NaiveTime,
    end: NaiveTime,
    min_capacity: u32,
    label: String,
}

impl Schedule {
    /// Parses a schedule; the error says which part is wrong.
    pub fn new(spec: &ScheduleSpec) -> Result<Schedule, String> {
        let timezone = match &spec.timezone {
            None => Tz::UTC,
            Some(name) => name.parse::<Tz>().map_err(|_| {
                format!("`{name}` is not an IANA time zone name (e.g. Europe/Berlin)")
            })?,
        };
        let windows = spec
            .windows
            .iter()
            .map(Window::new)
            .collect::<Result<Vec<_>, String>>()?;
        Ok(Schedule {
            name: spec.name.clone(),
            timezone,
            windows,
        })
    }

    /// The largest minimum of the windows active at `now`, if any.
    pub fn active_minimum(&self, now: DateTime<Utc>) -> Option<(u32, &str)> {
        let local = now.with_timezone(&self.timezone).naive_local();
        self.windows
            .iter()
            .filter(|w| w.contains(local.weekday(), local.time()))
            .max_by_key(|w| w.min_capacity)
            .map(|w| (w.min_capacity, w.label.as_str()))
    }
}

impl Window {
    fn new(spec: &ScheduleWindow) -> Result<Window, String> {
        if spec.start == spec.end {
            return Err("window start and end are the same time".into());
        }
        Ok(Window {
            days: parse_days(&spec.days)?,
            start: spec.start,
            end: spec.end,
            min_capacity: spec.min_capacity,
            label: format!(
                "{} {}-{}",
                spec.days,
                spec.start.format("%H:%M"),
                spec.end.format("%H:%M")
            ),
        })
    }

    fn contains(&self, day: Weekday, time: NaiveTime) -> bool {
        let on = |d: Weekday| self.days[d.num_days_from_monday() as usize];
        if self.start < self.end {
            on(day) && time >= self.start && time < self.end
        } else {
            // Past midnight: the part after midnight belongs to the day before.
            (on(day) && time >= self.start) || (on(day.pred()) && time < self.end)
        }
    }
}

/// Parses a cron-style day list: `*`, `mon-fri`, `sat,sun`, `mon,wed-fri`.
pub fn parse_days(text: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    for part in text.split(',').map(str::trim) {
        if part == "*" {
            days = [true; 7];
            continue;
        }
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (parse_day(a)?, parse_day(b)?),
            None => (parse_day(part)?, parse_day(part)?),
        };
        let mut day = first;
        loop {
            days[day.num_days_from_monday() as usize] = true;
            if day == last {
                break;
            }
            day = day.succ();
        }
    }
    Ok(days)
}

fn parse_day(text: &str) -> Result<Weekday, String> {
    text.trim()
        .parse::<Weekday>()
        .map_err(|_| format!("`{text}` is not a day (mon, tue, wed, thu, fri, sat, sun)"))
}

impl Policy for Schedule {
    fn name(&self) -> &str {
        &self.name
    }

    fn recommend(&mut self, input: &PolicyInput<'_>) -> PolicyRecord {
        let (recommendation, reason) = match self.active_minimum(input.now) {
            Some((min, label)) => (
                Recommendation::Capacity(min),
                format!("window {label} active: at least {min}"),
            ),
            None => (Recommendation::NoOpinion, "no window active".to_string()),
        };
        PolicyRecord {
            name: self.name.clone(),
            kind: "schedule".into(),
            recommendation,
            reason,
            detail: None,
        }
    }
}
