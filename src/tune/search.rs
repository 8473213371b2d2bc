//! The search method: Latin-hypercube sampling of the unit cube, then local
//! refinement around the best point found so far, in batches evaluated in
//! parallel (rayon).
//!
//! Every point is drawn from one seeded generator before its batch is
//! evaluated, and the batch's outcomes are kept in order, so the same seed
//! gives the same trials whatever the number of threads.

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rayon::prelude::*;
use std::cmp::Ordering;

/// Share of the candidates spent on the initial Latin hypercube.
const SAMPLED_SHARE: f64 = 0.6;
/// Points per refinement batch.
const BATCH: usize = 10;
/// Half-width of the first refinement neighbourhood, in unit-cube terms; it
/// shrinks by [`SHRINK`] each batch down to [`MIN_RADIUS`].
const FIRST_RADIUS: f64 = 0.2;
const SHRINK: f64 = 0.7;
const MIN_RADIUS: f64 = 0.02;

/// How many points to try, and the seed of the generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SearchPlan {
    /// How many points to try, at least 1.
    pub candidates: usize,
    /// Seed of the generator: the same seed tries the same points.
    pub seed: u64,
}

/// One point tried and what it gave.
#[derive(Debug, Clone, PartialEq)]
pub struct Trial<T> {
    /// Coordinates in [0, 1] per dimension.
    pub point: Vec<f64>,
    /// What the point gave (its run, or why it could not run).
    pub outcome: T,
}

/// Tries `plan.candidates` points of the `dims`-dimensional unit cube,
/// `first` (e.g. where the input policy is) among them, refining around the
/// one `better` ranks first; returns every trial in the order tried.
pub fn search<T: Send>(
    dims: usize,
    plan: SearchPlan,
    first: Vec<Vec<f64>>,
    evaluate: impl Fn(&[f64]) -> T + Sync,
    better: impl Fn(&T, &T) -> Ordering,
) -> Vec<Trial<T>> {
    let mut rng = StdRng::seed_from_u64(plan.seed);
    let mut initial: Vec<Vec<f64>> = first.into_iter().take(plan.candidates).collect();
    let sampled = ((plan.candidates as f64 * SAMPLED_SHARE).ceil() as usize)
        .clamp(1, plan.candidates.max(1))
        .saturating_sub(initial.len());
    initial.extend(latin_hypercube(dims, sampled, &mut rng));
    let mut trials = run_batch(initial, &evaluate);
    let mut radius = FIRST_RADIUS;
    while trials.len() < plan.candidates {
        let best = best_index(&trials, &better).expect("the hypercube tried at least one point");
        let center = trials[best].point.clone();
        let count = BATCH.min(plan.candidates - trials.len());
        let batch = (0..count)
            .map(|_| neighbour(&center, radius, &mut rng))
            .collect();
        trials.extend(run_batch(batch, &evaluate));
        radius = (radius * SHRINK).max(MIN_RADIUS);
    }
    trials
}

/// A point near `center`: about two of its coordinates (at least one) moved
/// by up to `radius`. Moving a few at a time finds the directions that save
/// cost without breaking the budget more often than moving all at once.
fn neighbour(center: &[f64], radius: f64, rng: &mut StdRng) -> Vec<f64> {
    let share = (2.0 / center.len().max(1) as f64).min(1.0);
    let forced = rng.random_range(0..center.len().max(1));
    center
        .iter()
        .enumerate()
        .map(|(i, &c)| {
            if i == forced || rng.random_bool(share) {
                (c + rng.random_range(-radius..=radius)).clamp(0.0, 1.0)
            } else {
                c
            }
        })
        .collect()
}

/// The index of the trial `better` ranks first; the earliest among equals.
pub fn best_index<T>(trials: &[Trial<T>], better: impl Fn(&T, &T) -> Ordering) -> Option<usize> {
    (0..trials.len())
        .min_by(|&a, &b| better(&trials[a].outcome, &trials[b].outcome).then(a.cmp(&b)))
}

fn run_batch<T: Send>(
    points: Vec<Vec<f64>>,
    evaluate: &(impl Fn(&[f64]) -> T + Sync),
) -> Vec<Trial<T>> {
    points
        .into_par_iter()
        .map(|point| {
            let outcome = evaluate(&point);
            Trial { point, outcome }
        })
        .collect()
}

/// `count` points in [0, 1]^dims, one in each of `count` equal strata of
/// every dimension, strata shuffled independently per dimension.
pub fn latin_hypercube(dims: usize, count: usize, rng: &mut StdRng) -> Vec<Vec<f64>> {
    let mut points = vec![Vec::with_capacity(dims); count];
    let mut strata: Vec<usize> = (0..count).collect();
    for _ in 0..dims {
        strata.shuffle(rng);
        for (point, &stratum) in points.iter_mut().zip(&strata) {
            let jitter: f64 = rng.random();
            point.push((stratum as f64 + jitter) / count as f64);
        }
    }
    points
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheapest point whose "risk" stays within budget: cost falls along x,
    /// risk rises along x and with distance of y from 0.3. The optimum is
    /// y = 0.3, x = 0.6 (risk = x + 4 (y - 0.3)^2 <= 0.6).
    fn cost_and_risk(p: &[f64]) -> (f64, f64) {
        (1.0 - p[0], p[0] + 4.0 * (p[1] - 0.3).powi(2))
    }

    fn cheapest_within(budget: f64) -> impl Fn(&(f64, f64), &(f64, f64)) -> Ordering {
        move |a, b| {
            let rank = |o: &(f64, f64)| (o.1 > budget, if o.1 > budget { o.1 } else { o.0 });
            let (ra, rb) = (rank(a), rank(b));
            ra.0.cmp(&rb.0).then(ra.1.total_cmp(&rb.1))
        }
    }

    fn in_pool<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> R {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(f)
    }

    #[test]
    fn the_same_seed_gives_the_same_trials_on_one_thread_or_four() {
        let plan = SearchPlan {
            candidates: 57,
            seed: 7,
        };
        let run = || {
            search(
                3,
                plan,
                vec![],
                |p| p.iter().sum::<f64>(),
                |a: &f64, b: &f64| a.total_cmp(b),
            )
        };
        let one = in_pool(1, run);
        let four = in_pool(4, run);
        assert_eq!(one.len(), 57);
        assert_eq!(one, four);
        let other = search(
            3,
            SearchPlan { seed: 8, ..plan },
            vec![],
            |p| p.iter().sum::<f64>(),
            |a: &f64, b: &f64| a.total_cmp(b),
        );
        assert_ne!(one, other, "another seed tries other points");
    }

    #[test]
    fn every_point_stays_in_the_unit_cube_and_the_hypercube_fills_each_stratum() {
        let trials = search(
            4,
            SearchPlan {
                candidates: 100,
                seed: 1,
            },
            vec![],
            |p| p[0],
            |a: &f64, b: &f64| a.total_cmp(b),
        );
        for t in &trials {
            assert!(
                t.point.iter().all(|c| (0.0..=1.0).contains(c)),
                "{:?}",
                t.point
            );
        }
        // The first 60 are the hypercube: one point per 1/60 stratum per dimension.
        for d in 0..4 {
            let mut strata: Vec<usize> = trials[..60]
                .iter()
                .map(|t| (t.point[d] * 60.0).floor() as usize)
                .collect();
            strata.sort();
            assert_eq!(strata, (0..60).collect::<Vec<_>>());
        }
    }

    #[test]
    fn refinement_finds_the_cheapest_point_within_budget() {
        let better = cheapest_within(0.6);
        let trials = search(
            2,
            SearchPlan {
                candidates: 200,
                seed: 3,
            },
            vec![],
            cost_and_risk,
            &better,
        );
        let best = &trials[best_index(&trials, &better).unwrap()];
        assert!(best.outcome.1 <= 0.6, "{best:?}");
        assert!((best.point[0] - 0.6).abs() < 0.03, "{best:?}");
        assert!((best.point[1] - 0.3).abs() < 0.08, "{best:?}");
        // Refinement beats the hypercube alone.
        let sampled = &trials[..120];
        let sampled_best = &sampled[best_index(sampled, &better).unwrap()];
        assert!(best.outcome.0 <= sampled_best.outcome.0);
    }

    #[test]
    fn the_first_points_are_tried_first_and_refined_around_when_best() {
        let start = vec![0.61, 0.3];
        let better = cheapest_within(0.62);
        let trials = search(
            2,
            SearchPlan {
                candidates: 30,
                seed: 3,
            },
            vec![start.clone()],
            cost_and_risk,
            &better,
        );
        assert_eq!(trials[0].point, start);
        assert_eq!(trials.len(), 30);
        let best = &trials[best_index(&trials, &better).unwrap()];
        assert!(best.outcome.0 <= trials[0].outcome.0, "{best:?}");
    }
}
