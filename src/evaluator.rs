//! One target's pure decision core: signals, policies and governor put
//! together. Given what the sources and the group reported at a time, it
//! produces a [`DecisionRecord`]; it does no I/O and reads no clock.

use crate::decision::{
    Action, DecisionRecord, Event, MetricRecord, MetricStatus, ObservedCapacity, Outcome,
    RecordVersion, Role,
};
use crate::error_kind::{CallError, ErrorKind};
use crate::forecast::history::LoadHistory;
use crate::forecast::memo::ForecastMemo;
use crate::governor::{Governor, Verdict};
use crate::governor_memory::{GovernorMemory, Hypothesis, Run};
use crate::group::GroupState;
use crate::group_features;
use crate::policy::{self, HistoryRequest, Policy, PolicyInput, history_key};
use crate::policy_file::{Mode, PolicyFile};
use crate::series::{FetchResults, MetricKey, MetricRequest};
use crate::signal::Signal;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One tick's metrics, as the signals read them.
struct MetricsRead {
    /// Each metric's smoothed value for the policies (`None`: missing or stale).
    values: BTreeMap<String, Option<f64>>,
    /// The raw datapoints fetched, for policies that keep history.
    raw: BTreeMap<String, Vec<crate::series::Datapoint>>,
    records: Vec<MetricRecord>,
    /// The kinds of the failed fetches of metrics the policies saw no value
    /// of, each once, in metric order.
    failed_kinds: Vec<ErrorKind>,
}

/// Why a target's group could not be evaluated this tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// The group does not exist (any more).
    NotFound,
    /// Reading the groups failed: why, and what kind of failure.
    ReadFailed(CallError),
}

/// Everything needed to evaluate one target, and what it remembers.
pub struct TargetEvaluator {
    /// Shared with the daemon's copy of the loaded policy: one per target.
    file: Arc<PolicyFile>,
    /// One per metric, in the order of `file.metrics` (a map of one entry
    /// would cost a whole B-tree node per target).
    signals: Vec<Signal>,
    policies: Vec<Box<dyn Policy>>,
    governor: Governor,
    memory: GovernorMemory,
    /// The verdict of the last live evaluation, until its outcome is known.
    pending: Option<Verdict>,
    /// Capacity at the last successful look at the group, and when that was.
    last_capacity: Option<(DateTime<Utc>, ObservedCapacity)>,
    /// For a shadow candidate: its file name. `None` for the live policy.
    candidate: Option<String>,
    /// Shadow candidates evaluated beside the live policy.
    shadows: Vec<TargetEvaluator>,
    /// The group's own scaling policies and scheduled actions, read at
    /// start and reload.
    conflicts: Vec<String>,
}

impl TargetEvaluator {
    /// Builds the evaluator for a validated policy file (owned, or shared
    /// with whoever else keeps it).
    pub fn new(file: impl Into<Arc<PolicyFile>>) -> TargetEvaluator {
        let file = file.into();
        let signals = file
            .metrics
            .iter()
            .map(|(name, spec)| Signal::new(name, spec))
            .collect();
        let policies = file
            .policies
            .iter()
            .map(|spec| policy::build(spec, &file))
            .collect();
        let governor = Governor::new(file.governor.clone());
        TargetEvaluator {
            file,
            signals,
            policies,
            governor,
            memory: GovernorMemory::default(),
            pending: None,
            last_capacity: None,
            candidate: None,
            shadows: Vec::new(),
            conflicts: Vec::new(),
        }
    }

    /// Shares model choices and fits with other replays of the same history
    /// (`ebb tune`'s candidates): see [`ForecastMemo`].
    pub fn share_forecasts(&mut self, memo: &Arc<ForecastMemo>) {
        for policy in &mut self.policies {
            policy.share_forecasts(memo);
        }
    }

    /// Takes in the group's own scaling policies and scheduled actions (as
    /// `kind name` lines), read at start and on reload.
    pub fn set_conflicts(&mut self, conflicts: Vec<String>) {
        self.conflicts = conflicts;
    }

    /// The group's own scaling policies and scheduled actions last read, as `kind name` lines.
    pub fn conflicts(&self) -> &[String] {
        &self.conflicts
    }

    /// Adds shadow candidates (name, validated file for the same group): they
    /// see the same metrics and group every tick and are never acted on.
    pub fn with_shadows(
        mut self,
        candidates: Vec<(String, impl Into<Arc<PolicyFile>>)>,
    ) -> TargetEvaluator {
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

    /// The target's name: its Auto Scaling group's.
    pub fn name(&self) -> &str {
        &self.file.target.group
    }

    /// The role this evaluator's records are written in (a standby's is set
    /// by the daemon).
    fn role(&self) -> Role {
        match &self.candidate {
            Some(candidate) => Role::Shadow {
                candidate: candidate.clone(),
            },
            None => Role::Live,
        }
    }

    /// The validated policy file the target is evaluated by.
    pub fn file(&self) -> &PolicyFile {
        &self.file
    }

    /// Whether the target acts or only records (the file's `target.mode`).
    pub fn mode(&self) -> Mode {
        self.file.target.mode
    }

    /// The run a decision of this target's live policy takes: hypothetical
    /// in a dry run (global, or this policy's mode).
    pub fn run(&self, global_dry_run: bool) -> Run {
        if global_dry_run || self.mode() == Mode::DryRun {
            Run::Hypothetical(Hypothesis::DryRun)
        } else {
            Run::Live
        }
    }

    /// The governor's live and hypothetical state.
    pub fn memory(&self) -> &GovernorMemory {
        &self.memory
    }

    /// Restores the governor state kept across a restart or a reload.
    pub fn restore_memory(&mut self, memory: GovernorMemory) {
        self.memory = memory;
    }

    /// The metric requests this target needs at `now`: what each signal
    /// needs to smooth, extended back to cover what policies keeping history
    /// (predictive) have not seen yet, plus their long-window requests.
    pub fn metric_requests(&self, now: DateTime<Utc>) -> Vec<MetricRequest> {
        let histories: Vec<HistoryRequest> = self
            .policies
            .iter()
            .filter_map(|p| p.history_request(now))
            .collect();
        let mut requests: Vec<MetricRequest> = self
            .file
            .metrics
            .iter()
            .zip(&self.signals)
            .map(|((name, spec), signal)| {
                let window_start = now - signal.lookback();
                // Only what is new since the last accepted datapoint (and the
                // periods the source may still revise); the first fetch (or
                // one after a long outage) covers the smoothing window.
                let mut since = signal.fetch_since(window_start);
                for history in histories
                    .iter()
                    .filter(|h| h.metric == *name && h.long_window.is_none())
                {
                    since = since.min(history.since);
                }
                MetricRequest {
                    key: MetricKey::new(self.metric_owner(), name),
                    spec: Arc::clone(spec),
                    since,
                }
            })
            .collect();
        for history in histories {
            if let Some(spec) = history.long_window {
                requests.push(MetricRequest {
                    key: MetricKey::new(self.metric_owner(), history_key(&history.metric)),
                    spec: Arc::new(spec),
                    since: history.since,
                });
            }
        }
        requests.extend(self.shadows.iter().flat_map(|s| s.metric_requests(now)));
        requests
    }

    /// Moves this target's answers (its shadow candidates' included) out of
    /// a round's batched fetch: every key [`TargetEvaluator::evaluate`]
    /// reads, so a round can hand each target its own and free them when
    /// its evaluation ends.
    pub fn take_answers(&self, round: &mut FetchResults) -> FetchResults {
        let mut own = FetchResults::new();
        self.move_answers(round, &mut own);
        own
    }

    /// See [`TargetEvaluator::take_answers`]: the keys `read_metrics` reads.
    fn move_answers(&self, round: &mut FetchResults, own: &mut FetchResults) {
        let owner = self.metric_owner();
        for name in self.file.metrics.keys() {
            for metric in [name.clone(), history_key(name)] {
                if let Some((key, answer)) =
                    round.remove_entry(&MetricKey::new(owner.clone(), metric))
                {
                    own.insert(key, answer);
                }
            }
        }
        for shadow in &self.shadows {
            shadow.move_answers(round, own);
        }
    }

    /// The histories the policies keep, by policy name, to persist.
    pub fn histories(&self) -> Vec<(&str, &LoadHistory)> {
        self.policies
            .iter()
            .filter_map(|p| p.history().map(|h| (p.name(), h)))
            .collect()
    }

    /// Whether evaluating the live policies may take long: a predictive
    /// policy (the only kind with a load history) fits forecast models,
    /// which can take half a second; the reactive kinds take microseconds.
    pub fn fits_models(&self) -> bool {
        self.policies.iter().any(|p| p.history().is_some())
    }

    /// Whether evaluating the shadow candidates may take long (see
    /// [`TargetEvaluator::fits_models`]); `false` with none.
    pub fn shadows_fit_models(&self) -> bool {
        self.shadows.iter().any(TargetEvaluator::fits_models)
    }

    /// Puts back a history saved from [`TargetEvaluator::histories`].
    pub fn restore_history(&mut self, policy: &str, history: LoadHistory) -> Result<(), String> {
        match self.policies.iter_mut().find(|p| p.name() == policy) {
            Some(p) => p.restore_history(history),
            None => Err(format!(
                "target `{}` has no policy `{policy}`",
                self.file.target.group
            )),
        }
    }

    /// Capacity as seen through warm-up, health and weights: young, pending,
    /// unhealthy, standby instances are not serving (see [`crate::group_features`]).
    pub fn observe(&self, now: DateTime<Utc>, group: &GroupState) -> ObservedCapacity {
        group_features::view(&self.file, &self.conflicts, now, group).capacity
    }

    /// Evaluates the target under `run`. A live record's outcome says "not
    /// applied" until the caller fills it in with [`TargetEvaluator::settle`];
    /// a hypothetical one is complete (not applied, dry run) and its
    /// hypothetical state has moved on.
    pub fn evaluate(
        &mut self,
        now: DateTime<Utc>,
        fetched: &FetchResults,
        group: &GroupState,
        run: Run,
    ) -> DecisionRecord {
        let mut notices = Vec::new();
        let mut events = Vec::new();
        let view = group_features::view(&self.file, &self.conflicts, now, group);
        let capacity = view.capacity;
        self.last_capacity = Some((now, capacity));
        if let Some((from, to)) = self.memory.observe_desired(now, group.desired) {
            events.push(Event::ExternalChange { from, to });
        }
        let mut bounds = self.bounds(group, &mut notices);

        let MetricsRead {
            values,
            raw,
            records: metrics,
            failed_kinds,
        } = self.read_metrics(now, fetched, &mut notices);
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
        bounds.1 = self.raised_max(bounds.1, group.max, &mut events);
        notices.extend(view.notices);
        // The group's defaults may differ from the file's governor.
        let governor = if view.governor == *self.governor.spec() {
            std::borrow::Cow::Borrowed(&self.governor)
        } else {
            std::borrow::Cow::Owned(Governor::new(view.governor))
        };
        let blocks = view.blocks;
        let (state_before, verdict) = self.memory.decide(run, |state| {
            governor.decide_on_group(state, now, capacity, &policies, bounds, &blocks)
        });
        events.extend(verdict.events.iter().map(|event| match event {
            Event::DataMissing { policies, .. } => Event::DataMissing {
                policies: policies.clone(),
                kinds: failed_kinds.clone(),
            },
            other => other.clone(),
        }));
        let record = DecisionRecord {
            v: RecordVersion,
            time: now,
            target: self.file.target.group.clone(),
            role: self.role(),
            min_capacity: bounds.0,
            max_capacity: bounds.1,
            capacity,
            metrics,
            policies,
            steps: verdict.steps.clone(),
            desired: verdict.desired,
            action: verdict.action,
            reason: verdict.reason.clone(),
            governor_state: state_before,
            outcome: match run {
                Run::Live => Outcome::Held,
                Run::Hypothetical(_) => Outcome::DryRun,
            },
            events,
            notices,
            panicked: None,
            instance: None,
            reload_failed: None,
            account: None,
            group: Some(view.record),
        };
        self.pending = (run == Run::Live).then_some(verdict);
        record
    }

    /// The last live evaluation's `record`, decided again because the group
    /// turned out to be other than read: an instance refresh found running
    /// right before a scale-in (the read had not asked). The same inputs
    /// (signals and policies are not read twice), the group's blocks,
    /// notices and record as `group` has them; the same record a first
    /// evaluation that knew `group` would have given.
    pub fn reconsider(
        &mut self,
        now: DateTime<Utc>,
        mut record: DecisionRecord,
        group: &GroupState,
    ) -> DecisionRecord {
        let view = group_features::view(&self.file, &self.conflicts, now, group);
        let governor = if view.governor == *self.governor.spec() {
            std::borrow::Cow::Borrowed(&self.governor)
        } else {
            std::borrow::Cow::Owned(Governor::new(view.governor))
        };
        let bounds = (record.min_capacity, record.max_capacity);
        let (_, verdict) = self.memory.decide(Run::Live, |state| {
            governor.decide_on_group(
                state,
                now,
                record.capacity,
                &record.policies,
                bounds,
                &view.blocks,
            )
        });
        for notice in view.notices {
            if !record.notices.contains(&notice) {
                record.notices.push(notice);
            }
        }
        record.steps = verdict.steps.clone();
        record.desired = verdict.desired;
        record.action = verdict.action;
        record.reason = verdict.reason.clone();
        record.group = Some(view.record);
        self.pending = Some(verdict);
        record
    }

    /// The max capacity in force once the policies have spoken: `max`, or
    /// the highest max a policy asks raised to (predictive scaling's
    /// `max_capacity_behavior = "increase"`) up to the group's own max,
    /// with an event when the group's max is what binds.
    fn raised_max(&self, max: u32, group_max: u32, events: &mut Vec<Event>) -> u32 {
        let Some(raised) = self
            .policies
            .iter()
            .filter_map(|p| p.raised_max_capacity())
            .max()
            .filter(|raised| *raised > max)
        else {
            return max;
        };
        // ebb sets desired capacity only; the group's own max still binds.
        let hi = raised.min(group_max);
        if hi < raised {
            events.push(Event::GroupMaxBinds {
                asked: raised,
                group_max,
            });
        }
        max.max(hi)
    }

    /// Takes this tick's answers into the signals: each metric's value for
    /// the policies, the raw series they may keep, and its record. A metric
    /// whose fetch failed is read like any other, so its age keeps growing
    /// and it turns stale after `stale_after`.
    fn read_metrics(
        &mut self,
        now: DateTime<Utc>,
        fetched: &FetchResults,
        notices: &mut Vec<String>,
    ) -> MetricsRead {
        let mut values = BTreeMap::new();
        let mut raw = BTreeMap::new();
        let mut metrics = Vec::new();
        let mut failed_kinds = Vec::new();
        let owner = self.metric_owner();
        for (name, signal) in self.file.metrics.keys().zip(self.signals.iter_mut()) {
            let key = MetricKey::new(owner.clone(), name.clone());
            let answer = fetched.get(&key);
            if let Some(Ok(series)) = answer {
                raw.insert(name.clone(), series.points.clone());
            }
            let long_window = MetricKey::new(owner.clone(), history_key(name));
            match fetched.get(&long_window) {
                Some(Ok(series)) => {
                    raw.insert(history_key(name), series.points.clone());
                }
                Some(Err(e)) => {
                    notices.push(format!("fetching the history of `{name}` failed: {e}"))
                }
                None => {}
            }
            let reading = signal.update(now, answer);
            if let Some(Err(e)) = answer
                && reading.record.status != MetricStatus::Ok
                && !failed_kinds.contains(&e.kind)
            {
                failed_kinds.push(e.kind);
            }
            values.insert(name.clone(), reading.value);
            metrics.push(reading.record);
        }
        MetricsRead {
            values,
            raw,
            records: metrics,
            failed_kinds,
        }
    }

    /// Evaluates every shadow candidate on the inputs the live policy saw.
    /// Their decisions are recorded as dry runs and never acted on; each
    /// candidate's own hypothetical state moves on as if it had acted, so its
    /// cooldowns and windows behave as they would live. A candidate whose
    /// evaluation panics is recorded as such and starts afresh from its file
    /// and state; the live policy and the other candidates go on.
    pub fn evaluate_shadows(
        &mut self,
        now: DateTime<Utc>,
        fetched: &FetchResults,
        group: &GroupState,
    ) -> Vec<DecisionRecord> {
        self.shadows
            .iter_mut()
            .map(|shadow| {
                let evaluated = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    crate::test_hooks::panic_if_asked(&shadow.metric_owner());
                    shadow.evaluate(now, fetched, group, Run::Hypothetical(Hypothesis::Shadow))
                }));
                evaluated.unwrap_or_else(|payload| {
                    let memory = shadow.memory.clone();
                    *shadow = TargetEvaluator {
                        candidate: shadow.candidate.clone(),
                        ..TargetEvaluator::new(Arc::clone(&shadow.file))
                    };
                    shadow.restore_memory(memory);
                    shadow.panicked(now, panic_message(payload.as_ref()))
                })
            })
            .collect()
    }

    /// The record of an evaluation that could not happen because the group's
    /// state could not be read: capacity stays as it is. The metrics fetched
    /// (or not) are still read, so their age and staleness stay true.
    pub fn unavailable(
        &mut self,
        now: DateTime<Utc>,
        fetched: &FetchResults,
        why: Unavailable,
    ) -> DecisionRecord {
        let mut notices = Vec::new();
        let metrics = self.read_metrics(now, fetched, &mut notices).records;
        let error = match &why {
            Unavailable::NotFound => format!(
                "Auto Scaling group `{}` {}",
                self.name(),
                crate::decision::GROUP_NOT_FOUND
            ),
            Unavailable::ReadFailed(e) => format!("describing groups failed: {e}"),
        };
        let kind = match &why {
            Unavailable::NotFound => ErrorKind::NotFound,
            Unavailable::ReadFailed(e) => e.kind,
        };
        let mut record = self.held(
            now,
            format!("group state unavailable: {error}"),
            Outcome::Failed {
                error,
                kind: Some(kind),
            },
        );
        if why == Unavailable::NotFound {
            record.events.push(Event::GroupNotFound);
        }
        record.metrics = metrics;
        record.notices.extend(notices);
        record
    }

    /// The record of an evaluation that panicked (a bug in ebb, caught by
    /// the daemon): capacity stays as it is.
    pub fn panicked(&mut self, now: DateTime<Utc>, message: String) -> DecisionRecord {
        let error = format!("evaluation panicked: {message}");
        let mut record = self.held(now, error.clone(), Outcome::Failed { error, kind: None });
        record.panicked = Some(message);
        record
    }

    /// A record that holds at the last known capacity because of a
    /// failure (`failed`, an [`Outcome::Failed`]).
    fn held(&mut self, now: DateTime<Utc>, why: String, failed: Outcome) -> DecisionRecord {
        self.pending = None;
        let mut notices = Vec::new();
        let capacity = match self.last_capacity {
            Some((at, capacity)) => {
                notices.push(format!(
                    "capacity last known at {}: desired {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    capacity.desired
                ));
                capacity
            }
            None => {
                // Not read since start: what ebb last saw or set, if anything.
                let desired = self.memory.live().last_set.unwrap_or(0);
                notices.push(format!(
                    "capacity not read since start: desired {desired} as last set"
                ));
                ObservedCapacity {
                    desired,
                    in_service: 0,
                    warming: 0,
                }
            }
        };
        DecisionRecord {
            v: RecordVersion,
            time: now,
            target: self.file.target.group.clone(),
            role: self.role(),
            min_capacity: self.file.target.min_capacity,
            max_capacity: self.file.target.max_capacity,
            capacity,
            metrics: Vec::new(),
            policies: Vec::new(),
            steps: Vec::new(),
            desired: capacity.desired,
            action: Action::Hold,
            reason: format!("hold: {why}"),
            governor_state: self.memory.live().clone(),
            outcome: failed,
            events: Vec::new(),
            notices,
            panicked: None,
            instance: None,
            reload_failed: None,
            account: None,
            group: None,
        }
    }

    /// Takes in what became of the last live decision: the live state moves
    /// on when it was carried out (or was a hold), and keeps its scaling
    /// times when the API call failed, so the next tick tries again. A
    /// hypothetical evaluation leaves nothing to settle.
    pub fn settle(&mut self, outcome: &Outcome) {
        if let Some(verdict) = self.pending.take() {
            self.memory.settle_live(verdict, outcome.error().is_none());
        }
    }

    /// The policy's bounds, kept within the group's own.
    fn bounds(&self, group: &GroupState, notices: &mut Vec<String>) -> (u32, u32) {
        let (min, max) = (self.file.target.min_capacity, self.file.target.max_capacity);
        if group.min > group.max {
            // No real group is like this; clamping into it would panic.
            notices.push(format!(
                "the group reports min {} above max {}: using the policy's bounds [{min}, {max}]",
                group.min, group.max
            ));
            return (min, max);
        }
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

/// The message a panic was raised with (`panic!` gives a `&str` or a `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = payload.downcast_ref::<&str>() {
        (*message).to_string()
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message.clone()
    } else {
        "(no message)".to_string()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::decision::{GovernorRule, Recommendation};
    use crate::governor::GovernorState;
    use crate::governor_memory::GovernorMemory;
    use crate::group::{Instance, Lifecycle};
    use crate::series::{Datapoint, FetchError, Series};
    use chrono::Duration;

    pub(crate) fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("valid time")
    }

    /// A CPU target-tracking policy file (target 50%, bounds [1, 20]) with
    /// `governor` as its governor table and `mode`.
    pub(crate) fn policy_file(group: &str, mode: &str, governor: &str) -> PolicyFile {
        let text = policy_text(group, mode, governor);
        crate::policy_file::parse_str(&text, std::path::Path::new("test.toml"))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// The text of a policy file: CPU target tracking at 50 on `group`.
    pub(crate) fn policy_text(group: &str, mode: &str, governor: &str) -> String {
        format!(
            r#"
[target]
group = "{group}"
min_capacity = 1
max_capacity = 20
mode = "{mode}"

[metrics.cpu]
stale_after = "5m"

[metrics.cpu.source.cloudwatch]
namespace = "AWS/EC2"
metric_name = "CPUUtilization"
statistic = "Average"

[[policies]]
kind = "target-tracking"
name = "cpu-50"
metric = "cpu"
target = 50.0

[governor]
{governor}
"#
        )
    }

    /// Cooldowns of ten minutes; stabilization and warm-up off.
    pub(crate) const COOLDOWNS: &str = r#"
scale_out_cooldown = "10m"
scale_in_cooldown = "10m"
scale_in_stabilization = "0s"
warmup = "0s"
"#;

    /// A group of `n` instances, in service since long ago.
    pub(crate) fn group(n: u32) -> GroupState {
        GroupState {
            desired: n,
            min: 0,
            max: 100,
            instances: (0..n)
                .map(|i| Instance::new(format!("i-{i}"), Lifecycle::InService, t(-86_400)))
                .collect(),
            info: Default::default(),
        }
    }

    fn cpu(group: &str, at: i64, value: f64) -> FetchResults {
        FetchResults::from([(
            MetricKey::new(group, "cpu"),
            Ok(Series {
                points: vec![Datapoint { time: t(at), value }],
                ..Series::default()
            }),
        )])
    }

    fn ok() -> Outcome {
        Outcome::Applied
    }

    #[test]
    fn young_and_pending_instances_are_warming_and_leaving_ones_do_not_count() {
        let evaluator = TargetEvaluator::new(policy_file("web", "active", r#"warmup = "5m""#));
        let instance =
            |id: &str, lifecycle, launched: i64| Instance::new(id, lifecycle, t(launched));
        let group = GroupState {
            desired: 4,
            min: 0,
            max: 10,
            instances: vec![
                instance("old", Lifecycle::InService, -600),
                instance("just-warm", Lifecycle::InService, -300),
                instance("young", Lifecycle::InService, -60),
                instance("booting", Lifecycle::Pending, -30),
                instance("going", Lifecycle::Leaving, -6000),
            ],
            info: Default::default(),
        };
        assert_eq!(
            evaluator.observe(t(0), &group),
            ObservedCapacity {
                desired: 4,
                in_service: 2,
                warming: 2,
            }
        );
    }

    #[test]
    fn warming_instances_are_not_serving_capacity_and_block_scale_in() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", r#"warmup = "5m""#));
        let mut group = group(4);
        group.instances[3].launched_at = t(-60);
        // 3 serving at 20% want 2 instances, but one is still warming up.
        let record = evaluator.evaluate(t(0), &cpu("web", 0, 20.0), &group, Run::Live);
        assert_eq!(record.capacity.in_service, 3);
        assert_eq!(record.capacity.warming, 1);
        assert_eq!(
            record.policies[0].recommendation,
            Recommendation::Capacity(2)
        );
        assert_eq!((record.desired, record.action), (4, Action::Hold));
        assert_eq!(record.steps.last().unwrap().rule, GovernorRule::WarmingUp);
    }

    #[test]
    fn a_scale_in_reconsidered_with_a_refresh_found_is_the_hold_a_first_look_would_give() {
        use crate::group::InstanceRefresh;
        let fetched = cpu("web", -60, 10.0);
        let mut refreshing = group(6);
        refreshing.info.instance_refresh = Some(Box::new(InstanceRefresh {
            id: "r-1".into(),
            status: "InProgress".into(),
            percent_complete: Some(30),
        }));
        // Read without asking about refreshes: 6 at 10% want 2.
        let mut asked_late = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let first = asked_late.evaluate(t(0), &fetched, &group(6), Run::Live);
        assert_eq!((first.desired, first.action), (2, Action::ScaleIn));
        let reconsidered = asked_late.reconsider(t(0), first, &refreshing);
        // What an evaluation that knew of the refresh gives.
        let mut knew = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let known = knew.evaluate(t(0), &fetched, &refreshing, Run::Live);
        assert_eq!((known.desired, known.action), (6, Action::Hold));
        assert!(
            known.reason.contains("instance refresh r-1 InProgress"),
            "{}",
            known.reason
        );
        assert_eq!(
            serde_json::to_value(&reconsidered).unwrap(),
            serde_json::to_value(&known).unwrap()
        );
        // Settled as a hold: no scale-in time, so no cooldown from it.
        asked_late.settle(&Outcome::Held);
        knew.settle(&Outcome::Held);
        assert_eq!(asked_late.memory(), knew.memory());
    }

    #[test]
    fn a_record_says_why_in_one_json_line() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let record = evaluator.evaluate(t(0), &cpu("web", -60, 90.0), &group(4), Run::Live);
        assert_eq!((record.desired, record.action), (8, Action::ScaleOut));
        assert_eq!(record.metrics[0].status, MetricStatus::Ok);
        assert_eq!(record.metrics[0].raw, Some(90.0));
        assert_eq!(record.metrics[0].age_s, Some(60));
        assert!(record.reason.contains("4 -> 8"), "{}", record.reason);
        let line = serde_json::to_string(&record).unwrap();
        assert!(!line.contains('\n'));
        assert!(line.contains("4 serving x 90.00/50"), "{line}");
        let back: DecisionRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn missing_data_holds_and_says_so() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let failed = FetchResults::from([(
            MetricKey::new("web", "cpu"),
            Err(FetchError::other("throttled")),
        )]);
        let record = evaluator.evaluate(t(0), &failed, &group(6), Run::Live);
        assert_eq!((record.desired, record.action), (6, Action::Hold));
        assert_eq!(record.metrics[0].status, MetricStatus::Missing);
        assert_eq!(
            record.policies[0].recommendation,
            Recommendation::MissingData
        );
        // Stale data, too: the last datapoint is older than stale_after.
        let record = evaluator.evaluate(t(0), &cpu("web", -301, 5.0), &group(6), Run::Live);
        assert_eq!(record.metrics[0].status, MetricStatus::Stale);
        assert_eq!((record.desired, record.action), (6, Action::Hold));
    }

    #[test]
    fn the_data_missing_event_carries_the_failed_fetchs_kind() {
        let data_missing = |record: &DecisionRecord| {
            record
                .events
                .iter()
                .find(|e| matches!(e, Event::DataMissing { .. }))
                .cloned()
        };
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let denied = FetchResults::from([(
            MetricKey::new("web", "cpu"),
            Err(FetchError::new(
                ErrorKind::AccessDenied,
                "GetMetricData failed: AccessDenied",
            )),
        )]);
        let record = evaluator.evaluate(t(0), &denied, &group(6), Run::Live);
        assert_eq!(
            data_missing(&record),
            Some(Event::DataMissing {
                policies: vec!["cpu-50".into()],
                kinds: vec![ErrorKind::AccessDenied],
            })
        );
        // A failed fetch while the last datapoint is still fresh: no data missing.
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        evaluator.evaluate(t(0), &cpu("web", 0, 50.0), &group(6), Run::Live);
        let record = evaluator.evaluate(t(60), &denied, &group(6), Run::Live);
        assert_eq!(data_missing(&record), None);
        // Stale once its data is too old: the failure's kind says why.
        let record = evaluator.evaluate(t(400), &denied, &group(6), Run::Live);
        assert_eq!(record.metrics[0].status, MetricStatus::Stale);
        assert_eq!(
            data_missing(&record),
            Some(Event::DataMissing {
                policies: vec!["cpu-50".into()],
                kinds: vec![ErrorKind::AccessDenied],
            })
        );
        // Data that is only old (the source answered): no kind.
        let record = evaluator.evaluate(t(800), &cpu("web", 0, 50.0), &group(6), Run::Live);
        assert_eq!(
            data_missing(&record),
            Some(Event::DataMissing {
                policies: vec!["cpu-50".into()],
                kinds: Vec::new(),
            })
        );
    }

    #[test]
    fn policy_bounds_are_kept_within_the_groups_with_a_notice() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let group = GroupState {
            min: 3,
            max: 6,
            ..group(4)
        };
        let record = evaluator.evaluate(t(0), &cpu("web", 0, 100.0), &group, Run::Live);
        assert_eq!((record.min_capacity, record.max_capacity), (3, 6));
        assert_eq!(record.desired, 6);
        assert_eq!(
            record.notices,
            ["policy bounds [1, 20] lie outside the group's [3, 6]: using [3, 6]"]
        );
        // Group bounds wider than the policy's: the policy's apply, quietly.
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let record = evaluator.evaluate(
            t(0),
            &cpu("web", 0, 500.0),
            &group_with_bounds(0, 100),
            Run::Live,
        );
        assert_eq!(
            (record.min_capacity, record.max_capacity, record.desired),
            (1, 20, 20)
        );
        assert!(record.notices.is_empty());
    }

    fn group_with_bounds(min: u32, max: u32) -> GroupState {
        GroupState {
            min,
            max,
            ..group(4)
        }
    }

    #[test]
    fn a_group_reporting_min_above_max_does_not_panic() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let record = evaluator.evaluate(
            t(0),
            &cpu("web", 0, 50.0),
            &group_with_bounds(9, 2),
            Run::Live,
        );
        assert_eq!((record.min_capacity, record.max_capacity), (1, 20));
        assert!(
            record.notices[0].contains("min 9 above max 2"),
            "{:?}",
            record.notices
        );
    }

    #[test]
    fn a_change_made_outside_ebb_starts_a_cooldown() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let record = evaluator.evaluate(t(0), &cpu("web", 0, 50.0), &group(4), Run::Live);
        assert!(record.notice_lines().is_empty());
        evaluator.settle(&record.outcome);
        // Someone scales the group to 10 by hand; CPU drops accordingly.
        let record = evaluator.evaluate(t(60), &cpu("web", 60, 20.0), &group(10), Run::Live);
        assert_eq!(record.events, [Event::ExternalChange { from: 4, to: 10 }]);
        assert_eq!(
            record.notice_lines(),
            ["desired capacity changed outside ebb: 4 -> 10"]
        );
        assert_eq!(evaluator.memory().live().last_scale_out, Some(t(60)));
        // The scale-in cooldown now runs from that change.
        assert_eq!((record.desired, record.action), (10, Action::Hold));
        assert!(
            record.reason.contains("scale-in cooldown"),
            "{}",
            record.reason
        );
        evaluator.settle(&record.outcome);
        let record = evaluator.evaluate(t(660), &cpu("web", 660, 20.0), &group(10), Run::Live);
        assert!(record.notice_lines().is_empty());
        assert_eq!((record.desired, record.action), (4, Action::ScaleIn));
    }

    #[test]
    fn ebbs_own_change_is_not_taken_for_someone_elses() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let record = evaluator.evaluate(t(0), &cpu("web", 0, 100.0), &group(4), Run::Live);
        assert_eq!(record.desired, 8);
        evaluator.settle(&ok());
        let record = evaluator.evaluate(t(60), &cpu("web", 60, 50.0), &group(8), Run::Live);
        assert!(
            record.notice_lines().is_empty(),
            "{:?}",
            record.notice_lines()
        );
        assert_eq!(evaluator.memory().live().last_scale_out, Some(t(0)));
    }

    #[test]
    fn a_failed_change_leaves_the_state_as_it_was() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let record = evaluator.evaluate(t(0), &cpu("web", 0, 100.0), &group(4), Run::Live);
        assert_eq!(record.action, Action::ScaleOut);
        evaluator.settle(&Outcome::Failed {
            error: "throttled".into(),
            kind: Some(ErrorKind::Throttled),
        });
        assert_eq!(evaluator.memory().live().last_scale_out, None);
        assert_eq!(evaluator.memory().live().last_set, Some(4));
        // The next tick tries again: no cooldown holds it back.
        let record = evaluator.evaluate(t(60), &cpu("web", 60, 100.0), &group(4), Run::Live);
        assert!(
            record.notice_lines().is_empty(),
            "{:?}",
            record.notice_lines()
        );
        assert_eq!((record.desired, record.action), (8, Action::ScaleOut));
    }

    const DRY_RUN: Run = Run::Hypothetical(Hypothesis::DryRun);

    #[test]
    fn a_dry_run_keeps_its_own_cooldowns_and_expects_no_change() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "dry-run", COOLDOWNS));
        assert_eq!(evaluator.run(false), DRY_RUN);
        let record = evaluator.evaluate(t(0), &cpu("web", 0, 100.0), &group(4), DRY_RUN);
        assert_eq!(record.action, Action::ScaleOut);
        assert_eq!(record.outcome, Outcome::DryRun);
        let supposed = &evaluator.memory().hypothetical().expect("a dry run").state;
        assert_eq!(supposed.last_scale_out, Some(t(0)));
        assert_eq!(evaluator.memory().live().last_scale_out, None);
        // The group stayed at 4, as it should in a dry run: no "outside ebb"
        // notice, and the dry run's own cooldown holds.
        let record = evaluator.evaluate(t(60), &cpu("web", 60, 100.0), &group(4), DRY_RUN);
        assert!(
            record.notice_lines().is_empty(),
            "{:?}",
            record.notice_lines()
        );
        assert_eq!((record.desired, record.action), (4, Action::Hold));
        assert_eq!(record.governor_state.last_scale_out, Some(t(0)));
        // Going live: the dry run's cooldown is not inherited.
        let record = evaluator.evaluate(t(120), &cpu("web", 120, 100.0), &group(4), Run::Live);
        assert_eq!((record.desired, record.action), (8, Action::ScaleOut));
        assert_eq!(evaluator.memory().hypothetical(), None);
    }

    #[test]
    fn global_dry_run_makes_an_active_policy_hypothetical() {
        let evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        assert_eq!(evaluator.run(false), Run::Live);
        assert_eq!(evaluator.run(true), DRY_RUN);
    }

    #[test]
    fn an_unreadable_group_holds_at_the_last_known_capacity() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        evaluator.evaluate(t(0), &cpu("web", 0, 50.0), &group(5), Run::Live);
        let denied =
            Unavailable::ReadFailed(CallError::new(ErrorKind::AccessDenied, "AccessDenied"));
        let record = evaluator.unavailable(t(60), &FetchResults::new(), denied);
        assert_eq!((record.desired, record.action), (5, Action::Hold));
        assert_eq!(record.outcome.error_kind(), Some(ErrorKind::AccessDenied));
        assert_eq!(
            record.outcome.error(),
            Some("describing groups failed: AccessDenied")
        );
        assert!(record.events.is_empty(), "{:?}", record.events);
        let record = evaluator.unavailable(t(120), &FetchResults::new(), Unavailable::NotFound);
        assert_eq!(
            record.outcome.error(),
            Some("Auto Scaling group `web` not found")
        );
        assert_eq!(record.events, [Event::GroupNotFound]);
        assert!(
            record.reason.contains("group state unavailable"),
            "{}",
            record.reason
        );
        // Nothing is pending: settling does not change the state.
        let before = evaluator.memory().live().clone();
        evaluator.settle(&ok());
        assert_eq!(evaluator.memory().live(), &before);
    }

    #[test]
    fn while_the_group_is_unreadable_metrics_age_and_turn_stale() {
        // stale_after is 5m in the test policy.
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        evaluator.evaluate(t(0), &cpu("web", 0, 50.0), &group(5), Run::Live);
        let down = FetchResults::from([(
            MetricKey::new("web", "cpu"),
            Err(FetchError::other("connection refused")),
        )]);
        let record = evaluator.unavailable(
            t(60),
            &down,
            Unavailable::ReadFailed(CallError::other("connection refused")),
        );
        assert_eq!(record.metrics.len(), 1, "{record:#?}");
        assert_eq!(record.metrics[0].age_s, Some(60));
        assert_eq!(record.metrics[0].status, MetricStatus::Ok);
        assert!(record.metrics[0].notes[0].contains("fetch failed"));
        let record = evaluator.unavailable(
            t(400),
            &down,
            Unavailable::ReadFailed(CallError::other("connection refused")),
        );
        assert_eq!(record.metrics[0].age_s, Some(400));
        assert_eq!(record.metrics[0].status, MetricStatus::Stale);
        // The capacity is what was seen at the last look, and says when.
        assert_eq!(record.capacity.desired, 5);
        let when = t(0).to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        assert!(
            record
                .notices
                .iter()
                .any(|n| n.contains(&format!("capacity last known at {when}"))),
            "{:?}",
            record.notices
        );
    }

    #[test]
    fn a_panicked_record_holds_at_what_was_last_set() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        evaluator.restore_memory(GovernorMemory::new(
            GovernorState {
                last_set: Some(6),
                ..GovernorState::default()
            },
            None,
        ));
        let record = evaluator.panicked(t(0), "overflow".into());
        assert_eq!((record.desired, record.action), (6, Action::Hold));
        assert_eq!(record.panicked.as_deref(), Some("overflow"));
        assert_eq!(
            record.outcome.error(),
            Some("evaluation panicked: overflow")
        );
    }

    #[test]
    fn requests_cover_the_smoothing_window_then_what_is_new_or_revisable() {
        let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS));
        let requests = evaluator.metric_requests(t(0));
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].key, MetricKey::new("web", "cpu"));
        assert_eq!(requests[0].since, t(0) - Duration::minutes(5));
        evaluator.evaluate(t(0), &cpu("web", -60, 50.0), &group(4), Run::Live);
        // What is new, and the periods CloudWatch may still revise:
        // delay_periods (2, the default) x period (60s) before the latest.
        assert_eq!(evaluator.metric_requests(t(60))[0].since, t(-180));
        // After a long outage, no further back than the window.
        assert_eq!(
            evaluator.metric_requests(t(3600))[0].since,
            t(3600) - Duration::minutes(5)
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        /// What the metric source does on one tick.
        #[derive(Debug, Clone)]
        enum Answer {
            Fresh(f64),
            Nothing,
            Failed,
            Garbage,
        }

        impl Answer {
            /// What the source returns for "web"'s CPU at `now`.
            fn fetched(&self, now: i64) -> FetchResults {
                match self {
                    Answer::Fresh(v) => cpu("web", now, *v),
                    Answer::Garbage => cpu("web", now, f64::NAN),
                    Answer::Nothing => FetchResults::new(),
                    Answer::Failed => FetchResults::from([(
                        MetricKey::new("web", "cpu"),
                        Err(FetchError::other("timeout")),
                    )]),
                }
            }
        }

        fn answer() -> impl Strategy<Value = Answer> {
            prop_oneof![
                3 => (0.0f64..150.0).prop_map(Answer::Fresh),
                2 => Just(Answer::Nothing),
                1 => Just(Answer::Failed),
                1 => Just(Answer::Garbage),
            ]
        }

        const NO_BRAKES: &str = r#"
scale_out_cooldown = "0s"
scale_in_cooldown = "0s"
scale_in_stabilization = "0s"
warmup = "0s"
"#;

        /// How one tick is evaluated: hypothetical runs only.
        fn hypothesis() -> impl Strategy<Value = Hypothesis> {
            prop_oneof![
                Just(Hypothesis::DryRun),
                Just(Hypothesis::Standby),
                Just(Hypothesis::Shadow),
            ]
        }

        proptest! {
            /// No sequence of dry-run, standby and shadow evaluations (shadow
            /// candidates included) changes the live state of a group nobody
            /// changes, whatever the metrics say.
            #[test]
            fn hypothetical_evaluations_never_change_the_live_state(
                start in 1u32..=20,
                ticks in proptest::collection::vec((hypothesis(), answer()), 1..30),
                ago in proptest::option::of(0i64..1200),
            ) {
                let shadow = policy_file("web", "active", NO_BRAKES);
                let mut evaluator = TargetEvaluator::new(policy_file("web", "active", COOLDOWNS))
                    .with_shadows(vec![("web-v2.toml".into(), shadow)]);
                let live = GovernorState {
                    last_scale_out: ago.map(|ago| t(-ago)),
                    last_set: Some(start),
                    ..GovernorState::default()
                };
                evaluator.restore_memory(GovernorMemory::new(live.clone(), None));
                for (i, (hypothesis, answer)) in ticks.into_iter().enumerate() {
                    let now = 60 * i as i64;
                    let fetched = answer.fetched(now);
                    let run = Run::Hypothetical(hypothesis);
                    let record = evaluator.evaluate(t(now), &fetched, &group(start), run);
                    prop_assert_eq!(&record.outcome, &Outcome::DryRun);
                    evaluator.settle(&ok());
                    evaluator.evaluate_shadows(t(now), &fetched, &group(start));
                    prop_assert_eq!(evaluator.memory().live(), &live);
                }
            }
            /// Through signal, policy and governor together: whenever the
            /// metric is missing or stale, capacity does not go down, and it
            /// always stays within the bounds.
            #[test]
            fn never_scales_in_on_missing_or_stale_data(
                start in 1u32..=20,
                answers in proptest::collection::vec(answer(), 1..40),
            ) {
                let mut evaluator = TargetEvaluator::new(policy_file("web", "active", NO_BRAKES));
                let mut current = start;
                for (i, answer) in answers.into_iter().enumerate() {
                    let now = 60 * i as i64;
                    let fetched = answer.fetched(now);
                    let record = evaluator.evaluate(t(now), &fetched, &group(current), Run::Live);
                    prop_assert!((1..=20).contains(&record.desired), "{}", record.desired);
                    if record.metrics[0].status != MetricStatus::Ok {
                        prop_assert!(record.desired >= current, "{current} -> {}: {}", record.desired, record.reason);
                    }
                    evaluator.settle(&ok());
                    current = record.desired;
                }
            }
        }
    }

    /// One of the example policies in `policies/`.
    fn load(name: &str) -> crate::policy_file::PolicyFile {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("policies")
            .join(name);
        crate::policy_file::load_file(&path).expect("the example policy loads")
    }

    /// Every answer a target (and its shadow candidate) asked for is handed
    /// to it, and no other target's.
    #[test]
    fn a_target_takes_the_answers_to_its_own_requests_and_no_others() {
        let shadowed = TargetEvaluator::new(load("web-cpu.toml"))
            .with_shadows(vec![("next.toml".into(), load("web-predictive.toml"))]);
        let other = TargetEvaluator::new(policy_file("api", "active", COOLDOWNS));
        let answer = || Ok(crate::series::Series::default());
        let asked: Vec<MetricKey> = shadowed
            .metric_requests(t(0))
            .into_iter()
            .map(|r| r.key)
            .collect();
        assert!(
            asked.iter().any(|k| k.target.contains("~shadow:")),
            "{asked:?}"
        );
        let mut round: FetchResults = asked
            .iter()
            .chain(other.metric_requests(t(0)).iter().map(|r| &r.key))
            .map(|k| (k.clone(), answer()))
            .collect();
        let taken = shadowed.take_answers(&mut round);
        let mut taken: Vec<MetricKey> = taken.into_keys().collect();
        taken.sort();
        let mut expected = asked.clone();
        expected.sort();
        assert_eq!(taken, expected);
        let left = round.len();
        assert!(round.keys().all(|k| k.target == "api"), "{round:?}");
        assert_eq!(other.take_answers(&mut round).len(), left);
        assert!(round.is_empty());
    }

    #[test]
    fn only_a_predictive_policy_counts_as_fitting_models() {
        let reactive = TargetEvaluator::new(load("web-cpu.toml"));
        assert!(!reactive.fits_models());
        assert!(!reactive.shadows_fit_models());
        let predictive = TargetEvaluator::new(load("web-predictive.toml"));
        assert!(predictive.fits_models());
        let shadowed = TargetEvaluator::new(load("web-cpu.toml"))
            .with_shadows(vec![("next.toml".into(), load("web-predictive.toml"))]);
        assert!(!shadowed.fits_models());
        assert!(shadowed.shadows_fit_models());
    }
}
