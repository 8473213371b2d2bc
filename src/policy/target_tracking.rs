//! Target tracking: keep a metric near a target value, reactively.
//!
//! With `trend_lead`, a scale-out on a rising demand is sized for where the
//! demand's trend will be that far ahead: new instances serve only after they
//! boot, so a policy that sizes for the demand it sees now is short by the
//! growth until then, and asks again every minute of the rise. The trend is
//! the least-squares slope of the demand (in instances, from the smoothed
//! metric) over `trend_window`. Only a rise is extrapolated, and only when
//! the demand now is already above the tolerance band: the trend sizes a
//! scale-out, it does not start one.

use super::{Policy, PolicyInput, instances_for, within_tolerance};
use crate::decision::{PolicyKind, PolicyRecord, Recommendation};
use crate::policy_file::{MetricType, TargetTrackingSpec};
use chrono::{DateTime, Utc};
use std::collections::VecDeque;

/// Keeps `metric` near `target`.
#[derive(Debug, Clone)]
pub struct TargetTracking {
    spec: TargetTrackingSpec,
    /// How long one datapoint of the metric aggregates, from its timestamp.
    measured_over: std::time::Duration,
    /// Demand in instances at each evaluation within `trend_window`, oldest
    /// first (kept only when `trend_lead` is set).
    recent_demand: VecDeque<(DateTime<Utc>, f64)>,
    /// Instances in service within [`SERVING_LOG_SPAN`], oldest first: the
    /// evaluation at which each count was first seen, an entry only when
    /// the count changed (one per evaluation was 360 entries a target at a
    /// 10 s interval, most of a large fleet's memory after an hour).
    serving_log: VecDeque<(DateTime<Utc>, u32)>,
    /// The time of the metric's latest datapoint seen.
    latest_datapoint: Option<DateTime<Utc>>,
    /// The instances the value of this evaluation was taken as measured on
    /// (per-instance metrics), for its record.
    measured_on: Option<u32>,
    /// When replaying a record: the instances it says the value was
    /// measured on, which a replay has no serving history to look up.
    recorded_measured_on: Option<u32>,
}

/// The key of [`PolicyRecord::detail`] that holds the instances a
/// per-instance metric was taken as measured on.
pub const DETAIL_SERVING_WHEN_MEASURED: &str = "serving_when_measured";

/// How long the instances in service are remembered: far longer than any
/// publishing delay a metric fit to scale on can have.
const SERVING_LOG_SPAN: std::time::Duration = std::time::Duration::from_secs(3600);

impl TargetTracking {
    /// Tracks `spec`, whose metric's datapoints each aggregate
    /// `measured_over` from their timestamp (a CloudWatch period).
    pub fn new(spec: TargetTrackingSpec, measured_over: std::time::Duration) -> Self {
        TargetTracking {
            spec,
            measured_over,
            recent_demand: VecDeque::new(),
            serving_log: VecDeque::new(),
            latest_datapoint: None,
            measured_on: None,
            recorded_measured_on: None,
        }
    }

    /// How many instances were serving when the metric's latest datapoint
    /// was measured: a per-instance metric is published minutes late, and
    /// multiplying it by the instances serving now would count instances
    /// that came into service since as if they had been as busy, and scale
    /// out on a load already served. A datapoint is stamped with the start
    /// of the period it aggregates, and instances that came into service
    /// during that period carried part of it: the last count seen within it
    /// is taken, or a scale-out inside one period would be read as a load on
    /// the fewer instances before it and scaled in. Falls back to those
    /// serving now when nothing is known from then.
    fn serving_when_measured(&mut self, input: &PolicyInput<'_>) -> u32 {
        if let Some(recorded) = self.recorded_measured_on {
            return recorded;
        }
        let now = input.now;
        if let Some(latest) = input
            .fetched
            .get(&self.spec.metric)
            .and_then(|points| points.iter().map(|p| p.time).max())
        {
            self.latest_datapoint = self.latest_datapoint.max(Some(latest));
        }
        let cutoff = crate::clock::earlier(now, SERVING_LOG_SPAN);
        // A count is forgotten once the next one was first seen before the
        // cutoff: every evaluation that saw it is older than the span.
        while self.serving_log.get(1).is_some_and(|(t, _)| *t < cutoff) {
            self.serving_log.pop_front();
        }
        // Now first: a datapoint measured now (a scrape) is on those serving now.
        let serving = input.capacity.in_service;
        if self
            .serving_log
            .back()
            .is_none_or(|(t, count)| *t < now && *count != serving)
        {
            self.serving_log.push_back((now, serving));
        }
        let measured_over = self.measured_over;
        // The last count seen within the period (a count seen at its very
        // end served none of it); at its timestamp for an instant measure.
        // `t - period < start` rather than `t < start + period`: checked
        // arithmetic on a timestamp that came from outside.
        let within = |t: DateTime<Utc>, start: DateTime<Utc>| {
            if measured_over.is_zero() {
                t <= start
            } else {
                crate::clock::earlier(t, measured_over) < start
            }
        };
        self.latest_datapoint
            .and_then(|start| {
                self.serving_log
                    .iter()
                    .rev()
                    .find(|(t, _)| within(*t, start))
                    .map(|(_, serving)| *serving)
            })
            .unwrap_or(input.capacity.in_service)
    }

    /// Remembers `demand` at `now` and returns the growth its trend adds
    /// over `trend_lead`, in instances (zero unless it rises).
    fn extrapolated_growth(&mut self, now: DateTime<Utc>, demand: f64) -> f64 {
        if self.spec.trend_lead.is_zero() {
            return 0.0;
        }
        let cutoff = crate::clock::earlier(now, self.spec.trend_window);
        self.recent_demand.retain(|(t, _)| *t >= cutoff && *t < now);
        self.recent_demand.push_back((now, demand));
        let slope = slope_per_second(now, &self.recent_demand);
        (slope * self.spec.trend_lead.as_secs_f64()).max(0.0)
    }

    fn record(&self, recommendation: Recommendation, reason: String) -> PolicyRecord {
        PolicyRecord {
            name: self.spec.name.clone(),
            kind: PolicyKind::TargetTracking,
            recommendation,
            reason,
            detail: self
                .measured_on
                .map(|n| serde_json::json!({ DETAIL_SERVING_WHEN_MEASURED: n })),
            events: Vec::new(),
        }
    }
}

impl Policy for TargetTracking {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn take_recorded_inputs(&mut self, recorded: &PolicyRecord) {
        self.recorded_measured_on = recorded
            .detail
            .as_ref()
            .and_then(|d| d.get(DETAIL_SERVING_WHEN_MEASURED))
            .and_then(|n| n.as_u64())
            .and_then(|n| u32::try_from(n).ok());
    }

    fn recommend(&mut self, input: &PolicyInput<'_>) -> PolicyRecord {
        self.measured_on = None;
        let spec = &self.spec;
        let Some(value) = input.metrics.get(&spec.metric).copied().flatten() else {
            return self.record(
                Recommendation::MissingData,
                format!("metric `{}` is missing or stale", spec.metric),
            );
        };
        let serving = input.capacity.in_service;
        let current = input.capacity.desired;
        let (demand, basis) = match self.demand_now(input, value) {
            Ok(demand) => demand,
            Err(record) => return record,
        };
        let (demand, basis) = self.with_trend(input.now, serving, demand, basis);
        let spec = &self.spec;
        let ratio = if serving > 0 {
            demand / serving as f64
        } else {
            f64::INFINITY
        };
        if within_tolerance(ratio, spec.tolerance) {
            return self.record(
                Recommendation::Capacity(current),
                format!(
                    "{} {value:.2} within {:.0}% of target {}: keep {current}",
                    spec.metric,
                    spec.tolerance * 100.0,
                    spec.target
                ),
            );
        }
        let wanted = instances_for(demand);
        if spec.disable_scale_in && wanted < current {
            return self.record(
                Recommendation::Capacity(current),
                format!(
                    "{basis} = {demand:.2} instances, but scale-in is disabled: keep {current}"
                ),
            );
        }
        self.record(
            Recommendation::Capacity(wanted),
            format!(
                "{} {value:.2} vs target {}: {basis} = {demand:.2} -> {wanted}",
                spec.metric, spec.target
            ),
        )
    }
}

impl TargetTracking {
    /// Demand in instances at the target for the metric's `value` now, and
    /// how it was worked out (for the reason). A per-instance metric needs
    /// instances that served it: without any, the record of missing data.
    fn demand_now(
        &mut self,
        input: &PolicyInput<'_>,
        value: f64,
    ) -> Result<(f64, String), PolicyRecord> {
        let measured_on = self.serving_when_measured(input);
        let spec = &self.spec;
        match spec.metric_type {
            MetricType::Utilization | MetricType::LoadPerInstance => {
                if input.capacity.in_service == 0 || measured_on == 0 {
                    return Err(self.record(
                        Recommendation::MissingData,
                        format!("no instance in service to measure `{}` on", spec.metric),
                    ));
                }
                self.measured_on = Some(measured_on);
                let spec = &self.spec;
                let demand = measured_on as f64 * value / spec.target;
                Ok((
                    demand,
                    format!("{measured_on} serving x {value:.2}/{}", spec.target),
                ))
            }
            MetricType::LoadTotal => Ok((
                value / spec.target,
                format!("{value:.2}/{} per instance", spec.target),
            )),
        }
    }

    /// `demand` plus the growth the trend extrapolates over `trend_lead`,
    /// when the demand already calls for a scale-out; the trend does not
    /// start one on its own (a rise within the band is noise as often).
    fn with_trend(
        &mut self,
        now: DateTime<Utc>,
        serving: u32,
        demand: f64,
        basis: String,
    ) -> (f64, String) {
        let growth = self.extrapolated_growth(now, demand);
        let scaling_out = serving == 0 || {
            let ratio = demand / serving as f64;
            ratio > 1.0 && !within_tolerance(ratio, self.spec.tolerance)
        };
        if growth > 0.0 && scaling_out {
            (
                demand + growth,
                format!(
                    "{basis} = {demand:.2}, rising: +{growth:.2} over {}s",
                    self.spec.trend_lead.as_secs()
                ),
            )
        } else {
            (demand, basis)
        }
    }
}

/// The least-squares slope of `points` per second; zero with fewer than two
/// distinct times.
fn slope_per_second(now: DateTime<Utc>, points: &VecDeque<(DateTime<Utc>, f64)>) -> f64 {
    let n = points.len() as f64;
    if points.len() < 2 {
        return 0.0;
    }
    let xs = points
        .iter()
        .map(|(t, _)| (*t - now).num_milliseconds() as f64 / 1000.0);
    let mean_x = xs.clone().sum::<f64>() / n;
    let mean_y = points.iter().map(|(_, y)| y).sum::<f64>() / n;
    let (mut covariance, mut variance) = (0.0, 0.0);
    for (x, (_, y)) in xs.zip(points) {
        covariance += (x - mean_x) * (y - mean_y);
        variance += (x - mean_x) * (x - mean_x);
    }
    if variance > 0.0 {
        covariance / variance
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::ObservedCapacity;
    use chrono::DateTime;
    use std::collections::BTreeMap;

    /// A policy on a metric of one-minute periods.
    fn minutely(spec: TargetTrackingSpec) -> TargetTracking {
        TargetTracking::new(spec, std::time::Duration::from_secs(60))
    }

    fn tracking(metric_type: MetricType, target: f64) -> TargetTracking {
        minutely(TargetTrackingSpec {
            name: "tt".into(),
            metric: "m".into(),
            target,
            metric_type,
            tolerance: 0.1,
            disable_scale_in: false,
            trend_lead: std::time::Duration::ZERO,
            trend_window: std::time::Duration::from_secs(300),
        })
    }

    /// What the policy recommends with `value` for its metric, `desired`
    /// instances of which `in_service` are serving.
    fn recommend(
        policy: &mut TargetTracking,
        value: Option<f64>,
        desired: u32,
        in_service: u32,
    ) -> PolicyRecord {
        evaluate(policy, at(0), value, (desired, in_service), Vec::new())
    }

    /// One evaluation at `now`, with the metric's smoothed `value` and the
    /// datapoints fetched this tick.
    fn evaluate(
        policy: &mut TargetTracking,
        now: DateTime<Utc>,
        value: Option<f64>,
        (desired, in_service): (u32, u32),
        points: Vec<crate::series::Datapoint>,
    ) -> PolicyRecord {
        let metrics = BTreeMap::from([("m".to_string(), value)]);
        let fetched = BTreeMap::from([("m".to_string(), points)]);
        policy.recommend(&PolicyInput {
            now,
            capacity: ObservedCapacity {
                desired,
                in_service,
                warming: desired.saturating_sub(in_service),
            },
            metrics: &metrics,
            fetched: &fetched,
        })
    }

    fn capacity(record: &PolicyRecord) -> Recommendation {
        record.recommendation
    }

    fn advice(
        policy: &mut TargetTracking,
        value: Option<f64>,
        desired: u32,
        in_service: u32,
    ) -> Recommendation {
        recommend(policy, value, desired, in_service).recommendation
    }

    #[test]
    fn utilization_scales_capacity_by_value_over_target() {
        let mut p = tracking(MetricType::Utilization, 50.0);
        let r = recommend(&mut p, Some(75.0), 4, 4);
        assert_eq!(capacity(&r), Recommendation::Capacity(6));
        assert!(
            r.reason.contains("4 serving x 75.00/50 = 6.00 -> 6"),
            "{}",
            r.reason
        );
        // Partial instances round up.
        assert_eq!(
            advice(&mut p, Some(70.0), 4, 4),
            Recommendation::Capacity(6)
        );
        assert_eq!(
            advice(&mut p, Some(20.0), 4, 4),
            Recommendation::Capacity(2)
        );
    }

    #[test]
    fn inside_the_tolerance_band_it_keeps_the_current_capacity() {
        let mut p = tracking(MetricType::Utilization, 50.0);
        for value in [45.0, 50.0, 54.0, 55.0] {
            let r = recommend(&mut p, Some(value), 4, 4);
            assert_eq!(capacity(&r), Recommendation::Capacity(4), "{value}");
            assert!(r.reason.contains("within 10% of target 50"), "{}", r.reason);
        }
        // Just outside the band on either side.
        assert_eq!(
            advice(&mut p, Some(55.5), 4, 4),
            Recommendation::Capacity(5)
        );
        assert_eq!(
            advice(&mut p, Some(44.5), 4, 4),
            Recommendation::Capacity(4)
        );
        assert_eq!(
            advice(&mut p, Some(30.0), 10, 10),
            Recommendation::Capacity(6)
        );
    }

    #[test]
    fn the_band_is_set_by_tolerance() {
        let mut p = minutely(TargetTrackingSpec {
            tolerance: 0.0,
            ..tracking(MetricType::Utilization, 50.0).spec
        });
        assert_eq!(
            advice(&mut p, Some(52.0), 10, 10),
            Recommendation::Capacity(11)
        );
        let mut p = minutely(TargetTrackingSpec {
            tolerance: 0.5,
            ..tracking(MetricType::Utilization, 50.0).spec
        });
        assert_eq!(
            advice(&mut p, Some(74.0), 10, 10),
            Recommendation::Capacity(10)
        );
    }

    #[test]
    fn load_per_instance_divides_the_total_load_by_the_target() {
        // 4 serving instances at 150 requests each = 600; 100 per instance wanted.
        let mut p = tracking(MetricType::LoadPerInstance, 100.0);
        assert_eq!(
            advice(&mut p, Some(150.0), 4, 4),
            Recommendation::Capacity(6)
        );
    }

    #[test]
    fn load_total_needs_no_serving_instance() {
        let mut p = tracking(MetricType::LoadTotal, 100.0);
        assert_eq!(
            advice(&mut p, Some(1000.0), 4, 4),
            Recommendation::Capacity(10)
        );
        // A group at zero still gets a recommendation from the total load.
        assert_eq!(
            advice(&mut p, Some(250.0), 0, 0),
            Recommendation::Capacity(3)
        );
        assert_eq!(advice(&mut p, Some(0.0), 3, 3), Recommendation::Capacity(0));
    }

    #[test]
    fn only_serving_instances_count() {
        // 6 desired, 2 of them still warming: the 4 serving run at 75%.
        let mut p = tracking(MetricType::Utilization, 50.0);
        let r = recommend(&mut p, Some(75.0), 6, 4);
        assert_eq!(capacity(&r), Recommendation::Capacity(6));
        assert!(r.reason.contains("4 serving"), "{}", r.reason);
    }

    #[test]
    fn a_per_instance_metric_without_serving_instances_is_missing_data() {
        for metric_type in [MetricType::Utilization, MetricType::LoadPerInstance] {
            let mut p = tracking(metric_type, 50.0);
            let r = recommend(&mut p, Some(75.0), 2, 0);
            assert_eq!(capacity(&r), Recommendation::MissingData);
            assert!(r.reason.contains("no instance in service"), "{}", r.reason);
        }
    }

    #[test]
    fn a_missing_or_stale_metric_is_missing_data() {
        let mut p = tracking(MetricType::Utilization, 50.0);
        let r = recommend(&mut p, None, 4, 4);
        assert_eq!(capacity(&r), Recommendation::MissingData);
        assert!(r.reason.contains("`m` is missing or stale"), "{}", r.reason);
    }

    #[test]
    fn disable_scale_in_keeps_capacity_but_still_scales_out() {
        let mut p = minutely(TargetTrackingSpec {
            disable_scale_in: true,
            ..tracking(MetricType::Utilization, 50.0).spec
        });
        let r = recommend(&mut p, Some(10.0), 8, 8);
        assert_eq!(capacity(&r), Recommendation::Capacity(8));
        assert!(r.reason.contains("scale-in is disabled"), "{}", r.reason);
        assert_eq!(
            advice(&mut p, Some(100.0), 8, 8),
            Recommendation::Capacity(16)
        );
    }

    fn at(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + 60 * minute, 0).unwrap()
    }

    /// What the policy recommends at `minute` with `value`, `desired`
    /// instances of which `in_service` serve, and the metric's datapoints
    /// fetched this tick stamped at `measured` (a minute).
    fn recommend_at(
        policy: &mut TargetTracking,
        minute: i64,
        value: f64,
        (desired, in_service): (u32, u32),
        measured: Option<i64>,
    ) -> PolicyRecord {
        let points = measured
            .map(|m| vec![crate::series::Datapoint { time: at(m), value }])
            .unwrap_or_default();
        evaluate(
            policy,
            at(minute),
            Some(value),
            (desired, in_service),
            points,
        )
    }

    fn trending(lead_s: u64, window_s: u64) -> TargetTracking {
        minutely(TargetTrackingSpec {
            trend_lead: std::time::Duration::from_secs(lead_s),
            trend_window: std::time::Duration::from_secs(window_s),
            ..tracking(MetricType::LoadTotal, 100.0).spec
        })
    }

    /// The record of the last of one evaluation a minute with these loads.
    fn replay(p: &mut TargetTracking, loads: &[(i64, f64)], capacity: (u32, u32)) -> PolicyRecord {
        let mut last = None;
        for &(minute, load) in loads {
            last = Some(recommend_at(p, minute, load, capacity, None));
        }
        last.expect("at least one load")
    }

    #[test]
    fn a_rising_ramp_provisions_ahead_by_the_extrapolated_growth() {
        // +100 a minute at 100 per instance: one instance a minute; five
        // minutes ahead is five more than the demand now.
        let ramp = [(0, 1000.0), (1, 1100.0), (2, 1200.0), (3, 1300.0)];
        let last = replay(&mut trending(300, 300), &ramp, (10, 10));
        assert_eq!(last.recommendation, Recommendation::Capacity(18));
        assert!(
            last.reason.contains("rising: +5.00 over 300s"),
            "{}",
            last.reason
        );
        // Without a lead, the demand now.
        let last = replay(&mut trending(0, 300), &ramp, (10, 10));
        assert_eq!(last.recommendation, Recommendation::Capacity(13));
    }

    #[test]
    fn a_rise_within_the_tolerance_band_starts_no_scale_out() {
        // Rising 50 a minute, but 13 serving carry it within 10% of target.
        let mut p = trending(300, 300);
        let rise = [(0, 1150.0), (1, 1200.0), (2, 1250.0), (3, 1300.0)];
        let last = replay(&mut p, &rise, (13, 13));
        assert_eq!(last.recommendation, Recommendation::Capacity(13));
        // Past the band, the trend sizes the scale-out beyond the 15 now.
        let r = recommend_at(&mut p, 4, 1500.0, (13, 13), None);
        assert!(r.reason.contains("rising"), "{}", r.reason);
        assert!(
            matches!(r.recommendation, Recommendation::Capacity(c) if c > 15),
            "{r:?}"
        );
    }

    #[test]
    fn a_falling_demand_is_not_extrapolated() {
        let fall = [(0, 1300.0), (1, 1200.0), (2, 1100.0), (3, 1000.0)];
        let last = replay(&mut trending(300, 300), &fall, (13, 13));
        assert_eq!(last.recommendation, Recommendation::Capacity(10));
    }

    #[test]
    fn the_trend_forgets_what_left_its_window() {
        // A jump 10 minutes ago, flat since: no trend in a 3-minute window.
        let mut loads = vec![(0, 500.0)];
        loads.extend((1..=10).map(|minute| (minute, 1000.0)));
        let last = replay(&mut trending(300, 180), &loads, (10, 10));
        assert_eq!(last.recommendation, Recommendation::Capacity(10));
    }

    #[test]
    fn utilization_is_multiplied_by_the_instances_serving_when_it_was_measured() {
        let mut p = tracking(MetricType::Utilization, 50.0);
        // Minute 0: 4 serving, at 100% CPU: 8 wanted, 4 launched.
        assert_eq!(
            recommend_at(&mut p, 0, 100.0, (4, 4), Some(-3)).recommendation,
            Recommendation::Capacity(8)
        );
        for minute in 1..5 {
            recommend_at(&mut p, minute, 100.0, (8, 4), Some(minute - 3));
        }
        // Minute 5: the 4 new ones serve, but the latest datapoint (minute 2,
        // CPU 120% of target) was measured on the 4 of then: 10, not 20.
        let r = recommend_at(&mut p, 5, 60.0, (8, 8), Some(2));
        assert_eq!(r.recommendation, Recommendation::Capacity(5));
        let r = recommend_at(&mut p, 5, 120.0, (8, 8), Some(2));
        assert_eq!(r.recommendation, Recommendation::Capacity(10));
        assert!(r.reason.contains("4 serving x 120.00/50"), "{}", r.reason);
        // Once a datapoint measured on all 8 arrives, they count.
        for minute in 6..9 {
            recommend_at(&mut p, minute, 50.0, (8, 8), Some(minute - 3));
        }
        let r = recommend_at(&mut p, 9, 75.0, (8, 8), Some(6));
        assert_eq!(r.recommendation, Recommendation::Capacity(12));
    }

    #[test]
    fn instances_that_came_into_service_within_the_period_count() {
        let mut p = tracking(MetricType::Utilization, 50.0);
        let second = |s: i64| at(0) + chrono::Duration::seconds(s);
        let point = |s: i64, value: f64| {
            vec![crate::series::Datapoint {
                time: second(s),
                value,
            }]
        };
        // 2 serving at second 0, 6 from second 20 (a scale-out and an outside
        // change inside the minute that starts at 0).
        evaluate(&mut p, second(0), Some(90.0), (2, 2), Vec::new());
        evaluate(&mut p, second(10), Some(90.0), (4, 4), Vec::new());
        evaluate(&mut p, second(20), Some(90.0), (6, 6), Vec::new());
        // The minute from 0 averaged 20%, published at second 70: carried
        // by the 6 serving last within it (6 x 20 / 50 = 2.4 -> 3), not by the 2
        // at its start (-> 1).
        let r = evaluate(&mut p, second(70), Some(20.0), (6, 6), point(0, 20.0));
        assert_eq!(
            r.recommendation,
            Recommendation::Capacity(3),
            "{}",
            r.reason
        );
        assert!(r.reason.contains("6 serving x 20.00/50"), "{}", r.reason);
        // A scrape measures at its timestamp: the 2 of second 0.
        let mut scraped = TargetTracking::new(p.spec.clone(), std::time::Duration::ZERO);
        evaluate(&mut scraped, second(0), Some(90.0), (2, 2), Vec::new());
        evaluate(&mut scraped, second(20), Some(90.0), (6, 6), Vec::new());
        let r = evaluate(&mut scraped, second(30), Some(20.0), (6, 6), point(0, 20.0));
        assert!(r.reason.contains("2 serving x 20.00/50"), "{}", r.reason);
    }

    #[test]
    fn the_serving_log_keeps_changes_only_and_forgets_them_after_its_span() {
        let mut p = tracking(MetricType::Utilization, 50.0);
        // Two hours at a 10 s interval with 4 serving: one entry, not 720.
        for tick in 0..720 {
            recommend_at_second(&mut p, tick * 10, (4, 4), None);
        }
        assert_eq!(p.serving_log.len(), 1);
        // 8 serve from then on: the 4 of before still answer for a
        // datapoint measured before the change...
        recommend_at_second(&mut p, 7200, (8, 8), None);
        assert_eq!(p.serving_log.len(), 2);
        let r = recommend_at_second(&mut p, 7210, (8, 8), Some(7080));
        assert!(r.reason.contains("4 serving x 150.00/50"), "{}", r.reason);
        // ...until the 8 have served for longer than the span: the 4 are
        // forgotten.
        recommend_at_second(&mut p, 7200 + 3601, (8, 8), None);
        assert_eq!(p.serving_log.len(), 1);
    }

    /// [`recommend_at`] at a second rather than a minute, the datapoint (if
    /// any) measured at `measured` seconds at 3 times the target.
    fn recommend_at_second(
        policy: &mut TargetTracking,
        second: i64,
        (desired, in_service): (u32, u32),
        measured: Option<i64>,
    ) -> PolicyRecord {
        let time = |s: i64| at(0) + chrono::Duration::seconds(s);
        let points = measured
            .map(|s| {
                vec![crate::series::Datapoint {
                    time: time(s),
                    value: 150.0,
                }]
            })
            .unwrap_or_default();
        evaluate(
            policy,
            time(second),
            Some(150.0),
            (desired, in_service),
            points,
        )
    }

    #[test]
    fn float_noise_does_not_add_an_instance() {
        // 1 x 2.1 / 0.3 is 7.000000000000001 in floating point.
        let mut p = tracking(MetricType::Utilization, 0.3);
        assert_eq!(advice(&mut p, Some(2.1), 1, 1), Recommendation::Capacity(7));
    }
}
