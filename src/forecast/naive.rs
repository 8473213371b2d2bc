//! Seasonal naive: the forecast is the value one season earlier. The
//! benchmark every other model must beat, and the scale MASE is measured in.

use super::{ErrorTally, Fitted, Forecast, ForecastError};

/// The last season of the series, repeated.
#[derive(Debug, Clone)]
pub struct SeasonalNaive {
    /// The last season as a ring: `last_season[oldest]` is the value one
    /// season before the next step.
    last_season: Vec<f64>,
    oldest: usize,
    /// The one-season-ahead errors in the history.
    errors: ErrorTally,
}

impl SeasonalNaive {
    /// `y` must hold more than `period` points (checked by the caller).
    pub fn fit(y: &[f64], period: usize) -> SeasonalNaive {
        let mut errors = ErrorTally::default();
        for t in period..y.len() {
            errors.add(y[t] - y[t - period]);
        }
        SeasonalNaive {
            last_season: y[y.len() - period..].to_vec(),
            oldest: 0,
            errors,
        }
    }
}

impl Fitted for SeasonalNaive {
    fn clone_box(&self) -> Box<dyn Fitted> {
        Box::new(self.clone())
    }

    fn forecast(&self, horizon: usize) -> Forecast {
        let period = self.last_season.len();
        let mean = (0..horizon)
            .map(|i| self.last_season[(self.oldest + i) % period])
            .collect();
        Forecast {
            mean,
            sigma: season_walk_sigma(self.errors.rms(), horizon, period),
        }
    }

    fn update(&mut self, value: f64) -> Result<(), ForecastError> {
        if !value.is_finite() {
            return Err(ForecastError::NotFinite(
                self.errors.count + self.last_season.len(),
            ));
        }
        let season_ago = &mut self.last_season[self.oldest];
        self.errors.add(value - *season_ago);
        *season_ago = value;
        self.oldest = (self.oldest + 1) % self.last_season.len();
        Ok(())
    }
}

/// The error spread at each of `horizon` steps ahead of a model that
/// repeats a season: a random walk over seasons, so it grows with the
/// number of whole seasons the forecast reaches past the data.
pub(crate) fn season_walk_sigma(sigma_1: f64, horizon: usize, period: usize) -> Vec<f64> {
    (0..horizon)
        .map(|i| sigma_1 * ((i / period + 1) as f64).sqrt())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_the_last_season_exactly() {
        let y: Vec<f64> = (0..30)
            .map(|i| (i % 10) as f64 * 3.0 + (i / 10) as f64)
            .collect();
        let f = SeasonalNaive::fit(&y, 10).forecast(25);
        for (i, v) in f.mean.iter().enumerate() {
            assert_eq!(*v, y[20 + i % 10], "step {i}");
        }
        // Each season sits 1 above the last: the one-season error is exactly 1.
        assert!((f.sigma[0] - 1.0).abs() < 1e-12);
        assert!((f.sigma[10] - 2f64.sqrt()).abs() < 1e-12);
    }

    #[test]
    fn a_perfectly_periodic_series_has_zero_error() {
        let y: Vec<f64> = (0..50).map(|i| ((i % 5) as f64).powi(2)).collect();
        let f = SeasonalNaive::fit(&y, 5).forecast(7);
        assert_eq!(f.mean, vec![0.0, 1.0, 4.0, 9.0, 16.0, 0.0, 1.0]);
        assert!(f.sigma.iter().all(|s| *s == 0.0));
    }
}
