//! The one way ebb reads a duration a user wrote: in policy files, the
//! daemon config, environment variables and command-line flags alike.
//!
//! A duration is one or more `<whole number><unit>` parts (`90s`, `1h30m`,
//! `1h 30m`) with the units `ms`, `s`, `m`, `h` and `d`, or a bare `0`.
//! Nothing else: `10M` must not silently mean ten months (as it does to
//! humantime), so any other unit is refused with a hint. How long a
//! duration may be is the loader's business ([`crate::ranges`]); this
//! module only refuses what cannot be represented.

use serde::{Deserialize, Deserializer, Serializer};
use std::fmt;
use std::time::Duration;

/// The accepted units, as written in errors and the README.
pub const UNITS: &str = "ms, s, m, h, d";

/// Why a text is not a duration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// The text is empty or blank.
    #[error("empty duration; write e.g. `30s` (units: {UNITS})")]
    Empty,
    /// Something other than a whole number stands where a number must.
    #[error("`{text}`: expected a whole number before a unit (units: {UNITS})")]
    NotANumber {
        /// The text as given.
        text: String,
    },
    /// A number without a unit (only a bare `0` may go without).
    #[error("`{text}`: `{number}` has no unit; write e.g. `{number}s` (units: {UNITS})")]
    NoUnit {
        /// The text as given.
        text: String,
        /// The number without a unit.
        number: String,
    },
    /// A unit ebb does not know, e.g. `10M` or `5y`.
    #[error("`{text}`: unknown unit `{unit}`{hint} (units: {UNITS})")]
    UnknownUnit {
        /// The text as given.
        text: String,
        /// The unit ebb does not know.
        unit: String,
        /// What the writer probably meant, appended to the message (e.g. ": write
        /// minutes as `m`"), or empty.
        hint: &'static str,
    },
    /// The duration is longer than a `Duration` can hold.
    #[error("`{text}` is too long to represent")]
    Overflow {
        /// The text as given.
        text: String,
    },
}

/// Reads a duration: `500ms`, `30s`, `5m`, `1h30m`, `14d`, `0`.
pub fn parse(text: &str) -> Result<Duration, DurationError> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(DurationError::Empty);
    }
    if trimmed == "0" {
        return Ok(Duration::ZERO);
    }
    let overflow = || DurationError::Overflow {
        text: trimmed.to_string(),
    };
    let mut total = Duration::ZERO;
    let mut rest = trimmed;
    while !rest.is_empty() {
        let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        if digits == 0 {
            return Err(DurationError::NotANumber {
                text: trimmed.to_string(),
            });
        }
        let (number, after) = rest.split_at(digits);
        let letters = after.len() - after.trim_start_matches(char::is_alphabetic).len();
        if letters == 0 {
            return Err(DurationError::NoUnit {
                text: trimmed.to_string(),
                number: number.to_string(),
            });
        }
        let (unit, after) = after.split_at(letters);
        let per_unit_ms = unit_millis(unit).ok_or_else(|| DurationError::UnknownUnit {
            text: trimmed.to_string(),
            unit: unit.to_string(),
            hint: unit_hint(unit),
        })?;
        let count: u64 = number.parse().map_err(|_| overflow())?;
        let millis = count.checked_mul(per_unit_ms).ok_or_else(overflow)?;
        total = total
            .checked_add(Duration::from_millis(millis))
            .ok_or_else(overflow)?;
        rest = after.trim_start();
    }
    Ok(total)
}

fn unit_millis(unit: &str) -> Option<u64> {
    Some(match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    })
}

/// What the writer of an unknown unit probably meant.
fn unit_hint(unit: &str) -> &'static str {
    match unit {
        "M" | "mo" | "mon" | "month" | "months" => {
            ": months are not a unit (`m` is minutes); write days, e.g. `30d`"
        }
        "w" | "wk" | "week" | "weeks" => ": weeks are not a unit; write days, e.g. `7d`",
        "y" | "yr" | "year" | "years" => ": years are not a unit; write days, e.g. `365d`",
        "us" | "µs" | "ns" => ": durations below a millisecond are not used",
        "sec" | "secs" | "second" | "seconds" | "S" => ": write seconds as `s`",
        "min" | "mins" | "minute" | "minutes" => ": write minutes as `m`",
        "hr" | "hrs" | "hour" | "hours" | "H" => ": write hours as `h`",
        "day" | "days" | "D" => ": write days as `d`",
        _ => "",
    }
}

/// A duration as [`parse`] reads it back, largest units first: `1h 30m`,
/// `500ms`, `0s`.
pub fn format(d: Duration) -> String {
    Formatted(d).to_string()
}

/// [`format`] as a `Display` value, for messages.
pub struct Formatted(pub Duration);

impl fmt::Display for Formatted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.0.as_secs();
        let parts = [
            (secs / 86_400, "d"),
            (secs % 86_400 / 3_600, "h"),
            (secs % 3_600 / 60, "m"),
            (secs % 60, "s"),
            (u64::from(self.0.subsec_millis()), "ms"),
        ];
        let mut written = false;
        for (count, unit) in parts.into_iter().filter(|(count, _)| *count > 0) {
            if written {
                f.write_str(" ")?;
            }
            write!(f, "{count}{unit}")?;
            written = true;
        }
        if !written {
            f.write_str("0s")?;
        }
        Ok(())
    }
}

/// For `#[serde(with = "crate::duration")]` on a `Duration` field.
pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format(*d))
}

/// For `#[serde(with = "crate::duration")]` on a `Duration` field.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    parse(&text).map_err(serde::de::Error::custom)
}

/// For `#[serde(with = "crate::duration::option", default)]` on an
/// `Option<Duration>` field.
pub mod option {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    /// Writes the duration as [`super::serialize`] does, or nothing when absent.
    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    /// Reads an optional duration with [`super::parse`]; absent or `null` is `None`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => super::parse(&text)
                .map(Some)
                .map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_documented_units_are_read() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Ok(secs(30)));
        assert_eq!(parse("5m"), Ok(secs(300)));
        assert_eq!(parse("2h"), Ok(secs(7_200)));
        assert_eq!(parse("14d"), Ok(secs(14 * 86_400)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse("0s"), Ok(Duration::ZERO));
        assert_eq!(parse("1h30m"), Ok(secs(5_400)));
        assert_eq!(parse(" 1h 30m 5s "), Ok(secs(5_405)));
    }

    #[test]
    fn months_weeks_and_years_are_refused_with_a_hint() {
        let e = parse("10M").unwrap_err().to_string();
        assert!(
            e.contains("unknown unit `M`") && e.contains("`m` is minutes"),
            "{e}"
        );
        assert!(parse("2w").unwrap_err().to_string().contains("7d"));
        assert!(parse("1y").unwrap_err().to_string().contains("365d"));
        let e = parse("5min").unwrap_err().to_string();
        assert!(e.contains("write minutes as `m`"), "{e}");
        assert!(matches!(
            parse("3fortnights"),
            Err(DurationError::UnknownUnit { .. })
        ));
    }

    #[test]
    fn malformed_text_is_refused() {
        assert_eq!(parse(""), Err(DurationError::Empty));
        assert!(matches!(parse("60"), Err(DurationError::NoUnit { .. })));
        assert!(matches!(parse("s"), Err(DurationError::NotANumber { .. })));
        assert!(matches!(
            parse("-5s"),
            Err(DurationError::NotANumber { .. })
        ));
        assert!(matches!(parse("1.5h"), Err(DurationError::NoUnit { .. })));
        assert!(matches!(
            parse("5s!"),
            Err(DurationError::NotANumber { .. })
        ));
    }

    #[test]
    fn absurd_lengths_are_an_error_not_a_panic() {
        assert!(matches!(
            parse("18446744073709551615s"),
            Err(DurationError::Overflow { .. })
        ));
        assert!(matches!(
            parse("300000000000d"),
            Err(DurationError::Overflow { .. })
        ));
        // Representable, so read; the loader's ranges refuse it.
        assert_eq!(parse("100000000000d"), Ok(secs(8_640_000_000_000_000)));
    }

    #[test]
    fn formatting_reads_back() {
        for d in [
            Duration::ZERO,
            Duration::from_millis(1_500),
            secs(59),
            secs(5_400),
            secs(30 * 86_400 + 1),
        ] {
            assert_eq!(parse(&format(d)), Ok(d), "{}", format(d));
        }
        assert_eq!(format(secs(5_400)), "1h 30m");
        assert_eq!(format(Duration::from_millis(250)), "250ms");
    }
}
