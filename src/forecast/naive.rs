//! Seasonal naive: the forecast is the value one season earlier. The
//! benchmark every other model must beat, and the scale MASE is measured in.

use super::{Fitted, Forecast, rms};

/// The last season of the series, repeated.
#[derive(Debug, Clone)]
pub struct SeasonalNaive {
    last_season: Vec<f64>,
    /// Standard deviation of the one-season-ahead error in the history.
    sigma: f64,
}

impl SeasonalNaive {
    /// `y` must hold more than `period` points (checked by the caller).
    pub fn fit(y: &[f64], period: usize) -> SeasonalNaive {
        let sigma = rms((period..y.len()).map(|t| y[t] - y[t - period]));
        SeasonalNaive {
            last_season: y[y.len() - period..].to_vec(),
            sigma,
        }
    }
}

impl Fitted for SeasonalNaive {
    fn forecast(&self, horizon: usize) -> Forecast {
        let period = self.last_season.len();
        let mean = (0..horizon).map(|i| self.last_season[i % period]).collect();
        // Error h steps ahead: a random walk over seasons, so it grows with
        // the number of whole seasons the forecast reaches past the data.
        let sigma = (0..horizon)
            .map(|i| self.sigma * ((i / period + 1) as f64).sqrt())
            .collect();
        Forecast { mean, sigma }
    }
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
