//! One target's pure decision core: signals, policies and governor put
//! together. Given what the sources and the group reported at a time, it
//! produces a [`DecisionRecord`]; it does no I/O and reads no clock.

use crate::actuator::{GroupState, Lifecycle};
use crate::decision::{Action, DecisionRecord, ObservedCapacity, Outcome, RecordRole};
use crate::governor::{Governor, GovernorState, Verdict};
use crate::policy::{self, Policy, PolicyInput};
use crate::policy_file::{Mode, PolicyFile};
use crate::signal::{Signal, to_chrono};
use crate::source::{FetchResults, MetricKey, MetricRequest};
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;

/// Everything needed to evaluate one target, and what it remembers.
pub struct TargetEvaluator {
    file: PolicyFile,
    signals: BTreeMap<String, Signal>,
    policies: Vec<Box<dyn Policy>>,
    governor: Governor,
    state: GovernorState,
    /// The verdict of the last evaluation, until its outcome is known.
    pending: Option<Verdict>,
    /// Capacity at the last successful look at the group.
    last_capacity: Option<ObservedCapacity>,
    /// For a shadow candidate: its file name. `None` for the live policy.
    candidate: Option<String>,
    /// Shadow candidates evaluated beside the live policy.
    shadows: Vec<TargetEvaluator>,
}

impl TargetEvaluator {
    /// Builds the evaluator for a validated policy file.
    pub fn new(file: PolicyFile) -> TargetEvaluator {
        let signals = file
            .metrics
            .iter()
            .map(|(name, spec)| (name.clone(), Signal::new(name, spec)))
            .collect();
        let policies = file.policies.iter().map(policy::build).collect();
        let governor = Governor::new(file.governor.clone());
        TargetEvaluator {
            file,
            signals,
            policies,
            governor,
            state: GovernorState::default(),
            pending: None,
            last_capacity: None,
            candidate: None,
            shadows: Vec::new(),
        }
    }

    /// Adds shadow candidates (name, validated file for the same group): they
    /// see the same metrics and group every tick and are never acted on.
    pub fn with_shadows(mut self, candidates: Vec<(String, PolicyFile)>) -> TargetEvaluator {
        self.shadows = candidates
            .into_iter()
            .map(|(name, file)| TargetEvaluator {
                candidate: Some(name),
                ..TargetEvaluator::new(file)
            })
            .collect();
        self
    }

    /// The name metric keys are filed under: a shadow's metrics may share
    /// names with the live policy's and still differ.
    fn metric_owner(&self) -> String {
        match &self.candidate {
            None => self.file.target.group.clone(),
            Some(candidate) => format!("{}~shadow:{candidate}", self.file.target.group),
        }
    }

    pub fn name(&self) -> &str {
        &self.file.target.group
    }

    pub fn file(&self) -> &PolicyFile {
        &self.file
    }

    pub fn mode(&self) -> Mode {
        self.file.target.mode
    }

    pub fn state(&self) -> &GovernorState {
        &self.state
    }

    /// Restores state kept across a restart.
    pub fn restore_state(&mut self, state: GovernorState) {
        self.state = state;
    }

    /// The metric requests this target needs at `now`.
    pub fn metric_requests(&self, now: DateTime<Utc>) -> Vec<MetricRequest> {
        self.file
            .metrics
            .iter()
            .map(|(name, spec)| {
                let signal = &self.signals[name];
                let window_start = now - signal.lookback();
                // Only what is new since the last accepted datapoint; the first
                // fetch (or one after a long outage) covers the smoothing window.
                let since = signal
                    .latest_time()
                    .map_or(window_start, |t| t.max(window_start));
                MetricRequest {
                    key: MetricKey::new(self.metric_owner(), name),
                    spec: spec.clone(),
                    since,
                }
            })
            .chain(self.shadows.iter().flat_map(|s| s.metric_requests(now)))
            .collect()
    }

    /// Capacity as seen through warm-up: young or pending instances are not serving.
    pub fn observe(&self, now: DateTime<Utc>, group: &GroupState) -> ObservedCapacity {
        let warmup = to_chrono(self.file.governor.warmup);
        let (mut in_service, mut warming) = (0, 0);
        for instance in &group.instances {
            match instance.lifecycle {
                Lifecycle::InService if now - instance.launched_at >= warmup => in_service += 1,
                Lifecycle::InService | Lifecycle::Pending => warming += 1,
                Lifecycle::Leaving => {}
            }
        }
        ObservedCapacity {
            desired: group.desired,
            in_service,
            warming,
        }
    }

    /// Evaluates the target. The record's outcome says "not applied"; the
    /// caller fills it in with [`TargetEvaluator::settle`].
    pub fn evaluate(
        &mut self,
        now: DateTime<Utc>,
        fetched: &FetchResults,
        group: &GroupState,
    ) -> DecisionRecord {
        let mut notices = Vec::new();
        let capacity = self.observe(now, group);
        self.last_capacity = Some(capacity);
        if let Some(last_set) = self.state.last_set.filter(|s| *s != group.desired) {
            notices.push(format!(
                "desired capacity changed outside ebb: {last_set} -> {}",
                group.desired
            ));
            self.state
                .record_scaling(now, Action::between(last_set, group.desired));
            self.state.last_set = Some(group.desired);
        }
        let bounds = self.bounds(group, &mut notices);

        let mut values = BTreeMap::new();
        let mut raw = BTreeMap::new();
        let mut metrics = Vec::new();
        let owner = self.metric_owner();
        for (name, signal) in self.signals.iter_mut() {
            let key = MetricKey::new(owner.clone(), name.clone());
            let answer = fetched.get(&key);
            if let Some(Ok(series)) = answer {
                raw.insert(name.clone(), series.points.clone());
            }
            let reading = signal.update(now, answer);
            values.insert(name.clone(), reading.value);
            metrics.push(reading.record);
        }
        let input = PolicyInput {
            now,
            capacity,
            metrics: &values,
            fetched: &raw,
        };
        let policies: Vec<_> = self
            .policies
            .iter_mut()
            .map(|p| p.recommend(&input))
            .collect();
        let verdict = self
            .governor
            .decide(&self.state, now, capacity, &policies, bounds);
        let record = DecisionRecord {
            time: now,
            target: self.file.target.group.clone(),
            role: if self.candidate.is_some() {
                RecordRole::Shadow
            } else {
                RecordRole::Live
            },
            candidate: self.candidate.clone(),
            min_capacity: bounds.0,
            max_capacity: bounds.1,
            capacity,
            metrics,
            policies,
            steps: verdict.steps.clone(),
            desired: verdict.desired,
            action: verdict.action,
            reason: verdict.reason.clone(),
            governor_state: self.state.clone(),
            outcome: Outcome {
                applied: false,
                dry_run: false,
                error: None,
            },
            notices,
        };
        self.pending = Some(verdict);
        record
    }

    /// Evaluates every shadow candidate on the inputs the live policy saw.
    /// Their decisions are recorded as dry runs and never acted on; each
    /// candidate's own state moves on as if it had acted, so its cooldowns
    /// and windows behave as they would live.
    pub fn evaluate_shadows(
        &mut self,
        now: DateTime<Utc>,
        fetched: &FetchResults,
        group: &GroupState,
    ) -> Vec<DecisionRecord> {
        self.shadows
            .iter_mut()
            .map(|shadow| {
                let mut record = shadow.evaluate(now, fetched, group);
                record.outcome = Outcome {
                    applied: false,
                    dry_run: true,
                    error: None,
                };
                shadow.settle(&record.outcome);
                record
            })
            .collect()
    }

    /// The record of an evaluation that could not happen because the group's
    /// state could not be read: capacity stays as it is.
    pub fn unavailable(&mut self, now: DateTime<Utc>, error: String) -> DecisionRecord {
        self.pending = None;
        let capacity = self.last_capacity.unwrap_or(ObservedCapacity {
            desired: 0,
            in_service: 0,
            warming: 0,
        });
        DecisionRecord {
            time: now,
            target: self.file.target.group.clone(),
            role: RecordRole::Live,
            candidate: None,
            min_capacity: self.file.target.min_capacity,
            max_capacity: self.file.target.max_capacity,
            capacity,
            metrics: Vec::new(),
            policies: Vec::new(),
            steps: Vec::new(),
            desired: capacity.desired,
            action: Action::Hold,
            reason: format!("hold: group state unavailable: {error}"),
            governor_state: self.state.clone(),
            outcome: Outcome {
                applied: false,
                dry_run: false,
                error: Some(error),
            },
            notices: Vec::new(),
        }
    }

    /// Takes in what became of the last decision: the governor state moves on
    /// when it was applied or dry-run, and stays when the API call failed, so
    /// the next tick tries again.
    pub fn settle(&mut self, outcome: &Outcome) {
        let Some(verdict) = self.pending.take() else {
            return;
        };
        let mut next = verdict.next_state;
        if outcome.error.is_some() {
            next.last_scale_out = self.state.last_scale_out;
            next.last_scale_in = self.state.last_scale_in;
            next.last_set = self.state.last_set;
        } else if outcome.dry_run {
            // Nothing changed in the group: there is no change to detect later.
            next.last_set = self.state.last_set;
        }
        self.state = next;
    }

    /// The policy's bounds, kept within the group's own.
    fn bounds(&self, group: &GroupState, notices: &mut Vec<String>) -> (u32, u32) {
        let (min, max) = (self.file.target.min_capacity, self.file.target.max_capacity);
        let (lo, hi) = (
            min.clamp(group.min, group.max),
            max.clamp(group.min, group.max),
        );
        if (lo, hi) != (min, max) {
            notices.push(format!(
                "policy bounds [{min}, {max}] lie outside the group's [{}, {}]: using [{lo}, {hi}]",
                group.min, group.max
            ));
        }
        (lo, hi)
    }
}
