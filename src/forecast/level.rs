//! The recent level: the median of the last few hours, held flat over the
//! whole horizon.
//!
//! What a load with little daily shape wants (a flat base with spikes, a
//! level that steps and stays): yesterday's value repeats yesterday's noise
//! and spikes, a smoother is pulled by a spike for hours, the median of the
//! last hours is moved by neither. Against loads with a strong daily shape
//! it loses, and the backtest says so; in a combination with a seasonal
//! model it is the level the shape is averaged toward.
//!
//! Its interval comes from its own errors at several distances ahead
//! ([`HORIZONS`] of a day, measured on the history and kept current by
//! [`Fitted::update`]): a flat forecast errs more the further it reaches,
//! by however much the daily shape moves the load, which no single spread
//! says.

use super::naive::season_walk_sigma;
use super::profile::median;
use super::{ErrorTally, Fitted, Forecast, ForecastError};
use std::collections::VecDeque;

/// The distances ahead, as fractions of a day (1/288 is one step at 5
/// minutes), whose errors set the interval: each forecast step takes the
/// spread of the nearest distance at or beyond it.
const HORIZONS: [f64; 8] = [
    1.0 / 288.0,
    1.0 / 96.0,
    1.0 / 24.0,
    1.0 / 8.0,
    1.0 / 4.0,
    1.0 / 2.0,
    3.0 / 4.0,
    1.0,
];

/// The median of the last `window` points, held flat.
#[derive(Debug, Clone)]
pub struct RecentLevel {
    window: usize,
    /// The last `window` points, oldest first.
    recent: VecDeque<f64>,
    /// The level after each of the last `daily` points, oldest first.
    levels: VecDeque<f64>,
    /// Steps ahead whose errors are tallied, ascending, the last a day.
    horizons: Vec<usize>,
    /// `errors[k]`: the errors of the level `horizons[k]` steps before each point.
    errors: Vec<ErrorTally>,
    /// Points taken in, for error messages.
    taken: usize,
}

impl RecentLevel {
    /// Fits on `y` (at least one point, checked by the caller): the level
    /// of its last `window` points, with `daily` steps in a day.
    pub fn fit(y: &[f64], window: usize, daily: usize) -> RecentLevel {
        let daily = daily.max(1);
        let mut horizons: Vec<usize> = HORIZONS
            .iter()
            .map(|f| ((f * daily as f64).round() as usize).clamp(1, daily))
            .collect();
        horizons.dedup();
        let mut model = RecentLevel {
            window: window.max(1),
            recent: VecDeque::with_capacity(window.max(1) + 1),
            levels: VecDeque::with_capacity(daily + 1),
            errors: vec![ErrorTally::default(); horizons.len()],
            horizons,
            taken: 0,
        };
        let mut scratch = Vec::with_capacity(model.window);
        for &value in y {
            model.take(value, &mut scratch);
        }
        model
    }

    /// The level now: the median of the last points.
    fn level(&self) -> f64 {
        self.levels.back().copied().unwrap_or(0.0)
    }

    /// Takes in one finite point: its error against the level each tallied
    /// distance before it, then the point itself.
    fn take(&mut self, value: f64, scratch: &mut Vec<f64>) {
        let held = self.levels.len();
        for (k, &h) in self.horizons.iter().enumerate() {
            if held >= h {
                self.errors[k].add(value - self.levels[held - h]);
            }
        }
        self.recent.push_back(value);
        if self.recent.len() > self.window {
            self.recent.pop_front();
        }
        scratch.clear();
        scratch.extend(self.recent.iter().copied());
        self.levels.push_back(median(scratch));
        // The longest tallied distance is a day: older levels are not needed.
        if self.levels.len() > self.horizons.last().copied().unwrap_or(1) {
            self.levels.pop_front();
        }
        self.taken += 1;
    }

    /// The error spread `steps` ahead (1 = the next step): interpolated
    /// between the tallied distances around it, or that of a day growing
    /// as a random walk over days past it.
    fn sigma(&self, steps: usize) -> f64 {
        let day = self.horizons.last().copied().unwrap_or(1);
        if steps > day {
            let daily = self.errors.last().map_or(0.0, ErrorTally::rms);
            return season_walk_sigma(daily, steps, day)[steps - 1];
        }
        let k = self
            .horizons
            .iter()
            .position(|&h| h >= steps)
            .unwrap_or(self.horizons.len() - 1);
        let above = self.measured(k);
        if k == 0 || self.horizons[k] == steps {
            return above;
        }
        let (near, far) = (self.horizons[k - 1], self.horizons[k]);
        let share = (steps - near) as f64 / (far - near) as f64;
        self.measured(k - 1) * (1.0 - share) + above * share
    }

    /// The spread at the `k`th tallied distance; one not yet measured (a
    /// history shorter than it) borrows the longest one measured before it.
    fn measured(&self, k: usize) -> f64 {
        self.errors[..=k]
            .iter()
            .rev()
            .find(|e| e.count > 0)
            .map_or(0.0, ErrorTally::rms)
    }
}

impl Fitted for RecentLevel {
    fn clone_box(&self) -> Box<dyn Fitted> {
        Box::new(self.clone())
    }

    fn forecast(&self, horizon: usize) -> Forecast {
        Forecast {
            mean: vec![self.level(); horizon],
            sigma: (1..=horizon).map(|steps| self.sigma(steps)).collect(),
        }
    }

    fn update(&mut self, value: f64) -> Result<(), ForecastError> {
        if !value.is_finite() {
            return Err(ForecastError::NotFinite(self.taken));
        }
        let mut scratch = Vec::with_capacity(self.window);
        self.take(value, &mut scratch);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::test_noise as noise;

    const DAY: usize = 24;

    #[test]
    fn a_spike_in_the_window_does_not_move_the_level() {
        let mut y = vec![10.0; 3 * DAY];
        let quiet = RecentLevel::fit(&y, 4, DAY).forecast(DAY);
        // One point 100 times the level, the last but one.
        let spike = y.len() - 2;
        y[spike] = 1000.0;
        let spiked = RecentLevel::fit(&y, 4, DAY).forecast(DAY);
        assert_eq!(quiet.mean, vec![10.0; DAY]);
        assert_eq!(spiked.mean, quiet.mean);
    }

    #[test]
    fn a_level_step_is_followed_once_it_fills_half_the_window() {
        let mut y = vec![10.0; 3 * DAY];
        y.extend([20.0; 3]);
        let f = RecentLevel::fit(&y, 4, DAY).forecast(2);
        assert_eq!(f.mean, vec![20.0, 20.0]);
    }

    #[test]
    fn the_interval_widens_with_the_daily_shape_it_does_not_follow() {
        // A daily cycle of amplitude 30 and a little noise: one step ahead
        // the level errs by the noise and the window's lag, half a day
        // ahead by most of the cycle.
        let mut seed = 9;
        let y: Vec<f64> = (0..5 * DAY)
            .map(|t| {
                100.0
                    + 30.0 * (2.0 * std::f64::consts::PI * t as f64 / DAY as f64).sin()
                    + noise(&mut seed)
            })
            .collect();
        let f = RecentLevel::fit(&y, 2, DAY).forecast(2 * DAY);
        assert!(f.sigma.iter().all(|s| s.is_finite() && *s > 0.0));
        assert!(f.sigma[0] < 10.0, "one step: {}", f.sigma[0]);
        assert!(f.sigma[DAY / 2] > 15.0, "half a day: {}", f.sigma[DAY / 2]);
        assert!(f.sigma[2 * DAY - 1] > f.sigma[DAY - 1]);
    }

    #[test]
    fn an_update_equals_a_fit_on_the_longer_series() {
        let mut seed = 4;
        let y: Vec<f64> = (0..4 * DAY)
            .map(|_| 50.0 + 10.0 * noise(&mut seed))
            .collect();
        let mut updated = RecentLevel::fit(&y[..3 * DAY], 6, DAY);
        for &value in &y[3 * DAY..] {
            updated.update(value).unwrap();
        }
        let refitted = RecentLevel::fit(&y, 6, DAY);
        assert_eq!(updated.forecast(DAY), refitted.forecast(DAY));
        assert!(updated.update(f64::NAN).is_err());
    }
}
