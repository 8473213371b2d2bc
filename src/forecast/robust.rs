//! Robust training: isolated spikes clipped out of a history before a model
//! is fitted to it (a Hampel filter).
//!
//! A spike of a few points, many times the load, is repeated the next day
//! by the seasonal naives and pulls a smoother's level and seasonal state
//! for hours or days after it, though nothing about it repeats. Each point
//! is compared with the median of the points around it (`half_window`
//! either side); one further from it than `k` robust standard deviations
//! (1.4826 x the median absolute distance over the whole series) is moved to
//! that edge. A level step, or a change that lasts longer than half the
//! window, moves the local median with it and is kept; only what is short
//! beside its neighbours is clipped, a short surge that comes back every
//! day included (measured: see the README's 24-hour task).

use std::borrow::Cow;

/// Robust standard deviations from its local median past which a point is
/// clipped. On the 24-hour task (README) 5, 6 and 8 met the goal on the
/// same traces; 10 and 12 lost AAPL.
pub const CLIP_K: f64 = 5.0;

/// `y` with its isolated spikes clipped to `k` robust standard deviations
/// of their local median (`half_window` points either side); unchanged
/// (borrowed) when no point is that far.
pub fn clipped(y: &[f64], half_window: usize, k: f64) -> Cow<'_, [f64]> {
    // A value that is not finite is left for the model's own check to name.
    if y.len() < 3 || half_window == 0 || y.iter().any(|v| !v.is_finite()) {
        return Cow::Borrowed(y);
    }
    let local = local_medians(y, half_window);
    let mut distances: Vec<f64> = y.iter().zip(&local).map(|(v, m)| (v - m).abs()).collect();
    let limit = k * 1.4826 * middle(&mut distances);
    // A series that is its own local median at most points (flat, or a
    // slope steeper than its noise: the window's middle point is its
    // median) has no spread to judge a spike by, and is left alone.
    if limit <= 0.0 || !limit.is_finite() {
        return Cow::Borrowed(y);
    }
    if y.iter().zip(&local).all(|(v, m)| (v - m).abs() <= limit) {
        return Cow::Borrowed(y);
    }
    Cow::Owned(
        y.iter()
            .zip(&local)
            .map(|(v, m)| v.clamp(m - limit, m + limit))
            .collect(),
    )
}

/// The median of the points within `half_window` of each point (fewer at
/// the ends), from a sorted window that slides one point at a time:
/// O(window) per point, not a sort.
fn local_medians(y: &[f64], half_window: usize) -> Vec<f64> {
    let mut window: Vec<f64> = Vec::with_capacity(2 * half_window + 2);
    let insert = |window: &mut Vec<f64>, v: f64| {
        let at = window.partition_point(|w| w.total_cmp(&v).is_lt());
        window.insert(at, v);
    };
    for &v in &y[..half_window.min(y.len())] {
        insert(&mut window, v);
    }
    (0..y.len())
        .map(|t| {
            if let Some(&entering) = y.get(t + half_window) {
                insert(&mut window, entering);
            }
            if let Some(leaving) = t.checked_sub(half_window + 1) {
                let at = window.partition_point(|w| w.total_cmp(&y[leaving]).is_lt());
                window.remove(at);
            }
            let mid = window.len() / 2;
            if window.len() % 2 == 1 {
                window[mid]
            } else {
                (window[mid - 1] + window[mid]) / 2.0
            }
        })
        .collect()
}

/// The median of a non-empty list, by selection (the list is reordered).
fn middle(values: &mut [f64]) -> f64 {
    let (mid, odd) = (values.len() / 2, values.len() % 2 == 1);
    let (below, at, _) = values.select_nth_unstable_by(mid, f64::total_cmp);
    let at = *at;
    if odd {
        at
    } else {
        let below = below.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (below + at) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::test_noise as noise;

    fn cycle(len: usize, seed: u64) -> Vec<f64> {
        let mut seed = seed;
        (0..len)
            .map(|t| {
                100.0
                    + 30.0 * (2.0 * std::f64::consts::PI * t as f64 / 24.0).sin()
                    + 40.0 * noise(&mut seed)
            })
            .collect()
    }

    #[test]
    fn a_spike_is_clipped_to_its_neighbours() {
        let clean = cycle(24 * 5, 1);
        let mut y = clean.clone();
        y[50] = 5000.0;
        let out = clipped(&y, 2, CLIP_K);
        assert!((out[50] - clean[50]).abs() < 150.0, "{}", out[50]);
        // Everything else is as it was, or nearly (clipped within its own noise).
        let moved = (0..y.len())
            .filter(|&t| t != 50 && (out[t] - y[t]).abs() > 1e-9)
            .count();
        assert!(moved <= 2, "{moved} other points moved");
    }

    #[test]
    fn a_level_step_and_the_daily_shape_are_kept() {
        let mut y = cycle(24 * 5, 2);
        for v in &mut y[24 * 3..] {
            *v += 200.0;
        }
        assert!(matches!(clipped(&y, 2, CLIP_K), Cow::Borrowed(_)));
    }

    #[test]
    fn the_sliding_medians_are_the_medians_of_each_window() {
        let y = cycle(60, 5);
        for half_window in [1, 3, 6] {
            let sliding = local_medians(&y, half_window);
            for t in 0..y.len() {
                let mut window =
                    y[t.saturating_sub(half_window)..(t + half_window + 1).min(y.len())].to_vec();
                let want = crate::forecast::profile::median(&mut window);
                assert!((sliding[t] - want).abs() < 1e-12, "{t}");
            }
        }
        assert_eq!(middle(&mut [3.0, 1.0, 2.0, 10.0]), 2.5);
    }

    #[test]
    fn a_flat_or_noiseless_series_is_left_alone() {
        assert!(matches!(clipped(&[7.0; 100], 3, CLIP_K), Cow::Borrowed(_)));
        let smooth: Vec<f64> = (0..200).map(|t| (t as f64 / 10.0).sin()).collect();
        assert!(matches!(clipped(&smooth, 3, CLIP_K), Cow::Borrowed(_)));
    }
}
