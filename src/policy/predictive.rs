//! Predictive scaling: forecast a load metric and recommend the capacity the
//! forecast load needs one lead time ahead, so instances launched now are in
//! service when the load arrives.
//!
//! The policy keeps the metric's history (fetched once for the whole window,
//! then incrementally), chooses a model by rolling-origin backtest once a
//! day, refits it as history comes in, and provisions for a quantile of the
//! forecast. With too little or gappy history it abstains (no opinion) and
//! says why; the other policies then decide alone. Everything it computed
//! goes in the record's `detail`.

use super::{HistoryRequest, Policy, PolicyInput, history_key, instances_for, within_tolerance};
use crate::decision::{Event, PolicyKind, PolicyRecord, Recommendation};
use crate::forecast::backtest::{
    BacktestConfig, ModelScore, backtest, choose_or_yesterday, not_scored,
};
use crate::forecast::candidate::Candidate;
use crate::forecast::history::{LoadHistory, RegularSeries};
use crate::forecast::memo::{ChoiceKey, FitKey, ForecastMemo, SeriesKey, seasons_key};
use crate::forecast::report::INTERVAL_LEVEL;
use crate::forecast::{Fitted, Forecast, ModelKind, Seasons};
use crate::policy_file::{
    MaxCapacityBehavior, MetricSpec, PolicyFile, PredictiveMode, PredictiveSpec,
};
use crate::series::Datapoint;
use crate::signal::to_chrono;
use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use std::collections::BTreeMap;
use std::sync::Arc;

/// How often the model is chosen again by backtest.
const RECHOOSE_EVERY: Duration = Duration::days(1);
/// How often the chosen model's parameters are estimated again on the
/// history; between refits the fit takes each new point in through its
/// state equations ([`Fitted::update`], O(1) a point). Fitting is the costly
/// part: refitting every 15 minutes made a 4-week replay take a minute.
const REFIT_EVERY: Duration = Duration::days(1);
/// A fit whose one-step errors drift above its own error spread is refitted
/// early, but not sooner than this after the last fit.
const DRIFT_REFIT_AFTER: Duration = Duration::hours(1);
/// A history that has not grown for longer than this is refetched over the
/// whole window at the long-window period.
const REFETCH_AFTER: Duration = Duration::hours(1);
/// The long window is fetched at least this coarse (CloudWatch keeps 1-minute
/// data 15 days; 5-minute periods also make 14 days 5x fewer datapoints).
const LONG_WINDOW_PERIOD_SECS: u64 = 300;

struct Choice {
    model: Candidate,
    at: DateTime<Utc>,
    scores: Vec<ModelScore>,
    /// Why this candidate: the best, kept within the switching margin, or
    /// switched to over it.
    why: String,
}

struct Fit {
    model: Candidate,
    /// End of the series the parameters were estimated on.
    fitted_until: DateTime<Utc>,
    /// End of the series taken in (fitted, then updated): the forecast starts here.
    end: DateTime<Utc>,
    fitted: Box<dyn Fitted>,
    drift: Drift,
}

/// Watches a fit's one-step errors against its own error spread: a
/// moving mean of (error / sigma)^2, about 1 while the fit describes the
/// load, growing when the load has moved away from it.
#[derive(Debug, Clone, Copy, Default)]
struct Drift {
    mean_square: f64,
    points: usize,
}

impl Drift {
    /// Points the moving mean spans (its weight halves in about 0.7 of it).
    const SPAN: usize = 12;
    /// Errors at twice the fitted spread (root mean square) over the span.
    const LIMIT: f64 = 4.0;

    fn observe(&mut self, value: f64, forecast: &Forecast) {
        let (mean, sigma) = (forecast.mean[0], forecast.sigma[0]);
        let ratio = if sigma > 0.0 {
            ((value - mean) / sigma).powi(2)
        } else if value == mean {
            0.0
        } else {
            f64::INFINITY
        };
        let weight = 1.0 / Self::SPAN as f64;
        self.mean_square = if self.points == 0 {
            ratio
        } else {
            (1.0 - weight) * self.mean_square + weight * ratio
        };
        self.points += 1;
    }

    fn drifting(&self) -> bool {
        // A NaN (a forecast gone bad) counts as drifting.
        self.points >= Self::SPAN && (self.mean_square > Self::LIMIT || self.mean_square.is_nan())
    }
}

/// A predictive policy and the history it keeps.
pub struct Predictive {
    spec: PredictiveSpec,
    lead: Duration,
    max_capacity: u32,
    seasons: Seasons,
    history: LoadHistory,
    /// The spec of the long-window request and the factor that brings its
    /// values to the metric's own period, when the metric has a finer period.
    long_window: Option<(MetricSpec, f64)>,
    choice: Option<Choice>,
    /// The last candidate chosen by backtest, kept across re-choices (and
    /// abstentions) for the switching margin.
    incumbent: Option<Candidate>,
    fit: Option<Fit>,
    raised_max: Option<u32>,
    /// Model choices and fits shared with other replays of the same history.
    forecasts: Option<Arc<ForecastMemo>>,
    /// The last series built from the history, by the history's bucket
    /// marks: the series holds only complete buckets, which do not change
    /// once a newer one starts, so it is rebuilt once a step rather than
    /// at every evaluation (a tenth of a replay's time).
    series: Option<BuiltSeries>,
}

/// A series built from the history, and the history's bucket marks then.
struct BuiltSeries {
    marks: (usize, Option<i64>),
    series: Option<Arc<RegularSeries>>,
}

/// The instances a load needs, unrounded: load / per instance x (1 + buffer%).
fn demand_for(load: f64, target_per_instance: f64, buffer_percent: f64) -> f64 {
    load / target_per_instance * (1.0 + buffer_percent / 100.0)
}

/// The capacity a load quantile needs: ceil(load / per instance x (1 + buffer%)).
pub fn capacity_for(load: f64, target_per_instance: f64, buffer_percent: f64) -> u32 {
    instances_for(demand_for(load, target_per_instance, buffer_percent))
}

/// Why a forecast cannot be acted on, when it cannot: its mean, quantile or
/// interval is not a finite number, or (at a quantile at or above the median)
/// it needs fewer instances than its own mean does. A history holding an
/// absurd value (1e155) breaks a fit that way: p50 0, interval `0 .. inf`,
/// capacity 0 while the mean is 500.
pub fn unusable_forecast(
    spec: &PredictiveSpec,
    mean: f64,
    quantile: f64,
    (lower, upper): (f64, f64),
) -> Option<String> {
    if ![mean, quantile, lower, upper].iter().all(|v| v.is_finite()) {
        return Some(format!(
            "the forecast is not finite (mean {mean}, p{:.0} {quantile}, interval {lower} .. {upper}): the history holds values the model cannot fit",
            spec.quantile * 100.0
        ));
    }
    let for_mean = capacity_for(mean, spec.target_per_instance, spec.buffer_percent);
    let for_quantile = capacity_for(quantile, spec.target_per_instance, spec.buffer_percent);
    if spec.quantile >= 0.5 && for_quantile < for_mean {
        return Some(format!(
            "the forecast's p{:.0} {quantile:.2} needs {for_quantile} instances, fewer than its mean {mean:.2} needs ({for_mean}): the fit is broken",
            spec.quantile * 100.0
        ));
    }
    None
}

/// Where a forecast capacity stands against max capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AboveMax {
    Within,
    /// Above max: the policy recommends max.
    Capped,
    /// Above max: the policy asks max raised to this.
    Raised(u32),
}

/// The max capacity AWS's `IncreaseMaxCapacity` would allow: the forecast
/// capacity plus `buffer_percent` of it.
pub fn raised_max_for(capacity: u32, buffer_percent: f64) -> u32 {
    capacity_for(f64::from(capacity), 1.0, buffer_percent)
}

impl Predictive {
    /// The policy `spec` describes, in the validated policy file `file`.
    pub fn new(spec: PredictiveSpec, file: &PolicyFile) -> Predictive {
        let lead = spec
            .lead
            .map(to_chrono)
            .unwrap_or_else(|| to_chrono(file.governor.warmup) + to_chrono(file.target.interval));
        let step_secs = spec.history_step.as_secs();
        let seasons = spec.history_step.seasons();
        let history = LoadHistory::new(step_secs as i64, spec.history.as_secs() as i64);
        let long_window = file
            .metrics
            .get(&spec.metric)
            .and_then(|m| long_window_spec(m));
        Predictive {
            spec,
            lead,
            max_capacity: file.target.max_capacity,
            seasons,
            history,
            long_window,
            choice: None,
            incumbent: None,
            fit: None,
            raised_max: None,
            forecasts: None,
            series: None,
        }
    }

    /// How far ahead capacity is provisioned: the spec's `lead`, or the governor's warm-up plus the
    /// target's interval.
    pub fn lead(&self) -> Duration {
        self.lead
    }

    /// Takes the metric's datapoints (and the long-window ones, brought to
    /// the metric's own period) into the history; returns notes on rejected ones.
    pub fn ingest(
        &mut self,
        now: DateTime<Utc>,
        fetched: &BTreeMap<String, Vec<Datapoint>>,
    ) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(points) = fetched.get(&history_key(&self.spec.metric)) {
            let scale = self.long_window.as_ref().map_or(1.0, |(_, s)| *s);
            notes.extend(self.history.ingest(now, points, scale));
        }
        if let Some(points) = fetched.get(&self.spec.metric) {
            notes.extend(self.history.ingest(now, points, 1.0));
        }
        notes
    }

    fn record(
        &self,
        recommendation: Recommendation,
        reason: String,
        detail: serde_json::Value,
    ) -> PolicyRecord {
        PolicyRecord {
            name: self.spec.name.clone(),
            kind: PolicyKind::Predictive,
            recommendation,
            reason,
            detail: Some(detail),
            events: Vec::new(),
        }
    }

    /// What the policy does with a forecast `capacity` above max capacity:
    /// raise max for it (`max_capacity_behavior = "increase"`) or cap at max.
    fn above_max(
        &mut self,
        capacity: u32,
        reason: &mut String,
        detail: &mut serde_json::Value,
    ) -> AboveMax {
        if capacity <= self.max_capacity {
            return AboveMax::Within;
        }
        match (
            self.spec.max_capacity_behavior,
            self.spec.max_capacity_buffer,
        ) {
            (MaxCapacityBehavior::Increase, Some(buffer)) => {
                let raised = raised_max_for(capacity, buffer);
                reason.push_str(&format!(
                    ", above max {}: max raised to {raised}",
                    self.max_capacity
                ));
                detail["raised_max_capacity"] = json!(raised);
                if self.spec.mode == PredictiveMode::ForecastAndScale {
                    self.raised_max = Some(raised);
                }
                AboveMax::Raised(raised)
            }
            _ => {
                reason.push_str(&format!(", capped at max {}", self.max_capacity));
                AboveMax::Capped
            }
        }
    }

    fn abstain(&self, why: String, detail: serde_json::Value) -> PolicyRecord {
        self.record(
            Recommendation::NoOpinion,
            format!("abstains: {why}"),
            detail,
        )
    }

    fn step(&self) -> Duration {
        Duration::seconds(self.history.step_secs())
    }

    /// Picks the model: the configured one, or the best by backtest at the
    /// lead time, chosen again once a day.
    fn choose(&mut self, now: DateTime<Utc>, series: &RegularSeries) -> Result<Candidate, String> {
        if let Some(model) = self.spec.model {
            return Ok(Candidate::Model(model));
        }
        if let Some(choice) = &self.choice
            && now - choice.at < RECHOOSE_EVERY
        {
            return Ok(choice.model.clone());
        }
        let horizon = self.horizon_steps(series.end(), now);
        let (seasons, incumbent) = (self.seasons, self.incumbent.clone());
        let choose = || choose_by_backtest(series, seasons, horizon, incumbent.as_ref());
        let (scores, model, why) = match &self.forecasts {
            Some(memo) => {
                let key = ChoiceKey {
                    series: SeriesKey::of(series),
                    seasons: seasons_key(seasons),
                    horizon,
                    incumbent: incumbent.clone(),
                };
                memo.choice(key, choose)?
            }
            None => choose()?,
        };
        self.incumbent = Some(model.clone());
        self.choice = Some(Choice {
            model: model.clone(),
            at: now,
            scores,
            why,
        });
        self.fit = None;
        Ok(model)
    }

    /// Steps from the end of the history to the step holding now + lead, plus one.
    fn horizon_steps(&self, end: DateTime<Utc>, now: DateTime<Utc>) -> usize {
        let ahead = (now + self.lead - end).num_seconds().max(0);
        (ahead / self.history.step_secs()) as usize + 1
    }

    /// Brings the fit of `model` up to the end of `series`: the new points
    /// go through its state equations, and its parameters are estimated
    /// again when it is a day old, drifting, or does not continue into
    /// this history (none yet, another model, a gap). Returns why it refitted.
    fn keep_fit_current(
        &mut self,
        model: &Candidate,
        series: &RegularSeries,
    ) -> Result<Option<&'static str>, String> {
        let end = series.end();
        let refit_why = match &mut self.fit {
            None => Some("no fit yet"),
            Some(fit) if &fit.model != model => Some("model chosen again"),
            Some(fit) if end < fit.end || series.start >= fit.end => {
                Some("the history does not continue the fitted one")
            }
            Some(fit) => {
                let new = ((end - fit.end).num_seconds() / series.step_secs) as usize;
                let mut failed = false;
                for &value in &series.values[series.values.len() - new..] {
                    fit.drift.observe(value, &fit.fitted.forecast(1));
                    if fit.fitted.update(value).is_err() {
                        failed = true;
                        break;
                    }
                }
                fit.end = end;
                if failed {
                    Some("a new point broke the fitted state")
                } else if end - fit.fitted_until >= REFIT_EVERY {
                    Some("a day since the last fit")
                } else if fit.drift.drifting() && end - fit.fitted_until >= DRIFT_REFIT_AFTER {
                    Some("one-step errors drifted above the fit's spread")
                } else {
                    None
                }
            }
        };
        if refit_why.is_some() {
            let seasons = self.seasons;
            let fit = || {
                model
                    .fit(&series.values, seasons)
                    .map_err(|e| e.to_string())
            };
            let fitted = match &self.forecasts {
                Some(memo) => {
                    let key = FitKey {
                        series: SeriesKey::of(series),
                        seasons: seasons_key(seasons),
                        model: model.clone(),
                    };
                    memo.fit(key, fit)
                }
                None => fit(),
            };
            match fitted {
                Ok(fitted) => {
                    self.fit = Some(Fit {
                        model: model.clone(),
                        fitted_until: end,
                        end,
                        fitted,
                        drift: Drift::default(),
                    })
                }
                Err(e) => {
                    // Let the next tick choose again rather than retry a failing model.
                    self.choice = None;
                    self.fit = None;
                    return Err(format!("{model} could not fit: {e}"));
                }
            }
        }
        Ok(refit_why)
    }

    /// The history's usable series, built again only when a bucket starts
    /// or ages out.
    fn current_series(&mut self) -> Option<Arc<RegularSeries>> {
        let marks = self.history.bucket_marks();
        match &self.series {
            Some(built) if built.marks == marks => built.series.clone(),
            _ => {
                let series = self.history.series().map(Arc::new);
                self.series = Some(BuiltSeries {
                    marks,
                    series: series.clone(),
                });
                series
            }
        }
    }

    fn history_detail(&self, series: Option<&RegularSeries>) -> serde_json::Value {
        match series {
            None => json!({ "points": 0 }),
            Some(s) => json!({
                "points": s.values.len(),
                "start": s.start,
                "end": s.end(),
                "step_s": s.step_secs,
                "filled": s.filled,
                "gap": s.gap.map(|(from, to)| json!({ "from": from, "to": to })),
            }),
        }
    }
}

/// The model the backtest at `horizon` chooses for `series`: its scores, the
/// model and why. The incumbent is scored even when its members no longer
/// rank first, so the switching margin can keep it.
fn choose_by_backtest(
    series: &RegularSeries,
    seasons: Seasons,
    horizon: usize,
    incumbent: Option<&Candidate>,
) -> Result<(Vec<ModelScore>, Candidate, String), String> {
    let config = BacktestConfig::lead(seasons, horizon);
    let extra: Vec<Candidate> = incumbent.into_iter().cloned().collect();
    let scores = backtest(&series.values, seasons, &ModelKind::ALL, &extra, &config)
        .pop()
        .map_or_else(Vec::new, |h| h.scores);
    let Some(chosen) = choose_or_yesterday(&scores, incumbent, series.values.len(), seasons) else {
        let why = not_scored(&scores);
        return Err(format!("no model could be backtested ({})", why.join("; ")));
    };
    Ok((scores, chosen.candidate, chosen.why))
}

/// The long-window request: the metric at a 5-minute period when it is a
/// plain CloudWatch stat with a finer one. Sum and SampleCount grow with the
/// period, so their values are scaled back to the metric's own period.
fn long_window_spec(metric: &MetricSpec) -> Option<(MetricSpec, f64)> {
    let cw = metric.source.cloudwatch()?;
    if cw.statistic().is_none() || cw.period.as_secs() >= LONG_WINDOW_PERIOD_SECS {
        return None;
    }
    let scale = match cw.statistic().map(|s| s.as_str()) {
        Some("Sum" | "SampleCount") => cw.period.as_secs() as f64 / LONG_WINDOW_PERIOD_SECS as f64,
        _ => 1.0,
    };
    let mut spec = metric.clone();
    let crate::policy_file::MetricSourceSpec::Cloudwatch(cw) = &mut spec.source else {
        return None; // checked above: a CloudWatch metric
    };
    cw.period = std::time::Duration::from_secs(LONG_WINDOW_PERIOD_SECS);
    cw.delay_periods = cw.delay_periods.min(1);
    Some((spec, scale))
}

impl Policy for Predictive {
    fn name(&self) -> &str {
        &self.spec.name
    }

    fn history_request(&self, now: DateTime<Utc>) -> Option<HistoryRequest> {
        let window_start = crate::clock::earlier(now, self.spec.history);
        let since = self
            .history
            .latest()
            .map_or(window_start, |l| l.max(window_start));
        let long_window = if now - since > REFETCH_AFTER {
            self.long_window.as_ref().map(|(spec, _)| spec.clone())
        } else {
            None
        };
        Some(HistoryRequest {
            metric: self.spec.metric.clone(),
            since,
            long_window,
        })
    }

    fn raised_max_capacity(&self) -> Option<u32> {
        self.raised_max
    }

    fn history(&self) -> Option<&LoadHistory> {
        Some(&self.history)
    }

    fn share_forecasts(&mut self, memo: &Arc<ForecastMemo>) {
        self.forecasts = Some(memo.clone());
    }

    fn restore_history(&mut self, history: LoadHistory) -> Result<(), String> {
        if history.step_secs() != self.history.step_secs() {
            return Err(format!(
                "saved history is at a {}s step, the policy uses {}s",
                history.step_secs(),
                self.history.step_secs()
            ));
        }
        self.history = history.with_window(self.spec.history.as_secs() as i64);
        self.series = None;
        self.choice = None;
        self.fit = None;
        Ok(())
    }

    fn recommend(&mut self, input: &PolicyInput<'_>) -> PolicyRecord {
        self.raised_max = None;
        let now = input.now;
        let notes = self.ingest(now, input.fetched);
        let series = self.current_series();
        let mut detail = json!({
            "history": self.history_detail(series.as_deref()),
            "lead_s": self.lead.num_seconds(),
            "mode": self.spec.mode,
        });
        if !notes.is_empty() {
            detail["notes"] = json!(notes);
        }
        let series = match self.usable_history(now, series) {
            Ok(series) => series,
            Err(why) => return self.abstain(why, detail),
        };
        let model = match self.choose(now, &series) {
            Ok(model) => model,
            Err(why) => return self.abstain(why, detail),
        };
        if let Some(choice) = &self.choice {
            detail["chosen_at"] = json!(choice.at);
            detail["backtest"] = json!(choice.scores);
            detail["chosen_why"] = json!(choice.why);
        }
        let point = match self.forecast_at_lead(now, &model, &series, &mut detail) {
            Ok(point) => point,
            Err(why) => return self.abstain(why, detail),
        };
        let sizing = self.size(&point, input.capacity.desired);
        let mut reason = self.describe(&model, &point, &sizing, &mut detail);
        let above_max = self.above_max(sizing.capacity, &mut reason, &mut detail);
        self.recommend_capacity(sizing.capacity, above_max, reason, detail)
    }
}

/// The forecast one lead time ahead, as the policy provisions for it.
struct LeadForecast {
    /// Now + lead: the time the forecast is for.
    at: DateTime<Utc>,
    /// End of the history the fit has taken in.
    fitted_until: DateTime<Utc>,
    mean: f64,
    /// The forecast at the policy's quantile: what capacity is sized for.
    quantile: f64,
    /// The [`INTERVAL_LEVEL`] prediction interval.
    lower: f64,
    upper: f64,
}

/// The capacity a [`LeadForecast`] needs.
struct Sizing {
    /// Instances the forecast quantile needs, unrounded, buffer included.
    demand: f64,
    /// `demand` rounded up: what the forecast alone asks for.
    forecast_capacity: u32,
    /// What the policy recommends before max capacity: the current desired
    /// capacity when the demand is within the tolerance band of it, else
    /// `forecast_capacity`.
    capacity: u32,
    /// The desired capacity the group has now.
    desired: u32,
}

impl Predictive {
    /// The history as a regular series a forecast can use: present, fresh
    /// (ending within three steps of now) and at least one season long.
    /// Otherwise why the policy abstains.
    fn usable_history(
        &self,
        now: DateTime<Utc>,
        series: Option<Arc<RegularSeries>>,
    ) -> Result<Arc<RegularSeries>, String> {
        let metric = &self.spec.metric;
        let Some(series) = series else {
            return Err(format!(
                "no complete {}s of `{metric}` history yet",
                self.history.step_secs()
            ));
        };
        let stale_after = self.step() * 3;
        if now - series.end() > stale_after {
            return Err(format!(
                "`{metric}` history ends at {}, {} min ago (more than {} min)",
                series.end().format("%Y-%m-%d %H:%M"),
                (now - series.end()).num_minutes(),
                stale_after.num_minutes()
            ));
        }
        if series.values.len() < self.seasons.daily {
            let have = series.values.len() as f64 * self.history.step_secs() as f64 / 3600.0;
            let after_gap = match series.gap {
                Some((from, to)) => format!(
                    " since a gap from {} to {}",
                    from.format("%Y-%m-%d %H:%M"),
                    to.format("%Y-%m-%d %H:%M")
                ),
                None => String::new(),
            };
            return Err(format!(
                "only {have:.1} h of contiguous `{metric}` history{after_gap}; a forecast needs one day (one season)"
            ));
        }
        Ok(series)
    }

    /// Brings the fit of `model` up to date and forecasts one lead time
    /// ahead; records the fit in `detail`. A forecast that cannot be acted
    /// on drops the fit and the choice, and says why.
    fn forecast_at_lead(
        &mut self,
        now: DateTime<Utc>,
        model: &Candidate,
        series: &RegularSeries,
        detail: &mut serde_json::Value,
    ) -> Result<LeadForecast, String> {
        let refit_why = self.keep_fit_current(model, series)?;
        let fit = self.fit.as_ref().expect("keep_fit_current leaves a fit");
        detail["fit"] = json!({
            "parameters_until": fit.fitted_until,
            "refit": refit_why,
        });
        let at = now + self.lead;
        let index = ((at - fit.end).num_seconds().max(0) / series.step_secs) as usize;
        let forecast = fit.fitted.forecast(index + 1);
        let (mean, quantile) = (
            forecast.mean[index],
            forecast.quantile(index, self.spec.quantile),
        );
        let (lower, upper) = forecast.interval(index, INTERVAL_LEVEL);
        let point = LeadForecast {
            at,
            fitted_until: fit.end,
            mean,
            quantile,
            lower,
            upper,
        };
        if let Some(why) = unusable_forecast(&self.spec, mean, quantile, (lower, upper)) {
            // Fit and choose again next time, on whatever the history holds then.
            self.fit = None;
            self.choice = None;
            return Err(format!("{model}: {why}"));
        }
        Ok(point)
    }

    /// The capacity the forecast quantile needs, kept at `desired` within
    /// the tolerance band.
    fn size(&self, point: &LeadForecast, desired: u32) -> Sizing {
        let spec = &self.spec;
        let demand = demand_for(
            point.quantile,
            spec.target_per_instance,
            spec.buffer_percent,
        );
        let forecast_capacity = instances_for(demand);
        // The same band target tracking keeps: without it the forecast would
        // hold utilization exactly at target while target tracking lets it
        // move within the band, and the larger of the two would win the
        // whole climb, costing instances for no lower risk.
        let capacity =
            if desired > 0 && within_tolerance(demand / f64::from(desired), spec.tolerance) {
                desired
            } else {
                forecast_capacity
            };
        Sizing {
            demand,
            forecast_capacity,
            capacity,
            desired,
        }
    }

    /// Writes the forecast and the sizing into `detail`, and returns the
    /// reason that explains them in one line.
    fn describe(
        &self,
        model: &Candidate,
        point: &LeadForecast,
        sizing: &Sizing,
        detail: &mut serde_json::Value,
    ) -> String {
        let spec = &self.spec;
        let quantile_q = spec.quantile;
        let LeadForecast {
            at,
            fitted_until,
            mean,
            quantile,
            lower,
            upper,
        } = *point;
        let Sizing {
            demand,
            forecast_capacity,
            capacity,
            desired,
        } = *sizing;
        detail["model"] = json!(model);
        detail["fitted_until"] = json!(fitted_until);
        detail["forecast"] = json!({
            "at": at,
            "mean": mean,
            "quantile": quantile_q,
            "value": quantile,
            "interval_level": INTERVAL_LEVEL,
            "lower": lower,
            "upper": upper,
        });
        detail["forecast_capacity"] = json!(forecast_capacity);
        detail["capacity"] = json!(capacity);
        let mut reason = format!(
            "{} at {} (lead {} min) by {model}: p{:.0} {quantile:.2} (mean {mean:.2}) / {} per instance",
            spec.metric,
            at.format("%H:%M"),
            self.lead.num_minutes(),
            quantile_q * 100.0,
            spec.target_per_instance,
        );
        if spec.buffer_percent > 0.0 {
            reason.push_str(&format!(" + {}%", spec.buffer_percent));
        }
        reason.push_str(&format!(" = {demand:.2} -> {forecast_capacity}"));
        if capacity != forecast_capacity {
            reason.push_str(&format!(
                ", within {:.0}% of desired {desired}: keep {desired}",
                spec.tolerance * 100.0
            ));
        }
        reason
    }

    /// The record for a sized forecast: the capacity (max when capped), or
    /// no opinion in forecast-only mode, with the event that says where the
    /// forecast stands against max capacity.
    fn recommend_capacity(
        &mut self,
        capacity: u32,
        above_max: AboveMax,
        reason: String,
        detail: serde_json::Value,
    ) -> PolicyRecord {
        let recommended = match above_max {
            AboveMax::Capped => self.max_capacity,
            AboveMax::Within | AboveMax::Raised(_) => capacity,
        };
        let mut record = match self.spec.mode {
            PredictiveMode::ForecastOnly => {
                self.raised_max = None;
                self.record(
                    Recommendation::NoOpinion,
                    format!("forecast-only, would recommend {recommended}: {reason}"),
                    detail,
                )
            }
            PredictiveMode::ForecastAndScale => {
                self.record(Recommendation::Capacity(recommended), reason, detail)
            }
        };
        let event = match (above_max, self.raised_max) {
            (AboveMax::Within, _) => None,
            (AboveMax::Raised(to), Some(_)) => Some(Event::MaxCapacityRaised {
                from: self.max_capacity,
                to,
            }),
            // Not raised (capped, or forecast-only): the forecast stays above max.
            (AboveMax::Capped | AboveMax::Raised(_), _) => Some(Event::ForecastAboveMax {
                forecast_capacity: capacity,
                max_capacity: self.max_capacity,
            }),
        };
        record.events.extend(event);
        record
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decision::ObservedCapacity;
    use crate::policy_file::parse_str;

    const START: i64 = 1_767_225_600; // 2026-01-01 00:00 UTC

    fn file(extra: &str) -> PolicyFile {
        let text = format!(
            r#"
[target]
group = "web"
min_capacity = 1
max_capacity = 20
interval = "1m"

[metrics.requests.source.cloudwatch]
namespace = "AWS/ApplicationELB"
metric_name = "RequestCount"
statistic = "Sum"
period = "1m"

[[policies]]
kind = "predictive"
name = "forecast"
metric = "requests"
target_per_instance = 100.0
{extra}

[governor]
warmup = "5m"
"#
        );
        parse_str(&text, std::path::Path::new("test.toml")).unwrap()
    }

    fn policy(extra: &str) -> Predictive {
        let file = file(extra);
        let crate::policy_file::PolicySpec::Predictive(spec) = file.policies[0].clone() else {
            unreachable!()
        };
        Predictive::new(spec, &file)
    }

    /// Requests per minute: a daily cycle between 200 and 1800.
    fn load(minute: i64) -> f64 {
        1000.0 + 800.0 * (2.0 * std::f64::consts::PI * minute as f64 / 1440.0).sin()
    }

    fn time(minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(START + minute * 60, 0).unwrap()
    }

    /// Feeds `minutes` of `load` and evaluates at minute `now` with 5
    /// instances desired.
    fn feed(p: &mut Predictive, minutes: impl Iterator<Item = i64>, now: i64) -> PolicyRecord {
        feed_at(p, minutes, now, 5)
    }

    fn feed_at(
        p: &mut Predictive,
        minutes: impl Iterator<Item = i64>,
        now: i64,
        desired: u32,
    ) -> PolicyRecord {
        let points: Vec<Datapoint> = minutes
            .map(|m| Datapoint {
                time: time(m),
                value: load(m),
            })
            .collect();
        let fetched = BTreeMap::from([("requests".to_string(), points)]);
        let metrics = BTreeMap::new();
        let input = PolicyInput {
            now: time(now),
            capacity: ObservedCapacity {
                desired,
                in_service: desired,
                warming: 0,
            },
            metrics: &metrics,
            fetched: &fetched,
        };
        p.recommend(&input)
    }

    #[test]
    fn capacity_arithmetic() {
        assert_eq!(capacity_for(1000.0, 100.0, 0.0), 10);
        assert_eq!(capacity_for(1000.5, 100.0, 0.0), 11);
        assert_eq!(capacity_for(1000.0, 100.0, 10.0), 11);
        assert_eq!(capacity_for(0.0, 100.0, 10.0), 0);
        // 4 x 1.25 = 5.000000001 in floating point: still 5.
        assert_eq!(capacity_for(4.0 * 1.25, 1.0, 0.0), 5);
        assert_eq!(raised_max_for(50, 10.0), 55);
        assert_eq!(raised_max_for(50, 0.0), 50);
    }

    #[test]
    fn lead_defaults_to_warmup_plus_interval() {
        assert_eq!(policy("").lead(), Duration::minutes(6));
        assert_eq!(policy("lead = \"20m\"").lead(), Duration::minutes(20));
    }

    #[test]
    fn abstains_on_less_than_a_day_of_history() {
        let mut p = policy("mode = \"forecast-and-scale\"");
        let r = feed(&mut p, 0..720, 722);
        assert_eq!(r.recommendation, Recommendation::NoOpinion);
        assert!(
            r.reason.contains("abstains: only 11.9 h of contiguous"),
            "{}",
            r.reason
        );
        assert!(r.reason.contains("one day"), "{}", r.reason);
    }

    #[test]
    fn abstains_after_a_long_gap_and_names_it() {
        let mut p = policy("mode = \"forecast-and-scale\"");
        // Three days with two hours missing an hour before the end.
        let minutes = (0..4200).chain(4320..4380);
        let r = feed(&mut p, minutes, 4382);
        assert_eq!(r.recommendation, Recommendation::NoOpinion);
        assert!(
            r.reason.contains("since a gap from 2026-01-03 22:00"),
            "{}",
            r.reason
        );
    }

    #[test]
    fn abstains_when_history_stops() {
        let mut p = policy("mode = \"forecast-and-scale\"");
        let r = feed(&mut p, 0..4320, 4320 + 60);
        assert!(r.reason.contains("history ends at"), "{}", r.reason);
    }

    #[test]
    fn forecasts_the_load_one_lead_ahead_and_scales_for_it() {
        let mut p = policy("mode = \"forecast-and-scale\"\nquantile = 0.5");
        // Three days; now is 04:02 on day 4, the lead (6 min) lands in the
        // 5-minute bucket of 04:05-04:10.
        let now = 3 * 1440 + 242;
        let r = feed(&mut p, 0..now - 2, now);
        let detail = r.detail.as_ref().unwrap();
        let forecast = detail["forecast"]["value"].as_f64().unwrap();
        let truth: f64 = (3 * 1440 + 245..3 * 1440 + 250).map(load).sum::<f64>() / 5.0;
        assert!(
            (forecast - truth).abs() < 0.02 * truth,
            "forecast {forecast} vs {truth}: {detail:#}"
        );
        let Recommendation::Capacity(c) = r.recommendation else {
            panic!("{r:?}")
        };
        assert_eq!(c, capacity_for(forecast, 100.0, 0.0));
        assert!(detail["backtest"].as_array().unwrap().len() >= ModelKind::ALL.len());
        assert!(r.reason.contains("-> "), "{}", r.reason);
    }

    #[test]
    fn a_forecast_within_the_tolerance_band_keeps_the_desired_capacity() {
        // 04:05-04:10 on day 4: ~1707 requests a minute, 17.07 instances at 100 each.
        let now = 3 * 1440 + 242;
        let spec = "mode = \"forecast-and-scale\"\nquantile = 0.5";
        let narrow = format!("{spec}\ntolerance = 0.0");
        // (policy, desired, recommended): 17.07 is within 10% of 16, not of 12.
        for (spec, desired, recommended) in [(spec, 16, 16), (spec, 12, 18), (&narrow, 16, 18)] {
            let r = feed_at(&mut policy(spec), 0..now - 2, now, desired);
            let want = Recommendation::Capacity(recommended);
            assert_eq!(r.recommendation, want, "{spec}: {}", r.reason);
            assert_eq!(r.detail.as_ref().unwrap()["forecast_capacity"], 18);
            let kept = r.reason.contains("within 10% of desired 16: keep 16");
            assert_eq!(kept, recommended == desired, "{}", r.reason);
        }
    }

    #[test]
    fn forecast_only_records_what_it_would_do() {
        let mut p = policy("");
        let r = feed(&mut p, 0..3 * 1440, 3 * 1440 + 2);
        assert_eq!(r.recommendation, Recommendation::NoOpinion);
        assert!(
            r.reason.starts_with("forecast-only, would recommend "),
            "{}",
            r.reason
        );
        assert!(r.detail.unwrap()["capacity"].as_u64().is_some());
    }

    #[test]
    fn max_capacity_is_honored_or_raised() {
        // Peak ~1800/min at 100 per instance: ~18 instances, against max 10.
        let now = 3 * 1440 + 355;
        let mut honor = policy("mode = \"forecast-and-scale\"\nmodel = \"seasonal-naive-daily\"");
        honor.max_capacity = 10;
        let r = feed(&mut honor, 0..now - 2, now);
        assert_eq!(
            r.recommendation,
            Recommendation::Capacity(10),
            "{}",
            r.reason
        );
        assert!(r.reason.contains("capped at max 10"), "{}", r.reason);
        assert_eq!(honor.raised_max_capacity(), None);
        let forecast = r.detail.as_ref().unwrap()["capacity"].as_u64().unwrap() as u32;
        assert_eq!(
            r.events,
            [Event::ForecastAboveMax {
                forecast_capacity: forecast,
                max_capacity: 10
            }]
        );

        let mut increase = policy(
            "mode = \"forecast-and-scale\"\nmodel = \"seasonal-naive-daily\"\nmax_capacity_behavior = \"increase\"\nmax_capacity_buffer = 10",
        );
        increase.max_capacity = 10;
        let r = feed(&mut increase, 0..now - 2, now);
        let Recommendation::Capacity(c) = r.recommendation else {
            panic!("{r:?}")
        };
        assert!(c > 10, "{}", r.reason);
        assert_eq!(
            increase.raised_max_capacity(),
            Some(raised_max_for(c, 10.0))
        );
        assert!(r.reason.contains("max raised to"), "{}", r.reason);
        assert_eq!(
            r.events,
            [Event::MaxCapacityRaised {
                from: 10,
                to: raised_max_for(c, 10.0)
            }]
        );
        // Below max: nothing to tell.
        let r = feed(&mut honor, now - 2..now - 1, now + 720);
        assert!(r.events.is_empty(), "{r:?}");
    }

    /// The record the predictive policy writes when its forecast (about 10
    /// instances at 06:00) is above its max of 4.
    pub(crate) fn forecast_above_max_record() -> PolicyRecord {
        let now = 3 * 1440 + 355;
        let mut honor = policy("mode = \"forecast-and-scale\"\nmodel = \"seasonal-naive-daily\"");
        honor.max_capacity = 4;
        feed(&mut honor, 0..now - 2, now)
    }

    /// Feeds minutes `from..now - 2` and evaluates at `now`: the fit's detail.
    fn fit_detail(p: &mut Predictive, from: i64, now: i64) -> serde_json::Value {
        let r = feed(p, from..now - 2, now);
        let detail = r.detail.expect("a detail");
        assert!(detail["fit"].is_object(), "{}: {detail:#}", r.reason);
        detail
    }

    #[test]
    fn the_fit_takes_new_points_in_and_is_refitted_daily() {
        let mut p = policy("mode = \"forecast-and-scale\"\nmodel = \"holt-winters-additive\"");
        let first = 3 * 1440 + 242;
        let d = fit_detail(&mut p, 0, first);
        assert_eq!(d["fit"]["refit"], "no fit yet", "{d:#}");
        let fitted = d["fit"]["parameters_until"].clone();
        assert_eq!(fitted, d["fitted_until"]);

        // An hour later: the same parameters, the new points taken in.
        let later = first + 60;
        let d = fit_detail(&mut p, first - 2, later);
        assert_eq!(d["fit"]["refit"], serde_json::Value::Null, "{d:#}");
        assert_eq!(d["fit"]["parameters_until"], fitted, "{d:#}");
        // 05:02: the 04:55 bucket is still filling.
        assert_eq!(d["fitted_until"], json!(time(3 * 1440 + 295)), "{d:#}");
        let forecast = d["forecast"]["mean"].as_f64().unwrap();
        let truth: f64 = (later + 5..later + 10).map(load).sum::<f64>() / 5.0;
        assert!(
            (forecast - truth).abs() < 0.02 * truth,
            "updated forecast {forecast} vs {truth}"
        );

        // A day after the fit: parameters estimated again.
        let next_day = first + 1440;
        let d = fit_detail(&mut p, later - 2, next_day);
        assert_eq!(d["fit"]["refit"], "a day since the last fit", "{d:#}");
        assert_eq!(d["fit"]["parameters_until"], d["fitted_until"]);
    }

    #[test]
    fn a_load_that_leaves_the_fit_behind_is_refitted_early() {
        let mut p = policy("mode = \"forecast-and-scale\"\nmodel = \"holt-winters-additive\"");
        let first = 3 * 1440 + 242;
        fit_detail(&mut p, 0, first);
        // From here the load doubles: the one-step errors leave the fitted
        // spread within the hour.
        let doubled = |m: i64| Datapoint {
            time: time(m),
            value: 2.0 * load(m),
        };
        let mut refits = Vec::new();
        for now in (first + 10..first + 180).step_by(10) {
            let points = (now - 12..now - 2).map(doubled).collect();
            let fetched = BTreeMap::from([("requests".to_string(), points)]);
            let metrics = BTreeMap::new();
            let r = p.recommend(&PolicyInput {
                now: time(now),
                capacity: ObservedCapacity {
                    desired: 5,
                    in_service: 5,
                    warming: 0,
                },
                metrics: &metrics,
                fetched: &fetched,
            });
            let d = r.detail.unwrap();
            if let Some(why) = d["fit"]["refit"].as_str() {
                refits.push((now - first, why.to_string()));
            }
        }
        assert!(
            refits
                .iter()
                .any(|(after, why)| *after >= 60 && *after <= 120 && why.contains("drifted")),
            "refits: {refits:?}"
        );
    }

    #[test]
    fn history_is_fetched_over_the_window_then_incrementally() {
        let mut p = policy("");
        let now = time(20_000);
        let first = p.history_request(now).unwrap();
        assert_eq!(first.since, now - Duration::days(14));
        let spec = first
            .long_window
            .expect("a 1-minute Sum metric gets a 5-minute long window");
        assert_eq!(spec.source.cloudwatch().unwrap().period.as_secs(), 300);
        // Sum over 5 minutes is five 1-minute sums: scaled back by 1/5.
        assert_eq!(p.long_window.as_ref().unwrap().1, 0.2);
        feed(&mut p, 19_000..19_998, 20_000);
        let next = p.history_request(now).unwrap();
        assert_eq!(next.since, time(19_997));
        assert_eq!(next.long_window, None);
    }

    #[test]
    fn the_series_is_built_again_when_a_bucket_completes_not_in_between() {
        let mut p = policy("");
        // Minutes 1495..1500 are the bucket still filling.
        feed(&mut p, 0..1498, 1498);
        let first = p.current_series().unwrap();
        // A point into the bucket still filling: the same series, not rebuilt.
        feed(&mut p, 1498..1499, 1499);
        let same = p.current_series().unwrap();
        assert!(Arc::ptr_eq(&first, &same));
        // A point into the next bucket completes the filling one: one step more.
        feed(&mut p, 1499..1501, 1501);
        let next = p.current_series().unwrap();
        assert_eq!(next.values.len(), first.values.len() + 1);
        assert_eq!(*next, p.history.series().unwrap());
    }
}
