//! The multi-seasonal model: MSTL (the stlrs decomposition augurs-mstl
//! uses) splits the series into a daily cycle, a weekly cycle once two weeks
//! of history are there, and the rest; a damped Holt model (Holt-Winters
//! without a cycle, [`Seasonality::None`]) forecasts the rest and the cycles'
//! last periods are added back.
//!
//! The remainder model is fitted on the last few days of the deseasonalised
//! series only: the forecast one lead time ahead depends on the recent level
//! and trend, not on the level two weeks ago. Between refits a new point is
//! deseasonalised with the cycles held and moves the remainder model's
//! level and trend ([`Fitted::update`]); the cycles are re-estimated at the
//! next refit. augurs-ets's AutoETS fitted the remainder before; its state is
//! private, so it could not be updated point by point.

use super::holt_winters::{HoltWinters, Seasonality};
use super::{FitResult, Fitted, Forecast, ForecastError, ModelKind, Seasons};
use augurs_mstl::stlrs::MstlParams;

/// Days of deseasonalised series the remainder model is fitted on.
const TREND_WINDOW_DAYS: usize = 3;

/// A fitted MSTL + damped Holt model.
#[derive(Debug, Clone)]
pub struct Mstl {
    /// The periods used: daily, and weekly when the history allowed it.
    pub periods: Vec<usize>,
    /// Per period, its cycle's last period: `cycles[k][t % periods[k]]`
    /// belongs to time index t.
    cycles: Vec<Vec<f64>>,
    /// The model of the deseasonalised series.
    remainder: HoltWinters,
    /// Length of the series taken in (to index the cycles going forward).
    n: usize,
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
        let decomposition = MstlParams::new().fit(y, &periods).map_err(failed)?;
        let n = y.len();
        let cycles: Vec<Vec<f64>> = periods
            .iter()
            .zip(decomposition.seasonal())
            .map(|(&period, component)| {
                let mut cycle = vec![0.0; period];
                for (t, value) in component.iter().enumerate().skip(n - period) {
                    cycle[t % period] = *value;
                }
                cycle
            })
            .collect();
        let deseasonalised: Vec<f64> = decomposition
            .trend()
            .iter()
            .zip(decomposition.remainder())
            .map(|(t, r)| t + r)
            .collect();
        let recent = &deseasonalised[n.saturating_sub(TREND_WINDOW_DAYS * seasons.daily)..];
        let remainder = HoltWinters::fit(recent, 1, Seasonality::None)?;
        Ok(Mstl {
            periods,
            cycles,
            remainder,
            n,
        })
    }

    /// The cycles' sum at time index t.
    fn cycles_at(&self, t: usize) -> f64 {
        self.periods
            .iter()
            .zip(&self.cycles)
            .map(|(period, cycle)| cycle[t % period])
            .sum()
    }
}

impl Fitted for Mstl {
    fn clone_box(&self) -> Box<dyn Fitted> {
        Box::new(self.clone())
    }

    fn forecast(&self, horizon: usize) -> Forecast {
        let mut f = self.remainder.forecast(horizon);
        for (h, mean) in f.mean.iter_mut().enumerate() {
            *mean += self.cycles_at(self.n + h);
        }
        f
    }

    fn update(&mut self, value: f64) -> Result<(), ForecastError> {
        if !value.is_finite() {
            return Err(ForecastError::NotFinite(self.n));
        }
        self.remainder.update(value - self.cycles_at(self.n))?;
        self.n += 1;
        Ok(())
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
