//! Bad input never panics: the policy file loader and the trace CSV reader on
//! arbitrary text and on mangled valid files (proptest). Bad metric values
//! (NaN, infinite, negative, absurd spikes) are rejected, the reason reaches
//! the decision record, and the target does not scale on them.

use chrono::{Duration, TimeZone, Utc};
use ebb::evaluator::TargetEvaluator;
use ebb::governor_memory::{Hypothesis, Run};
use ebb::group::{GroupState, Instance, Lifecycle};
use ebb::policy_file::load::parse_str;
use ebb::series::{Datapoint, FetchResults, MetricKey, Series};
use ebb::sim::trace::Trace;
use proptest::prelude::*;
use std::path::Path;

const POLICY: &str = include_str!("../policies/web-cpu.toml");

/// Cuts, duplicates or replaces a piece of `text`, by byte positions taken
/// from `a` and `b` (kept on char boundaries).
fn mangle(text: &str, a: usize, b: usize, insert: &str, how: u8) -> String {
    let floor = |i: usize| {
        let mut i = i % (text.len() + 1);
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let (lo, hi) = {
        let (x, y) = (floor(a), floor(b));
        (x.min(y), x.max(y))
    };
    match how % 3 {
        0 => format!("{}{}", &text[..lo], &text[hi..]),
        1 => format!("{}{}{}", &text[..hi], &text[lo..hi], &text[hi..]),
        _ => format!("{}{insert}{}", &text[..lo], &text[hi..]),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn the_policy_loader_never_panics_on_any_text(text in ".{0,400}") {
        let _ = parse_str(&text, Path::new("fuzz.toml"));
    }

    #[test]
    fn the_policy_loader_never_panics_on_a_mangled_policy(
        a in 0usize..4000,
        b in 0usize..4000,
        insert in prop_oneof![
            Just("\"".to_string()),
            Just("= -1e309".to_string()),
            Just("[[policies]]\n".to_string()),
            Just("nan".to_string()),
            Just("\"0s\"".to_string()),
            Just("18446744073709551616".to_string()),
            "[a-z_\\.=\\[\\] \"0-9\n-]{0,30}",
        ],
        how in any::<u8>(),
    ) {
        let text = mangle(POLICY, a, b, &insert, how);
        if let Err(e) = parse_str(&text, Path::new("web-cpu.toml")) {
            // A rejection names the file.
            prop_assert!(e.to_string().contains("web-cpu.toml"), "{}", e);
        }
    }

    #[test]
    fn the_trace_reader_never_panics_on_any_text(text in "[0-9a-zA-Z:,\\.\\-+T Z\n]{0,300}") {
        let _ = Trace::parse(&text, "fuzz.csv");
    }

    #[test]
    fn the_trace_reader_never_panics_on_odd_rows(
        rows in prop::collection::vec(
            (
                prop_oneof![
                    (0i64..2_000_000_000).prop_map(|t| t.to_string()),
                    Just("2026-01-01T00:00:00Z".to_string()),
                    Just("-1".to_string()),
                    Just("99999999999999999999".to_string()),
                    Just(String::new()),
                ],
                prop_oneof![
                    any::<f64>().prop_map(|v| v.to_string()),
                    Just("NaN".to_string()),
                    Just("inf".to_string()),
                    Just("-0".to_string()),
                    Just("1e400".to_string()),
                    Just(String::new()),
                ],
            ),
            0..40,
        ),
    ) {
        let mut text = String::from("timestamp,value\n");
        for (t, v) in rows {
            text.push_str(&format!("{t},{v}\n"));
        }
        let _ = Trace::parse(&text, "rows.csv");
    }
}

#[test]
fn bad_metric_values_are_rejected_with_the_reason_in_the_record() {
    let policy = POLICY.replace(
        "stale_after = \"5m\"",
        "stale_after = \"5m\"\nmax_value = 100.0",
    );
    let file = parse_str(&policy, Path::new("web-cpu.toml")).unwrap();
    let mut evaluator = TargetEvaluator::new(file);
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
    let group = GroupState {
        desired: 4,
        min: 2,
        max: 40,
        instances: (0..4)
            .map(|i| {
                Instance::new(
                    format!("i-{i}"),
                    Lifecycle::InService,
                    t0 - Duration::hours(1),
                )
            })
            .collect(),
        info: Default::default(),
    };
    // One good value at the target, then each kind of bad value.
    let bad = [50.0, f64::NAN, f64::INFINITY, -5.0, 1e9];
    let mut notes = Vec::new();
    for (i, value) in bad.iter().enumerate() {
        let now = t0 + Duration::minutes(i as i64 + 1);
        let mut fetched = FetchResults::new();
        fetched.insert(
            MetricKey::new("web-cpu", "cpu"),
            Ok(Series {
                points: vec![Datapoint {
                    time: now - Duration::seconds(30),
                    value: *value,
                }],
                ..Series::default()
            }),
        );
        let dry_run = Run::Hypothetical(Hypothesis::DryRun);
        let record = evaluator.evaluate(now, &fetched, &group, dry_run);
        assert_eq!(record.desired, 4, "scaled on {value}: {record:#?}");
        notes.extend(record.metrics[0].notes.clone());
        // The record survives a round trip as a log line would.
        let line = serde_json::to_string(&record).unwrap();
        assert!(!line.contains('\n'));
    }
    for reason in [
        "not a number",
        "infinite",
        "negative",
        "above max_value 100",
    ] {
        assert!(
            notes
                .iter()
                .any(|n| n.contains("rejected") && n.contains(reason)),
            "no `{reason}` in {notes:#?}"
        );
    }
}
