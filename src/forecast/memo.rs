//! Forecasts shared between replays of the same history: the model choice
//! (a backtest) and the model fits, the costly parts of a predictive
//! policy, computed once and reused by every replay that asks for them.
//!
//! `ebb tune` replays one history once per candidate policy. Candidates differ
//! in governor and target fields, which do not change the load series a
//! predictive policy forecasts, so each candidate would otherwise run the
//! same backtests and fits again. A [`ForecastMemo`] is keyed by what the
//! result depends on (the series' contents, seasons, horizon, incumbent,
//! model), so a candidate whose series differs (a utilization metric that
//! depends on capacity, another warm-up hence another horizon) simply
//! computes its own: sharing never changes a result, only its cost.

use super::backtest::ModelScore;
use super::candidate::Candidate;
use super::history::RegularSeries;
use super::{Fitted, Seasons};
use crate::lock::lock;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, OnceLock};

/// A series by its contents: start, step, length and a hash of the values'
/// bits (64 bits: a collision between two histories of one tuning run is
/// out of reach in practice).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SeriesKey {
    start: i64,
    step_secs: i64,
    len: usize,
    values: u64,
}

impl SeriesKey {
    /// The key of `series`: its start, step, length and a hash of its values.
    pub fn of(series: &RegularSeries) -> SeriesKey {
        let mut hasher = DefaultHasher::new();
        for value in &series.values {
            value.to_bits().hash(&mut hasher);
        }
        SeriesKey {
            start: series.start.timestamp(),
            step_secs: series.step_secs,
            len: series.values.len(),
            values: hasher.finish(),
        }
    }
}

/// What a model choice depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChoiceKey {
    /// The history the choice is made on.
    pub series: SeriesKey,
    /// The daily and weekly season lengths, in steps.
    pub seasons: (usize, usize),
    /// Steps ahead the backtest scores at.
    pub horizon: usize,
    /// The candidate chosen last, which the switching margin may keep.
    pub incumbent: Option<Candidate>,
}

/// A model choice: the backtest's scores, the model chosen and why; or why
/// none could be.
pub type ChoiceResult = Result<(Vec<ModelScore>, Candidate, String), String>;

/// What a fit depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FitKey {
    /// The history the model is fitted on.
    pub series: SeriesKey,
    /// The daily and weekly season lengths, in steps.
    pub seasons: (usize, usize),
    /// The model or combination fitted.
    pub model: Candidate,
}

/// A fit, held under a lock so the memo can be shared between threads
/// (a fit is `Send`, not `Sync`); each user gets its own copy.
type SharedFit = Result<Mutex<Box<dyn Fitted>>, String>;

/// Results by key; each key computed once, other threads asking for it
/// meanwhile wait for that result instead of computing it again.
struct Table<K, V> {
    entries: Mutex<HashMap<K, Arc<OnceLock<V>>>>,
}

impl<K: Eq + std::hash::Hash, V> Table<K, V> {
    fn new() -> Self {
        Table {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn get_or_compute<R>(&self, key: K, compute: impl FnOnce() -> V, read: impl Fn(&V) -> R) -> R {
        let cell = {
            let mut entries = lock(&self.entries);
            entries.entry(key).or_default().clone()
        };
        read(cell.get_or_init(compute))
    }

    fn len(&self) -> usize {
        lock(&self.entries).len()
    }
}

/// Model choices and fits shared between replays of one history (see the
/// module comment). Equal only to itself.
pub struct ForecastMemo {
    choices: Table<ChoiceKey, ChoiceResult>,
    fits: Table<FitKey, SharedFit>,
}

impl Default for ForecastMemo {
    fn default() -> Self {
        ForecastMemo::new()
    }
}

impl ForecastMemo {
    /// An empty memo.
    pub fn new() -> ForecastMemo {
        ForecastMemo {
            choices: Table::new(),
            fits: Table::new(),
        }
    }

    /// The choice for `key`, computed by `choose` the first time.
    pub fn choice(&self, key: ChoiceKey, choose: impl FnOnce() -> ChoiceResult) -> ChoiceResult {
        self.choices.get_or_compute(key, choose, Clone::clone)
    }

    /// A copy of the fit for `key`, computed by `fit` the first time.
    pub fn fit(
        &self,
        key: FitKey,
        fit: impl FnOnce() -> Result<Box<dyn Fitted>, String>,
    ) -> Result<Box<dyn Fitted>, String> {
        self.fits.get_or_compute(
            key,
            || fit().map(Mutex::new),
            |shared| match shared {
                Ok(fitted) => Ok(lock(fitted).clone_box()),
                Err(e) => Err(e.clone()),
            },
        )
    }

    /// Model choices and fits held: (choices, fits).
    pub fn sizes(&self) -> (usize, usize) {
        (self.choices.len(), self.fits.len())
    }
}

impl PartialEq for ForecastMemo {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self, other)
    }
}

impl std::fmt::Debug for ForecastMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (choices, fits) = self.sizes();
        f.debug_struct("ForecastMemo")
            .field("choices", &choices)
            .field("fits", &fits)
            .finish()
    }
}

/// The seasons as a key part.
pub fn seasons_key(seasons: Seasons) -> (usize, usize) {
    (seasons.daily, seasons.weekly)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::forecast::ModelKind;
    use chrono::DateTime;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn series(values: Vec<f64>) -> RegularSeries {
        RegularSeries {
            start: DateTime::from_timestamp(1_767_571_200, 0).unwrap(),
            step_secs: 300,
            values,
            filled: 0,
            gap: None,
        }
    }

    fn daily(days: usize) -> Vec<f64> {
        (0..288 * days)
            .map(|i| 100.0 + 50.0 * (i as f64 * std::f64::consts::TAU / 288.0).sin())
            .collect()
    }

    #[test]
    fn a_fit_is_computed_once_per_series_and_each_user_gets_its_own_copy() {
        let memo = ForecastMemo::new();
        let seasons = Seasons::for_step(300).unwrap();
        let model = Candidate::Model(ModelKind::HoltWintersAdditive);
        let key = |s: &RegularSeries| FitKey {
            series: SeriesKey::of(s),
            seasons: seasons_key(seasons),
            model: model.clone(),
        };
        let fits = AtomicUsize::new(0);
        let fit = |s: &RegularSeries| {
            fits.fetch_add(1, Ordering::SeqCst);
            model.fit(&s.values, seasons).map_err(|e| e.to_string())
        };
        let first = series(daily(3));
        let mut a = memo.fit(key(&first), || fit(&first)).unwrap();
        let b = memo.fit(key(&first), || fit(&first)).unwrap();
        assert_eq!(fits.load(Ordering::SeqCst), 1, "the second is the memo's");
        assert_eq!(a.forecast(12), b.forecast(12));
        a.update(500.0).unwrap();
        assert_ne!(
            a.forecast(12),
            b.forecast(12),
            "copies, not one shared state"
        );
        let c = memo.fit(key(&first), || fit(&first)).unwrap();
        assert_eq!(
            c.forecast(12),
            b.forecast(12),
            "the memo's fit is untouched"
        );

        let mut other = daily(3);
        other[10] += 1.0;
        let second = series(other);
        assert_ne!(SeriesKey::of(&first), SeriesKey::of(&second));
        memo.fit(key(&second), || fit(&second)).unwrap();
        assert_eq!(
            fits.load(Ordering::SeqCst),
            2,
            "another series, another fit"
        );
        assert_eq!(memo.sizes(), (0, 2));
    }

    #[test]
    fn every_model_copies_its_state_not_a_view_of_it() {
        let seasons = Seasons::for_step(300).unwrap();
        let values = daily(15);
        for kind in ModelKind::ALL {
            let Ok(mut fitted) = Candidate::Model(kind).fit(&values, seasons) else {
                continue;
            };
            let copy = fitted.clone_box();
            assert_eq!(copy.forecast(6), fitted.forecast(6), "{kind:?}");
            fitted.update(1_000.0).unwrap();
            assert_ne!(copy.forecast(6), fitted.forecast(6), "{kind:?}");
        }
    }

    #[test]
    fn threads_asking_for_the_same_choice_compute_it_once() {
        let memo = Arc::new(ForecastMemo::new());
        let computed = Arc::new(AtomicUsize::new(0));
        let key = ChoiceKey {
            series: SeriesKey::of(&series(daily(1))),
            seasons: (288, 2016),
            horizon: 3,
            incumbent: None,
        };
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let (memo, computed, key) = (memo.clone(), computed.clone(), key.clone());
                std::thread::spawn(move || {
                    memo.choice(key, || {
                        computed.fetch_add(1, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        Err("no model could be backtested".into())
                    })
                })
            })
            .collect();
        for handle in handles {
            assert_eq!(
                handle.join().unwrap(),
                Err("no model could be backtested".to_string())
            );
        }
        assert_eq!(computed.load(Ordering::SeqCst), 1);
        let other_horizon = ChoiceKey { horizon: 4, ..key };
        let _ = memo.choice(other_horizon, || Err("again".into()));
        assert_eq!(memo.sizes(), (2, 0));
    }
}
