//! Forecast accuracy measures, summed over many (actual, forecast) pairs.
//!
//! MASE divides the absolute error by the in-sample mean absolute error of
//! the seasonal naive forecast, so 1.0 means "as good as same time
//! yesterday" and below 1 is better, whatever the metric's units.

use serde::{Deserialize, Serialize};

/// Accumulates errors; read the measures with [`Accuracy::summary`].
#[derive(Debug, Clone, Default)]
pub struct Accuracy {
    scaled: f64,
    scaled_count: usize,
    percent: f64,
    percent_count: usize,
    symmetric: f64,
    count: usize,
    covered: usize,
    intervals: usize,
}

/// MASE, MAPE (%), sMAPE (%) and how many forecasts they rest on. MAPE is
/// `None` when every actual was zero; MASE when the seasonal naive scale was
/// zero (a perfectly periodic history). Coverage is the share (%) of actuals
/// inside the forecast's interval, when intervals were checked.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean absolute scaled error: mean absolute error over the daily seasonal naive's in-sample
    /// one (below 1: better than same time yesterday).
    pub mase: Option<f64>,
    /// Mean absolute percentage error, percent, over the non-zero actuals.
    pub mape: Option<f64>,
    /// Symmetric mean absolute percentage error, percent (0-200).
    pub smape: f64,
    /// How many (forecast, actual) pairs the figures rest on.
    pub count: usize,
    /// Share of actuals inside the forecast's interval, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coverage: Option<f64>,
}

impl Accuracy {
    /// Adds one forecast of `actual`; `scale` is the seasonal naive in-sample
    /// mean absolute error of the history it was made from.
    pub fn add(&mut self, actual: f64, forecast: f64, scale: f64) {
        let error = (actual - forecast).abs();
        if scale > 0.0 {
            self.scaled += error / scale;
            self.scaled_count += 1;
        }
        if actual != 0.0 {
            self.percent += error / actual.abs() * 100.0;
            self.percent_count += 1;
        }
        let denominator = actual.abs() + forecast.abs();
        if denominator > 0.0 {
            self.symmetric += 2.0 * error / denominator * 100.0;
        }
        self.count += 1;
    }

    /// Counts whether `actual` fell inside a forecast interval.
    pub fn add_interval(&mut self, actual: f64, (lower, upper): (f64, f64)) {
        self.intervals += 1;
        if (lower..=upper).contains(&actual) {
            self.covered += 1;
        }
    }

    /// The figures over every pair taken in so far.
    pub fn summary(&self) -> Summary {
        let mean = |sum: f64, n: usize| (n > 0).then(|| sum / n as f64);
        Summary {
            mase: mean(self.scaled, self.scaled_count),
            mape: mean(self.percent, self.percent_count),
            smape: mean(self.symmetric, self.count).unwrap_or(0.0),
            count: self.count,
            coverage: mean(self.covered as f64 * 100.0, self.intervals),
        }
    }
}

/// In-sample mean absolute error of the seasonal naive forecast with
/// `period`; a period the history cannot hold falls back to the naive
/// (previous value) forecast.
pub fn naive_scale(y: &[f64], period: usize) -> f64 {
    let period = if y.len() > period { period } else { 1 };
    if y.len() <= period {
        return 0.0;
    }
    let sum: f64 = (period..y.len())
        .map(|t| (y[t] - y[t - period]).abs())
        .sum();
    sum / (y.len() - period) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_match_hand_computation() {
        let mut acc = Accuracy::default();
        acc.add(100.0, 90.0, 20.0);
        acc.add(50.0, 60.0, 20.0);
        let s = acc.summary();
        assert!((s.mase.unwrap() - 0.5).abs() < 1e-12);
        assert!((s.mape.unwrap() - 15.0).abs() < 1e-12);
        let smape = (2.0 * 10.0 / 190.0 + 2.0 * 10.0 / 110.0) / 2.0 * 100.0;
        assert!((s.smape - smape).abs() < 1e-12);
        assert_eq!(s.count, 2);
    }

    #[test]
    fn zero_actuals_and_zero_scale_leave_their_measure_out() {
        let mut acc = Accuracy::default();
        acc.add(0.0, 0.0, 0.0);
        let s = acc.summary();
        assert_eq!((s.mase, s.mape, s.smape), (None, None, 0.0));
    }

    #[test]
    fn naive_scale_uses_the_season() {
        let y = [1.0, 2.0, 3.0, 2.0, 3.0, 4.0];
        assert!((naive_scale(&y, 3) - 1.0).abs() < 1e-12);
        // Too short for the season: previous-value naive.
        assert!((naive_scale(&[1.0, 3.0], 5) - 2.0).abs() < 1e-12);
    }
}
