//! Times written the way chrono's serde writes them (RFC 3339, `Z`, as many
//! sub-second digits as needed), through chrono's own
//! `to_rfc3339_opts` into a string and one `serialize_str`: chrono's serde
//! form writes each field through serde_json's escaping adapter, and at
//! 10,000 targets a round the governor states in every record and in
//! `state.json` (a 5-minute stabilization window is 30 times per target at
//! a 10 s interval) made that an eighth of the daemon's CPU. Reading times
//! back is chrono's own.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serializer;

/// Serializes `time` as chrono's serde would.
pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&time.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// Serializes an optional time as chrono's serde would (`null` for none).
pub fn option<S: Serializer>(
    time: &Option<DateTime<Utc>>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match time {
        Some(time) => serializer.serialize_some(&Iso(*time)),
        None => serializer.serialize_none(),
    }
}

/// Serializes `(time, value)` pairs as chrono's serde would (`[[time, value], ...]`).
pub fn pairs<S: Serializer>(
    pairs: &[(DateTime<Utc>, u32)],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeSeq;
    let mut seq = serializer.serialize_seq(Some(pairs.len()))?;
    for (time, value) in pairs {
        seq.serialize_element(&(Iso(*time), value))?;
    }
    seq.end()
}

/// A time that serializes through [`serialize`].
struct Iso(DateTime<Utc>);

impl serde::Serialize for Iso {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serialize(&self.0, serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[derive(serde::Serialize)]
    struct Fast {
        #[serde(serialize_with = "serialize")]
        at: DateTime<Utc>,
        #[serde(serialize_with = "option")]
        maybe: Option<DateTime<Utc>>,
        #[serde(serialize_with = "pairs")]
        recent: Vec<(DateTime<Utc>, u32)>,
    }

    #[derive(serde::Serialize)]
    struct Chrono {
        at: DateTime<Utc>,
        maybe: Option<DateTime<Utc>>,
        recent: Vec<(DateTime<Utc>, u32)>,
    }

    #[test]
    fn times_are_written_exactly_as_chronos_serde_writes_them() {
        let base = Utc.with_ymd_and_hms(2026, 12, 1, 4, 8, 1).unwrap();
        let nanos = [
            0,
            1,
            999_999_999,
            123_000_000,
            123_456_000,
            123_456_789,
            100_000,
            10,
            500_000_000,
        ];
        let mut times: Vec<DateTime<Utc>> = nanos
            .iter()
            .map(|n| base + chrono::Duration::nanoseconds(*n))
            .collect();
        times.push(Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap());
        times.push(Utc.with_ymd_and_hms(9999, 12, 31, 23, 59, 59).unwrap());
        times.push(Utc.with_ymd_and_hms(10_000, 1, 1, 0, 0, 0).unwrap());
        times.push(Utc.with_ymd_and_hms(-1, 1, 1, 0, 0, 0).unwrap());
        times.push(DateTime::<Utc>::MIN_UTC);
        times.push(DateTime::<Utc>::MAX_UTC);
        // A leap second.
        times.push(
            chrono::NaiveDate::from_ymd_opt(2016, 12, 31)
                .unwrap()
                .and_hms_nano_opt(23, 59, 59, 1_500_000_000)
                .unwrap()
                .and_utc(),
        );
        // Every second of a day, at a few sub-second offsets.
        for s in (0..86_400).step_by(7) {
            times.push(base + chrono::Duration::milliseconds(s * 1_000 + s % 1_000));
        }
        for (i, at) in times.iter().enumerate() {
            let maybe = (i % 2 == 0).then_some(*at);
            let recent = vec![(*at, 3), (base, 4)];
            let fast = serde_json::to_string(&Fast {
                at: *at,
                maybe,
                recent: recent.clone(),
            })
            .unwrap();
            let chrono = serde_json::to_string(&Chrono {
                at: *at,
                maybe,
                recent,
            })
            .unwrap();
            assert_eq!(fast, chrono, "{at:?}");
        }
    }
}
