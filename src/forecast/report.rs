//! What `ebb forecast` shows, computed the way the predictive policy does it:
//! backtest every model at the policy's lead time, choose by MASE (or take
//! the policy's model), fit on the history window and forecast ahead.

use super::backtest::{BacktestConfig, ModelScore, YESTERDAY_NOTE, backtest, choose_or_yesterday};
use super::{ForecastError, ModelKind, Seasons};
use crate::policy::predictive::{capacity_for, unusable_forecast};
use crate::policy_file::PredictiveSpec;
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

/// A regular series to forecast from.
#[derive(Debug, Clone, PartialEq)]
pub struct History {
    pub start: DateTime<Utc>,
    pub step_secs: i64,
    pub values: Vec<f64>,
}

impl History {
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
    pub time: DateTime<Utc>,
    pub mean: f64,
    /// The policy's quantile of the load.
    pub quantile: f64,
    pub lower: f64,
    pub upper: f64,
    /// Instances the quantile needs.
    pub capacity: u32,
    /// That, within the policy file's min and max capacity: what the policy
    /// would recommend.
    pub bounded_capacity: u32,
}

/// Everything `ebb forecast` reports.
#[derive(Debug, Clone, Serialize)]
pub struct ForecastReport {
    pub history_start: DateTime<Utc>,
    pub history_end: DateTime<Utc>,
    pub step_s: i64,
    #[serde(skip)]
    pub history: Vec<f64>,
    pub lead_s: i64,
    /// Steps ahead the backtest scored (the lead time in steps).
    pub backtest_horizon: usize,
    pub scores: Vec<ModelScore>,
    pub chosen: ModelKind,
    /// "backtest", "policy file" or why neither applied.
    pub chosen_by: String,
    pub quantile: f64,
    pub interval_level: f64,
    pub forecast: Vec<ForecastPoint>,
}

/// The central interval drawn and reported.
pub const INTERVAL_LEVEL: f64 = 0.8;

/// Backtests, chooses, fits and forecasts `horizon` ahead; `bounds` are the
/// target's min and max capacity.
pub fn analyse(
    history: History,
    spec: &PredictiveSpec,
    lead: Duration,
    horizon: Duration,
    bounds: (u32, u32),
) -> Result<ForecastReport, ForecastError> {
    let seasons = Seasons::for_step(history.step_secs as u64)?;
    let lead_steps = (lead.num_seconds() / history.step_secs) as usize + 1;
    let config = BacktestConfig::daily(seasons, lead_steps);
    let scores = backtest(&history.values, seasons, &ModelKind::ALL, config);
    let (chosen, chosen_by) = match spec.model {
        Some(model) => (model, "policy file"),
        None => match choose_or_yesterday(&scores, history.values.len(), seasons) {
            Some((model, note)) => (model, note.unwrap_or("backtest")),
            // Not even a day: what fitting yesterday's values would say.
            None => (ModelKind::SeasonalNaiveDaily, YESTERDAY_NOTE),
        },
    };
    let chosen_by = chosen_by.to_string();
    let fitted = chosen.fit(&history.values, seasons)?;
    let steps = (horizon.num_seconds() / history.step_secs).max(1) as usize;
    let f = fitted.forecast(steps);
    let end = history.end();
    let mut forecast = Vec::with_capacity(steps);
    for i in 0..steps {
        let quantile = f.quantile(i, spec.quantile);
        let (lower, upper) = f.interval(i, INTERVAL_LEVEL);
        let time = end + Duration::seconds(history.step_secs * i as i64);
        // Refused as the policy refuses it: it would abstain on this.
        if let Some(why) = unusable_forecast(spec, f.mean[i], quantile, (lower, upper)) {
            return Err(ForecastError::Model {
                model: chosen,
                message: format!("at {}: {why}", time.format("%Y-%m-%d %H:%M")),
            });
        }
        let capacity = capacity_for(quantile, spec.target_per_instance, spec.buffer_percent);
        forecast.push(ForecastPoint {
            time,
            mean: f.mean[i],
            quantile,
            lower,
            upper,
            capacity,
            bounded_capacity: capacity.clamp(bounds.0, bounds.1.max(bounds.0)),
        });
    }
    Ok(ForecastReport {
        history_start: history.start,
        history_end: end,
        step_s: history.step_secs,
        history: history.values,
        lead_s: lead.num_seconds(),
        backtest_horizon: lead_steps,
        scores,
        chosen,
        chosen_by,
        quantile: spec.quantile,
        interval_level: INTERVAL_LEVEL,
        forecast,
    })
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
            assert_eq!(report.chosen, ModelKind::SeasonalNaiveDaily);
            assert!(
                report.chosen_by.starts_with("zero MASE scale"),
                "{}",
                report.chosen_by
            );
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
