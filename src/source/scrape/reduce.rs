//! From the pages of one scrape round to one number: select series, turn
//! counters into per-second rates and histogram buckets into a quantile,
//! then aggregate across targets. Pure: the caller supplies the time and
//! keeps the [`Memory`] of the previous round.
//!
//! Semantics, as in PromQL where there is an equivalent:
//! - `gauge`: a target's value is the sum of its matching series.
//! - `rate`: each series' increase since the previous scrape over the time
//!   between them; a drop is a counter reset, and the increase is then the
//!   new value (the counter restarted from zero). A series seen for the first
//!   time has no rate yet (like `rate()` with one sample). A target's value
//!   is the sum of its series' rates.
//! - `quantile`: bucket increases since the previous scrape, summed by `le`
//!   across every series of every target, then `histogram_quantile`.
//! - `aggregate` combines target values: sum, avg, max, min, or count (of
//!   targets with a value).

use super::expo::Sample;
use super::selector::Selector;
use crate::policy_file::Aggregate;
use chrono::{DateTime, Utc};
use std::collections::{BTreeMap, HashMap, HashSet};

/// What a metric is reduced to; built from a validated policy file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Reduction {
    /// A gauge's values across targets, aggregated.
    Gauge(Aggregate),
    /// A counter's per-second rate since the last round, aggregated across targets.
    Rate(Aggregate),
    /// A histogram's quantile (0-1) over the buckets' increase since the last round, across
    /// targets.
    Quantile(f64),
}

/// Identifies one series of one target across rounds.
type SeriesId = (String, String);

/// What a metric remembers between rounds.
#[derive(Debug, Default, Clone)]
pub struct Memory {
    counters: HashMap<SeriesId, (DateTime<Utc>, f64)>,
    /// Per histogram series: `(le, cumulative count)` sorted by `le`.
    buckets: HashMap<SeriesId, Vec<(f64, f64)>>,
}

/// One answering target's page.
pub struct Page<'a> {
    /// The target's address as scraped.
    pub target: &'a str,
    /// The samples its page holds.
    pub samples: &'a [Sample],
}

/// A target's contribution, for the decision record.
#[derive(Debug, Clone, PartialEq)]
pub enum TargetValue {
    /// The target's value.
    Value(f64),
    /// Answered, but has no value this round, and why.
    Nothing(String),
}

/// The outcome of one round.
#[derive(Debug, Clone, PartialEq)]
pub struct Reduced {
    /// None when no target contributed (then `why` says why).
    pub value: Option<f64>,
    /// Why there is no value, when there is none.
    pub why: Option<String>,
    /// Each answering target's contribution, by address.
    pub per_target: BTreeMap<String, TargetValue>,
}

/// Reduces one round. `known_targets` is every target of this round,
/// answering or not: memory of targets that are gone is dropped, memory of
/// targets that only failed this time is kept so the next rate spans the gap.
pub fn reduce(
    reduction: Reduction,
    selector: &Selector,
    pages: &[Page],
    known_targets: &HashSet<&str>,
    now: DateTime<Utc>,
    memory: &mut Memory,
) -> Reduced {
    let answered: HashSet<&str> = pages.iter().map(|p| p.target).collect();
    // Forget series of targets that left, and series an answering target no longer has.
    let keep = |(target, _): &SeriesId| {
        known_targets.contains(target.as_str()) && !answered.contains(target.as_str())
    };
    let mut per_target = BTreeMap::new();
    let reduced = match reduction {
        Reduction::Gauge(aggregate) => {
            for page in pages {
                let values: Vec<f64> = page
                    .samples
                    .iter()
                    .filter(|s| s.name == selector.name() && selector.matches_labels(s))
                    .map(|s| s.value)
                    .collect();
                per_target.insert(
                    page.target.to_string(),
                    summed(&values, "no matching series"),
                );
            }
            aggregated(aggregate, &per_target)
        }
        Reduction::Rate(aggregate) => {
            let mut next = HashMap::new();
            for page in pages {
                let mut rates = Vec::new();
                let mut matched = false;
                let mut broken = None;
                for s in page
                    .samples
                    .iter()
                    .filter(|s| s.name == selector.name() && selector.matches_labels(s))
                {
                    matched = true;
                    if !s.value.is_finite() {
                        broken.get_or_insert_with(|| {
                            format!(
                                "counter {} reads {}: a counter is a finite number",
                                series_name(s),
                                s.value
                            )
                        });
                        continue;
                    }
                    let id = (page.target.to_string(), series_key(s, None));
                    if let Some(&(then, before)) = memory.counters.get(&id)
                        && let Some(rate) = rate(before, s.value, then, now)
                    {
                        rates.push(rate);
                    }
                    next.insert(id, (now, s.value));
                }
                // Part of a target's counters is not its rate: none is.
                let value = match broken {
                    Some(why) => TargetValue::Nothing(why),
                    None if matched => {
                        summed(&rates, "first scrape of these series: a rate needs two")
                    }
                    None => summed(&rates, "no matching series"),
                };
                per_target.insert(page.target.to_string(), value);
            }
            memory.counters.retain(|id, _| keep(id));
            memory.counters.extend(next);
            aggregated(aggregate, &per_target)
        }
        Reduction::Quantile(q) => {
            let mut fleet: Vec<(f64, f64)> = Vec::new();
            let mut next = HashMap::new();
            let bucket_name = format!("{}_bucket", selector.name().trim_end_matches("_bucket"));
            for page in pages {
                let mut series: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
                for s in page
                    .samples
                    .iter()
                    .filter(|s| s.name == bucket_name && selector.matches_labels(s))
                {
                    let Some(le) = s.label("le").and_then(parse_le) else {
                        continue;
                    };
                    series
                        .entry(series_key(s, Some("le")))
                        .or_default()
                        .push((le, s.value));
                }
                let mut target_buckets = Vec::new();
                let mut why = "no matching histogram buckets".to_string();
                let mut broken = None;
                for (key, mut buckets) in series {
                    why = "first scrape of these histograms: a quantile needs two".to_string();
                    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
                    let labels = if key.is_empty() {
                        String::new()
                    } else {
                        format!("{{{}}}", key.trim_end_matches(','))
                    };
                    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) {
                        broken.get_or_insert(format!(
                            "histogram {bucket_name}{labels} has no le=\"+Inf\" bucket"
                        ));
                        continue;
                    }
                    if let Some((le, count)) = buckets.iter().find(|b| !b.1.is_finite()) {
                        broken.get_or_insert(format!(
                            "histogram {bucket_name}{labels}: bucket le=\"{le}\" reads {count}"
                        ));
                        continue;
                    }
                    let id = (page.target.to_string(), key);
                    if let Some(before) = memory.buckets.get(&id)
                        && let Some(increase) = bucket_increase(before, &buckets)
                    {
                        target_buckets.extend(increase);
                    }
                    next.insert(id, buckets);
                }
                let value = if let Some(why) = broken {
                    TargetValue::Nothing(why)
                } else if target_buckets.is_empty() {
                    TargetValue::Nothing(why)
                } else {
                    fleet.extend_from_slice(&target_buckets);
                    match histogram_quantile(q, &mut target_buckets) {
                        Some(v) => TargetValue::Value(v),
                        None => {
                            TargetValue::Nothing("no observations since the last scrape".into())
                        }
                    }
                };
                per_target.insert(page.target.to_string(), value);
            }
            memory.buckets.retain(|id, _| keep(id));
            memory.buckets.extend(next);
            if fleet.is_empty() {
                let why = first_reason(&per_target);
                let why = if why.starts_with("first scrape") {
                    "no target has two scrapes of a matching histogram yet".to_string()
                } else {
                    format!("no target has a value: {why}")
                };
                (None, Some(why))
            } else {
                match histogram_quantile(q, &mut fleet) {
                    Some(v) => (Some(v), None),
                    None => (
                        None,
                        Some(
                            "no observations since the last scrape, or no +Inf bucket".to_string(),
                        ),
                    ),
                }
            }
        }
    };
    Reduced {
        value: reduced.0,
        why: reduced.1,
        per_target,
    }
}

/// Per-second rate of a counter between two samples; a drop is a reset.
fn rate(before: f64, after: f64, then: DateTime<Utc>, now: DateTime<Utc>) -> Option<f64> {
    let seconds = (now - then).num_milliseconds() as f64 / 1000.0;
    if seconds <= 0.0 || !before.is_finite() || !after.is_finite() {
        return None;
    }
    let increase = if after < before {
        after
    } else {
        after - before
    };
    Some(increase / seconds)
}

/// Buckets' increases between two scrapes of one histogram series. A bucket
/// that dropped means the process restarted: the new counts are the
/// increase. A changed bucket layout gives nothing this round.
fn bucket_increase(before: &[(f64, f64)], after: &[(f64, f64)]) -> Option<Vec<(f64, f64)>> {
    if before.len() != after.len() || before.iter().zip(after).any(|(b, a)| b.0 != a.0) {
        return None;
    }
    let reset = before.iter().zip(after).any(|(b, a)| a.1 < b.1);
    Some(
        before
            .iter()
            .zip(after)
            .map(|(b, a)| (a.0, if reset { a.1 } else { a.1 - b.1 }))
            .collect(),
    )
}

/// PromQL's `histogram_quantile` over `(le, cumulative count)` pairs,
/// summing pairs with equal `le` first. None where PromQL gives NaN (no
/// `+Inf` bucket, fewer than two buckets, no observations).
pub fn histogram_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> Option<f64> {
    if q.is_nan() {
        return None;
    }
    if q < 0.0 {
        return Some(f64::NEG_INFINITY);
    }
    if q > 1.0 {
        return Some(f64::INFINITY);
    }
    buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    buckets.dedup_by(|later, kept| {
        if later.0 == kept.0 {
            kept.1 += later.1;
            true
        } else {
            false
        }
    });
    if buckets.last().is_none_or(|b| b.0 != f64::INFINITY) || buckets.len() < 2 {
        return None;
    }
    // Counts must not fall with `le`; scrapes taken mid-update can break that.
    let mut max = f64::NEG_INFINITY;
    for b in buckets.iter_mut() {
        max = max.max(b.1);
        b.1 = max;
    }
    let observations = buckets[buckets.len() - 1].1;
    if observations <= 0.0 || !observations.is_finite() {
        return None;
    }
    let mut rank = q * observations;
    let last = buckets.len() - 1;
    let b = buckets[..last]
        .iter()
        .position(|b| b.1 >= rank)
        .unwrap_or(last);
    if b == last {
        return Some(buckets[last - 1].0);
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return Some(buckets[0].0);
    }
    let (mut start, end, mut count) = (0.0, buckets[b].0, buckets[b].1);
    if b > 0 {
        start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    Some(start + (end - start) * (rank / count))
}

fn parse_le(text: &str) -> Option<f64> {
    match text {
        "+Inf" | "Inf" => Some(f64::INFINITY),
        _ => text.parse().ok().filter(|v: &f64| !v.is_nan()),
    }
}

/// A series as it reads on the page: `name{label="value",...}`.
fn series_name(sample: &Sample) -> String {
    if sample.labels.is_empty() {
        return sample.name.clone();
    }
    let labels: Vec<String> = sample
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect();
    format!("{}{{{}}}", sample.name, labels.join(","))
}

/// A series' labels in a canonical order, leaving out `skip`.
fn series_key(sample: &Sample, skip: Option<&str>) -> String {
    let mut labels: Vec<_> = sample
        .labels
        .iter()
        .filter(|(k, _)| Some(k.as_str()) != skip)
        .collect();
    labels.sort();
    let mut key = String::new();
    for (k, v) in labels {
        key.push_str(k);
        key.push('=');
        key.push_str(&format!("{v:?}"));
        key.push(',');
    }
    key
}

fn summed(values: &[f64], why_not: &str) -> TargetValue {
    if values.is_empty() {
        TargetValue::Nothing(why_not.to_string())
    } else {
        TargetValue::Value(values.iter().sum())
    }
}

/// Why the first target without a value has none.
fn first_reason(per_target: &BTreeMap<String, TargetValue>) -> &str {
    per_target
        .values()
        .find_map(|v| match v {
            TargetValue::Nothing(why) => Some(why.as_str()),
            TargetValue::Value(_) => None,
        })
        .unwrap_or("no target answered")
}

fn aggregated(
    aggregate: Aggregate,
    per_target: &BTreeMap<String, TargetValue>,
) -> (Option<f64>, Option<String>) {
    let values: Vec<f64> = per_target
        .values()
        .filter_map(|v| match v {
            TargetValue::Value(v) => Some(*v),
            TargetValue::Nothing(_) => None,
        })
        .collect();
    if values.is_empty() {
        let why = first_reason(per_target);
        return (None, Some(format!("no target has a value: {why}")));
    }
    let n = values.len() as f64;
    let value = match aggregate {
        Aggregate::Sum => values.iter().sum(),
        Aggregate::Avg => values.iter().sum::<f64>() / n,
        Aggregate::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregate::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Count => n,
    };
    (Some(value), None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::scrape::expo::parse;

    fn t(seconds: i64) -> DateTime<Utc> {
        DateTime::<Utc>::from_timestamp(1_700_000_000 + seconds, 0).unwrap()
    }

    fn round(
        reduction: Reduction,
        selector: &str,
        pages: &[(&str, &str)],
        at: DateTime<Utc>,
        memory: &mut Memory,
    ) -> Reduced {
        let parsed: Vec<(&str, Vec<Sample>)> = pages
            .iter()
            .map(|(t, text)| (*t, parse(text).unwrap()))
            .collect();
        let pages: Vec<Page> = parsed
            .iter()
            .map(|(target, samples)| Page { target, samples })
            .collect();
        let known = pages.iter().map(|p| p.target).collect();
        reduce(
            reduction,
            &Selector::parse(selector).unwrap(),
            &pages,
            &known,
            at,
            memory,
        )
    }

    #[test]
    fn gauges_sum_per_target_then_aggregate() {
        let pages = [
            (
                "a",
                "inflight{route=\"/x\"} 3\ninflight{route=\"/y\"} 4\nother 100\n",
            ),
            ("b", "inflight{route=\"/x\"} 5\n"),
            ("c", "other 1\n"),
        ];
        let mut m = Memory::default();
        for (aggregate, want) in [
            (Aggregate::Sum, 12.0),
            (Aggregate::Avg, 6.0),
            (Aggregate::Max, 7.0),
            (Aggregate::Min, 5.0),
            (Aggregate::Count, 2.0),
        ] {
            let r = round(
                Reduction::Gauge(aggregate),
                "inflight",
                &pages,
                t(0),
                &mut m,
            );
            assert_eq!(r.value, Some(want), "{aggregate:?}");
            assert_eq!(
                r.per_target["c"],
                TargetValue::Nothing("no matching series".into())
            );
        }
        let only_x = round(
            Reduction::Gauge(Aggregate::Sum),
            "inflight{route=\"/x\"}",
            &pages,
            t(0),
            &mut m,
        );
        assert_eq!(only_x.value, Some(8.0));
    }

    #[test]
    fn counters_become_rates_across_resets_and_new_instances() {
        let mut m = Memory::default();
        let first = round(
            Reduction::Rate(Aggregate::Sum),
            "req_total",
            &[("a", "req_total 100\n")],
            t(0),
            &mut m,
        );
        assert_eq!(first.value, None, "one sample gives no rate");
        // a: +600 in 60s = 10/s; b is new: no rate yet.
        let second = round(
            Reduction::Rate(Aggregate::Sum),
            "req_total",
            &[("a", "req_total 700\n"), ("b", "req_total 50\n")],
            t(60),
            &mut m,
        );
        assert_eq!(second.value, Some(10.0));
        assert!(matches!(second.per_target["b"], TargetValue::Nothing(_)));
        // a restarted (700 -> 120: increase 120 = 2/s); b +300 = 5/s.
        let third = round(
            Reduction::Rate(Aggregate::Sum),
            "req_total",
            &[("a", "req_total 120\n"), ("b", "req_total 350\n")],
            t(120),
            &mut m,
        );
        assert_eq!(third.value, Some(7.0));
        assert_eq!(third.per_target["a"], TargetValue::Value(2.0));
    }

    #[test]
    fn a_counter_reading_nan_or_inf_says_so_instead_of_waiting_for_a_second_scrape() {
        let mut m = Memory::default();
        for (at, value) in [(0, "NaN"), (60, "+Inf"), (120, "NaN")] {
            let page = format!("req_total{{route=\"/\"}} {value}\nreq_total{{route=\"/a\"}} 5\n");
            let r = round(
                Reduction::Rate(Aggregate::Sum),
                "req_total",
                &[("a", page.as_str())],
                t(at),
                &mut m,
            );
            assert_eq!(r.value, None);
            let why = r.why.unwrap();
            assert!(
                why.contains(&format!(
                    "counter req_total{{route=\"/\"}} reads {}",
                    value.trim_start_matches('+').replace("Inf", "inf")
                )) && !why.contains("first scrape"),
                "{why}"
            );
        }
    }

    #[test]
    fn a_histogram_without_an_inf_bucket_says_so() {
        let mut m = Memory::default();
        let page = "lat_bucket{le=\"0.1\"} 1\nlat_bucket{le=\"1\"} 2\n";
        for at in [0, 60] {
            let r = round(
                Reduction::Quantile(0.9),
                "lat",
                &[("a", page)],
                t(at),
                &mut m,
            );
            assert_eq!(r.value, None);
            let why = r.why.unwrap();
            assert!(
                why.contains("histogram lat_bucket has no le=\"+Inf\" bucket"),
                "{why}"
            );
        }
    }

    #[test]
    fn a_target_that_missed_a_round_rates_over_the_whole_gap() {
        let mut m = Memory::default();
        let sel = Selector::parse("c_total").unwrap();
        let known: HashSet<&str> = ["a"].into();
        let page = parse("c_total 0\n").unwrap();
        reduce(
            Reduction::Rate(Aggregate::Sum),
            &sel,
            &[Page {
                target: "a",
                samples: &page,
            }],
            &known,
            t(0),
            &mut m,
        );
        // Round at t(60): a failed (no page), but it is still a known target.
        reduce(
            Reduction::Rate(Aggregate::Sum),
            &sel,
            &[],
            &known,
            t(60),
            &mut m,
        );
        let page = parse("c_total 240\n").unwrap();
        let r = reduce(
            Reduction::Rate(Aggregate::Sum),
            &sel,
            &[Page {
                target: "a",
                samples: &page,
            }],
            &known,
            t(120),
            &mut m,
        );
        assert_eq!(r.value, Some(2.0));
        // A target that left the list is forgotten.
        reduce(
            Reduction::Rate(Aggregate::Sum),
            &sel,
            &[],
            &HashSet::new(),
            t(180),
            &mut m,
        );
        assert!(m.counters.is_empty());
    }

    #[test]
    fn histogram_quantile_matches_promql() {
        // Classic example: 0.1:10, 0.5:30, 1:40, +Inf:50 -> p50: rank 25 in (0.1,0.5] = 0.1 + 0.4*15/20 = 0.4
        let mut b = vec![(0.1, 10.0), (0.5, 30.0), (1.0, 40.0), (f64::INFINITY, 50.0)];
        assert!((histogram_quantile(0.5, &mut b).unwrap() - 0.4).abs() < 1e-12);
        // Rank in the +Inf bucket: the highest finite bound.
        assert_eq!(histogram_quantile(0.99, &mut b), Some(1.0));
        // First bucket interpolates from 0.
        assert!((histogram_quantile(0.05, &mut b).unwrap() - 0.025).abs() < 1e-12);
        assert_eq!(
            histogram_quantile(0.5, &mut vec![(1.0, 3.0)]),
            None,
            "no +Inf bucket"
        );
        assert_eq!(
            histogram_quantile(0.5, &mut vec![(1.0, 0.0), (f64::INFINITY, 0.0)]),
            None
        );
        // Non-monotonic counts are made monotonic.
        let mut odd = vec![(1.0, 10.0), (2.0, 8.0), (f64::INFINITY, 10.0)];
        assert_eq!(histogram_quantile(0.5, &mut odd), Some(0.5));
    }

    #[test]
    fn quantile_from_bucket_increases_across_the_fleet() {
        let page = |c1: u32, c2: u32, c3: u32| {
            format!(
                "# TYPE lat histogram\nlat_bucket{{le=\"0.1\"}} {c1}\nlat_bucket{{le=\"0.5\"}} {c2}\nlat_bucket{{le=\"+Inf\"}} {c3}\nlat_sum 1\nlat_count {c3}\n"
            )
        };
        let mut m = Memory::default();
        let (a0, b0) = (page(1000, 1000, 1000), page(5, 5, 5));
        let r = round(
            Reduction::Quantile(0.5),
            "lat",
            &[("a", &a0), ("b", &b0)],
            t(0),
            &mut m,
        );
        assert_eq!(r.value, None);
        // Since last round: a got 10 fast requests; b restarted and has 10 slow ones.
        let (a1, b1) = (page(1010, 1010, 1010), page(0, 10, 10));
        let r = round(
            Reduction::Quantile(0.5),
            "lat_bucket",
            &[("a", &a1), ("b", &b1)],
            t(60),
            &mut m,
        );
        // Fleet: 0.1:10, 0.5:20, +Inf:20; rank 10 -> first bucket's top = 0.1.
        assert!((r.value.unwrap() - 0.1).abs() < 1e-12, "{r:?}");
        assert!(
            (match r.per_target["b"] {
                TargetValue::Value(v) => v,
                _ => 0.0,
            } - 0.3)
                .abs()
                < 1e-12
        );
    }
}
