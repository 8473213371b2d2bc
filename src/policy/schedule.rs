//! Scheduled minimum capacity: recurring windows such as weekdays 08:00-18:00.

use super::{Policy, PolicyInput};
use crate::decision::{PolicyKind, PolicyRecord, Recommendation};
use crate::policy_file::{Days, ScheduleSpec, ScheduleWindow, hhmm};
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
    days: Days,
    start: NaiveTime,
    end: NaiveTime,
    min_capacity: u32,
    label: String,
}

impl Schedule {
    /// The schedule a loaded policy file describes: its days and time zone
    /// were parsed when the file was read.
    pub fn new(spec: &ScheduleSpec) -> Schedule {
        Schedule {
            name: spec.name.clone(),
            timezone: spec.timezone.tz(),
            windows: spec.windows.iter().map(Window::new).collect(),
        }
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

/// What the loader refuses in a schedule beyond what parsing its values
/// refuses, as (field relative to the schedule, what is wrong): a window
/// that starts and ends at the same time (read as a whole day) is more
/// likely a mistake than meant.
pub fn problems(spec: &ScheduleSpec) -> Vec<(String, String)> {
    spec.windows
        .iter()
        .enumerate()
        .filter(|(_, window)| window.start == window.end)
        .map(|(i, _)| {
            (
                format!("windows[{i}].end"),
                "window start and end are the same time".to_string(),
            )
        })
        .collect()
}

impl Window {
    fn new(spec: &ScheduleWindow) -> Window {
        Window {
            days: spec.days.clone(),
            start: spec.start,
            end: spec.end,
            min_capacity: spec.min_capacity,
            label: format!(
                "{} {}-{}",
                spec.days.as_str(),
                hhmm::format(&spec.start),
                hhmm::format(&spec.end)
            ),
        }
    }

    fn contains(&self, day: Weekday, time: NaiveTime) -> bool {
        let on = |d: Weekday| self.days.contains(d);
        if self.start < self.end {
            on(day) && time >= self.start && time < self.end
        } else {
            // Past midnight (or a whole day when start = end): the part after
            // midnight belongs to the day before.
            (on(day) && time >= self.start) || (on(day.pred()) && time < self.end)
        }
    }
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
            kind: PolicyKind::Schedule,
            recommendation,
            reason,
            detail: None,
            events: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::ObservedCapacity;
    use crate::policy_file::hhmm::END_OF_DAY;
    use chrono::TimeZone;
    use std::collections::BTreeMap;

    fn hm(h: u32, m: u32) -> NaiveTime {
        NaiveTime::from_hms_opt(h, m, 0).unwrap()
    }

    fn window(days: &str, start: NaiveTime, end: NaiveTime, min_capacity: u32) -> ScheduleWindow {
        ScheduleWindow {
            days: days.parse().expect(days),
            start,
            end,
            min_capacity,
        }
    }

    fn schedule(timezone: Option<&str>, windows: Vec<ScheduleWindow>) -> Schedule {
        Schedule::new(&ScheduleSpec {
            name: "hours".into(),
            timezone: timezone.map_or_else(Default::default, |tz| tz.parse().expect(tz)),
            windows,
        })
    }

    /// 2026-11-23 is a Monday; `day` 0 is that Monday.
    fn at(day: u32, h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23 + day, h, m, s).unwrap()
    }

    fn minimum(schedule: &Schedule, now: DateTime<Utc>) -> Option<u32> {
        schedule.active_minimum(now).map(|(min, _)| min)
    }

    #[test]
    fn a_weekday_window_is_active_on_its_days_from_start_to_end() {
        let s = schedule(None, vec![window("mon-fri", hm(8, 0), hm(18, 0), 4)]);
        assert_eq!(minimum(&s, at(2, 10, 0, 0)), Some(4)); // Wednesday
        assert_eq!(minimum(&s, at(0, 8, 0, 0)), Some(4)); // start is inside
        assert_eq!(minimum(&s, at(4, 17, 59, 59)), Some(4)); // Friday
        assert_eq!(minimum(&s, at(2, 18, 0, 0)), None); // end is outside
        assert_eq!(minimum(&s, at(2, 7, 59, 59)), None);
        assert_eq!(minimum(&s, at(5, 10, 0, 0)), None); // Saturday
        assert_eq!(minimum(&s, at(6, 10, 0, 0)), None); // Sunday
    }

    #[test]
    fn an_overnight_window_belongs_to_the_day_it_starts() {
        // Friday night 22:00 to Saturday 06:00.
        let s = schedule(None, vec![window("fri", hm(22, 0), hm(6, 0), 3)]);
        assert_eq!(minimum(&s, at(4, 23, 0, 0)), Some(3)); // Friday 23:00
        assert_eq!(minimum(&s, at(5, 3, 0, 0)), Some(3)); // Saturday 03:00
        assert_eq!(minimum(&s, at(5, 6, 0, 0)), None); // Saturday 06:00
        assert_eq!(minimum(&s, at(4, 3, 0, 0)), None); // Friday 03:00 is Thursday's night
        assert_eq!(minimum(&s, at(5, 23, 0, 0)), None); // Saturday night
    }

    #[test]
    fn a_window_to_24_00_includes_the_last_second_of_the_day() {
        let s = schedule(None, vec![window("mon", hm(20, 0), END_OF_DAY, 2)]);
        assert_eq!(minimum(&s, at(0, 23, 59, 59)), Some(2));
        let half_second = at(0, 23, 59, 59) + chrono::Duration::milliseconds(500);
        assert_eq!(minimum(&s, half_second), Some(2));
        assert_eq!(minimum(&s, at(1, 0, 0, 0)), None);
        let all_day = schedule(None, vec![window("*", hm(0, 0), END_OF_DAY, 2)]);
        assert_eq!(minimum(&all_day, at(3, 23, 59, 59)), Some(2));
        assert_eq!(minimum(&all_day, at(4, 0, 0, 0)), Some(2));
    }

    #[test]
    fn windows_are_read_in_their_time_zone() {
        let s = schedule(
            Some("Europe/Berlin"),
            vec![window("mon-fri", hm(8, 0), hm(18, 0), 4)],
        );
        // November: Berlin is UTC+1.
        assert_eq!(minimum(&s, at(2, 7, 30, 0)), Some(4));
        assert_eq!(minimum(&s, at(2, 6, 30, 0)), None);
        assert_eq!(minimum(&s, at(2, 16, 59, 0)), Some(4));
        assert_eq!(minimum(&s, at(2, 17, 0, 0)), None);
        // July: UTC+2, daylight saving time.
        let july = |h| Utc.with_ymd_and_hms(2026, 7, 1, h, 30, 0).unwrap();
        assert_eq!(minimum(&s, july(5)), None); // 07:30 in Berlin
        assert_eq!(minimum(&s, july(6)), Some(4)); // 08:30
        assert_eq!(minimum(&s, july(15)), Some(4)); // 17:30
        assert_eq!(minimum(&s, july(16)), None); // 18:30
    }

    #[test]
    fn the_day_is_the_day_in_the_windows_time_zone() {
        // Monday 02:00 UTC is still Sunday evening in New York.
        let s = schedule(
            Some("America/New_York"),
            vec![window("mon", hm(0, 0), END_OF_DAY, 5)],
        );
        assert_eq!(minimum(&s, at(0, 2, 0, 0)), None);
        assert_eq!(minimum(&s, at(0, 6, 0, 0)), Some(5));
        assert_eq!(minimum(&s, at(1, 4, 0, 0)), Some(5)); // Monday 23:00 in New York
    }

    #[test]
    fn overlapping_windows_take_the_largest_minimum() {
        let s = schedule(
            None,
            vec![
                window("mon-fri", hm(8, 0), hm(18, 0), 4),
                window("mon", hm(9, 0), hm(10, 0), 10),
            ],
        );
        assert_eq!(minimum(&s, at(0, 9, 30, 0)), Some(10));
        assert_eq!(minimum(&s, at(0, 10, 30, 0)), Some(4));
        assert_eq!(minimum(&s, at(1, 9, 30, 0)), Some(4));
    }

    #[test]
    fn recommends_the_minimum_inside_a_window_and_nothing_outside() {
        let mut s = schedule(None, vec![window("mon-fri", hm(8, 0), hm(18, 0), 4)]);
        let metrics = BTreeMap::new();
        let fetched = BTreeMap::new();
        let mut ask = |now| {
            s.recommend(&PolicyInput {
                now,
                capacity: ObservedCapacity {
                    desired: 2,
                    in_service: 2,
                    warming: 0,
                },
                metrics: &metrics,
                fetched: &fetched,
            })
        };
        let r = ask(at(0, 12, 0, 0));
        assert_eq!(r.recommendation, Recommendation::Capacity(4));
        assert_eq!(r.reason, "window mon-fri 08:00-18:00 active: at least 4");
        let r = ask(at(0, 20, 0, 0));
        assert_eq!(r.recommendation, Recommendation::NoOpinion);
    }

    #[test]
    fn day_lists_in_cron_style() {
        let days = |text: &str| {
            let days: Days = text.parse().expect(text);
            [
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri,
                Weekday::Sat,
                Weekday::Sun,
            ]
            .map(|d| days.contains(d))
        };
        assert_eq!(days("*"), [true; 7]);
        assert_eq!(
            days("mon-fri"),
            [true, true, true, true, true, false, false]
        );
        assert_eq!(
            days("sat,sun"),
            [false, false, false, false, false, true, true]
        );
        assert_eq!(
            days("mon, wed-fri"),
            [true, false, true, true, true, false, false]
        );
        // A range may wrap around the week.
        assert_eq!(
            days("fri-mon"),
            [true, false, false, false, true, true, true]
        );
        assert_eq!(
            days("Tuesday"),
            [false, true, false, false, false, false, false]
        );
    }

    #[test]
    fn bad_day_lists_say_what_is_wrong() {
        for bad in ["", "funday", "mon-", "mon-xyz", "mon,,fri"] {
            let error = bad.parse::<Days>().expect_err(bad);
            assert!(error.contains("is not a day"), "{bad}: {error}");
        }
        assert!("funday".parse::<Days>().unwrap_err().contains("`funday`"));
    }

    #[test]
    fn problems_name_the_field() {
        let spec = ScheduleSpec {
            name: "s".into(),
            timezone: Default::default(),
            windows: vec![
                window("mon", hm(8, 0), hm(9, 0), 1),
                window("tue", hm(8, 0), hm(8, 0), 1),
            ],
        };
        let problems = problems(&spec);
        assert_eq!(
            problems,
            [(
                "windows[1].end".to_string(),
                "window start and end are the same time".to_string()
            )]
        );
        // Were it loaded, such a window would be a whole day.
        let whole_day = Schedule::new(&spec);
        assert_eq!(minimum(&whole_day, at(1, 9, 0, 0)), Some(1));
        assert_eq!(minimum(&whole_day, at(2, 7, 0, 0)), Some(1));
    }
}
