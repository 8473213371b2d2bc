//! Classical seasonal adjustment: the average daily profile is taken out of
//! the series, a non-seasonal model forecasts what is left, and the profile
//! is added back. The way the M3/M4 benchmarks run Theta and damped
//! exponential smoothing on seasonal data.
//!
//! The profile is additive (load minus its centred daily moving average,
//! averaged per time of day): a load can be zero, which a multiplicative
//! profile cannot divide by. Between refits the profile is held and each new
//! point, adjusted, goes to the inner model's [`Fitted::update`].

use super::{Fitted, Forecast, ForecastError};

/// A non-seasonal model of the adjusted series, and the profile to add back.
pub struct Adjusted {
    /// `profile[t % period]` belongs to time index t; it sums to zero.
    profile: Vec<f64>,
    /// The model of the adjusted series.
    inner: Box<dyn Fitted>,
    /// Length of the series taken in (to index the profile going forward).
    n: usize,
}

impl Adjusted {
    /// Takes the daily profile (`period` steps) out of `y`, which holds at
    /// least two periods (checked by the caller), and fits `fit_inner` to
    /// the rest.
    pub fn fit(
        y: &[f64],
        period: usize,
        fit_inner: impl FnOnce(&[f64]) -> Result<Box<dyn Fitted>, ForecastError>,
    ) -> Result<Adjusted, ForecastError> {
        let profile = daily_profile(y, period);
        let adjusted: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(t, v)| v - profile[t % period])
            .collect();
        Ok(Adjusted {
            inner: fit_inner(&adjusted)?,
            profile,
            n: y.len(),
        })
    }
}

impl Fitted for Adjusted {
    fn clone_box(&self) -> Box<dyn Fitted> {
        Box::new(Adjusted {
            profile: self.profile.clone(),
            inner: self.inner.clone_box(),
            n: self.n,
        })
    }

    fn forecast(&self, horizon: usize) -> Forecast {
        let mut f = self.inner.forecast(horizon);
        let period = self.profile.len();
        for (h, mean) in f.mean.iter_mut().enumerate() {
            *mean += self.profile[(self.n + h) % period];
        }
        f
    }

    fn update(&mut self, value: f64) -> Result<(), ForecastError> {
        if !value.is_finite() {
            return Err(ForecastError::NotFinite(self.n));
        }
        let period = self.profile.len();
        self.inner.update(value - self.profile[self.n % period])?;
        self.n += 1;
        Ok(())
    }
}

/// The average daily profile of `y` (at least two periods long): each
/// point minus the centred moving average over one period around it (a
/// 2 x period average for an even period), averaged per time of day and
/// centred on zero.
pub fn daily_profile(y: &[f64], period: usize) -> Vec<f64> {
    let (mut sums, mut counts) = (vec![0.0; period], vec![0usize; period]);
    for (t, centred) in centred_average(y, period) {
        sums[t % period] += y[t] - centred;
        counts[t % period] += 1;
    }
    let mut profile: Vec<f64> = sums
        .iter()
        .zip(&counts)
        .map(|(s, c)| if *c > 0 { s / *c as f64 } else { 0.0 })
        .collect();
    let mean = profile.iter().sum::<f64>() / period as f64;
    for p in &mut profile {
        *p -= mean;
    }
    profile
}

/// The centred moving average of `y` over one period (a 2 x period
/// average for an even period), as (index, average) at every index with a
/// whole period around it.
pub fn centred_average(y: &[f64], period: usize) -> Vec<(usize, f64)> {
    let half = period / 2;
    // prefix[i] = sum of y[..i]
    let mut prefix = Vec::with_capacity(y.len() + 1);
    prefix.push(0.0);
    for v in y {
        prefix.push(prefix.last().copied().unwrap_or(0.0) + v);
    }
    let window = |from: usize, to: usize| (prefix[to] - prefix[from]) / (to - from) as f64;
    (half..y.len().saturating_sub(half))
        .map(|t| {
            let centred = if period % 2 == 1 {
                window(t - half, t + half + 1)
            } else {
                // The mean of the two period-long windows either side of t.
                (window(t - half, t + half) + window(t + 1 - half, t + 1 + half)) / 2.0
            };
            (t, centred)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_of_a_cycle_on_a_ramp_is_the_cycle() {
        let period = 24;
        let cycle = |t: usize| 10.0 * (2.0 * std::f64::consts::PI * t as f64 / 24.0).sin();
        let y: Vec<f64> = (0..period * 5)
            .map(|t| 50.0 + 0.3 * t as f64 + cycle(t))
            .collect();
        let profile = daily_profile(&y, period);
        for (k, p) in profile.iter().enumerate() {
            assert!((p - cycle(k)).abs() < 1e-9, "slot {k}: {p} vs {}", cycle(k));
        }
    }
}
