//! Holt-Winters exponential smoothing with a damped trend and one (daily)
//! seasonal cycle, additive or multiplicative.
//!
//! Written here because augurs-ets 0.10 does not implement seasonal ETS
//! models yet. The smoothing parameters are chosen by minimising the
//! one-step-ahead squared error: a coarse grid, then a local refinement.

use super::adjusted::centred_average;
use super::profile::median;
use super::theta::LineSums;
use super::{ErrorTally, FitResult, Fitted, Forecast, ForecastError, ModelKind};

/// How the seasonal cycle combines with the level.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seasonality {
    /// load = level + season
    Additive,
    /// load = level x season: the daily swing grows with the level.
    Multiplicative,
    /// No cycle (damped Holt: level and trend only), for a series the
    /// cycles were taken out of: MSTL's deseasonalised series. Fitted with
    /// a period of 1.
    None,
}

/// Smoothing parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Level smoothing, 0-1.
    pub alpha: f64,
    /// Trend smoothing, 0-1.
    pub beta: f64,
    /// Seasonal smoothing, 0-1.
    pub gamma: f64,
}

/// The trend is damped so a 48-hour forecast cannot run away on a slope
/// seen over the last hours; the fixed value is the usual choice.
const PHI: f64 = 0.98;

/// A fitted Holt-Winters model: its parameters and end-of-series state.
#[derive(Debug, Clone)]
pub struct HoltWinters {
    seasonality: Seasonality,
    /// The smoothing parameters fitted.
    pub params: Params,
    state: State,
    /// One-step errors (relative ones when multiplicative) seen so far, to
    /// keep sigma current as [`Fitted::update`] takes new points in.
    errors: ErrorTally,
}

/// The smoothing state at the end of the series taken in so far.
#[derive(Debug, Clone)]
struct State {
    level: f64,
    trend: f64,
    /// Seasonal factors; `season[t % period]` belongs to time index t.
    season: Vec<f64>,
    /// Length of the series taken in (to index the season going forward).
    n: usize,
}

struct Run {
    sse: f64,
    state: State,
    errors: ErrorTally,
}

impl HoltWinters {
    /// Fits to `y`, which holds at least two seasons (checked by the caller).
    pub fn fit(y: &[f64], period: usize, seasonality: Seasonality) -> FitResult<HoltWinters> {
        let model = model_kind(seasonality);
        if seasonality == Seasonality::Multiplicative
            && let Some(index) = y.iter().position(|v| *v <= 0.0)
        {
            return Err(ForecastError::NotPositive {
                model,
                value: y[index],
                index,
            });
        }
        let init = initial(y, period, seasonality);
        let params = optimise(y, &init, seasonality);
        let run = run(y, &init, seasonality, params, true, f64::INFINITY).ok_or_else(|| {
            ForecastError::Model {
                model,
                message: "no smoothing parameters keep the errors finite and the level in range"
                    .into(),
            }
        })?;
        Ok(HoltWinters {
            seasonality,
            params,
            state: run.state,
            errors: run.errors,
        })
    }
}

fn model_kind(seasonality: Seasonality) -> ModelKind {
    match seasonality {
        Seasonality::Additive => ModelKind::HoltWintersAdditive,
        Seasonality::Multiplicative => ModelKind::HoltWintersMultiplicative,
        Seasonality::None => ModelKind::Mstl,
    }
}

impl Fitted for HoltWinters {
    fn clone_box(&self) -> Box<dyn Fitted> {
        Box::new(self.clone())
    }

    fn forecast(&self, horizon: usize) -> Forecast {
        let State {
            level,
            trend,
            ref season,
            n,
        } = self.state;
        let sigma_1 = self.errors.rms();
        let period = season.len();
        let Params { alpha, beta, gamma } = self.params;
        let mut mean = Vec::with_capacity(horizon);
        let mut sigma = Vec::with_capacity(horizon);
        let (mut damped, mut phi_h): (f64, f64) = (0.0, 1.0);
        // Sum over j < h of c_j^2, the variance multiplier of an ETS(., Ad, .)
        // model (Hyndman & Athanasopoulos, class 1 and its multiplicative approximation).
        let mut spread: f64 = 1.0;
        for h in 1..=horizon {
            phi_h *= PHI;
            damped += phi_h;
            let s = season[(n + h - 1) % period];
            let base = level + damped * trend;
            let m = match self.seasonality {
                Seasonality::Additive | Seasonality::None => base + s,
                Seasonality::Multiplicative => base * s,
            };
            let sd = match self.seasonality {
                Seasonality::Additive | Seasonality::None => sigma_1 * spread.sqrt(),
                Seasonality::Multiplicative => m.abs() * sigma_1 * spread.sqrt(),
            };
            mean.push(m);
            sigma.push(sd);
            let seasonal_hit = if h % period == 0 { gamma } else { 0.0 };
            let c = alpha * (1.0 + damped * beta) + seasonal_hit;
            spread += c * c;
        }
        Forecast { mean, sigma }
    }

    /// One step of the smoothing recursions with the fitted parameters: the
    /// same step the fit ran over the history, so n updates after a fit leave
    /// the state a fit with these parameters on the longer series would.
    fn update(&mut self, value: f64) -> Result<(), ForecastError> {
        let model = model_kind(self.seasonality);
        if !value.is_finite() {
            return Err(ForecastError::NotFinite(self.state.n));
        }
        if self.seasonality == Seasonality::Multiplicative && value <= 0.0 {
            return Err(ForecastError::NotPositive {
                model,
                value,
                index: self.state.n,
            });
        }
        let (error, relative) = self
            .state
            .step(value, self.seasonality, self.params)
            .ok_or_else(|| ForecastError::Model {
                model,
                message: format!(
                    "the level or a seasonal factor left the positive range at {value}"
                ),
            })?;
        self.errors.add(match self.seasonality {
            Seasonality::Additive | Seasonality::None => error,
            Seasonality::Multiplicative => relative,
        });
        Ok(())
    }
}

impl State {
    /// Takes `value` in: returns the one-step error and the error relative
    /// to the one-step forecast, or None when (multiplicative) the level or
    /// a seasonal factor leaves the positive range.
    fn step(&mut self, value: f64, seasonality: Seasonality, p: Params) -> Option<(f64, f64)> {
        let period = self.season.len();
        let i = self.n % period;
        let s = self.season[i];
        let base = self.level + PHI * self.trend;
        let (fitted, deseasoned) = match seasonality {
            Seasonality::Additive | Seasonality::None => (base + s, value - s),
            Seasonality::Multiplicative => (base * s, value / s),
        };
        let e = value - fitted;
        let new_level = p.alpha * deseasoned + (1.0 - p.alpha) * base;
        self.trend = p.beta * (new_level - self.level) + (1.0 - p.beta) * PHI * self.trend;
        self.level = new_level;
        self.season[i] = match seasonality {
            Seasonality::Additive | Seasonality::None => {
                p.gamma * (value - self.level) + (1.0 - p.gamma) * s
            }
            Seasonality::Multiplicative => p.gamma * (value / self.level) + (1.0 - p.gamma) * s,
        };
        self.n += 1;
        if seasonality == Seasonality::Multiplicative && !(self.level > 0.0 && self.season[i] > 0.0)
        {
            return None;
        }
        Some((e, e / fitted))
    }
}

/// The state before the first point, from which the recursions start.
#[derive(Debug, Clone)]
struct Initial {
    level: f64,
    trend: f64,
    season: Vec<f64>,
}

/// The initial state: with a cycle, Hyndman et al.'s heuristic over the
/// history's whole seasons (the seasonal factors are each time of the
/// season's median deviation from the centred moving average, the level and
/// trend a straight line through that average); without one, the first
/// two points. Taken from the first season's values alone, as it was, the
/// factors carried that day's noise, and with the small seasonal smoothing
/// that suits daily load, into the forecast two weeks later (the peers'
/// 24-hour task: worse than statsmodels' estimated start on six traces).
fn initial(y: &[f64], period: usize, seasonality: Seasonality) -> Initial {
    if seasonality == Seasonality::None {
        let trend = if y.len() >= 2 * period {
            let mean = |part: &[f64]| part.iter().sum::<f64>() / period as f64;
            (mean(&y[period..2 * period]) - mean(&y[..period])) / period as f64
        } else {
            0.0
        };
        return Initial {
            level: y[..period].iter().sum::<f64>() / period as f64,
            trend,
            season: vec![0.0; period],
        };
    }
    let head = &y[..y.len() / period * period];
    let mut deviations: Vec<Vec<f64>> = vec![Vec::new(); period];
    // Through the moving average, from its first index on.
    let centred = centred_average(head, period);
    let first = centred.first().map_or(0, |(t, _)| *t);
    let mut line = LineSums::default();
    for (t, average) in centred {
        deviations[t % period].push(match seasonality {
            Seasonality::Multiplicative => head[t] / average,
            _ => head[t] - average,
        });
        line.add(average);
    }
    let neutral = if seasonality == Seasonality::Multiplicative {
        1.0
    } else {
        0.0
    };
    // The median over the seasons: a step or a spike distorts the moving
    // average around it for half a season either side, in one season.
    let mut season: Vec<f64> = deviations
        .iter_mut()
        .map(|d| if d.is_empty() { neutral } else { median(d) })
        .collect();
    let mean = season.iter().sum::<f64>() / period as f64;
    for s in &mut season {
        match seasonality {
            Seasonality::Multiplicative => *s /= mean,
            _ => *s -= mean,
        }
    }
    // The state before index 0: the line one step before it.
    Initial {
        level: line.value_at(-1.0 - first as f64),
        trend: line.slope(),
        season,
    }
}

/// Runs the smoothing recursions over `y`; None when the level or a
/// seasonal factor leaves the range the model is defined on, or as soon as
/// the squared errors reach `give_up_at` (the search's best so far: they
/// only grow, so such parameters cannot win; most of the grid stops early).
fn run(
    y: &[f64],
    init: &Initial,
    seasonality: Seasonality,
    p: Params,
    keep_errors: bool,
    give_up_at: f64,
) -> Option<Run> {
    // Without a cycle the first point started the state; with one the
    // state starts before the first point.
    let skip = if seasonality == Seasonality::None {
        init.season.len()
    } else {
        0
    };
    let mut state = State {
        level: init.level,
        trend: init.trend,
        season: init.season.clone(),
        n: skip,
    };
    let mut sse = 0.0;
    let mut errors = ErrorTally::default();
    for &value in &y[skip..] {
        let (e, relative) = state.step(value, seasonality, p)?;
        sse += e * e;
        if sse >= give_up_at {
            return None;
        }
        if keep_errors {
            errors.add(match seasonality {
                Seasonality::Additive | Seasonality::None => e,
                Seasonality::Multiplicative => relative,
            });
        }
    }
    sse.is_finite().then_some(Run { sse, state, errors })
}

const ALPHAS: [f64; 8] = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.9];
const BETAS: [f64; 4] = [0.0, 0.005, 0.02, 0.1];
const GAMMAS: [f64; 6] = [0.01, 0.05, 0.1, 0.2, 0.35, 0.5];

/// The parameters with the least one-step squared error: the best point of
/// a coarse grid, refined by coordinate search with halving steps.
fn optimise(y: &[f64], init: &Initial, seasonality: Seasonality) -> Params {
    let sse = |p: Params, best: f64| {
        run(y, init, seasonality, p, false, best).map_or(f64::INFINITY, |r| r.sse)
    };
    let mut best = Params {
        alpha: 0.2,
        beta: 0.0,
        gamma: 0.1,
    };
    let mut best_sse = f64::INFINITY;
    // Without a cycle there is no seasonal factor to smooth.
    let (gammas, tuned): (&[f64], &[usize]) = match seasonality {
        Seasonality::None => (&[0.0], &[0, 1]),
        _ => (&GAMMAS, &[0, 1, 2]),
    };
    for alpha in ALPHAS {
        for beta in BETAS {
            for &gamma in gammas {
                let p = Params { alpha, beta, gamma };
                let s = sse(p, best_sse);
                if s < best_sse {
                    (best, best_sse) = (p, s);
                }
            }
        }
    }
    let mut step = 0.05;
    for _ in 0..4 {
        for &which in tuned {
            for sign in [-1.0, 1.0] {
                let mut p = best;
                // The seasonal smoothing may reach 0: a profile estimated
                // over the whole history may need no updating.
                let (field, lower) = match which {
                    0 => (&mut p.alpha, 0.001),
                    1 => (&mut p.beta, 0.0),
                    _ => (&mut p.gamma, 0.0),
                };
                *field = (*field + sign * step).clamp(lower, 0.999);
                let s = sse(p, best_sse);
                if s < best_sse {
                    (best, best_sse) = (p, s);
                }
            }
        }
        step /= 2.0;
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(n: usize, period: usize, level: f64, amplitude: f64) -> Vec<f64> {
        (0..n)
            .map(|t| {
                level + amplitude * (2.0 * std::f64::consts::PI * t as f64 / period as f64).sin()
            })
            .collect()
    }

    /// Giving up on parameters once their errors pass the best so far
    /// must not change the search's answer: no grid point, run to the end,
    /// beats the parameters it returns.
    #[test]
    fn the_pruned_search_finds_parameters_no_grid_point_beats() {
        let mut seed = 11u64;
        let y: Vec<f64> = sine(24 * 21, 24, 100.0, 30.0)
            .into_iter()
            .map(|v| v + crate::forecast::test_noise(&mut seed) * 10.0)
            .collect();
        for seasonality in [Seasonality::Additive, Seasonality::Multiplicative] {
            let init = initial(&y, 24, seasonality);
            let full = |p| run(&y, &init, seasonality, p, false, f64::INFINITY).map(|r| r.sse);
            let best = full(optimise(&y, &init, seasonality)).unwrap();
            for alpha in ALPHAS {
                for beta in BETAS {
                    for gamma in GAMMAS {
                        let sse = full(Params { alpha, beta, gamma }).unwrap_or(f64::INFINITY);
                        assert!(best <= sse, "{seasonality:?}: {best} > {sse}");
                    }
                }
            }
        }
    }

    #[test]
    fn additive_forecasts_a_clean_sine_within_a_tight_error() {
        let y = sine(288 * 7, 288, 100.0, 40.0);
        let model = HoltWinters::fit(&y, 288, Seasonality::Additive).unwrap();
        let f = model.forecast(288);
        let truth = sine(288 * 8, 288, 100.0, 40.0);
        for (h, v) in f.mean.iter().enumerate() {
            let err = (v - truth[288 * 7 + h]).abs();
            assert!(
                err < 0.5,
                "step {h}: forecast {v} vs {}",
                truth[288 * 7 + h]
            );
        }
    }

    #[test]
    fn multiplicative_follows_a_swing_that_grows_with_the_level() {
        // The daily swing is 30% of a level that rises 1% a day.
        let period = 48;
        let y: Vec<f64> = (0..period * 10)
            .map(|t| {
                let level = 100.0 * (1.0 + 0.01 * t as f64 / period as f64);
                level * (1.0 + 0.3 * (2.0 * std::f64::consts::PI * t as f64 / period as f64).sin())
            })
            .collect();
        let model = HoltWinters::fit(&y, period, Seasonality::Multiplicative).unwrap();
        let f = model.forecast(period);
        for (h, v) in f.mean.iter().enumerate() {
            let t = period * 10 + h;
            let level = 100.0 * (1.0 + 0.01 * t as f64 / period as f64);
            let truth =
                level * (1.0 + 0.3 * (2.0 * std::f64::consts::PI * t as f64 / period as f64).sin());
            assert!((v - truth).abs() / truth < 0.02, "step {h}: {v} vs {truth}");
        }
    }

    #[test]
    fn a_step_change_in_level_is_followed_within_a_day() {
        // Five days around 100, then the load jumps to around 150 for a day.
        let period = 48;
        let shape = |t: usize| 20.0 * (2.0 * std::f64::consts::PI * t as f64 / period as f64).sin();
        let y: Vec<f64> = (0..period * 6)
            .map(|t| if t < period * 5 { 100.0 } else { 150.0 } + shape(t))
            .collect();
        let m = HoltWinters::fit(&y, period, Seasonality::Additive).unwrap();
        let f = m.forecast(period);
        for (h, v) in f.mean.iter().enumerate() {
            let truth = 150.0 + shape(period * 6 + h);
            assert!((v - truth).abs() < 0.05 * truth, "step {h}: {v} vs {truth}");
        }
    }

    #[test]
    fn multiplicative_refuses_zero_load() {
        let mut y = sine(96, 48, 10.0, 5.0);
        y[7] = 0.0;
        let err = HoltWinters::fit(&y, 48, Seasonality::Multiplicative).unwrap_err();
        assert!(
            matches!(err, ForecastError::NotPositive { index: 7, .. }),
            "{err}"
        );
    }

    #[test]
    fn interval_widens_with_the_horizon() {
        let mut rng_state = 1u64;
        let y: Vec<f64> = sine(48 * 6, 48, 50.0, 20.0)
            .into_iter()
            .map(|v| v + crate::forecast::test_noise(&mut rng_state) * 4.0)
            .collect();
        let f = HoltWinters::fit(&y, 48, Seasonality::Additive)
            .unwrap()
            .forecast(96);
        assert!(
            f.sigma[0] > 0.5 && f.sigma[0] < 3.0,
            "one-step sigma {}",
            f.sigma[0]
        );
        assert!(f.sigma[95] > f.sigma[0]);
    }

    /// A first day unlike the others (its cycle upside down) must not
    /// shape the forecast two weeks later: the initial seasonal factors
    /// average the history's days. Started from the first day's values
    /// alone, the search traded that day's error against the noise with a
    /// larger seasonal smoothing, whose factors then follow the last days'
    /// noise.
    #[test]
    fn an_odd_first_day_does_not_shape_the_forecast() {
        let period = 48;
        let cycle = |t: usize| 30.0 * (2.0 * std::f64::consts::PI * t as f64 / period as f64).sin();
        let mut seed = 5u64;
        let y: Vec<f64> = (0..period * 14)
            .map(|t| {
                let shape = if t < period { -cycle(t) } else { cycle(t) };
                100.0 + shape + crate::forecast::test_noise(&mut seed) * 20.0
            })
            .collect();
        for seasonality in [Seasonality::Additive, Seasonality::Multiplicative] {
            let f = HoltWinters::fit(&y, period, seasonality)
                .unwrap()
                .forecast(period);
            let error = f
                .mean
                .iter()
                .enumerate()
                .map(|(h, v)| (v - 100.0 - cycle(period * 14 + h)).abs())
                .sum::<f64>()
                / period as f64;
            // The noise is uniform with a mean absolute value of 5: the
            // forecast of the cycle itself must be within that. Started
            // from the first day alone, the additive model was 74 off.
            assert!(error < 3.0, "{seasonality:?}: mean absolute error {error}");
        }
    }
}
