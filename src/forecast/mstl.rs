//! The multi-seasonal model: MSTL (augurs-mstl) splits the series into a
//! daily cycle, a weekly cycle once two weeks of history are there, and the
//! rest; an ETS model (augurs-ets AutoETS, non-seasonal) forecasts the rest
//! and the cycles are added back.
//!
//! The ETS model is fitted on the last few days of the deseasonalised series
//! only. Its optimiser is what costs (about 40 ms on 14 days of 5-minute
//! data, against 2 ms for the decomposition), and the forecast one lead time
//! ahead depends on the recent level and trend, not on the level two weeks ago.

use super::{FitResult, Fitted, Forecast, ForecastError, ModelKind, Seasons, z};
use augurs_core::{Fit, Predict};
use augurs_ets::AutoETS;
use augurs_mstl::{FittedMSTLModel, FittedTrendModel, MSTLModel, TrendModel};
use std::borrow::Cow;

/// The interval level asked of augurs; sigma is read back from it.
const LEVEL: f64 = 0.95;

/// Days of deseasonalised series the ETS model is fitted on.
const TREND_WINDOW_DAYS: usize = 3;

/// A trend model fitted on the last `points` values of what it is given.
#[derive(Debug)]
struct RecentTrend<T> {
    inner: T,
    points: usize,
}

type TrendError = Box<dyn std::error::Error + Send + Sync + 'static>;

impl<T: TrendModel> TrendModel for RecentTrend<T> {
    fn name(&self) -> Cow<'_, str> {
        Cow::Owned(format!(
            "{} on the last {} points",
            self.inner.name(),
            self.points
        ))
    }

    fn fit(&self, y: &[f64]) -> Result<Box<dyn FittedTrendModel + Sync + Send>, TrendError> {
        self.inner.fit(&y[y.len().saturating_sub(self.points)..])
    }
}

/// A fitted MSTL + ETS model.
pub struct Mstl {
    fitted: FittedMSTLModel,
    /// The periods used: daily, and weekly when the history allowed it.
    pub periods: Vec<usize>,
}

impl std::fmt::Debug for Mstl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mstl")
            .field("periods", &self.periods)
            .finish()
    }
}

fn failed(message: impl ToString) -> ForecastError {
    ForecastError::Model {
        model: ModelKind::Mstl,
        message: message.to_string(),
    }
}

impl Mstl {
    /// Fits to `y`, which holds at least two days (checked by the caller).
    pub fn fit(y: &[f64], seasons: Seasons) -> FitResult<Mstl> {
        let mut periods = vec![seasons.daily];
        if y.len() >= 2 * seasons.weekly {
            periods.push(seasons.weekly);
        }
        // Additive error and trend only: the deseasonalised series can cross
        // zero, which multiplicative ETS components cannot take.
        let trend = RecentTrend {
            inner: AutoETS::new(1, "AZN").map_err(failed)?.into_trend_model(),
            points: TREND_WINDOW_DAYS * seasons.daily,
        };
        let model = MSTLModel::new(periods.clone(), trend);
        let fitted = model.fit(y).map_err(failed)?;
        Ok(Mstl { fitted, periods })
    }
}

impl Fitted for Mstl {
    fn forecast(&self, horizon: usize) -> Forecast {
        let Ok(f) = self.fitted.predict(horizon, LEVEL) else {
            // augurs only fails on a horizon of zero or an unfitted model.
            return Forecast {
                mean: vec![f64::NAN; horizon],
                sigma: vec![f64::NAN; horizon],
            };
        };
        let zq = z(0.5 + LEVEL / 2.0);
        let sigma = match &f.intervals {
            Some(iv) => iv
                .upper
                .iter()
                .zip(&f.point)
                .map(|(u, m)| ((u - m) / zq).max(0.0))
                .collect(),
            None => vec![f64::NAN; horizon],
        };
        Forecast {
            mean: f.point,
            sigma,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forecasts_a_daily_and_weekly_pattern() {
        let seasons = Seasons {
            daily: 24,
            weekly: 168,
        };
        let value = |t: usize| {
            let day = 2.0 * std::f64::consts::PI * t as f64 / 24.0;
            let weekday = (t / 24) % 7;
            100.0 + 30.0 * day.sin() + if weekday >= 5 { -20.0 } else { 0.0 }
        };
        let y: Vec<f64> = (0..168 * 3).map(value).collect();
        let model = Mstl::fit(&y, seasons).unwrap();
        assert_eq!(model.periods, vec![24, 168]);
        let f = model.forecast(48);
        for h in 0..48 {
            let truth = value(168 * 3 + h);
            assert!(
                (f.mean[h] - truth).abs() < 3.0,
                "step {h}: {} vs {truth}",
                f.mean[h]
            );
            assert!(f.sigma[h].is_finite());
        }
    }
}
