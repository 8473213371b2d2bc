//! What a target's governor remembers, kept apart by whether it happened.
//!
//! The live state changes only when ebb really changed the group, or saw
//! someone else change it. A dry run, a standby instance and a shadow
//! candidate decide as if their decisions were carried out (their own
//! cooldowns and stabilization window, so their records stay meaningful as
//! "what would have happened") in a hypothetical state. The hypothesis
//! starts as a copy of the live state, so it respects what really happened
//! before it, and is dropped as soon as the target acts for real or another
//! hypothesis starts. No scaling time or capacity set in a hypothesis ever
//! reaches the live state, so a mode switch never inherits a hypothetical
//! cooldown.
//!
//! One thing does carry over to the first live decision after a dry run or
//! a standby: the stabilization window. Its entries are what the live
//! policy proposed from real metrics and the real group, not what was
//! decided, so they are the same a live run would have recorded; and they
//! can only hold a scale-in back, for at most the window. Without them a
//! standby taking over would scale in at once where the leader was still
//! waiting out the window.
//!
//! Pure: no I/O, no clock.

use crate::decision::Action;
use crate::governor::{GovernorState, Verdict};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// Why a decision is only supposed, never carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hypothesis {
    /// Global `--dry-run` or the policy's `mode = "dry-run"`.
    DryRun,
    /// Another instance holds the leader lease.
    Standby,
    /// A shadow candidate beside the live policy.
    Shadow,
}

/// How an evaluation's decision is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Run {
    /// Carried out: the live state moves on once the outcome is known.
    Live,
    /// Only supposed: a hypothetical state moves on at once.
    Hypothetical(Hypothesis),
}

/// A governor state that moves on as if its decisions had been carried out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HypotheticalState {
    /// Why the state is only supposed (dry run, standby, shadow).
    pub hypothesis: Hypothesis,
    /// The governor state as if every decision had been carried out.
    pub state: GovernorState,
}

/// A target's live governor state and, while it does not act, its
/// hypothetical one.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GovernorMemory {
    /// Shared with the daemon's saved state (copied when it moves on): a
    /// full stabilization window is hundreds of bytes a target.
    live: Arc<GovernorState>,
    hypothetical: Option<HypotheticalState>,
}

impl GovernorMemory {
    /// A memory from a saved live state and, if the target was not acting, its hypothetical state.
    pub fn new(
        live: impl Into<Arc<GovernorState>>,
        hypothetical: Option<HypotheticalState>,
    ) -> GovernorMemory {
        GovernorMemory {
            live: live.into(),
            hypothetical,
        }
    }

    /// What really happened: the only state a live decision starts from.
    pub fn live(&self) -> &GovernorState {
        &self.live
    }

    /// The live state, to keep a reference to rather than a copy.
    pub fn live_shared(&self) -> &Arc<GovernorState> {
        &self.live
    }

    /// The hypothesis under way, if any.
    pub fn hypothetical(&self) -> Option<&HypotheticalState> {
        self.hypothetical.as_ref()
    }

    /// Takes in the group's desired capacity as read at `now`. A value other
    /// than the one last set or seen is a change made by someone else (for a
    /// standby or a shadow, the acting policy's changes are too): it is real,
    /// so it starts the cooldowns in the live state and in the hypothesis
    /// alike. Returns the change as (from, to).
    pub fn observe_desired(&mut self, now: DateTime<Utc>, desired: u32) -> Option<(u32, u32)> {
        let change = self
            .live
            .last_set
            .filter(|last| *last != desired)
            .map(|last| (last, desired));
        // Remember what the group looks like now, not only what ebb set: a
        // change made by someone else before ebb's first own change must be
        // noticed too.
        // The live state is copied only when it moves (it is shared with
        // the saved state): not at every look at an unchanged group.
        // (An outside change is one such move: `change` implies it.)
        let live_moves = self.live.last_set != Some(desired);
        let live = live_moves.then(|| Arc::make_mut(&mut self.live));
        let states = live
            .into_iter()
            .chain(self.hypothetical.as_mut().map(|h| &mut h.state));
        for state in states {
            if let Some((from, to)) = change {
                state.record_scaling(now, Action::between(from, to));
            }
            state.last_set = Some(desired);
        }
        change
    }

    /// Decides under `run` from the state that run starts from, which is
    /// returned with the verdict. A live decision ends any hypothesis (taking
    /// in a dry run's or standby's stabilization window, see the module
    /// comment) and changes nothing else until
    /// [`GovernorMemory::settle_live`]; a hypothetical one moves its
    /// hypothesis on at once, as if carried out, starting it from the live
    /// state when another (or none) was under way.
    pub fn decide(
        &mut self,
        run: Run,
        decide: impl FnOnce(&GovernorState) -> Verdict,
    ) -> (GovernorState, Verdict) {
        let hypothesis = match run {
            Run::Live => {
                if let Some(ended) = self.hypothetical.take()
                    && ended.hypothesis != Hypothesis::Shadow
                {
                    // Forked from the live state, which has not moved since:
                    // the hypothesis' window holds the live one's and newer.
                    Arc::make_mut(&mut self.live).recent = ended.state.recent;
                }
                let verdict = decide(&self.live);
                return (GovernorState::clone(&self.live), verdict);
            }
            Run::Hypothetical(hypothesis) => hypothesis,
        };
        let supposed = match self.hypothetical.take() {
            Some(h) if h.hypothesis == hypothesis => h,
            _ => HypotheticalState {
                hypothesis,
                state: GovernorState::clone(&self.live),
            },
        };
        let before = supposed.state;
        let verdict = decide(&before);
        let mut next = verdict.next_state.clone();
        // The group did not change: nothing to tell apart from an outside
        // change at the next look.
        next.last_set = self.live.last_set;
        self.hypothetical = Some(HypotheticalState {
            hypothesis,
            state: next,
        });
        (before, verdict)
    }

    /// Takes in what became of a live decision: carried out (a hold
    /// included), the live state moves on; after a failed API call only the
    /// stabilization window does, so the next tick tries again without a
    /// cooldown.
    pub fn settle_live(&mut self, verdict: Verdict, carried_out: bool) {
        let next = verdict.next_state;
        if carried_out {
            self.live = Arc::new(next);
        } else {
            Arc::make_mut(&mut self.live).recent = next.recent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{ObservedCapacity, PolicyRecord, Recommendation};
    use crate::governor::Governor;
    use crate::policy_file::{GovernorSpec, MissingDataAction, StepLimit};
    use std::time::Duration as StdDuration;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("valid time")
    }

    fn governor(cooldown_s: u64, stabilization_s: u64) -> Governor {
        Governor::new(GovernorSpec {
            scale_out_cooldown: StdDuration::from_secs(cooldown_s),
            scale_in_cooldown: StdDuration::from_secs(cooldown_s),
            scale_in_stabilization: StdDuration::from_secs(stabilization_s),
            scale_in_quantile: 1.0,
            max_step_out: StepLimit::default(),
            max_step_in: StepLimit::default(),
            warmup: StdDuration::ZERO,
            on_missing_data: MissingDataAction::Hold,
        })
    }

    fn wants(capacity: u32) -> Vec<PolicyRecord> {
        vec![PolicyRecord {
            name: "p".into(),
            kind: crate::decision::PolicyKind::TargetTracking,
            recommendation: Recommendation::Capacity(capacity),
            reason: String::new(),
            detail: None,
            events: Vec::new(),
        }]
    }

    fn capacity(desired: u32) -> ObservedCapacity {
        ObservedCapacity {
            desired,
            in_service: desired,
            warming: 0,
        }
    }

    /// One decision at `at` on a group of `current` that wants `wanted`.
    fn decide(
        memory: &mut GovernorMemory,
        run: Run,
        governor: &Governor,
        at: i64,
        current: u32,
        wanted: u32,
    ) -> (GovernorState, Verdict) {
        memory.observe_desired(t(at), current);
        memory.decide(run, |state| {
            governor.decide(state, t(at), capacity(current), &wants(wanted), (0, 100))
        })
    }

    const DRY_RUN: Run = Run::Hypothetical(Hypothesis::DryRun);

    #[test]
    fn a_dry_run_keeps_its_own_cooldown_and_the_live_state_none() {
        let governor = governor(600, 0);
        let mut memory = GovernorMemory::default();
        let (_, v) = decide(&mut memory, DRY_RUN, &governor, 0, 4, 2);
        assert_eq!(v.action, Action::ScaleIn);
        // The dry run's next decision is held by its own cooldown...
        let (before, v) = decide(&mut memory, DRY_RUN, &governor, 60, 4, 2);
        assert_eq!(before.last_scale_in, Some(t(0)));
        assert_eq!(v.action, Action::Hold);
        assert!(v.reason.contains("scale-in cooldown"), "{}", v.reason);
        // ...and the live state never heard of it.
        assert_eq!(memory.live().last_scale_in, None);
        // Going live: no cooldown, and the hypothesis is gone.
        let (before, v) = decide(&mut memory, Run::Live, &governor, 120, 4, 2);
        assert_eq!(before.last_scale_in, None);
        assert_eq!(v.action, Action::ScaleIn);
        assert_eq!(memory.hypothetical(), None);
    }

    #[test]
    fn a_hypothesis_starts_from_what_really_happened() {
        let governor = governor(600, 0);
        let mut memory = GovernorMemory::default();
        let (_, v) = decide(&mut memory, Run::Live, &governor, 0, 4, 8);
        memory.settle_live(v, true);
        // The switch to dry run inherits the real scale-out's cooldown.
        let (before, v) = decide(&mut memory, DRY_RUN, &governor, 60, 8, 12);
        assert_eq!(before.last_scale_out, Some(t(0)));
        assert_eq!(v.action, Action::Hold);
    }

    #[test]
    fn another_hypothesis_starts_over_from_the_live_state() {
        let governor = governor(600, 0);
        let mut memory = GovernorMemory::default();
        decide(&mut memory, DRY_RUN, &governor, 0, 4, 2);
        let standby = Run::Hypothetical(Hypothesis::Standby);
        let (before, v) = decide(&mut memory, standby, &governor, 60, 4, 2);
        assert_eq!(before.last_scale_in, None);
        assert_eq!(v.action, Action::ScaleIn);
        assert_eq!(
            memory.hypothetical().map(|h| h.hypothesis),
            Some(Hypothesis::Standby)
        );
    }

    #[test]
    fn the_first_live_decision_keeps_the_stabilization_window_of_a_standby() {
        // No cooldowns; a 5-minute stabilization window.
        let governor = governor(0, 300);
        let mut memory = GovernorMemory::default();
        let standby = Run::Hypothetical(Hypothesis::Standby);
        // As a standby: load fell a minute ago, the leader waits out the window.
        decide(&mut memory, standby, &governor, 0, 8, 8);
        let (_, v) = decide(&mut memory, standby, &governor, 60, 8, 3);
        assert_eq!(v.action, Action::Hold);
        assert!(memory.live().recent.is_empty());
        // Taking over: still within the window of the proposal of 8.
        let (before, v) = decide(&mut memory, Run::Live, &governor, 120, 8, 3);
        assert_eq!(before.recent, [(t(0), 8), (t(60), 3)]);
        assert_eq!((v.desired, v.action), (8, Action::Hold));
    }

    #[test]
    fn an_outside_change_is_real_in_both_states() {
        let governor = governor(600, 0);
        let mut memory = GovernorMemory::default();
        decide(&mut memory, DRY_RUN, &governor, 0, 4, 4);
        assert_eq!(memory.observe_desired(t(60), 9), Some((4, 9)));
        assert_eq!(memory.live().last_scale_out, Some(t(60)));
        let supposed = &memory.hypothetical().expect("under way").state;
        assert_eq!(supposed.last_scale_out, Some(t(60)));
        assert_eq!(supposed.last_set, Some(9));
        assert_eq!(memory.observe_desired(t(120), 9), None);
    }

    #[test]
    fn a_failed_change_moves_only_the_stabilization_window() {
        let governor = governor(600, 300);
        let mut memory = GovernorMemory::default();
        let (_, v) = decide(&mut memory, Run::Live, &governor, 0, 4, 8);
        memory.settle_live(v, false);
        assert_eq!(memory.live().last_scale_out, None);
        assert_eq!(memory.live().last_set, Some(4));
        assert_eq!(memory.live().recent, [(t(0), 8)]);
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn hypothesis() -> impl Strategy<Value = Hypothesis> {
            prop_oneof![
                Just(Hypothesis::DryRun),
                Just(Hypothesis::Standby),
                Just(Hypothesis::Shadow),
            ]
        }

        fn past(max: i64) -> impl Strategy<Value = Option<DateTime<Utc>>> {
            proptest::option::of((0..=max).prop_map(|ago| t(-ago)))
        }

        proptest! {
            /// Whatever hypothetical decisions are taken on a group nobody
            /// changes, the live state stays exactly as it was, and the next
            /// live decision starts from its scaling times and capacity,
            /// never from a hypothetical one's.
            #[test]
            fn hypothetical_decisions_never_change_the_live_state(
                cooldown in 0u64..900, stabilization in 0u64..900,
                last_scale_out in past(2000), last_scale_in in past(2000),
                current in 1u32..40,
                steps in proptest::collection::vec((hypothesis(), 1i64..300, 0u32..60), 1..30),
                wanted_live in 0u32..60,
            ) {
                let governor = governor(cooldown, stabilization);
                let live = GovernorState {
                    last_scale_out,
                    last_scale_in,
                    recent: Vec::new(),
                    last_set: Some(current),
                };
                let mut memory = GovernorMemory::new(live.clone(), None);
                let mut now = 0;
                for (hypothesis, step, wanted) in steps {
                    now += step;
                    decide(&mut memory, Run::Hypothetical(hypothesis), &governor, now, current, wanted);
                    prop_assert_eq!(memory.live(), &live);
                }
                now += 1;
                let (before, _) = decide(&mut memory, Run::Live, &governor, now, current, wanted_live);
                prop_assert_eq!(before.last_scale_out, live.last_scale_out);
                prop_assert_eq!(before.last_scale_in, live.last_scale_in);
                prop_assert_eq!(before.last_set, live.last_set);
            }
        }
    }
}
