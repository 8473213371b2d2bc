//! Synthetic load traces, so tests and the README demo need no data file.
//!
//! A web fleet's load: a daily cycle (quiet at night, peak in the afternoon),
//! a weekly one (weekends lighter), correlated noise, and flash-crowd bursts
//! that rise in minutes and decay over the next half hour. The same seed gives
//! the same trace.

use super::trace::Trace;
use chrono::{DateTime, Datelike, Duration, Timelike, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};
use serde::{Deserialize, Serialize};
use std::f64::consts::PI;

/// The kind of load to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// Daily and weekly cycles with noise and the odd burst.
    Diurnal,
    /// The diurnal cycle with frequent, tall bursts.
    Spiky,
    /// Steady growth (a launch) under the daily cycle.
    Ramp,
    /// The daily and weekly cycles with noise only, no bursts: the load a
    /// forecast can know in advance.
    Seasonal,
    /// The seasonal load plus a surge every weekday at 09:00 UTC (a market
    /// open, a daily send-out): as tall as the peak within 5 minutes, gone
    /// within the hour. Regular, so a forecast knows it; too steep for
    /// reactive scaling to follow.
    DailySurge,
}

/// What to synthesize.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SynthSpec {
    /// The kind of load.
    pub shape: Shape,
    /// Days of load, at least 1.
    pub days: u32,
    /// Random seed: the same seed gives the same trace.
    pub seed: u64,
    /// Time of the first value.
    pub start: DateTime<Utc>,
    /// Time between values.
    pub step: Duration,
    /// Load at the typical weekday peak, before noise and bursts.
    pub peak: f64,
}

impl Default for SynthSpec {
    fn default() -> Self {
        SynthSpec {
            shape: Shape::Diurnal,
            days: 14,
            seed: 1,
            // A Monday, so weekends fall where a reader expects them.
            start: DateTime::from_timestamp(1_767_571_200, 0).expect("valid epoch"),
            step: Duration::minutes(1),
            peak: 6000.0,
        }
    }
}

/// A burst in progress: how much it adds now and how fast it fades.
struct Burst {
    height: f64,
    rise_left: u32,
    rise_total: u32,
    decay_per_step: f64,
}

/// Makes the trace a spec describes.
pub fn synthesize(spec: &SynthSpec) -> Trace {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let noise = Normal::new(0.0, 0.04).expect("valid normal");
    let steps_per_day = (Duration::days(1).num_seconds() / spec.step.num_seconds()).max(1) as usize;
    let count = steps_per_day * spec.days.max(1) as usize;
    let (bursts_per_day, burst_height) = match spec.shape {
        Shape::Spiky => (6.0, 1.2),
        Shape::Diurnal | Shape::Ramp => (1.0, 0.6),
        Shape::Seasonal | Shape::DailySurge => (0.0, 0.0),
    };
    let burst_chance = bursts_per_day / steps_per_day as f64;
    let step_minutes = spec.step.num_seconds() as f64 / 60.0;

    let mut values = Vec::with_capacity(count);
    let mut wobble = 0.0;
    let mut burst: Option<Burst> = None;
    for i in 0..count {
        let time = spec.start + spec.step * i as i32;
        let mut level = daily_level(time) * weekly_factor(time);
        if spec.shape == Shape::Ramp {
            level *= 0.3 + 0.7 * i as f64 / count as f64;
        }
        // AR(1) noise: neighbouring minutes are alike, as real traffic is.
        wobble = 0.9 * wobble + noise.sample(&mut rng);
        let mut value = spec.peak * level * (1.0 + wobble);
        if spec.shape == Shape::DailySurge {
            value += spec.peak * daily_surge(time);
        }

        if burst.is_none() && rng.random_bool(burst_chance.min(1.0)) {
            let rise = (rng.random_range(2.0..8.0) / step_minutes).ceil().max(1.0) as u32;
            let half_life_minutes = rng.random_range(10.0..30.0);
            burst = Some(Burst {
                height: spec.peak * burst_height * rng.random_range(0.5..1.0),
                rise_left: rise,
                rise_total: rise,
                decay_per_step: 0.5f64.powf(step_minutes / half_life_minutes),
            });
        }
        if let Some(b) = &mut burst {
            if b.rise_left > 0 {
                value +=
                    b.height * f64::from(b.rise_total - b.rise_left + 1) / f64::from(b.rise_total);
                b.rise_left -= 1;
            } else {
                b.height *= b.decay_per_step;
                value += b.height;
            }
            if b.rise_left == 0 && b.height < spec.peak * 0.01 {
                burst = None;
            }
        }
        values.push(value.max(0.0));
    }
    Trace::new(spec.start, spec.step, values)
        .expect("synthesized values are finite and non-negative")
}

/// Share of the daily peak at a time of day: about 15% at 04:00 UTC, 100% at
/// 15:00, with a steeper morning rise than evening fall.
fn daily_level(time: DateTime<Utc>) -> f64 {
    let hour = f64::from(time.hour()) + f64::from(time.minute()) / 60.0;
    let phase = 2.0 * PI * (hour - 4.0) / 24.0;
    let base = 0.5 - 0.5 * phase.cos() + 0.08 * (2.0 * phase).sin();
    0.15 + 0.85 * base.clamp(0.0, 1.0).powf(1.3)
}

/// The weekday 09:00 surge, as a share of the peak: up to 1 over 5 minutes,
/// then down to 0 over the next 55.
fn daily_surge(time: DateTime<Utc>) -> f64 {
    let weekend = matches!(time.weekday(), chrono::Weekday::Sat | chrono::Weekday::Sun);
    if weekend || time.hour() != 9 {
        return 0.0;
    }
    let minute = f64::from(time.minute()) + f64::from(time.second()) / 60.0;
    if minute < 5.0 {
        (minute + 1.0) / 5.0
    } else {
        1.0 - (minute - 5.0) / 55.0
    }
}

fn weekly_factor(time: DateTime<Utc>) -> f64 {
    match time.weekday() {
        chrono::Weekday::Sat | chrono::Weekday::Sun => 0.6,
        chrono::Weekday::Fri => 0.9,
        _ => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_trace_other_seed_other_trace() {
        let spec = SynthSpec {
            days: 2,
            ..SynthSpec::default()
        };
        assert_eq!(synthesize(&spec), synthesize(&spec));
        assert_ne!(
            synthesize(&spec),
            synthesize(&SynthSpec { seed: 2, ..spec })
        );
    }

    #[test]
    fn diurnal_has_quiet_nights_busy_afternoons_and_light_weekends() {
        let trace = synthesize(&SynthSpec::default());
        assert_eq!(trace.values().len(), 14 * 1440);
        let mean_at = |day: usize, hour: usize| {
            let from = day * 1440 + hour * 60;
            trace.values()[from..from + 60].iter().sum::<f64>() / 60.0
        };
        // Day 0 is a Monday.
        assert!(
            mean_at(0, 15) > 3.0 * mean_at(0, 4),
            "{} vs {}",
            mean_at(0, 15),
            mean_at(0, 4)
        );
        assert!(mean_at(5, 15) < 0.8 * mean_at(1, 15), "weekend not lighter");
    }

    #[test]
    fn spiky_has_taller_bursts_and_ramp_grows() {
        let base = SynthSpec::default();
        let diurnal = synthesize(&base);
        let spiky = synthesize(&SynthSpec {
            shape: Shape::Spiky,
            ..base
        });
        assert!(spiky.peak() > diurnal.peak());
        let ramp = synthesize(&SynthSpec {
            shape: Shape::Ramp,
            ..base
        });
        let first: f64 = ramp.values()[..1440].iter().sum();
        let last: f64 = ramp.values()[ramp.values().len() - 1440..].iter().sum();
        assert!(last > 1.5 * first);
    }

    #[test]
    fn seasonal_is_the_cycle_and_noise_without_bursts() {
        // The largest ratio of load to the noiseless cycle: noise alone stays
        // within about 5 standard deviations (0.09 each), a burst at night
        // adds several times the load.
        let largest_ratio = |spec: &SynthSpec| {
            let trace = synthesize(spec);
            (0..trace.values().len())
                .map(|i| {
                    let time = trace.time_of(i);
                    trace.values()[i] / (spec.peak * daily_level(time) * weekly_factor(time))
                })
                .fold(0.0, f64::max)
        };
        let base = SynthSpec::default();
        let seasonal = SynthSpec {
            shape: Shape::Seasonal,
            ..base
        };
        assert!(
            largest_ratio(&seasonal) < 1.6,
            "{}",
            largest_ratio(&seasonal)
        );
        assert!(largest_ratio(&base) > 1.6, "{}", largest_ratio(&base));
    }
}
