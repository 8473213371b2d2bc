//! What changed in the load histories since they were last handed to the
//! store: a history that only grew travels as a tail (the buckets from its
//! newest written one on, a few hundred bytes), one that changed shape
//! (new policy, other window or step, first write) as a whole copy. The
//! daemon's loop uses this to hand the writer small changes instead of
//! copying every history whose bucket completed.

use crate::forecast::history::{HistoryMark, HistoryTail, LoadHistory};
use std::collections::{BTreeMap, HashMap, HashSet};

/// One target's histories, by policy name.
pub type TargetHistories = BTreeMap<String, LoadHistory>;

/// The marks of one target's histories, by policy name.
pub type TargetMarks = BTreeMap<String, HistoryMark>;

/// How one target's histories changed.
#[derive(Debug, Clone, PartialEq)]
pub enum HistoryChange {
    /// Every history of the target, whole.
    Whole(TargetHistories),
    /// Tails of the histories that grew (by policy); the target's set of
    /// policies is the same as at the last write.
    Tails(BTreeMap<String, HistoryTail>),
}

impl HistoryChange {
    /// This change followed by a `newer` one of the same target, as one
    /// (when the first was never written).
    pub fn then(self, newer: HistoryChange) -> HistoryChange {
        match (self, newer) {
            (_, HistoryChange::Whole(newer)) => HistoryChange::Whole(newer),
            (HistoryChange::Whole(mut whole), HistoryChange::Tails(tails)) => {
                for (policy, tail) in &tails {
                    if let Some(history) = whole.get_mut(policy) {
                        history.apply_tail(tail);
                    }
                }
                HistoryChange::Whole(whole)
            }
            (HistoryChange::Tails(mut older), HistoryChange::Tails(newer)) => {
                for (policy, tail) in newer {
                    let merged = match older.remove(&policy) {
                        Some(before) => before.then(tail),
                        None => tail,
                    };
                    older.insert(policy, merged);
                }
                HistoryChange::Tails(older)
            }
        }
    }
}

/// The marks of the histories as last handed over, to tell what changed.
#[derive(Debug, Clone, Default)]
pub struct ChangeTracker {
    handed: HashMap<String, TargetMarks>,
}

/// The marks of a target's histories.
pub fn marks_of(histories: &TargetHistories) -> TargetMarks {
    histories
        .iter()
        .map(|(policy, history)| (policy.clone(), history.mark()))
        .collect()
}

impl ChangeTracker {
    /// A tracker that takes `handed` as already written (histories read
    /// back from their files at start).
    pub fn new(handed: HashMap<String, TargetMarks>) -> ChangeTracker {
        ChangeTracker { handed }
    }

    /// Forgets what was handed for `target`: its next change is whole
    /// (its file could not take the last one).
    pub fn forget(&mut self, targets: impl IntoIterator<Item = String>) {
        for target in targets {
            self.handed.remove(&target);
        }
    }

    /// The changes since the last call, for every target in `all` whose
    /// buckets changed; targets no longer in `all` are forgotten.
    pub fn changes(
        &mut self,
        all: &BTreeMap<String, TargetHistories>,
    ) -> BTreeMap<String, HistoryChange> {
        let mut changes = BTreeMap::new();
        for (target, histories) in all {
            let now = marks_of(histories);
            let change = match self.handed.get(target) {
                Some(before) if *before == now => continue,
                Some(before) => tails(before, histories)
                    .map(HistoryChange::Tails)
                    .unwrap_or_else(|| HistoryChange::Whole(histories.clone())),
                None => HistoryChange::Whole(histories.clone()),
            };
            changes.insert(target.clone(), change);
            self.handed.insert(target.clone(), now);
        }
        let present: HashSet<&String> = all.keys().collect();
        self.handed.retain(|target, _| present.contains(target));
        changes
    }
}

/// The tails of the histories that changed since `before`, or `None` when
/// one cannot be told as a tail (policies added or removed, another shape).
fn tails(
    before: &TargetMarks,
    histories: &TargetHistories,
) -> Option<BTreeMap<String, HistoryTail>> {
    if before.len() != histories.len() {
        return None;
    }
    let mut tails = BTreeMap::new();
    for (policy, history) in histories {
        let mark = before.get(policy)?;
        if history.mark() != *mark {
            tails.insert(policy.clone(), history.tail_since(mark)?);
        }
    }
    Some(tails)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::series::Datapoint;
    use chrono::{DateTime, Utc};

    fn grown(history: &mut LoadHistory, from_minute: i64, to_minute: i64) {
        let at = |m: i64| DateTime::<Utc>::from_timestamp(1_700_000_000 + m * 60, 0).unwrap();
        let points: Vec<Datapoint> = (from_minute..to_minute)
            .map(|m| Datapoint {
                time: at(m),
                value: m as f64,
            })
            .collect();
        history.ingest(at(to_minute), &points, 1.0);
    }

    #[test]
    fn a_grown_history_is_a_tail_a_new_or_reshaped_one_whole() {
        let mut history = LoadHistory::new(300, 86_400);
        grown(&mut history, 0, 30);
        let mut all = BTreeMap::from([(
            "web".to_string(),
            TargetHistories::from([("p".to_string(), history.clone())]),
        )]);
        let mut tracker = ChangeTracker::default();
        let first = tracker.changes(&all);
        assert!(matches!(first["web"], HistoryChange::Whole(_)));
        // Within the newest bucket: nothing.
        grown(all.get_mut("web").unwrap().get_mut("p").unwrap(), 30, 31);
        assert!(tracker.changes(&all).is_empty());
        // A new bucket: a tail, which brings the first copy up to date.
        grown(all.get_mut("web").unwrap().get_mut("p").unwrap(), 31, 36);
        let second = tracker.changes(&all);
        let HistoryChange::Whole(mut copy) = first["web"].clone() else {
            unreachable!()
        };
        let HistoryChange::Tails(tails) = &second["web"] else {
            panic!("{second:?}");
        };
        copy.get_mut("p").unwrap().apply_tail(&tails["p"]);
        assert_eq!(copy, all["web"]);
        // Merged with the whole one before it: the same.
        assert_eq!(
            first["web"].clone().then(second["web"].clone()),
            HistoryChange::Whole(all["web"].clone())
        );
        // Another window: whole. A forgotten target: whole.
        let web = all.get_mut("web").unwrap();
        let p = web.remove("p").unwrap();
        web.insert("p".into(), p.with_window(3600));
        assert!(matches!(
            tracker.changes(&all)["web"],
            HistoryChange::Whole(_)
        ));
        tracker.forget(["web".to_string()]);
        assert!(matches!(
            tracker.changes(&all)["web"],
            HistoryChange::Whole(_)
        ));
    }
}
