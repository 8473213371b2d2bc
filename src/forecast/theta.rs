//! The Theta method (Assimakopoulos and Nikolopoulos, 2000), the M3
//! competition's winner, in the form Hyndman and Billah (2003) showed it
//! equals: simple exponential smoothing with a drift of half the series'
//! least-squares slope. Non-seasonal: [`super::adjusted`] takes the daily
//! profile out first and adds it back.
//!
//! Everything it keeps is a running sum or the smoothed level, so
//! [`Fitted::update`] is O(1) and leaves the state a refit with the same
//! smoothing parameter would.

use super::{ErrorTally, Fitted, Forecast, ForecastError};

/// A fitted Theta model.
#[derive(Debug, Clone)]
pub struct Theta {
    alpha: f64,
    /// The smoothed level after the last point.
    level: f64,
    /// Running sums for the least-squares line through (t, y).
    line: LineSums,
    /// One-step errors of the smoothed level.
    errors: ErrorTally,
}

/// Sums for a least-squares line through (t, y_t), t = 0, 1, ...
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct LineSums {
    n: f64,
    t: f64,
    y: f64,
    ty: f64,
    tt: f64,
}

impl LineSums {
    pub(super) fn add(&mut self, value: f64) {
        let t = self.n;
        self.n += 1.0;
        self.t += t;
        self.y += value;
        self.ty += t * value;
        self.tt += t * t;
    }

    /// The line's value at `t`; the mean at every t for fewer than two
    /// points, 0 for none.
    pub(super) fn value_at(&self, t: f64) -> f64 {
        if self.n == 0.0 {
            return 0.0;
        }
        let slope = self.slope();
        (self.y - slope * self.t) / self.n + slope * t
    }

    /// The line's slope; 0 for fewer than two points.
    pub(super) fn slope(&self) -> f64 {
        let denominator = self.n * self.tt - self.t * self.t;
        if denominator > 0.0 {
            (self.n * self.ty - self.t * self.y) / denominator
        } else {
            0.0
        }
    }
}

/// Smoothing parameters tried, then refined around the best.
const ALPHAS: [f64; 9] = [0.01, 0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9];

impl Theta {
    /// Fits to `y` (at least two points, checked by the caller through the
    /// adjusted model's two days): the smoothing parameter with the least
    /// one-step squared error.
    pub fn fit(y: &[f64]) -> Theta {
        let sse = |alpha: f64| smooth(y, alpha).1;
        let mut best = ALPHAS
            .into_iter()
            .min_by(|a, b| sse(*a).total_cmp(&sse(*b)))
            .unwrap_or(0.5);
        let mut step = best / 2.0;
        for _ in 0..5 {
            for candidate in [best - step, best + step] {
                let candidate = candidate.clamp(0.001, 0.999);
                if sse(candidate) < sse(best) {
                    best = candidate;
                }
            }
            step /= 2.0;
        }
        let (level, _, errors) = smooth(y, best);
        let mut line = LineSums::default();
        y.iter().for_each(|v| line.add(*v));
        Theta {
            alpha: best,
            level,
            line,
            errors,
        }
    }
}

/// Simple exponential smoothing over `y` from its first value: the last
/// level, the sum of squared one-step errors and their tally.
fn smooth(y: &[f64], alpha: f64) -> (f64, f64, ErrorTally) {
    let mut level = y.first().copied().unwrap_or(0.0);
    let (mut sse, mut errors) = (0.0, ErrorTally::default());
    for &value in y.iter().skip(1) {
        let error = value - level;
        sse += error * error;
        errors.add(error);
        level += alpha * error;
    }
    (level, sse, errors)
}

impl Fitted for Theta {
    fn clone_box(&self) -> Box<dyn Fitted> {
        Box::new(self.clone())
    }

    fn forecast(&self, horizon: usize) -> Forecast {
        let alpha = self.alpha;
        let drift = self.line.slope() / 2.0;
        // Hyndman and Billah's h-step forecast; the (1 - alpha)^n term is
        // the smoothing's start still weighing in.
        let start = (1.0 - alpha).powf(self.line.n);
        let sigma_1 = self.errors.rms();
        let mut f = Forecast {
            mean: Vec::with_capacity(horizon),
            sigma: Vec::with_capacity(horizon),
        };
        for h in 1..=horizon {
            let h = h as f64;
            f.mean
                .push(self.level + drift * (h - 1.0 + (1.0 - start) / alpha));
            // Simple exponential smoothing's h-step error variance.
            f.sigma
                .push(sigma_1 * (1.0 + (h - 1.0) * alpha * alpha).sqrt());
        }
        f
    }

    fn update(&mut self, value: f64) -> Result<(), ForecastError> {
        if !value.is_finite() {
            return Err(ForecastError::NotFinite(self.line.n as usize));
        }
        let error = value - self.level;
        self.errors.add(error);
        self.level += self.alpha * error;
        self.line.add(value);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_noiseless_line_is_forecast_along_half_its_slope_past_the_level() {
        let y: Vec<f64> = (0..200).map(|t| 10.0 + 0.5 * t as f64).collect();
        let model = Theta::fit(&y);
        assert!((model.line.slope() - 0.5).abs() < 1e-9);
        let f = model.forecast(10);
        // Each step ahead adds half the slope: Theta's drift.
        for h in 1..10 {
            let gap = f.mean[h] - f.mean[h - 1];
            assert!((gap - 0.25).abs() < 1e-9, "step {h}: {gap}");
        }
        assert!(f.sigma.iter().all(|s| s.is_finite()));
    }
}
