//! The governor: from the policies' recommendations to one decision.
//!
//! Rules, in the order they apply (each recorded as a step when it changes
//! anything):
//! 1. combine: the largest capacity recommendation (scale out on the largest,
//!    scale in only when every policy agrees);
//! 2. missing data: never scale in when a policy lacks data; with
//!    `on_missing_data = "hold"`, do not scale out either, except to a
//!    schedule's capacity (a schedule needs no data);
//! 3. bounds: clamp to [min, max];
//! 4. stabilization: scale in only to the highest proposal within the window;
//! 5. warm-up: no scale-in while instances are still warming up;
//! 6. cooldowns: no scale-out within `scale_out_cooldown` of the last
//!    scale-out; no scale-in within `scale_in_cooldown` of any scaling;
//! 7. step limits in each direction;
//! 8. bounds again, which override every rule above (a group left outside its
//!    bounds by someone else is brought back at once);
//! 9. the group's blocks, which override even the bounds: a suspended
//!    `Launch` (or `Terminate`), an instance refresh (scale-in), a group being
//!    deleted or refused for its own scaling policies. The group is left as
//!    it is and the record says which block held it.
//!
//! Pure: time comes in as an argument and the state is a plain value.

use crate::decision::{
    Action, Event, GovernorRule, GovernorStep, ObservedCapacity, PolicyKind, PolicyRecord,
    Recommendation, ScalingBlocks,
};
use crate::policy_file::{GovernorSpec, MissingDataAction, StepLimit};
use crate::signal::to_chrono;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What the governor remembers between evaluations. Persisted by the daemon
/// so restarts do not reset cooldowns, and written into every decision
/// record so decisions can be replayed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GovernorState {
    /// When ebb last scaled out (or saw the group scaled out), for `scale_out_cooldown`.
    #[serde(default, serialize_with = "crate::iso_time::option")]
    pub last_scale_out: Option<DateTime<Utc>>,
    /// When ebb last scaled in (or saw the group scaled in), for `scale_in_cooldown`.
    #[serde(default, serialize_with = "crate::iso_time::option")]
    pub last_scale_in: Option<DateTime<Utc>>,
    /// Bounded proposals within the stabilization window, oldest first.
    /// (Written into every record and the state file: through the fast
    /// writer of times, see [`crate::iso_time`].)
    #[serde(default, serialize_with = "crate::iso_time::pairs")]
    pub recent: Vec<(DateTime<Utc>, u32)>,
    /// The desired capacity ebb last set or saw, to notice changes made by others.
    #[serde(default)]
    pub last_set: Option<u32>,
}

impl GovernorState {
    fn last_scaling(&self) -> Option<DateTime<Utc>> {
        self.last_scale_out.max(self.last_scale_in)
    }

    /// Records that capacity was changed (by ebb, or by someone else) at `at`.
    pub fn record_scaling(&mut self, at: DateTime<Utc>, action: Action) {
        match action {
            Action::ScaleOut => self.last_scale_out = Some(at),
            Action::ScaleIn => self.last_scale_in = Some(at),
            Action::Hold => {}
        }
    }
}

/// The governor's verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// The desired capacity decided on, within the bounds in force.
    pub desired: u32,
    /// Which way `desired` moves capacity from the current desired capacity.
    pub action: Action,
    /// The rules that changed the proposal, in order; the first is always combine.
    pub steps: Vec<GovernorStep>,
    /// One line for people: the rule that decided, and what it saw.
    pub reason: String,
    /// What the governor wants others to know (missing data, a schedule's
    /// floor applied without data).
    pub events: Vec<Event>,
    /// The state to keep if the decision is carried out (or, in a
    /// hypothetical state, supposed to be: see [`crate::governor_memory`]).
    pub next_state: GovernorState,
}

/// Applies a target's governor rules.
#[derive(Debug, Clone)]
pub struct Governor {
    spec: GovernorSpec,
}

impl Governor {
    /// A governor applying the rules of `spec`.
    pub fn new(spec: GovernorSpec) -> Governor {
        Governor { spec }
    }

    /// The settings the rules apply.
    pub fn spec(&self) -> &GovernorSpec {
        &self.spec
    }

    /// Decides the desired capacity. `min`/`max` are the bounds in force.
    pub fn decide(
        &self,
        state: &GovernorState,
        now: DateTime<Utc>,
        capacity: ObservedCapacity,
        policies: &[PolicyRecord],
        bounds: (u32, u32),
    ) -> Verdict {
        self.decide_on_group(
            state,
            now,
            capacity,
            policies,
            bounds,
            &ScalingBlocks::default(),
        )
    }

    /// Like [`Governor::decide`], on a group that may not allow a change in
    /// one direction or both now (rule 9).
    pub fn decide_on_group(
        &self,
        state: &GovernorState,
        now: DateTime<Utc>,
        capacity: ObservedCapacity,
        policies: &[PolicyRecord],
        bounds: (u32, u32),
        blocks: &ScalingBlocks,
    ) -> Verdict {
        let current = capacity.desired;
        let mut steps = Steps::default();
        let mut events = Vec::new();
        let mut next_state = state.clone();

        let mut proposal = combine(policies, current, &mut steps);
        proposal = self.on_missing_data(policies, current, proposal, &mut steps, &mut events);
        proposal = clamp_to_bounds(proposal, bounds, "", &mut steps);
        proposal = self.stabilize(&mut next_state, now, current, proposal, &mut steps);
        proposal = hold_while_warming(capacity, proposal, &mut steps);
        proposal = self.cool_down(state, now, current, proposal, &mut steps);
        proposal = self.limit_step(current, proposal, &mut steps);
        proposal = clamp_to_bounds(proposal, bounds, " override the rules above", &mut steps);
        proposal = respect_blocks(blocks, current, proposal, &mut steps);

        let action = Action::between(current, proposal);
        next_state.record_scaling(now, action);
        if action != Action::Hold {
            next_state.last_set = Some(proposal);
        }
        let steps = steps.0;
        Verdict {
            desired: proposal,
            action,
            reason: reason(current, proposal, action, &steps),
            steps,
            events,
            next_state,
        }
    }

    /// Rule 2: never scale in when a policy lacks data; with
    /// `on_missing_data = "hold"` do not scale out either, except to a
    /// schedule's floor. Adds the events that say so.
    fn on_missing_data(
        &self,
        policies: &[PolicyRecord],
        current: u32,
        proposal: u32,
        steps: &mut Steps,
        events: &mut Vec<Event>,
    ) -> u32 {
        let lacking: Vec<&str> = policies
            .iter()
            .filter(|p| p.recommendation == Recommendation::MissingData)
            .map(|p| p.name.as_str())
            .collect();
        if lacking.is_empty() {
            return proposal;
        }
        // The governor sees policies, not fetches: the evaluator adds the
        // kinds of the failed fetches.
        events.push(Event::DataMissing {
            policies: lacking.iter().map(|name| name.to_string()).collect(),
            kinds: Vec::new(),
        });
        let who = lacking.join(", ");
        if proposal < current {
            return steps.record(
                GovernorRule::MissingData,
                current,
                format!("no data for {who}: never scale in on missing data"),
            );
        }
        if proposal <= current || self.spec.on_missing_data != MissingDataAction::Hold {
            return proposal;
        }
        // Data-driven scale-out waits for the data; a scheduled floor
        // does not depend on any, so it still applies.
        let scheduled = policies
            .iter()
            .filter(|p| p.kind == PolicyKind::Schedule)
            .filter_map(|p| match p.recommendation {
                Recommendation::Capacity(c) if c > current => Some((c, p.name.as_str())),
                _ => None,
            })
            .max_by_key(|(c, _)| *c);
        match scheduled {
            Some((c, name)) => {
                events.push(Event::ScheduleFloorApplied {
                    policy: name.to_string(),
                    capacity: c,
                });
                steps.record(
                    GovernorRule::MissingData,
                    c,
                    format!(
                        "no data for {who}: on_missing_data = hold, but schedule {name} needs no data: {c}"
                    ),
                )
            }
            None => steps.record(
                GovernorRule::MissingData,
                current,
                format!("no data for {who}: on_missing_data = hold"),
            ),
        }
    }

    /// Rule 4: scale in only to the highest (or the quantile's) proposal
    /// within the stabilization window. Keeps this proposal in `next_state`'s
    /// window, and forgets the ones that left it.
    fn stabilize(
        &self,
        next_state: &mut GovernorState,
        now: DateTime<Utc>,
        current: u32,
        proposal: u32,
        steps: &mut Steps,
    ) -> u32 {
        let window = to_chrono(self.spec.scale_in_stabilization);
        let cutoff = crate::clock::earlier(now, self.spec.scale_in_stabilization);
        next_state.recent.retain(|(t, _)| *t > cutoff && *t <= now);
        next_state.recent.push((now, proposal));
        if proposal >= current {
            return proposal;
        }
        let (held, which) = stabilized_proposal(&next_state.recent, self.spec.scale_in_quantile);
        let stabilized = held.max(proposal).min(current);
        if stabilized == proposal {
            return proposal;
        }
        steps.record(
            GovernorRule::Stabilized,
            stabilized,
            format!(
                "{which} proposal in the last {}s is {held}",
                window.num_seconds()
            ),
        )
    }

    /// Rule 6: no scale-out within `scale_out_cooldown` of the last
    /// scale-out; no scale-in within `scale_in_cooldown` of any scaling.
    fn cool_down(
        &self,
        state: &GovernorState,
        now: DateTime<Utc>,
        current: u32,
        proposal: u32,
        steps: &mut Steps,
    ) -> u32 {
        let (cooldown, last, what) = if proposal > current {
            (
                self.spec.scale_out_cooldown,
                state.last_scale_out,
                "scale-out cooldown: last scale-out",
            )
        } else if proposal < current {
            (
                self.spec.scale_in_cooldown,
                state.last_scaling(),
                "scale-in cooldown: last scaling",
            )
        } else {
            return proposal;
        };
        let cooldown = to_chrono(cooldown);
        match last.filter(|t| now - *t < cooldown) {
            Some(last) => steps.record(
                GovernorRule::Cooldown,
                current,
                format!(
                    "{what} {}s ago, cooldown {}s",
                    (now - last).num_seconds(),
                    cooldown.num_seconds()
                ),
            ),
            None => proposal,
        }
    }

    /// Rule 7: at most `max_step_out` / `max_step_in` away from `current`.
    fn limit_step(&self, current: u32, proposal: u32, steps: &mut Steps) -> u32 {
        if proposal > current {
            let most = max_step(&self.spec.max_step_out, current);
            if proposal - current > most {
                return steps.record(
                    GovernorRule::StepLimited,
                    current.saturating_add(most),
                    format!("at most {most} instance(s) out per decision"),
                );
            }
        } else if proposal < current {
            let most = max_step(&self.spec.max_step_in, current);
            if current - proposal > most {
                return steps.record(
                    GovernorRule::StepLimited,
                    current - most,
                    format!("at most {most} instance(s) in per decision"),
                );
            }
        }
        proposal
    }
}

/// The steps of one decision, in the order the rules applied; a rule adds
/// one only when it changes the proposal (combine always adds one).
#[derive(Default)]
struct Steps(Vec<GovernorStep>);

impl Steps {
    /// Records that `rule` set the proposal to `capacity`, and returns it.
    fn record(&mut self, rule: GovernorRule, capacity: u32, note: String) -> u32 {
        self.0.push(GovernorStep {
            rule,
            capacity,
            note,
        });
        capacity
    }
}

/// Rule 1: the largest capacity recommended, or `current` when no policy
/// recommends one.
fn combine(policies: &[PolicyRecord], current: u32, steps: &mut Steps) -> u32 {
    let largest = policies
        .iter()
        .filter_map(|p| match p.recommendation {
            Recommendation::Capacity(c) => Some((c, p.name.as_str())),
            _ => None,
        })
        .max_by_key(|(c, _)| *c);
    match largest {
        Some((c, name)) => steps.record(
            GovernorRule::Combine,
            c,
            format!("largest recommendation: {name} ({c})"),
        ),
        None => steps.record(
            GovernorRule::Combine,
            current,
            "no policy recommends a capacity: hold".into(),
        ),
    }
}

/// Rules 3 and 8: clamp to the bounds in force; `why` ends the step's note.
fn clamp_to_bounds(proposal: u32, (min, max): (u32, u32), why: &str, steps: &mut Steps) -> u32 {
    let bounded = proposal.clamp(min, max);
    if bounded == proposal {
        return proposal;
    }
    steps.record(
        GovernorRule::Clamped,
        bounded,
        format!("bounds [{min}, {max}]{why}"),
    )
}

/// Rule 5: no scale-in while instances are still warming up.
fn hold_while_warming(capacity: ObservedCapacity, proposal: u32, steps: &mut Steps) -> u32 {
    if proposal < capacity.desired && capacity.warming > 0 {
        return steps.record(
            GovernorRule::WarmingUp,
            capacity.desired,
            format!(
                "{} instance(s) still warming up: no scale-in",
                capacity.warming
            ),
        );
    }
    proposal
}

/// Rule 9: a group that does not allow the change now stays as it is.
fn respect_blocks(blocks: &ScalingBlocks, current: u32, proposal: u32, steps: &mut Steps) -> u32 {
    let Some(why) = blocks.blocking(Action::between(current, proposal)) else {
        return proposal;
    };
    let direction = if proposal > current {
        "no scale-out"
    } else {
        "no scale-in"
    };
    steps.record(
        GovernorRule::GroupBlocked,
        current,
        format!("{why}: {direction} (wanted {proposal})"),
    )
}

/// The verdict's one-line reason: the last rule that changed the proposal
/// (or, holding with nothing but combine, why combine held).
fn reason(current: u32, proposal: u32, action: Action, steps: &[GovernorStep]) -> String {
    match (action, steps.last()) {
        (Action::Hold, Some(last)) if last.rule != GovernorRule::Combine => {
            format!("hold at {current}: {}", last.note)
        }
        (Action::Hold, _) => format!("hold at {current}: {}", steps[0].note),
        (_, Some(last)) => format!("{current} -> {proposal}: {}", last.note),
        (_, None) => unreachable!("combine always records a step"),
    }
}

/// The proposal scale-in may go to, from the proposals within the
/// stabilization window (never empty: it holds the current one), and how it
/// was chosen: the highest, or the `quantile`-th (rounded up to a proposal
/// that was made, so a quantile never invents a capacity).
fn stabilized_proposal(recent: &[(DateTime<Utc>, u32)], quantile: f64) -> (u32, String) {
    let mut proposals: Vec<u32> = recent.iter().map(|(_, c)| *c).collect();
    proposals.sort_unstable();
    let highest = proposals.last().copied().unwrap_or(0);
    if quantile >= 1.0 || proposals.is_empty() {
        return (highest, "highest".into());
    }
    // The smallest proposal at or above the quantile of all of them.
    let rank = (quantile * proposals.len() as f64).ceil().max(1.0) as usize;
    let chosen = proposals[rank.min(proposals.len()) - 1];
    (chosen, format!("{:.0}th-percentile", quantile * 100.0))
}

/// The largest change a step limit allows from `current`; at least one
/// instance, so a limit never freezes a group.
fn max_step(limit: &StepLimit, current: u32) -> u32 {
    let by_count = limit.instances.unwrap_or(u32::MAX);
    let by_share = limit
        .percent
        .map(|p| ((current as f64 * p / 100.0).ceil()).min(u32::MAX as f64) as u32)
        .unwrap_or(u32::MAX);
    by_count.min(by_share).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as StdDuration;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("valid time")
    }

    /// A governor with every rule but combination, missing data and bounds
    /// switched off, so each test turns on only the rule it is about.
    fn plain() -> GovernorSpec {
        GovernorSpec {
            scale_out_cooldown: StdDuration::ZERO,
            scale_in_cooldown: StdDuration::ZERO,
            scale_in_stabilization: StdDuration::ZERO,
            scale_in_quantile: 1.0,
            max_step_out: StepLimit::default(),
            max_step_in: StepLimit::default(),
            warmup: StdDuration::ZERO,
            on_missing_data: MissingDataAction::Hold,
        }
    }

    fn capacity(desired: u32) -> ObservedCapacity {
        ObservedCapacity {
            desired,
            in_service: desired,
            warming: 0,
        }
    }

    fn wants(name: &str, recommendation: Recommendation) -> PolicyRecord {
        PolicyRecord {
            name: name.into(),
            kind: PolicyKind::TargetTracking,
            recommendation,
            reason: String::new(),
            detail: None,
            events: Vec::new(),
        }
    }

    fn offers(capacities: &[u32]) -> Vec<PolicyRecord> {
        capacities
            .iter()
            .enumerate()
            .map(|(i, c)| wants(&format!("p{i}"), Recommendation::Capacity(*c)))
            .collect()
    }

    fn decide(spec: GovernorSpec, current: u32, policies: &[PolicyRecord]) -> Verdict {
        Governor::new(spec).decide(
            &GovernorState::default(),
            t(0),
            capacity(current),
            policies,
            (0, 100),
        )
    }

    fn rules(verdict: &Verdict) -> Vec<GovernorRule> {
        verdict.steps.iter().map(|s| s.rule).collect()
    }

    #[test]
    fn scales_out_to_the_largest_recommendation() {
        let v = decide(plain(), 5, &offers(&[3, 9, 7]));
        assert_eq!((v.desired, v.action), (9, Action::ScaleOut));
        assert!(v.steps[0].note.contains("p1 (9)"), "{:?}", v.steps);
        assert!(v.reason.starts_with("5 -> 9"), "{}", v.reason);
    }

    #[test]
    fn scales_in_only_when_every_policy_agrees() {
        let v = decide(plain(), 5, &offers(&[2, 5]));
        assert_eq!((v.desired, v.action), (5, Action::Hold));
        let v = decide(plain(), 5, &offers(&[2, 4]));
        assert_eq!((v.desired, v.action), (4, Action::ScaleIn));
    }

    #[test]
    fn a_policy_without_an_opinion_does_not_take_part() {
        let policies = vec![
            wants("schedule", Recommendation::NoOpinion),
            wants("cpu", Recommendation::Capacity(3)),
        ];
        let v = decide(plain(), 5, &policies);
        assert_eq!((v.desired, v.action), (3, Action::ScaleIn));
    }

    #[test]
    fn without_any_recommendation_it_holds() {
        let v = decide(plain(), 5, &[wants("schedule", Recommendation::NoOpinion)]);
        assert_eq!((v.desired, v.action), (5, Action::Hold));
        assert!(v.reason.contains("no policy recommends"), "{}", v.reason);
        let v = decide(plain(), 5, &[]);
        assert_eq!((v.desired, v.action), (5, Action::Hold));
    }

    #[test]
    fn never_scales_in_when_a_policy_lacks_data() {
        for on_missing_data in [MissingDataAction::Hold, MissingDataAction::ScaleOutOnly] {
            let spec = GovernorSpec {
                on_missing_data,
                ..plain()
            };
            let policies = vec![
                wants("cpu", Recommendation::MissingData),
                wants("requests", Recommendation::Capacity(2)),
            ];
            let v = decide(spec, 5, &policies);
            assert_eq!(
                (v.desired, v.action),
                (5, Action::Hold),
                "{on_missing_data:?}"
            );
            assert_eq!(
                rules(&v),
                [GovernorRule::Combine, GovernorRule::MissingData]
            );
            assert!(v.reason.contains("no data for cpu"), "{}", v.reason);
        }
    }

    #[test]
    fn missing_data_alone_holds() {
        let v = decide(plain(), 5, &[wants("cpu", Recommendation::MissingData)]);
        assert_eq!((v.desired, v.action), (5, Action::Hold));
    }

    #[test]
    fn on_missing_data_hold_also_blocks_scale_out() {
        let policies = vec![
            wants("cpu", Recommendation::MissingData),
            wants("requests", Recommendation::Capacity(8)),
        ];
        let v = decide(plain(), 5, &policies);
        assert_eq!((v.desired, v.action), (5, Action::Hold));
        assert!(v.reason.contains("on_missing_data = hold"), "{}", v.reason);
    }

    #[test]
    fn on_missing_data_hold_still_scales_out_to_a_schedule() {
        let scheduled = |capacity| PolicyRecord {
            kind: PolicyKind::Schedule,
            ..wants("business-hours", Recommendation::Capacity(capacity))
        };
        let policies = vec![
            wants("cpu", Recommendation::MissingData),
            wants("requests", Recommendation::Capacity(12)),
            scheduled(8),
        ];
        let v = decide(plain(), 5, &policies);
        assert_eq!((v.desired, v.action), (8, Action::ScaleOut), "{}", v.reason);
        assert!(
            v.reason.contains("schedule business-hours needs no data"),
            "{}",
            v.reason
        );
        assert_eq!(
            v.events,
            vec![
                Event::DataMissing {
                    policies: vec!["cpu".into()],
                    kinds: Vec::new(),
                },
                Event::ScheduleFloorApplied {
                    policy: "business-hours".into(),
                    capacity: 8
                }
            ]
        );
        // A policy of another kind is no floor: it needs data.
        let policies = vec![
            wants("cpu", Recommendation::MissingData),
            wants("business-hours", Recommendation::Capacity(8)),
        ];
        let v = decide(plain(), 5, &policies);
        assert_eq!((v.desired, v.action), (5, Action::Hold));
        assert!(
            !v.events
                .iter()
                .any(|e| matches!(e, Event::ScheduleFloorApplied { .. })),
            "{:?}",
            v.events
        );
        // A schedule below the current capacity scales nothing in.
        let policies = vec![wants("cpu", Recommendation::MissingData), scheduled(3)];
        let v = decide(plain(), 5, &policies);
        assert_eq!((v.desired, v.action), (5, Action::Hold));
    }

    #[test]
    fn on_missing_data_scale_out_only_lets_scale_out_through() {
        let spec = GovernorSpec {
            on_missing_data: MissingDataAction::ScaleOutOnly,
            ..plain()
        };
        let policies = vec![
            wants("cpu", Recommendation::MissingData),
            wants("requests", Recommendation::Capacity(8)),
        ];
        let v = decide(spec, 5, &policies);
        assert_eq!((v.desired, v.action), (8, Action::ScaleOut));
    }

    #[test]
    fn clamps_to_the_bounds() {
        let governor = Governor::new(plain());
        let state = GovernorState::default();
        let v = governor.decide(&state, t(0), capacity(5), &offers(&[50]), (2, 10));
        assert_eq!((v.desired, v.action), (10, Action::ScaleOut));
        assert_eq!(rules(&v), [GovernorRule::Combine, GovernorRule::Clamped]);
        assert!(v.reason.contains("bounds [2, 10]"), "{}", v.reason);
        let v = governor.decide(&state, t(0), capacity(5), &offers(&[0]), (2, 10));
        assert_eq!((v.desired, v.action), (2, Action::ScaleIn));
    }

    #[test]
    fn bounds_override_every_other_rule() {
        // Someone set the group to 1, below the minimum of 3, a moment after
        // ebb scaled: cooldowns, missing data and warm-up would all hold, but
        // a group outside its bounds is brought back at once.
        let spec = GovernorSpec {
            scale_out_cooldown: StdDuration::from_secs(600),
            ..plain()
        };
        let state = GovernorState {
            last_scale_out: Some(t(-10)),
            ..GovernorState::default()
        };
        let observed = ObservedCapacity {
            desired: 1,
            in_service: 0,
            warming: 1,
        };
        let policies = [wants("cpu", Recommendation::MissingData)];
        let v = Governor::new(spec.clone()).decide(&state, t(0), observed, &policies, (3, 10));
        assert_eq!((v.desired, v.action), (3, Action::ScaleOut));
        // And above the maximum, even on missing data.
        let v = Governor::new(spec).decide(&state, t(0), capacity(14), &policies, (3, 10));
        assert_eq!((v.desired, v.action), (10, Action::ScaleIn));
    }

    #[test]
    fn an_absurd_stabilization_window_holds_instead_of_panicking() {
        // `scale_in_stabilization = "100000000000d"` overflowed `now - window`
        // (the loader now refuses it; the governor must not panic anyway).
        let spec = GovernorSpec {
            scale_in_stabilization: StdDuration::from_secs(8_640_000_000_000_000),
            ..plain()
        };
        let governor = Governor::new(spec);
        let first = governor.decide(
            &GovernorState::default(),
            t(0),
            capacity(5),
            &offers(&[5]),
            (0, 100),
        );
        let v = governor.decide(
            &first.next_state,
            t(60),
            capacity(5),
            &offers(&[3]),
            (0, 100),
        );
        // Every earlier proposal is within the window: the 5 holds.
        assert_eq!((v.desired, v.action), (5, Action::Hold));
    }

    #[test]
    fn scale_in_waits_for_the_highest_proposal_in_the_stabilization_window() {
        let governor = Governor::new(GovernorSpec {
            scale_in_stabilization: StdDuration::from_secs(300),
            ..plain()
        });
        let mut state = GovernorState::default();
        let mut tick = |at: i64, current: u32, wanted: u32| {
            let v = governor.decide(
                &state,
                t(at),
                capacity(current),
                &offers(&[wanted]),
                (0, 100),
            );
            state = v.next_state.clone();
            v
        };
        assert_eq!(tick(0, 8, 8).desired, 8);
        let v = tick(60, 8, 4);
        assert_eq!((v.desired, v.action), (8, Action::Hold));
        assert_eq!(rules(&v), [GovernorRule::Combine, GovernorRule::Stabilized]);
        assert!(
            v.reason.contains("highest proposal in the last 300s is 8"),
            "{}",
            v.reason
        );
        assert_eq!(tick(200, 8, 6).desired, 8);
        // The proposal of 8 at t=0 has left the window: the highest left is 6.
        let v = tick(300, 8, 4);
        assert_eq!((v.desired, v.action), (6, Action::ScaleIn));
        let v = tick(500, 6, 4);
        assert_eq!((v.desired, v.action), (4, Action::ScaleIn));
    }

    /// Decisions of a governor with a 10-minute window and `quantile`, one a
    /// minute, from 10 instances, with these proposals in turn; the desired
    /// capacity after each.
    fn stabilized_run(quantile: f64, proposals: &[u32]) -> Vec<u32> {
        let governor = Governor::new(GovernorSpec {
            scale_in_stabilization: StdDuration::from_secs(600),
            scale_in_quantile: quantile,
            ..plain()
        });
        let (mut state, mut current) = (GovernorState::default(), 10);
        let mut desired = Vec::new();
        for (i, wanted) in proposals.iter().enumerate() {
            let v = governor.decide(
                &state,
                t(60 * i as i64),
                capacity(current),
                &offers(&[*wanted]),
                (0, 100),
            );
            state = v.next_state;
            current = v.desired;
            desired.push(current);
        }
        desired
    }

    #[test]
    fn quantile_scale_in_holds_through_a_single_dip() {
        // Nine minutes at 10 and one dip to 4: the 80th percentile is 10.
        let mut proposals = vec![10; 9];
        proposals.push(4);
        assert_eq!(stabilized_run(0.8, &proposals).last(), Some(&10));
    }

    #[test]
    fn quantile_scale_in_lets_one_short_peak_go_where_the_highest_holds_it() {
        // Load falls to 4 for good after a one-minute peak of 10.
        let mut proposals = vec![10];
        proposals.extend([4; 5]);
        let highest = stabilized_run(1.0, &proposals);
        let quantile = stabilized_run(0.8, &proposals);
        assert_eq!(highest.last(), Some(&10), "the peak holds the whole window");
        assert_eq!(quantile.last(), Some(&4), "{quantile:?}");
        // The verdict names the rule: at 5 proposals, the 80th percentile is
        // the 4th smallest (rounded up to a proposal that was made).
        let governor = Governor::new(GovernorSpec {
            scale_in_stabilization: StdDuration::from_secs(600),
            scale_in_quantile: 0.8,
            ..plain()
        });
        let state = GovernorState {
            recent: vec![(t(0), 10), (t(60), 10), (t(120), 6), (t(180), 8)],
            ..GovernorState::default()
        };
        let v = governor.decide(&state, t(240), capacity(10), &offers(&[4]), (0, 100));
        assert_eq!(v.desired, 10);
        assert!(
            v.reason
                .contains("80th-percentile proposal in the last 600s is 10"),
            "{}",
            v.reason
        );
        let v = governor.decide(&state, t(240), capacity(10), &offers(&[3]), (0, 100));
        assert_eq!(v.desired, 10);
    }

    #[test]
    fn a_quantile_never_scales_in_below_the_proposal() {
        // Proposals of 4 before and 8 now, from 10: the median (4) is below
        // what is proposed now, which is the floor.
        let governor = Governor::new(GovernorSpec {
            scale_in_stabilization: StdDuration::from_secs(600),
            scale_in_quantile: 0.5,
            ..plain()
        });
        let state = GovernorState {
            recent: vec![(t(0), 4), (t(60), 4), (t(120), 4)],
            ..GovernorState::default()
        };
        let v = governor.decide(&state, t(180), capacity(10), &offers(&[8]), (0, 100));
        assert_eq!((v.desired, v.action), (8, Action::ScaleIn));
    }

    #[test]
    fn stabilization_does_not_delay_scale_out() {
        let governor = Governor::new(GovernorSpec {
            scale_in_stabilization: StdDuration::from_secs(300),
            ..plain()
        });
        let state = GovernorState {
            recent: vec![(t(-60), 3)],
            ..GovernorState::default()
        };
        let v = governor.decide(&state, t(0), capacity(4), &offers(&[9]), (0, 100));
        assert_eq!((v.desired, v.action), (9, Action::ScaleOut));
        assert_eq!(v.next_state.recent, vec![(t(-60), 3), (t(0), 9)]);
    }

    #[test]
    fn stabilization_remembers_only_its_window() {
        let governor = Governor::new(GovernorSpec {
            scale_in_stabilization: StdDuration::from_secs(300),
            ..plain()
        });
        let state = GovernorState {
            recent: vec![(t(-400), 20), (t(-300), 10), (t(-100), 7)],
            ..GovernorState::default()
        };
        let v = governor.decide(&state, t(0), capacity(8), &offers(&[5]), (0, 100));
        assert_eq!((v.desired, v.action), (7, Action::ScaleIn));
        assert_eq!(v.next_state.recent, vec![(t(-100), 7), (t(0), 5)]);
    }

    #[test]
    fn no_scale_in_while_instances_warm_up() {
        let governor = Governor::new(plain());
        let observed = ObservedCapacity {
            desired: 6,
            in_service: 4,
            warming: 2,
        };
        let state = GovernorState::default();
        let v = governor.decide(&state, t(0), observed, &offers(&[3]), (0, 100));
        assert_eq!((v.desired, v.action), (6, Action::Hold));
        assert_eq!(rules(&v), [GovernorRule::Combine, GovernorRule::WarmingUp]);
        assert!(
            v.reason.contains("2 instance(s) still warming up"),
            "{}",
            v.reason
        );
        // Warming instances do not stop a scale-out.
        let v = governor.decide(&state, t(0), observed, &offers(&[9]), (0, 100));
        assert_eq!((v.desired, v.action), (9, Action::ScaleOut));
    }

    fn cooled(out: u64, scale_in: u64, state: GovernorState) -> impl Fn(u32, u32, i64) -> Verdict {
        let governor = Governor::new(GovernorSpec {
            scale_out_cooldown: StdDuration::from_secs(out),
            scale_in_cooldown: StdDuration::from_secs(scale_in),
            ..plain()
        });
        move |current, wanted, at| {
            governor.decide(
                &state,
                t(at),
                capacity(current),
                &offers(&[wanted]),
                (0, 100),
            )
        }
    }

    #[test]
    fn no_scale_out_within_the_scale_out_cooldown() {
        let state = GovernorState {
            last_scale_out: Some(t(0)),
            ..GovernorState::default()
        };
        let decide = cooled(120, 0, state);
        let v = decide(5, 8, 119);
        assert_eq!((v.desired, v.action), (5, Action::Hold));
        assert_eq!(rules(&v), [GovernorRule::Combine, GovernorRule::Cooldown]);
        assert!(
            v.reason.contains("last scale-out 119s ago, cooldown 120s"),
            "{}",
            v.reason
        );
        let v = decide(5, 8, 120);
        assert_eq!((v.desired, v.action), (8, Action::ScaleOut));
    }

    #[test]
    fn a_recent_scale_in_does_not_block_scale_out() {
        let state = GovernorState {
            last_scale_in: Some(t(0)),
            ..GovernorState::default()
        };
        let v = cooled(120, 600, state)(5, 8, 10);
        assert_eq!((v.desired, v.action), (8, Action::ScaleOut));
    }

    #[test]
    fn no_scale_in_within_the_scale_in_cooldown_of_any_scaling() {
        for state in [
            GovernorState {
                last_scale_in: Some(t(0)),
                ..GovernorState::default()
            },
            GovernorState {
                last_scale_out: Some(t(0)),
                ..GovernorState::default()
            },
        ] {
            let decide = cooled(0, 300, state.clone());
            let v = decide(8, 5, 299);
            assert_eq!((v.desired, v.action), (8, Action::Hold), "{state:?}");
            assert!(v.reason.contains("scale-in cooldown"), "{}", v.reason);
            let v = decide(8, 5, 300);
            assert_eq!((v.desired, v.action), (5, Action::ScaleIn), "{state:?}");
        }
    }

    #[test]
    fn the_scale_in_cooldown_does_not_block_scale_out() {
        let state = GovernorState {
            last_scale_in: Some(t(0)),
            last_scale_out: Some(t(0)),
            ..GovernorState::default()
        };
        let v = cooled(60, 600, state)(5, 8, 60);
        assert_eq!((v.desired, v.action), (8, Action::ScaleOut));
    }

    fn stepped(out: StepLimit, scale_in: StepLimit, current: u32, wanted: u32) -> Verdict {
        decide(
            GovernorSpec {
                max_step_out: out,
                max_step_in: scale_in,
                ..plain()
            },
            current,
            &offers(&[wanted]),
        )
    }

    fn instances(n: u32) -> StepLimit {
        StepLimit {
            instances: Some(n),
            percent: None,
        }
    }

    fn percent(p: f64) -> StepLimit {
        StepLimit {
            instances: None,
            percent: Some(p),
        }
    }

    #[test]
    fn step_limit_in_instances_each_direction() {
        let none = StepLimit::default();
        let v = stepped(instances(2), none, 4, 10);
        assert_eq!((v.desired, v.action), (6, Action::ScaleOut));
        assert_eq!(
            rules(&v),
            [GovernorRule::Combine, GovernorRule::StepLimited]
        );
        assert!(
            v.reason.contains("at most 2 instance(s) out"),
            "{}",
            v.reason
        );
        // The scale-out limit does not apply to scale-in, and the other way round.
        assert_eq!(stepped(instances(2), none, 10, 4).desired, 4);
        let v = stepped(none, instances(1), 10, 4);
        assert_eq!((v.desired, v.action), (9, Action::ScaleIn));
        assert!(
            v.reason.contains("at most 1 instance(s) in"),
            "{}",
            v.reason
        );
        assert_eq!(stepped(none, instances(1), 4, 10).desired, 10);
    }

    #[test]
    fn step_limit_in_percent_each_direction() {
        let none = StepLimit::default();
        // 50% of 4 is 2.
        assert_eq!(stepped(percent(50.0), none, 4, 10).desired, 6);
        // 10% of 15 is 1.5: rounded up, so a limit never freezes small groups.
        assert_eq!(stepped(percent(10.0), none, 15, 30).desired, 17);
        assert_eq!(stepped(none, percent(25.0), 12, 2).desired, 9);
        assert_eq!(stepped(none, percent(25.0), 2, 12).desired, 12);
        // At least one instance even from zero.
        assert_eq!(stepped(percent(100.0), none, 0, 5).desired, 1);
    }

    #[test]
    fn the_tighter_of_the_two_step_limits_applies() {
        let both = StepLimit {
            instances: Some(3),
            percent: Some(50.0),
        };
        let none = StepLimit::default();
        assert_eq!(stepped(both, none, 4, 20).desired, 6); // 50% of 4 = 2 < 3
        assert_eq!(stepped(both, none, 20, 40).desired, 23); // 3 < 50% of 20
        assert_eq!(stepped(none, both, 20, 1).desired, 17);
    }

    #[test]
    fn a_change_is_remembered_and_a_hold_changes_nothing() {
        let state = GovernorState {
            last_scale_in: Some(t(-1000)),
            ..GovernorState::default()
        };
        let governor = Governor::new(plain());
        let v = governor.decide(&state, t(0), capacity(5), &offers(&[7]), (0, 100));
        assert_eq!(v.next_state.last_scale_out, Some(t(0)));
        assert_eq!(v.next_state.last_scale_in, Some(t(-1000)));
        assert_eq!(v.next_state.last_set, Some(7));
        let v = governor.decide(&state, t(0), capacity(5), &offers(&[3]), (0, 100));
        assert_eq!(v.next_state.last_scale_in, Some(t(0)));
        assert_eq!(v.next_state.last_set, Some(3));
        let v = governor.decide(&state, t(0), capacity(5), &offers(&[5]), (0, 100));
        assert_eq!(v.next_state.last_scale_out, None);
        assert_eq!(v.next_state.last_scale_in, Some(t(-1000)));
        assert_eq!(v.next_state.last_set, None);
    }

    #[test]
    fn a_blocked_direction_holds_even_outside_the_bounds_and_says_why() {
        let governor = Governor::new(plain());
        let blocks = ScalingBlocks {
            scale_out: Some("process Launch suspended on the group".into()),
            scale_in: None,
        };
        let state = GovernorState::default();
        let decide = |current: u32, wanted: u32, bounds: (u32, u32)| {
            governor.decide_on_group(
                &state,
                t(0),
                capacity(current),
                &offers(&[wanted]),
                bounds,
                &blocks,
            )
        };
        let v = decide(3, 12, (1, 20));
        assert_eq!((v.desired, v.action), (3, Action::Hold));
        assert_eq!(
            rules(&v),
            [GovernorRule::Combine, GovernorRule::GroupBlocked]
        );
        assert_eq!(
            v.reason,
            "hold at 3: process Launch suspended on the group: no scale-out (wanted 12)"
        );
        // Nothing happened: no cooldown starts.
        assert_eq!(v.next_state.last_scale_out, None);
        // Below the minimum, still no launch.
        assert_eq!(decide(0, 0, (2, 20)).desired, 0);
        // The other direction is free.
        let v = decide(8, 4, (1, 20));
        assert_eq!((v.desired, v.action), (4, Action::ScaleIn));
    }

    #[test]
    fn rules_apply_in_order_and_each_is_recorded() {
        // Wanted 30, max 20, 2 instances per step from 5: clamp, then step.
        let governor = Governor::new(GovernorSpec {
            max_step_out: instances(2),
            ..plain()
        });
        let state = GovernorState::default();
        let v = governor.decide(&state, t(0), capacity(5), &offers(&[30]), (1, 20));
        let steps: Vec<(GovernorRule, u32)> =
            v.steps.iter().map(|s| (s.rule, s.capacity)).collect();
        assert_eq!(
            steps,
            [
                (GovernorRule::Combine, 30),
                (GovernorRule::Clamped, 20),
                (GovernorRule::StepLimited, 7)
            ]
        );
        assert_eq!(v.desired, 7);
    }

    /// Properties that hold for any spec, state, capacity and recommendations.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn step_limit() -> impl Strategy<Value = StepLimit> {
            (
                proptest::option::of(1u32..20),
                proptest::option::of(1.0f64..300.0),
            )
                .prop_map(|(instances, percent)| StepLimit { instances, percent })
        }

        fn secs(max: u64) -> impl Strategy<Value = StdDuration> {
            (0..=max).prop_map(StdDuration::from_secs)
        }

        fn spec() -> impl Strategy<Value = GovernorSpec> {
            (
                secs(900),
                secs(900),
                secs(900),
                step_limit(),
                step_limit(),
                prop_oneof![
                    Just(MissingDataAction::Hold),
                    Just(MissingDataAction::ScaleOutOnly)
                ],
                prop_oneof![Just(1.0), 0.01f64..1.0],
            )
                .prop_map(|(out, scale_in, stab, step_out, step_in, missing, q)| {
                    GovernorSpec {
                        scale_out_cooldown: out,
                        scale_in_cooldown: scale_in,
                        scale_in_stabilization: stab,
                        scale_in_quantile: q,
                        max_step_out: step_out,
                        max_step_in: step_in,
                        warmup: StdDuration::ZERO,
                        on_missing_data: missing,
                    }
                })
        }

        /// A time at most `max` seconds before t(0), or never.
        fn past(max: i64) -> impl Strategy<Value = Option<DateTime<Utc>>> {
            proptest::option::of((0..=max).prop_map(|ago| t(-ago)))
        }

        fn state() -> impl Strategy<Value = GovernorState> {
            (
                past(2000),
                past(2000),
                proptest::collection::vec((0i64..1000, 0u32..120), 0..6),
            )
                .prop_map(|(last_scale_out, last_scale_in, recent)| {
                    let mut recent: Vec<_> =
                        recent.into_iter().map(|(ago, c)| (t(-ago), c)).collect();
                    recent.sort();
                    GovernorState {
                        last_scale_out,
                        last_scale_in,
                        recent,
                        last_set: None,
                    }
                })
        }

        fn recommendation() -> impl Strategy<Value = Recommendation> {
            prop_oneof![
                (0u32..150).prop_map(Recommendation::Capacity),
                Just(Recommendation::NoOpinion),
                Just(Recommendation::MissingData),
            ]
        }

        fn policies() -> impl Strategy<Value = Vec<PolicyRecord>> {
            proptest::collection::vec(recommendation(), 0..4).prop_map(|recs| {
                recs.into_iter()
                    .enumerate()
                    .map(|(i, r)| wants(&format!("p{i}"), r))
                    .collect()
            })
        }

        fn observed() -> impl Strategy<Value = ObservedCapacity> {
            (0u32..120, 0u32..4).prop_map(|(desired, warming)| ObservedCapacity {
                desired,
                in_service: desired.saturating_sub(warming),
                warming: warming.min(desired),
            })
        }

        fn bounds() -> impl Strategy<Value = (u32, u32)> {
            (0u32..60, 0u32..60).prop_map(|(a, b)| (a.min(b), a.max(b)))
        }

        /// Bounds and a current capacity within them.
        fn within_bounds() -> impl Strategy<Value = (u32, u32, u32)> {
            bounds().prop_flat_map(|(min, max)| (Just(min), Just(max), min..=max))
        }

        fn warming_up(desired: u32, warming: u32) -> ObservedCapacity {
            let warming = warming.min(desired);
            ObservedCapacity {
                desired,
                in_service: desired - warming,
                warming,
            }
        }

        proptest! {
            #[test]
            fn the_decision_is_always_within_bounds(
                spec in spec(), state in state(), observed in observed(),
                policies in policies(), (min, max) in bounds(),
            ) {
                let v = Governor::new(spec).decide(&state, t(0), observed, &policies, (min, max));
                prop_assert!(min <= v.desired && v.desired <= max, "{} not in [{min}, {max}]", v.desired);
                prop_assert_eq!(v.action, Action::between(observed.desired, v.desired));
            }

            #[test]
            fn never_scales_in_on_missing_data(
                spec in spec(), state in state(), observed in observed(),
                mut policies in policies(), (min, max) in bounds(),
            ) {
                policies.push(wants("lacking", Recommendation::MissingData));
                let current = observed.desired;
                let v = Governor::new(spec.clone()).decide(&state, t(0), observed, &policies, (min, max));
                // Only a group above its maximum is brought down.
                if current <= max {
                    prop_assert!(v.desired >= current, "{current} -> {}", v.desired);
                }
                // With `hold`, a group within its bounds does not move at all
                // (these policies are no schedules, which need no data).
                if spec.on_missing_data == MissingDataAction::Hold && (min..=max).contains(&current) {
                    prop_assert_eq!(v.desired, current);
                }
            }

            /// A direction the group blocks never moves, whatever the rules
            /// and bounds say; the other direction is untouched.
            #[test]
            fn a_blocked_direction_never_moves(
                spec in spec(), state in state(), observed in observed(),
                policies in policies(), (min, max) in bounds(), out in any::<bool>(),
            ) {
                let governor = Governor::new(spec);
                let blocks = ScalingBlocks {
                    scale_out: out.then(|| "Launch suspended".to_string()),
                    scale_in: (!out).then(|| "Terminate suspended".to_string()),
                };
                let free = governor.decide(&state, t(0), observed, &policies, (min, max));
                let v = governor.decide_on_group(&state, t(0), observed, &policies, (min, max), &blocks);
                let current = observed.desired;
                if out {
                    prop_assert!(v.desired <= current, "{current} -> {}", v.desired);
                } else {
                    prop_assert!(v.desired >= current, "{current} -> {}", v.desired);
                }
                if blocks.blocking(free.action).is_none() {
                    prop_assert_eq!(v.desired, free.desired);
                } else {
                    prop_assert_eq!((v.desired, v.action), (current, Action::Hold));
                    prop_assert_eq!(v.next_state.last_scale_out, state.last_scale_out);
                    prop_assert_eq!(v.next_state.last_scale_in, state.last_scale_in);
                }
            }

            #[test]
            fn never_changes_within_a_cooldown(
                spec in spec(), mut state in state(), (min, max, current) in within_bounds(),
                warming in 0u32..3, policies in policies(), ago in 0u64..900,
            ) {
                // The last scale-out was `ago` seconds ago, within both cooldowns.
                let spec = GovernorSpec {
                    scale_out_cooldown: spec.scale_out_cooldown.max(StdDuration::from_secs(ago + 1)),
                    scale_in_cooldown: spec.scale_in_cooldown.max(StdDuration::from_secs(ago + 1)),
                    ..spec
                };
                state.last_scale_out = Some(t(-(ago as i64)));
                let v = Governor::new(spec).decide(&state, t(0), warming_up(current, warming), &policies, (min, max));
                prop_assert_eq!(v.desired, current);
                prop_assert_eq!(v.action, Action::Hold);
            }

            #[test]
            fn within_the_scale_out_cooldown_it_only_scales_in(
                spec in spec(), mut state in state(), (min, max, current) in within_bounds(),
                policies in policies(), ago in 0u64..900,
            ) {
                let spec = GovernorSpec {
                    scale_out_cooldown: spec.scale_out_cooldown.max(StdDuration::from_secs(ago + 1)),
                    ..spec
                };
                state.last_scale_out = Some(t(-(ago as i64)));
                let v = Governor::new(spec).decide(&state, t(0), capacity(current), &policies, (min, max));
                prop_assert!(v.desired <= current, "{current} -> {}", v.desired);
            }

            #[test]
            fn within_the_scale_in_cooldown_it_only_scales_out(
                spec in spec(), mut state in state(), (min, max, current) in within_bounds(),
                policies in policies(), ago in 0u64..900, by_scale_in in any::<bool>(),
            ) {
                let spec = GovernorSpec {
                    scale_in_cooldown: spec.scale_in_cooldown.max(StdDuration::from_secs(ago + 1)),
                    ..spec
                };
                // Any scaling starts the scale-in cooldown.
                if by_scale_in {
                    state.last_scale_in = Some(t(-(ago as i64)));
                } else {
                    state.last_scale_out = Some(t(-(ago as i64)));
                }
                let v = Governor::new(spec).decide(&state, t(0), capacity(current), &policies, (min, max));
                prop_assert!(v.desired >= current, "{current} -> {}", v.desired);
            }

            /// Over a run of decisions on a group that follows them: every
            /// decision within bounds, and no two changes closer than the
            /// cooldown that applies to the second.
            #[test]
            fn a_run_of_decisions_respects_the_cooldowns(
                spec in spec(), (min, max) in bounds(), start in 0u32..60,
                ticks in proptest::collection::vec((1i64..120, policies()), 1..40),
            ) {
                let governor = Governor::new(spec.clone());
                let mut state = GovernorState::default();
                let mut current = start.clamp(min, max);
                let mut now = 0;
                let mut changes: Vec<(i64, Action)> = Vec::new();
                for (step, policies) in ticks {
                    now += step;
                    let v = governor.decide(&state, t(now), capacity(current), &policies, (min, max));
                    prop_assert!(min <= v.desired && v.desired <= max);
                    if v.action != Action::Hold {
                        changes.push((now, v.action));
                    }
                    current = v.desired;
                    state = v.next_state;
                }
                let out = spec.scale_out_cooldown.as_secs() as i64;
                let scale_in = spec.scale_in_cooldown.as_secs() as i64;
                for pair in changes.windows(2) {
                    let ((before, _), (after, action)) = (pair[0], pair[1]);
                    match action {
                        Action::ScaleIn => prop_assert!(after - before >= scale_in, "{changes:?}"),
                        Action::ScaleOut => {
                            let last_out = changes.iter().rev()
                                .filter(|(at, a)| *at < after && *a == Action::ScaleOut)
                                .map(|(at, _)| *at)
                                .next();
                            if let Some(last_out) = last_out {
                                prop_assert!(after - last_out >= out, "{changes:?}");
                            }
                        }
                        Action::Hold => unreachable!(),
                    }
                }
            }
        }
    }
}
