//! The governor: from the policies' recommendations to one decision.
//!
//! Rules, in the order they apply (each recorded as a step when it changes
//! anything):
//! 1. combine: the largest capacity recommendation (scale out on the largest,
//!    scale in only when every policy agrees);
//! 2. missing data: never scale in when a policy lacks data; with
//!    `on_missing_data = "hold"`, do not scale out either;
//! 3. bounds: clamp to [min, max];
//! 4. stabilization: scale in only to the highest proposal within the window;
//! 5. warm-up: no scale-in while instances are still warming up;
//! 6. cooldowns: no scale-out within `scale_out_cooldown` of the last
//!    scale-out; no scale-in within `scale_in_cooldown` of any scaling;
//! 7. step limits in each direction;
//! 8. bounds again, which override every rule above (a group left outside its
//!    bounds by someone else is brought back at once).
//!
//! Pure: time comes in as an argument and the state is a plain value.

use crate::decision::{
    Action, GovernorRule, GovernorStep, ObservedCapacity, PolicyRecord, Recommendation,
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
    #[serde(default)]
    pub last_scale_out: Option<DateTime<Utc>>,
    #[serde(default)]
    pub last_scale_in: Option<DateTime<Utc>>,
    /// Bounded proposals within the stabilization window, oldest first.
    #[serde(default)]
    pub recent: Vec<(DateTime<Utc>, u32)>,
    /// The desired capacity ebb last set, to notice changes made by others.
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
    pub desired: u32,
    pub action: Action,
    pub steps: Vec<GovernorStep>,
    pub reason: String,
    /// The state to keep if the decision is carried out (or dry-run).
    pub next_state: GovernorState,
}

/// Applies a target's governor rules.
#[derive(Debug, Clone)]
pub struct Governor {
    spec: GovernorSpec,
}

impl Governor {
    pub fn new(spec: GovernorSpec) -> Governor {
        Governor { spec }
    }

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
        (min, max): (u32, u32),
    ) -> Verdict {
        let current = capacity.desired;
        let mut steps = Vec::new();
        let mut step = |rule: GovernorRule, capacity: u32, note: String| {
            steps.push(GovernorStep {
                rule,
                capacity,
                note,
            });
            capacity
        };

        // 1. combine
        let offers: Vec<(u32, &str)> = policies
            .iter()
            .filter_map(|p| match p.recommendation {
                Recommendation::Capacity(c) => Some((c, p.name.as_str())),
                _ => None,
            })
            .collect();
        let lacking: Vec<&str> = policies
            .iter()
            .filter(|p| p.recommendation == Recommendation::MissingData)
            .map(|p| p.name.as_str())
            .collect();
        let mut proposal = match offers.iter().max_by_key(|(c, _)| *c) {
            Some((c, name)) => step(
                GovernorRule::Combine,
                *c,
                format!("largest recommendation: {name} ({c})"),
            ),
            None => step(
                GovernorRule::Combine,
                current,
                "no policy recommends a capacity: hold".into(),
            ),
        };

        // 2. missing data
        if !lacking.is_empty() {
            let who = lacking.join(", ");
            if proposal < current {
                proposal = step(
                    GovernorRule::MissingData,
                    current,
                    format!("no data for {who}: never scale in on missing data"),
                );
            } else if proposal > current && self.spec.on_missing_data == MissingDataAction::Hold {
                proposal = step(
                    GovernorRule::MissingData,
                    current,
                    format!("no data for {who}: on_missing_data = hold"),
                );
            }
        }

        // 3. bounds
        let bounded = proposal.clamp(min, max);
        if bounded != proposal {
            proposal = step(
                GovernorRule::Clamped,
                bounded,
                format!("bounds [{min}, {max}]"),
            );
        }

        // 4. stabilization
        let mut next_state = state.clone();
        let window = to_chrono(self.spec.scale_in_stabilization);
        next_state
            .recent
            .retain(|(t, _)| *t > now - window && *t <= now);
        next_state.recent.push((now, proposal));
        if proposal < current {
            let highest = next_state
                .recent
                .iter()
                .map(|(_, c)| *c)
                .max()
                .unwrap_or(proposal);
            let stabilized = highest.min(current);
            if stabilized != proposal {
                proposal = step(
                    GovernorRule::Stabilized,
                    stabilized,
                    format!(
                        "highest proposal in the last {}s is {highest}",
                        window.num_seconds()
                    ),
                );
            }
        }

        // 5. warm-up
        if proposal < current && capacity.warming > 0 {
            proposal = step(
                GovernorRule::WarmingUp,
                current,
                format!(
                    "{} instance(s) still warming up: no scale-in",
                    capacity.warming
                ),
            );
        }

        // 6. cooldowns
        if proposal > current {
            let cooldown = to_chrono(self.spec.scale_out_cooldown);
            if let Some(last) = state.last_scale_out.filter(|t| now - *t < cooldown) {
                proposal = step(
                    GovernorRule::Cooldown,
                    current,
                    format!(
                        "scale-out cooldown: last scale-out {}s ago, cooldown {}s",
                        (now - last).num_seconds(),
                        cooldown.num_seconds()
                    ),
                );
            }
        } else if proposal < current {
            let cooldown = to_chrono(self.spec.scale_in_cooldown);
            if let Some(last) = state.last_scaling().filter(|t| now - *t < cooldown) {
                proposal = step(
                    GovernorRule::Cooldown,
                    current,
                    format!(
                        "scale-in cooldown: last scaling {}s ago, cooldown {}s",
                        (now - last).num_seconds(),
                        cooldown.num_seconds()
                    ),
                );
            }
        }

        // 7. step limits
        let limit = |l: &StepLimit| max_step(l, current);
        if proposal > current {
            let most = limit(&self.spec.max_step_out);
            if proposal - current > most {
                proposal = step(
                    GovernorRule::StepLimited,
                    current.saturating_add(most),
                    format!("at most {most} instance(s) out per decision"),
                );
            }
        } else if proposal < current {
            let most = limit(&self.spec.max_step_in);
            if current - proposal > most {
                proposal = step(
                    GovernorRule::StepLimited,
                    current - most,
                    format!("at most {most} instance(s) in per decision"),
                );
            }
        }

        // 8. bounds override everything
        let bounded = proposal.clamp(min, max);
        if bounded != proposal {
            proposal = step(
                GovernorRule::Clamped,
                bounded,
                format!("bounds [{min}, {max}] override the rules above"),
            );
        }

        let action = Action::between(current, proposal);
        next_state.record_scaling(now, action);
        if action != Action::Hold {
            next_state.last_set = Some(proposal);
        }
        let reason = match (action, steps.last()) {
            (Action::Hold, Some(last)) if last.rule != GovernorRule::Combine => {
                format!("hold at {current}: {}", last.note)
            }
            (Action::Hold, _) => format!("hold at {current}: {}", steps[0].note),
            (_, Some(last)) => format!("{current} -> {proposal}: {}", last.note),
            (_, None) => unreachable!("combine always records a step"),
        };
        Verdict {
            desired: proposal,
            action,
            steps,
            reason,
            next_state,
        }
    }
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
