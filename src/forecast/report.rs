//! What `ebb forecast` shows, computed the way the predictive policy does it:
//! backtest every model and combination at each horizon the forecast is
//! used at (the policy's lead time, 1 h, 24 h, 48 h), choose the best at
//! each (or take the policy's model), fit on the history window and forecast
//! ahead, each part of the forecast by the candidate best at its horizon.

use super::backtest::{
    BacktestConfig, Choice, HorizonScores, ModelScore, YESTERDAY_NOTE, backtest,
    choose_or_yesterday,
};
use super::candidate::Candidate;
use super::{Forecast, ForecastError, ModelKind, Seasons};
use crate::policy::predictive::{capacity_for, unusable_forecast};
use crate::policy_file::PredictiveSpec;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// A regular series to forecast from.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    /// The time of the first value.
    pub start: DateTime<Utc>,
    /// Seconds between values.
    pub step_secs: i64,
    /// The values, oldest first.
    pub values: Vec<f64>,
}

impl History {
    /// The time just after the last value: where the forecast starts.
    pub fn end(&self) -> DateTime<Utc> {
        self.start + Duration::seconds(self.step_secs * self.values.len() as i64)
    }

    /// The series at `step_secs` when it is finer (each group of values is
    /// averaged, a trailing partial group dropped); as it is when it already
    /// is at that step or coarser.
    pub fn resampled(self, step_secs: i64) -> Result<History, String> {
        if self.step_secs >= step_secs {
            return Ok(self);
        }
        if step_secs % self.step_secs != 0 {
            return Err(format!(
                "a {}s series cannot be averaged into {step_secs}s steps",
                self.step_secs
            ));
        }
        let group = (step_secs / self.step_secs) as usize;
        let values = self
            .values
            .chunks_exact(group)
            .map(|c| c.iter().sum::<f64>() / group as f64)
            .collect();
        Ok(History {
            start: self.start,
            step_secs,
            values,
        })
    }

    /// The last `window` of the series.
    pub fn last(mut self, window: Duration) -> History {
        let keep = (window.num_seconds() / self.step_secs).max(1) as usize;
        if self.values.len() > keep {
            let drop = self.values.len() - keep;
            self.values.drain(..drop);
            self.start += Duration::seconds(self.step_secs * drop as i64);
        }
        self
    }
}

/// One forecast step.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ForecastPoint {
    /// The start of the step.
    pub time: DateTime<Utc>,
    /// The forecast mean load.
    pub mean: f64,
    /// The policy's quantile of the load.
    pub quantile: f64,
    /// The lower end of the [`INTERVAL_LEVEL`] prediction interval.
    pub lower: f64,
    /// The upper end of the [`INTERVAL_LEVEL`] prediction interval.
    pub upper: f64,
    /// Instances the quantile needs.
    pub capacity: u32,
    /// That, within the policy file's min and max capacity: what the policy
    /// would recommend.
    pub bounded_capacity: u32,
}

/// The backtest at one horizon and what it chose for its part of the forecast.
#[derive(Debug, Clone, Serialize)]
pub struct HorizonChoice {
    /// e.g. `lead 6 min`, `24 h`.
    pub label: String,
    /// Steps ahead scored (each over steps 1..=steps).
    pub steps: usize,
    /// Origins: `every 6 h` or `daily`, over the last 7 days.
    pub origins: String,
    /// Each candidate's score at this horizon.
    pub scores: Vec<ModelScore>,
    /// The model or combination this part of the forecast uses.
    pub chosen: Candidate,
    /// "backtest: ...", "policy file" or why neither applied.
    pub chosen_by: String,
    /// The forecast's steps this choice made, 1-based: first..=last.
    pub covers: (usize, usize),
}

/// Everything `ebb forecast` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ForecastReport {
    /// The time of the history's first value.
    pub history_start: DateTime<Utc>,
    /// The time just after the history's last value.
    pub history_end: DateTime<Utc>,
    /// Seconds between values.
    pub step_s: i64,
    /// The history's values, for the plot.
    #[serde(skip)]
    pub history: Vec<f64>,
    /// The policy's lead time, seconds.
    pub lead_s: i64,
    /// The choice at the lead time (what the policy scales on), then at the
    /// planning horizons the forecast reaches.
    pub horizons: Vec<HorizonChoice>,
    /// The policy's quantile, 0-1.
    pub quantile: f64,
    /// The prediction interval's level, 0-1 ([`INTERVAL_LEVEL`]).
    pub interval_level: f64,
    /// Each step of the forecast, from the end of the history.
    pub forecast: Vec<ForecastPoint>,
}

impl ForecastReport {
    /// The candidate the policy itself would scale on (chosen at the lead time).
    pub fn chosen(&self) -> &Candidate {
        &self.horizons[0].chosen
    }
}

/// The central interval drawn and reported.
pub const INTERVAL_LEVEL: f64 = 0.8;

/// The planning horizons `ebb forecast` and the forecast alerts look at, in hours.
pub const PLANNING_HOURS: [i64; 3] = [1, 24, 48];

/// The horizons (label, steps) a forecast of `steps` ahead is chosen at: the
/// lead time, then each planning horizon past it, up to the first that
/// reaches `steps`.
fn horizons(
    lead_steps: usize,
    lead: Duration,
    step_secs: i64,
    steps: usize,
) -> Vec<(String, usize)> {
    let mut out = vec![(format!("lead {} min", lead.num_minutes()), lead_steps)];
    for hours in PLANNING_HOURS {
        if out.last().is_some_and(|(_, s)| *s >= steps) {
            break;
        }
        let h = (hours * 3600 / step_secs).max(1) as usize;
        if h > lead_steps {
            out.push((format!("{hours} h"), h));
        }
    }
    out
}

/// Backtests, chooses at each horizon, fits and forecasts `horizon` ahead;
/// `bounds` are the target's min and max capacity.
pub fn analyse(
    history: History,
    spec: &PredictiveSpec,
    lead: Duration,
    horizon: Duration,
    bounds: (u32, u32),
) -> Result<ForecastReport, ForecastError> {
    let seasons = Seasons::for_step(history.step_secs as u64)?;
    let y = &history.values;
    let lead_steps = (lead.num_seconds() / history.step_secs) as usize + 1;
    let steps = (horizon.num_seconds() / history.step_secs).max(1) as usize;
    let wanted = horizons(lead_steps, lead, history.step_secs, steps);
    let mut scored: Vec<(String, HorizonScores)> = Vec::new();
    let at_lead = backtest(
        y,
        seasons,
        &ModelKind::ALL,
        &[],
        &BacktestConfig::lead(seasons, lead_steps),
    );
    scored.extend(at_lead.into_iter().map(|h| ("every 6 h".to_string(), h)));
    let planning: Vec<usize> = wanted[1..].iter().map(|(_, s)| *s).collect();
    if !planning.is_empty() {
        let config = BacktestConfig::daily_origins(seasons, &planning);
        let daily = backtest(y, seasons, &ModelKind::ALL, &[], &config);
        scored.extend(daily.into_iter().map(|h| ("daily".to_string(), h)));
    }
    let choices = choose_parts(wanted, scored, spec, y.len(), seasons, steps);
    let forecast = stitched(&history, &choices, seasons, steps)?;
    let end = history.end();
    let points = forecast_points(&history, spec, &forecast, bounds)?;
    Ok(ForecastReport {
        history_start: history.start,
        history_end: end,
        step_s: history.step_secs,
        history: history.values,
        lead_s: lead.num_seconds(),
        horizons: choices,
        quantile: spec.quantile,
        interval_level: INTERVAL_LEVEL,
        forecast: points,
    })
}

/// The model for each horizon part (the policy file's, or the backtest's
/// choice at that horizon) and the steps ahead each part covers: from the
/// step after the previous part's to its own horizon, the last part to
/// `steps`.
fn choose_parts(
    wanted: Vec<(String, usize)>,
    scored: Vec<(String, HorizonScores)>,
    spec: &PredictiveSpec,
    history_len: usize,
    seasons: Seasons,
    steps: usize,
) -> Vec<HorizonChoice> {
    let parts = wanted.len();
    let mut choices = Vec::with_capacity(parts);
    let mut first = 1;
    for (i, ((label, _), (origins, scores))) in wanted.into_iter().zip(scored).enumerate() {
        let (chosen, chosen_by) = match spec.model {
            Some(model) => (Candidate::Model(model), "policy file".to_string()),
            None => match choose_or_yesterday(&scores.scores, None, history_len, seasons) {
                Some(Choice { candidate, why }) => (candidate, format!("backtest: {why}")),
                // Not even a day: what fitting yesterday's values would say.
                None => (
                    Candidate::Model(ModelKind::SeasonalNaiveDaily),
                    YESTERDAY_NOTE.to_string(),
                ),
            },
        };
        // The last part runs to the end of the forecast.
        let last = if i + 1 == parts {
            steps.max(first)
        } else {
            scores.steps.min(steps)
        };
        choices.push(HorizonChoice {
            label,
            steps: scores.steps,
            origins,
            scores: scores.scores,
            chosen,
            chosen_by,
            covers: (first, last),
        });
        first = last + 1;
    }
    choices
}

/// Each step of the stitched forecast as the policy would size it: mean,
/// quantile, interval and the capacity (bounded by `bounds`, min and max).
/// A step the policy would refuse to act on refuses the whole report.
fn forecast_points(
    history: &History,
    spec: &PredictiveSpec,
    forecast: &[(&Candidate, std::rc::Rc<Forecast>)],
    bounds: (u32, u32),
) -> Result<Vec<ForecastPoint>, ForecastError> {
    let end = history.end();
    let mut points = Vec::with_capacity(forecast.len());
    for (i, (candidate, f)) in forecast.iter().enumerate() {
        let quantile = f.quantile(i, spec.quantile);
        let (lower, upper) = f.interval(i, INTERVAL_LEVEL);
        let time = end + Duration::seconds(history.step_secs * i as i64);
        // Refused as the policy refuses it: it would abstain on this.
        if let Some(why) = unusable_forecast(spec, f.mean[i], quantile, (lower, upper)) {
            return Err(ForecastError::Refused {
                candidate: candidate.to_string(),
                message: format!("at {}: {why}", time.format("%Y-%m-%d %H:%M")),
            });
        }
        let capacity = capacity_for(quantile, spec.target_per_instance, spec.buffer_percent);
        points.push(ForecastPoint {
            time,
            mean: f.mean[i],
            quantile,
            lower,
            upper,
            capacity,
            bounded_capacity: capacity.clamp(bounds.0, bounds.1.max(bounds.0)),
        });
    }
    Ok(points)
}

/// For each of the `steps` ahead, the candidate whose part it is and that
/// candidate's forecast (each candidate fitted once on the whole history).
fn stitched<'a>(
    history: &History,
    choices: &'a [HorizonChoice],
    seasons: Seasons,
    steps: usize,
) -> Result<Vec<(&'a Candidate, std::rc::Rc<Forecast>)>, ForecastError> {
    let mut fitted: Vec<(&Candidate, std::rc::Rc<Forecast>)> = Vec::new();
    let mut out = Vec::with_capacity(steps);
    for choice in choices {
        let forecast = match fitted.iter().find(|(c, _)| *c == &choice.chosen) {
            Some((_, f)) => f.clone(),
            None => {
                let f =
                    std::rc::Rc::new(choice.chosen.fit(&history.values, seasons)?.forecast(steps));
                fitted.push((&choice.chosen, f.clone()));
                f
            }
        };
        for _ in choice.covers.0..=choice.covers.1 {
            if out.len() < steps {
                out.push((&choice.chosen, forecast.clone()));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history(step_secs: i64, values: Vec<f64>) -> History {
        History {
            start: DateTime::from_timestamp(1_767_225_600, 0).unwrap(),
            step_secs,
            values,
        }
    }

    #[test]
    fn resampling_averages_finer_series_and_keeps_coarser_ones() {
        let h = history(60, (0..11).map(f64::from).collect())
            .resampled(300)
            .unwrap();
        assert_eq!((h.step_secs, h.values), (300, vec![2.0, 7.0]));
        let coarse = history(1800, vec![1.0, 2.0]).resampled(300).unwrap();
        assert_eq!(coarse.step_secs, 1800);
        assert!(history(420, vec![1.0; 4]).resampled(600).is_err());
    }

    #[test]
    fn last_keeps_the_window_and_moves_the_start() {
        let h = history(300, vec![1.0; 10]).last(Duration::minutes(15));
        assert_eq!(h.values.len(), 3);
        assert_eq!(h.end(), history(300, vec![1.0; 10]).end());
    }

    fn spec() -> PredictiveSpec {
        let text = "[target]\ngroup = \"web\"\nmin_capacity = 2\nmax_capacity = 20\n\n\
            [metrics.requests.source.cloudwatch]\nnamespace = \"AWS/ApplicationELB\"\n\
            metric_name = \"RequestCount\"\nstatistic = \"Sum\"\n\n\
            [[policies]]\nkind = \"predictive\"\nname = \"f\"\nmetric = \"requests\"\n\
            target_per_instance = 1000.0\n";
        let file = crate::policy_file::parse_str(text, std::path::Path::new("t.toml")).unwrap();
        match &file.policies[0] {
            crate::policy_file::PolicySpec::Predictive(p) => p.clone(),
            _ => unreachable!(),
        }
    }

    /// Three days of a daily cycle at 5 minutes, exactly periodic.
    fn periodic() -> Vec<f64> {
        (0..3 * 288)
            .map(|i| 500.0 + 300.0 * (2.0 * std::f64::consts::PI * (i % 288) as f64 / 288.0).sin())
            .collect()
    }

    #[test]
    fn an_exactly_periodic_history_is_forecast_by_the_seasonal_naive_saying_why() {
        for values in [periodic(), vec![500.0; 3 * 288]] {
            let report = analyse(
                history(300, values),
                &spec(),
                Duration::minutes(6),
                Duration::hours(2),
                (2, 20),
            )
            .unwrap();
            // Three days hold origins for the lead time and 1 h, not for 24 h.
            for part in &report.horizons[..2] {
                assert_eq!(part.chosen, Candidate::Model(ModelKind::SeasonalNaiveDaily));
                assert!(
                    part.chosen_by.contains("zero MASE scale"),
                    "{}",
                    part.chosen_by
                );
            }
        }
    }

    #[test]
    fn a_step_that_does_not_divide_a_day_says_so() {
        let err = Seasons::for_step(420).unwrap_err().to_string();
        assert!(err.starts_with("the step must divide a day"), "{err}");
    }

    #[test]
    fn the_capacity_shown_is_bounded_and_the_raw_one_kept() {
        // 500 per 1000 per instance: one instance, below min_capacity 2.
        let report = analyse(
            history(300, vec![500.0; 3 * 288]),
            &spec(),
            Duration::minutes(6),
            Duration::hours(1),
            (2, 20),
        )
        .unwrap();
        let point = report.forecast[0];
        assert_eq!((point.capacity, point.bounded_capacity), (1, 2));
    }

    #[test]
    fn a_forecast_broken_by_an_absurd_value_is_refused() {
        let mut values = periodic();
        for (i, v) in values.iter_mut().enumerate() {
            *v += (i % 7) as f64;
        }
        values[3 * 288 - 100] = 1e155;
        let err = analyse(
            history(300, values),
            &spec(),
            Duration::minutes(6),
            Duration::hours(2),
            (2, 20),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("not finite") || err.contains("fewer instances"),
            "{err}"
        );
    }
}
