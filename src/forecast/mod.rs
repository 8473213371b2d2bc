//! Load forecasting over a regular series: the models, their prediction
//! intervals, accuracy measures, a rolling-origin backtest and the automatic
//! choice of model.
//!
//! Pure: a series comes in as numbers at a fixed step, forecasts come out.
//! The predictive policy ([`crate::policy::predictive`]) and `ebb forecast`
//! both run on this module, so what the command shows is what the policy does.

pub mod accuracy;
pub mod adjusted;
pub mod backtest;
pub mod candidate;
pub mod history;
pub mod holt_winters;
pub mod level;
pub mod memo;
pub mod mstl;
pub mod naive;
pub mod plot;
pub mod profile;
pub mod report;
pub mod robust;
pub mod theta;

/// Deterministic noise for the forecasting tests: a 64-bit LCG step
/// mapped to [-0.5, 0.5), so series are noisy but reproducible.
#[cfg(test)]
pub(crate) fn test_noise(seed: &mut u64) -> f64 {
    *seed = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (*seed >> 33) as f64 / (1u64 << 31) as f64 - 0.5
}

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, Normal};
use std::fmt;

/// Season lengths in steps of the series.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seasons {
    /// Steps in a day.
    pub daily: usize,
    /// Steps in a week (7 x `daily`).
    pub weekly: usize,
}

impl Seasons {
    /// Season lengths for a series sampled every `step_secs` seconds; the
    /// step must divide a day.
    pub fn for_step(step_secs: u64) -> Result<Seasons, ForecastError> {
        if step_secs == 0 || 86_400 % step_secs != 0 {
            return Err(ForecastError::Step(step_secs));
        }
        let daily = (86_400 / step_secs) as usize;
        if daily < 2 {
            return Err(ForecastError::Step(step_secs));
        }
        Ok(Seasons {
            daily,
            weekly: daily * 7,
        })
    }

    /// Steps the recent level is measured over: the last 2 hours (at
    /// least one step).
    pub fn level_window(self) -> usize {
        (self.daily / 12).max(1)
    }

    /// Steps either side of a point its spike test looks at: 30 minutes
    /// (at least one step). 15 minutes and 1 hour were measured too (README).
    pub fn spike_window(self) -> usize {
        (self.daily / 48).max(1)
    }
}

/// A model fit's result.
pub type FitResult<T> = Result<T, ForecastError>;

/// Why a model could not fit or forecast.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ForecastError {
    /// The history is shorter than the model needs.
    #[error("{model} needs at least {needed} points of history, got {got}")]
    TooShort {
        /// The model.
        model: ModelKind,
        /// Points it needs.
        needed: usize,
        /// Points the history has.
        got: usize,
    },
    /// A multiplicative model met a value at or below zero.
    #[error("{model} needs positive values, got {value} at index {index}")]
    NotPositive {
        /// The model.
        model: ModelKind,
        /// The value.
        value: f64,
        /// Its index in the series, from 0.
        index: usize,
    },
    /// A value that is NaN or infinite, at this index.
    #[error("the series holds a value that is not finite at index {0}")]
    NotFinite(usize),
    /// A step (seconds) that does not divide a day into at least two steps.
    #[error(
        "the step must divide a day (86400s) into at least 2 steps, e.g. 60s, 300s or 3600s; {0}s does not"
    )]
    Step(u64),
    /// The model failed for a reason of its own.
    #[error("{model} failed: {message}")]
    Model {
        /// The model.
        model: ModelKind,
        /// What went wrong.
        message: String,
    },
    /// The forecast is one a predictive policy would refuse to act on.
    #[error("{candidate}'s forecast is refused {message}")]
    Refused {
        /// The model or combination that forecast it.
        candidate: String,
        /// Where and why, e.g. `at 2026-01-01 10:00: the forecast is not finite`.
        message: String,
    },
}

impl ForecastError {
    /// The error as `model`'s: a model built on another (a damped Holt
    /// inside MSTL or ETS) reports its failures under its own name.
    fn naming_model(self, model: ModelKind) -> ForecastError {
        match self {
            ForecastError::TooShort { needed, got, .. } => {
                ForecastError::TooShort { model, needed, got }
            }
            ForecastError::NotPositive { value, index, .. } => ForecastError::NotPositive {
                model,
                value,
                index,
            },
            ForecastError::Model { message, .. } => ForecastError::Model { model, message },
            other => other,
        }
    }
}

/// The models ebb can forecast with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// The value at the same time yesterday (as every model's history,
    /// with isolated spikes clipped: [`robust`]).
    SeasonalNaiveDaily,
    /// The value at the same time last week.
    SeasonalNaiveWeekly,
    /// Holt-Winters, damped trend, additive daily seasonality.
    HoltWintersAdditive,
    /// Holt-Winters, damped trend, multiplicative daily seasonality.
    HoltWintersMultiplicative,
    /// MSTL decomposition (daily, and weekly once two weeks are there) with
    /// an ETS model of the deseasonalised series.
    Mstl,
    /// Damped-trend exponential smoothing (ETS(A,Ad,N)) of the series with
    /// its average daily profile taken out (classical decomposition).
    EtsDamped,
    /// The Theta method (exponential smoothing with half the linear trend's
    /// drift) of the series with its average daily profile taken out.
    Theta,
    /// The median of the same time over the last 7 days, moved to the level
    /// of the last 2 hours when that is a shift, not noise; a day unlike
    /// the profile (a change of shape) makes it forget the days before.
    SeasonalMedianDaily,
    /// The median of the same time over the last 7 days, moved to the
    /// level of the last 2 hours.
    SeasonalMedianDailyLevel,
    /// The value at the same time last week, moved to the level of the
    /// last 2 hours.
    SeasonalNaiveWeeklyLevel,
    /// The median of the last 2 hours, held flat: a level without a daily
    /// shape, which neither a spike nor yesterday's noise moves.
    RecentMedian,
}

impl ModelKind {
    /// Every model, in the order reports list them.
    pub const ALL: [ModelKind; 11] = [
        ModelKind::SeasonalNaiveDaily,
        ModelKind::SeasonalNaiveWeekly,
        ModelKind::HoltWintersAdditive,
        ModelKind::HoltWintersMultiplicative,
        ModelKind::Mstl,
        ModelKind::EtsDamped,
        ModelKind::Theta,
        ModelKind::SeasonalMedianDaily,
        ModelKind::SeasonalMedianDailyLevel,
        ModelKind::SeasonalNaiveWeeklyLevel,
        ModelKind::RecentMedian,
    ];

    /// The model's name as the policy file and reports spell it, e.g. `holt-winters-additive`.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::SeasonalNaiveDaily => "seasonal-naive-daily",
            ModelKind::SeasonalNaiveWeekly => "seasonal-naive-weekly",
            ModelKind::HoltWintersAdditive => "holt-winters-additive",
            ModelKind::HoltWintersMultiplicative => "holt-winters-multiplicative",
            ModelKind::Mstl => "mstl",
            ModelKind::EtsDamped => "ets-damped",
            ModelKind::Theta => "theta",
            ModelKind::SeasonalMedianDaily => "seasonal-median-daily",
            ModelKind::SeasonalMedianDailyLevel => "seasonal-median-daily-level",
            ModelKind::SeasonalNaiveWeeklyLevel => "seasonal-naive-weekly-level",
            ModelKind::RecentMedian => "recent-median",
        }
    }

    /// The fewest points the model fits on.
    pub fn min_history(self, seasons: Seasons) -> usize {
        match self {
            // One season to repeat (and, past it, the errors its interval is
            // measured on).
            ModelKind::SeasonalNaiveDaily => seasons.daily,
            ModelKind::SeasonalNaiveWeekly => seasons.weekly,
            // One season to initialise, one to fit the smoothing parameters on.
            ModelKind::HoltWintersAdditive | ModelKind::HoltWintersMultiplicative => {
                2 * seasons.daily
            }
            // STL needs two full periods, as does a daily profile measured
            // around a day-long moving average.
            ModelKind::Mstl | ModelKind::EtsDamped | ModelKind::Theta => 2 * seasons.daily,
            // A median of fewer than two days would be the daily naive.
            ModelKind::SeasonalMedianDaily | ModelKind::SeasonalMedianDailyLevel => {
                2 * seasons.daily
            }
            // A day of errors for its interval, as the smoothers have.
            ModelKind::RecentMedian => 2 * seasons.daily,
            ModelKind::SeasonalNaiveWeeklyLevel => self
                .profile(seasons)
                .map_or(seasons.weekly, profile::ProfileSpec::min_history),
        }
    }

    /// The shape of a seasonal profile model; `None` for the others.
    fn profile(self, seasons: Seasons) -> Option<profile::ProfileSpec> {
        use profile::Level;
        let window = seasons.level_window();
        let (period, periods, level) = match self {
            ModelKind::SeasonalMedianDaily => (seasons.daily, 7, Level::OnShift { window }),
            ModelKind::SeasonalMedianDailyLevel => (seasons.daily, 7, Level::Always { window }),
            ModelKind::SeasonalNaiveWeeklyLevel => (seasons.weekly, 1, Level::Always { window }),
            _ => return None,
        };
        Some(profile::ProfileSpec {
            period,
            periods,
            level,
            // The median daily profile, which lags a change of shape by
            // days, forgets what was before one; the others follow the
            // recent level.
            forget_on_change: self == ModelKind::SeasonalMedianDaily,
        })
    }

    /// Fits the model to `y` (oldest first, one value per step), with its
    /// isolated spikes clipped first ([`robust`]): no model repeats or
    /// smooths in what does not come back.
    pub fn fit(self, y: &[f64], seasons: Seasons) -> Result<Box<dyn Fitted>, ForecastError> {
        self.fit_clipped(
            &robust::clipped(y, seasons.spike_window(), robust::CLIP_K),
            seasons,
        )
    }

    /// Fits the model to `y` as [`ModelKind::fit`] does, `y` having been
    /// through [`robust::clipped`] already: several models fitted to one
    /// history (the backtest's) share one clipping.
    pub fn fit_clipped(
        self,
        y: &[f64],
        seasons: Seasons,
    ) -> Result<Box<dyn Fitted>, ForecastError> {
        let needed = self.min_history(seasons);
        if y.len() < needed {
            return Err(ForecastError::TooShort {
                model: self,
                needed,
                got: y.len(),
            });
        }
        if let Some(index) = y.iter().position(|v| !v.is_finite()) {
            return Err(ForecastError::NotFinite(index));
        }
        self.fit_checked(y, seasons)
            .map_err(|e| e.naming_model(self))
    }

    /// [`ModelKind::fit`] past its checks; an error may name the model a
    /// part was (MSTL's and ETS's damped Holt).
    fn fit_checked(self, y: &[f64], seasons: Seasons) -> Result<Box<dyn Fitted>, ForecastError> {
        match self {
            ModelKind::SeasonalNaiveDaily => {
                Ok(Box::new(naive::SeasonalNaive::fit(y, seasons.daily)))
            }
            ModelKind::SeasonalNaiveWeekly => {
                Ok(Box::new(naive::SeasonalNaive::fit(y, seasons.weekly)))
            }
            ModelKind::HoltWintersAdditive => Ok(Box::new(holt_winters::HoltWinters::fit(
                y,
                seasons.daily,
                holt_winters::Seasonality::Additive,
            )?)),
            ModelKind::HoltWintersMultiplicative => Ok(Box::new(holt_winters::HoltWinters::fit(
                y,
                seasons.daily,
                holt_winters::Seasonality::Multiplicative,
            )?)),
            ModelKind::Mstl => Ok(Box::new(mstl::Mstl::fit(y, seasons)?)),
            ModelKind::EtsDamped => Ok(Box::new(adjusted::Adjusted::fit(
                y,
                seasons.daily,
                |rest| {
                    let model =
                        holt_winters::HoltWinters::fit(rest, 1, holt_winters::Seasonality::None)?;
                    Ok(Box::new(model))
                },
            )?)),
            ModelKind::Theta => Ok(Box::new(adjusted::Adjusted::fit(
                y,
                seasons.daily,
                |rest| Ok(Box::new(theta::Theta::fit(rest))),
            )?)),
            ModelKind::RecentMedian => Ok(Box::new(level::RecentLevel::fit(
                y,
                seasons.level_window(),
                seasons.daily,
            ))),
            ModelKind::SeasonalMedianDaily
            | ModelKind::SeasonalMedianDailyLevel
            | ModelKind::SeasonalNaiveWeeklyLevel => {
                let spec = self.profile(seasons).ok_or_else(|| ForecastError::Model {
                    model: self,
                    message: "no seasonal profile shape".into(),
                })?;
                Ok(Box::new(profile::SeasonalProfile::fit(y, spec)))
            }
        }
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ModelKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<_> = ModelKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown model `{s}`, expected one of {}", names.join(", "))
            })
    }
}

/// A model fitted to a series, ready to forecast past its end.
pub trait Fitted: Send {
    /// The next `horizon` steps after the series the model was fitted on
    /// (and the points [`Fitted::update`] took in since).
    fn forecast(&self, horizon: usize) -> Forecast;

    /// Takes in the series' next value in O(1): the model's state moves one
    /// step with its fitted parameters held, so a forecast starts after it.
    /// Refitting re-estimates the parameters; updating between refits is
    /// what keeps a replay of weeks fast. An error (a value the model cannot
    /// take, a state gone out of range) leaves the model to be refitted.
    fn update(&mut self, value: f64) -> Result<(), ForecastError>;

    /// A copy with its own state, so one fit can be shared between replays
    /// ([`memo::ForecastMemo`]) and each updated on its own.
    fn clone_box(&self) -> Box<dyn Fitted>;
}

/// A forecast: for each step ahead, the mean and the standard deviation of
/// the forecast error (a normal approximation, from the model's residuals).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Forecast {
    /// The forecast mean at each step ahead (index 0 is one step ahead).
    pub mean: Vec<f64>,
    /// The standard deviation of the forecast error at each step ahead.
    pub sigma: Vec<f64>,
}

impl Forecast {
    /// Steps ahead the forecast covers.
    pub fn len(&self) -> usize {
        self.mean.len()
    }

    /// True when the forecast covers no step.
    pub fn is_empty(&self) -> bool {
        self.mean.is_empty()
    }

    /// The `q` quantile (0 < q < 1) of the load `index` steps ahead (0 = the
    /// first step after the series). Load is never negative.
    pub fn quantile(&self, index: usize, q: f64) -> f64 {
        (self.mean[index] + z(q) * self.sigma[index]).max(0.0)
    }

    /// The central interval holding `level` (e.g. 0.8) of the probability.
    pub fn interval(&self, index: usize, level: f64) -> (f64, f64) {
        let tail = (1.0 - level) / 2.0;
        (self.quantile(index, tail), self.quantile(index, 1.0 - tail))
    }
}

/// The standard normal quantile.
pub fn z(q: f64) -> f64 {
    let normal = Normal::standard();
    normal.inverse_cdf(q.clamp(1e-9, 1.0 - 1e-9))
}

/// A running sum of squared errors: a model's error spread, kept current
/// as [`Fitted::update`] takes new points in.
#[derive(Debug, Clone, Copy, Default)]
struct ErrorTally {
    sum_squares: f64,
    count: usize,
}

impl ErrorTally {
    fn add(&mut self, error: f64) {
        self.sum_squares += error * error;
        self.count += 1;
    }

    /// Root mean square error; 0 before any error.
    fn rms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            (self.sum_squares / self.count as f64).sqrt()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEASONS: Seasons = Seasons {
        daily: 48,
        weekly: 336,
    };

    /// Noiseless: a daily and a weekly cycle on a slowly rising level.
    fn load(t: usize) -> f64 {
        let tau = 2.0 * std::f64::consts::PI * t as f64;
        100.0 + 0.02 * t as f64 + 30.0 * (tau / 48.0).sin() + 10.0 * (tau / 336.0).sin()
    }

    /// Largest difference between two forecasts' means.
    fn largest_gap(a: &Forecast, b: &Forecast) -> f64 {
        a.mean
            .iter()
            .zip(&b.mean)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f64::max)
    }

    #[test]
    fn a_clipped_spike_does_not_move_the_forecast() {
        // Ten noisy days; yesterday at 10:00, one point 50 times the level.
        let mut seed = 11;
        let clean: Vec<f64> = (0..10 * 48)
            .map(|t| load(t) + 20.0 * test_noise(&mut seed))
            .collect();
        let mut spiked = clean.clone();
        spiked[9 * 48 + 20] *= 50.0;
        for model in [
            ModelKind::SeasonalNaiveDaily,
            ModelKind::HoltWintersAdditive,
            ModelKind::EtsDamped,
        ] {
            let forecast = |y: &[f64]| model.fit(y, SEASONS).unwrap().forecast(48);
            let gap = largest_gap(&forecast(&spiked), &forecast(&clean));
            // Unclipped, the naive repeats the spike (a gap of ~5000) and a
            // smoother carries it into its state; clipped, it is within the noise.
            assert!(gap < 40.0, "{model}: the spike moved the forecast by {gap}");
        }
    }

    #[test]
    fn a_failed_fit_names_the_model_asked_for() {
        // Squared errors overflow: no smoothing parameters give a finite fit.
        let y: Vec<f64> = (0..3 * 48)
            .map(|t| 1e200 * (1.0 + (t % 7) as f64))
            .collect();
        let error = ModelKind::EtsDamped.fit(&y, SEASONS).err().unwrap();
        assert!(
            error.to_string().starts_with("ets-damped failed: "),
            "{error}"
        );
    }

    #[test]
    fn an_update_equals_a_refit_on_a_noiseless_series() {
        // Fit on three weeks, take one more day in point by point, and
        // compare the next day's forecast with a refit on all of it; the
        // stale fit, forecasting a day further instead, is the foil.
        let (fitted_on, taken_in, horizon) = (3 * 336, 48, 48);
        let y: Vec<f64> = (0..fitted_on + taken_in).map(load).collect();
        for model in ModelKind::ALL {
            let mut updated = model.fit(&y[..fitted_on], SEASONS).unwrap();
            let stale = updated.forecast(taken_in + horizon);
            let stale = Forecast {
                mean: stale.mean[taken_in..].to_vec(),
                sigma: stale.sigma[taken_in..].to_vec(),
            };
            for &value in &y[fitted_on..] {
                updated.update(value).unwrap();
            }
            let refitted = model.fit(&y, SEASONS).unwrap().forecast(horizon);
            let updated = updated.forecast(horizon);
            let (gap, stale_gap) = (
                largest_gap(&updated, &refitted),
                largest_gap(&stale, &refitted),
            );
            println!("{model}: updated vs refit {gap:.4}, stale vs refit {stale_gap:.4}");
            assert!(gap < 0.5, "{model}: updated vs refit differ by {gap}");
            assert!(
                gap <= stale_gap,
                "{model}: updating ({gap}) should be closer to a refit than the stale fit ({stale_gap})"
            );
            // The spreads: finite, and one step ahead both near zero on a
            // noiseless series (within 0.5% of the level of 100).
            assert!(updated.sigma.iter().all(|s| s.is_finite()), "{model}");
            let (u, r) = (updated.sigma[0], refitted.sigma[0]);
            assert!(
                (u - r).abs() < 0.5,
                "{model}: one-step sigma {u} updated vs {r} refitted"
            );
        }
    }
}
