//! Rolling-origin backtest and the choice of model.
//!
//! At each origin the model forecasts the `horizon` steps after it from the
//! history before it, as it would have been used live: the predictive policy
//! estimates a model's parameters once a day and takes each new point in
//! through its state equations in between, so the backtest fits at the
//! oldest origin, carries the fit to the next origins by updates, and fits
//! again once the parameters are a day old. Origins step back from the end
//! of the series `spacing` steps apart. The model
//! with the lowest MASE wins; ties go to the simpler model (earlier in
//! [`ModelKind::ALL`]).

use super::accuracy::{Accuracy, Summary, naive_scale};
use super::{Fitted, ForecastError, ModelKind, Seasons};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// Where the backtest looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacktestConfig {
    /// Steps ahead scored at each origin (1..=horizon).
    pub horizon: usize,
    /// How many origins.
    pub origins: usize,
    /// Steps between origins.
    pub spacing: usize,
    /// Score only the forecast `horizon` steps ahead (one lead time ahead),
    /// not every step up to it.
    pub last_only: bool,
}

impl BacktestConfig {
    /// The configuration the predictive policy and `ebb forecast` use:
    /// hourly origins over the last day, scored at the lead time.
    pub fn daily(seasons: Seasons, horizon: usize) -> BacktestConfig {
        BacktestConfig {
            horizon: horizon.max(1),
            origins: 24,
            spacing: (seasons.daily / 24).max(1),
            last_only: false,
        }
    }
}

/// One model's backtest result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelScore {
    pub model: ModelKind,
    /// Accuracy over every origin the model could fit at; an error when it
    /// could fit at none.
    pub accuracy: Result<Summary, String>,
    /// Origins the model was scored at.
    pub origins: usize,
    /// Mean time to fit once, milliseconds.
    pub fit_ms: f64,
}

impl ModelScore {
    pub fn mase(&self) -> Option<f64> {
        self.accuracy.as_ref().ok().and_then(|s| s.mase)
    }
}

/// Backtests each model on `y`.
pub fn backtest(
    y: &[f64],
    seasons: Seasons,
    models: &[ModelKind],
    config: BacktestConfig,
) -> Vec<ModelScore> {
    models
        .iter()
        .map(|&model| backtest_one(y, seasons, model, config))
        .collect()
}

/// A fit carried from one origin to the next, as the predictive policy
/// carries it: parameters estimated at `fitted_at`, points taken in up to
/// `until` (indices into the series).
struct CarriedFit {
    fitted: Box<dyn Fitted>,
    fitted_at: usize,
    until: usize,
}

impl CarriedFit {
    /// The fit brought to `origin` by taking in the points since it, or
    /// None when its parameters are a day old or a point breaks it: the
    /// policy refits then too.
    fn carried_to(mut self, y: &[f64], origin: usize, daily: usize) -> Option<CarriedFit> {
        if origin - self.fitted_at >= daily {
            return None;
        }
        for &value in &y[self.until..origin] {
            self.fitted.update(value).ok()?;
        }
        self.until = origin;
        Some(self)
    }
}

fn backtest_one(
    y: &[f64],
    seasons: Seasons,
    model: ModelKind,
    config: BacktestConfig,
) -> ModelScore {
    let mut accuracy = Accuracy::default();
    let mut origins = 0;
    let mut last_error: Option<ForecastError> = None;
    let (mut fit_elapsed, mut fits) = (0.0, 0);
    let mut carried: Option<CarriedFit> = None;
    // Oldest origin first, so a fit is carried forward through the later ones.
    for k in (0..config.origins).rev() {
        let Some(origin) = y.len().checked_sub(config.horizon + k * config.spacing) else {
            continue;
        };
        let train = &y[..origin];
        if train.len() < model.min_history(seasons) {
            last_error.get_or_insert(ForecastError::TooShort {
                model,
                needed: model.min_history(seasons),
                got: train.len(),
            });
            continue;
        }
        let reused = carried
            .take()
            .and_then(|c| c.carried_to(y, origin, seasons.daily));
        let current = match reused {
            Some(c) => c,
            None => {
                let started = Instant::now();
                match model.fit(train, seasons) {
                    Ok(fitted) => {
                        fit_elapsed += started.elapsed().as_secs_f64() * 1000.0;
                        fits += 1;
                        CarriedFit {
                            fitted,
                            fitted_at: origin,
                            until: origin,
                        }
                    }
                    Err(e) => {
                        last_error = Some(e);
                        continue;
                    }
                }
            }
        };
        let forecast = current.fitted.forecast(config.horizon);
        carried = Some(current);
        if forecast.mean.iter().any(|v| !v.is_finite()) {
            last_error = Some(ForecastError::Model {
                model,
                message: "forecast is not finite".into(),
            });
            carried = None;
            continue;
        }
        let scale = naive_scale(train, seasons.daily);
        let first = if config.last_only {
            config.horizon - 1
        } else {
            0
        };
        for (h, predicted) in forecast.mean.iter().enumerate().skip(first) {
            accuracy.add(y[origin + h], *predicted, scale);
        }
        origins += 1;
    }
    let accuracy = if origins > 0 {
        Ok(accuracy.summary())
    } else {
        Err(last_error.map_or_else(|| "no origin to backtest at".to_string(), |e| e.to_string()))
    };
    ModelScore {
        model,
        accuracy,
        origins,
        fit_ms: if fits > 0 {
            fit_elapsed / fits as f64
        } else {
            0.0
        },
    }
}

/// The model with the lowest MASE among those scored at every origin the
/// best-covered model was; `None` when no model could be scored.
pub fn choose(scores: &[ModelScore]) -> Option<ModelKind> {
    let most = scores.iter().map(|s| s.origins).max()?;
    // A model scored at fewer origins saw easier or fewer cases: not comparable.
    scores
        .iter()
        .filter(|s| s.origins == most && most > 0)
        .filter_map(|s| s.mase().map(|m| (m, s.model)))
        .min_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)))
        .map(|(_, model)| model)
}

/// Says why the same time yesterday was chosen though models were scored.
pub const ZERO_SCALE_NOTE: &str = "zero MASE scale: the history repeats exactly each day (constant or periodic), so the same time yesterday forecasts it exactly";

/// Says why the same time yesterday was chosen without a backtest.
pub const YESTERDAY_NOTE: &str = "history too short to backtest: same time yesterday";

/// The model to forecast `points` of history with: the best by backtest
/// (`scores`), or, when the history is too short to score any model but
/// holds more than a day, the same time yesterday with [`YESTERDAY_NOTE`].
/// `None` when not even that fits.
pub fn choose_or_yesterday(
    scores: &[ModelScore],
    points: usize,
    seasons: Seasons,
) -> Option<(ModelKind, Option<&'static str>)> {
    match choose(scores) {
        Some(model) => Some((model, None)),
        // Scored, but MASE has no scale: yesterday's value was exactly right
        // at every step, so the seasonal naive forecasts it exactly.
        None if scores
            .iter()
            .any(|s| s.origins > 0 && s.accuracy.is_ok() && s.mase().is_none()) =>
        {
            Some((ModelKind::SeasonalNaiveDaily, Some(ZERO_SCALE_NOTE)))
        }
        None if points > ModelKind::SeasonalNaiveDaily.min_history(seasons) => {
            Some((ModelKind::SeasonalNaiveDaily, Some(YESTERDAY_NOTE)))
        }
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEASONS: Seasons = Seasons {
        daily: 24,
        weekly: 168,
    };

    fn noise(seed: &mut u64) -> f64 {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (*seed >> 33) as f64 / (1u64 << 31) as f64 - 0.5
    }

    #[test]
    fn a_weekly_pattern_chooses_a_model_that_knows_the_week() {
        // Weekends are half the load of weekdays: yesterday is a bad guess
        // on Saturday and Monday, last week never is.
        let mut seed = 7;
        let y: Vec<f64> = (0..168 * 3)
            .map(|t| {
                let day = (t / 24) % 7;
                let base = if day >= 5 { 50.0 } else { 100.0 };
                base + 20.0 * (2.0 * std::f64::consts::PI * t as f64 / 24.0).sin()
                    + noise(&mut seed)
            })
            .collect();
        let config = BacktestConfig {
            horizon: 24,
            origins: 14,
            spacing: 12,
            last_only: false,
        };
        let scores = backtest(&y, SEASONS, &ModelKind::ALL, config);
        let chosen = choose(&scores).unwrap();
        assert!(
            matches!(chosen, ModelKind::SeasonalNaiveWeekly | ModelKind::Mstl),
            "chose {chosen}: {scores:#?}"
        );
        let weekly = scores
            .iter()
            .find(|s| s.model == ModelKind::SeasonalNaiveWeekly)
            .unwrap();
        let daily = scores
            .iter()
            .find(|s| s.model == ModelKind::SeasonalNaiveDaily)
            .unwrap();
        assert!(weekly.mase().unwrap() < daily.mase().unwrap());
    }

    #[test]
    fn models_without_enough_history_are_reported_and_not_chosen() {
        let y: Vec<f64> = (0..60).map(|t| 10.0 + (t % 24) as f64).collect();
        let config = BacktestConfig {
            horizon: 2,
            origins: 4,
            spacing: 1,
            last_only: true,
        };
        let scores = backtest(&y, SEASONS, &ModelKind::ALL, config);
        let weekly = scores
            .iter()
            .find(|s| s.model == ModelKind::SeasonalNaiveWeekly)
            .unwrap();
        assert_eq!(weekly.origins, 0);
        let message = weekly.accuracy.as_ref().unwrap_err();
        assert!(message.contains("needs at least 169 points"), "{message}");
        assert_ne!(choose(&scores), Some(ModelKind::SeasonalNaiveWeekly));
    }

    #[test]
    fn nothing_to_score_chooses_nothing() {
        let scores = backtest(
            &[1.0; 10],
            SEASONS,
            &ModelKind::ALL,
            BacktestConfig::daily(SEASONS, 2),
        );
        assert_eq!(choose(&scores), None);
    }

    #[test]
    fn too_short_to_backtest_but_a_day_long_falls_back_to_yesterday() {
        let config = BacktestConfig {
            horizon: 2,
            origins: 4,
            spacing: 1,
            last_only: true,
        };
        // One day and two points: no model can be scored at 4 origins.
        let y: Vec<f64> = (0..26).map(|t| 10.0 + (t % 24) as f64).collect();
        let scores = backtest(&y, SEASONS, &ModelKind::ALL, config);
        assert_eq!(choose(&scores), None);
        assert_eq!(
            choose_or_yesterday(&scores, y.len(), SEASONS),
            Some((ModelKind::SeasonalNaiveDaily, Some(YESTERDAY_NOTE)))
        );
        assert_eq!(choose_or_yesterday(&scores, 25, SEASONS), None);
    }
}
