//! One round of the control loop over a set of targets, shared by the
//! daemon and the simulator.
//!
//! A round fetches every target's metrics in one batch and reads every group
//! in one call, then evaluates and applies each target on a task of its own:
//! a target whose evaluation panics is reported as such and the others go
//! on, and a slow SetDesiredCapacity for one target does not hold up another.
//! [`run_round`] is that path; [`ControlLoop`] drives it on a [`Clock`] (the
//! simulator), the daemon drives it from its scheduler.

use crate::actuator::{Actuator, ActuatorError};
use crate::lock::lock;

use crate::clock::Clock;
use crate::decision::{Action, DecisionRecord, Outcome, Role};
use crate::evaluator::{TargetEvaluator, Unavailable, panic_message};
use crate::few_at_once::FewAtOnce;
use crate::governor_memory::{Hypothesis, Run};
use crate::group::GroupState;
use crate::series::FetchResults;
use crate::source::MetricSource;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

/// How many targets of a round are evaluated (and applied) at once. Each
/// running evaluation's task holds its whole future (about 2 KiB, the
/// SetDesiredCapacity call's state boxed apart): spawning a round's 10,000
/// at once was the largest part of its transient memory. Evaluations take
/// microseconds; a slow SetDesiredCapacity holds one place of 256, not the
/// others.
const EVALUATIONS_AT_ONCE: usize = 256;

/// Every group of a round, as one batched read found them, or why the read
/// failed.
pub type GroupsRead = Result<HashMap<String, GroupState>, ActuatorError>;

/// One target's group, as the round's batched read found it, or why there
/// is none.
pub type GroupRead = Result<GroupState, Unavailable>;

/// Takes the group named `name` out of a batched read.
pub fn take_group(groups: &mut GroupsRead, name: &str) -> GroupRead {
    match groups {
        Ok(groups) => groups.remove(name).ok_or(Unavailable::NotFound),
        Err(e) => Err(Unavailable::ReadFailed(e.clone())),
    }
}

/// What a round does with one target once its metrics and group are read:
/// evaluate it and carry out (or only record) the decision.
pub trait EvaluateTarget: Clone + Send + 'static {
    /// Evaluates `target` at `now` from its part of the round's batched
    /// reads: the answers to its metric requests and its group. The live
    /// record first, then its shadow candidates'.
    fn evaluate(
        self,
        now: DateTime<Utc>,
        target: &mut TargetEvaluator,
        fetched: &FetchResults,
        group: &GroupRead,
    ) -> impl std::future::Future<Output = Vec<DecisionRecord>> + Send;
}

/// Evaluated, and applied through the actuator unless the run is dry: the
/// loop without leader election.
#[derive(Debug, Clone)]
pub struct Apply<A> {
    /// Where decisions are carried out.
    pub actuator: A,
    /// Global dry-run: record every decision, change nothing.
    pub dry_run: bool,
}

impl<A: Actuator + Clone + Send + 'static> EvaluateTarget for Apply<A> {
    async fn evaluate(
        mut self,
        now: DateTime<Utc>,
        target: &mut TargetEvaluator,
        fetched: &FetchResults,
        group: &GroupRead,
    ) -> Vec<DecisionRecord> {
        evaluate_and_apply(
            now,
            target,
            fetched,
            group,
            &mut self.actuator,
            self.dry_run,
        )
        .await
    }
}

/// What became of one target of a round.
pub enum Evaluated {
    /// Evaluated: the evaluator comes back with its records (the live
    /// record, then the shadow candidates').
    Done {
        /// The target's evaluator, to keep for its next round.
        evaluator: Box<TargetEvaluator>,
        /// What it decided.
        records: Vec<DecisionRecord>,
    },
    /// The evaluation panicked and took its evaluator with it; capacity
    /// was left as it was.
    Panicked {
        /// The target's name.
        target: String,
        /// The panic's message.
        message: String,
    },
}

/// One round over `targets` at `now`: one batched fetch of every target's
/// metrics from `source` and one batched read of every group through
/// `reader` (both at once), then each target evaluated by `evaluate` on a
/// task of its own, [`EVALUATIONS_AT_ONCE`] at a time, with its own part of
/// the reads ([`RoundReads`]). `finished` hears of each target as soon as
/// it is done, panics included, whatever the others are still doing. Needs
/// a tokio runtime (a current-thread one runs the targets one after the
/// other, in order).
pub async fn run_round<S, R, E>(
    now: DateTime<Utc>,
    source: &mut S,
    reader: &mut R,
    targets: Vec<Box<TargetEvaluator>>,
    evaluate: E,
    mut finished: impl FnMut(Evaluated),
) where
    S: MetricSource,
    R: Actuator,
    E: EvaluateTarget,
{
    let mut requests = Vec::new();
    let mut evaluable = Vec::with_capacity(targets.len());
    for target in targets {
        match std::panic::catch_unwind(AssertUnwindSafe(|| target.metric_requests(now))) {
            Ok(asked) => {
                requests.extend(asked);
                evaluable.push(target);
            }
            Err(payload) => finished(Evaluated::Panicked {
                target: target.name().to_string(),
                message: panic_message(payload.as_ref()),
            }),
        }
    }
    let names: Vec<String> = evaluable.iter().map(|t| t.name().to_string()).collect();
    // The requests and names go as soon as their read is done, not held
    // through the evaluations.
    let fetch = async move {
        let fetched = source.fetch(now, &requests).await;
        drop(requests);
        fetched
    };
    let describe = async move {
        let groups = reader.describe(&names, now).await;
        drop(names);
        groups
    };
    let (fetched, groups) = tokio::join!(fetch, describe);
    let mut reads = RoundReads { fetched, groups };
    // Which target each running task evaluates, for a task that panics
    // (its evaluator, and so its name, goes with it).
    let running: Arc<Mutex<HashMap<tokio::task::Id, String>>> = Arc::default();
    let mut tasks = FewAtOnce::new(EVALUATIONS_AT_ONCE, evaluable, |mut target| {
        let (fetched, group) = reads.take(&target);
        let evaluate = evaluate.clone();
        let running = Arc::clone(&running);
        async move {
            lock(&running).insert(tokio::task::id(), target.name().to_string());
            crate::test_hooks::panic_if_asked(target.name());
            let records = evaluate.evaluate(now, &mut target, &fetched, &group).await;
            lock(&running).remove(&tokio::task::id());
            (target, records)
        }
    });
    while let Some(joined) = tasks.next().await {
        match joined {
            Ok((evaluator, records)) => finished(Evaluated::Done { evaluator, records }),
            Err(e) => {
                let Some(target) = lock(&running).remove(&e.id()) else {
                    continue;
                };
                let message = if e.is_panic() {
                    panic_message(e.into_panic().as_ref())
                } else {
                    "the evaluation's task was cancelled".to_string()
                };
                finished(Evaluated::Panicked { target, message });
            }
        }
    }
}

/// What a round's batched reads found, handed out target by target as each
/// evaluation starts: its metrics' answers and its group move into its task
/// and are freed when it ends. Shared by the whole round, every answer and
/// group (at 10,000 targets, most of a round's memory) lived until the
/// round's last evaluation ended.
struct RoundReads {
    fetched: FetchResults,
    groups: GroupsRead,
}

impl RoundReads {
    /// `target`'s part: the answers to its metric requests and its group.
    fn take(&mut self, target: &TargetEvaluator) -> (FetchResults, GroupRead) {
        let fetched = target.take_answers(&mut self.fetched);
        (fetched, take_group(&mut self.groups, target.name()))
    }
}

/// The loop on a clock of its own, generic over where time, metrics and
/// capacity come from: what the simulator runs.
pub struct ControlLoop<C, S, A> {
    /// Where `now` comes from.
    pub clock: C,
    /// Where metrics come from.
    pub source: S,
    /// Reads and sizes the groups.
    pub actuator: A,
    /// One evaluator per target, in the order their records come out.
    pub targets: Vec<TargetEvaluator>,
    /// Global dry-run: record every decision, change nothing.
    pub dry_run: bool,
}

impl<C: Clock, S: MetricSource, A: Actuator + Clone + Send + 'static> ControlLoop<C, S, A> {
    /// A loop over `targets`.
    pub fn new(
        clock: C,
        source: S,
        actuator: A,
        targets: Vec<TargetEvaluator>,
        dry_run: bool,
    ) -> Self {
        ControlLoop {
            clock,
            source,
            actuator,
            targets,
            dry_run,
        }
    }

    /// Evaluates every target once, at the clock's now: one round. The
    /// records come in the targets' order.
    ///
    /// # Panics
    ///
    /// When a target's evaluation panics: with no policy to build a new
    /// evaluator from, the loop cannot go on without it (the daemon can, and
    /// does).
    pub async fn evaluate_all(&mut self) -> Vec<DecisionRecord> {
        let now = self.clock.now();
        let order: HashMap<String, usize> = self
            .targets
            .iter()
            .enumerate()
            .map(|(i, t)| (t.name().to_string(), i))
            .collect();
        let targets: Vec<Box<TargetEvaluator>> = std::mem::take(&mut self.targets)
            .into_iter()
            .map(Box::new)
            .collect();
        let mut back: Vec<Option<(TargetEvaluator, Vec<DecisionRecord>)>> =
            (0..targets.len()).map(|_| None).collect();
        let evaluate = Apply {
            actuator: self.actuator.clone(),
            dry_run: self.dry_run,
        };
        run_round(
            now,
            &mut self.source,
            &mut self.actuator,
            targets,
            evaluate,
            |evaluated| match evaluated {
                Evaluated::Done { evaluator, records } => {
                    let position = order[evaluator.name()];
                    back[position] = Some((*evaluator, records));
                }
                Evaluated::Panicked { target, message } => {
                    panic!("the evaluation of `{target}` panicked: {message}")
                }
            },
        )
        .await;
        let mut records = Vec::new();
        for (evaluator, records_of_target) in back.into_iter().flatten() {
            self.targets.push(evaluator);
            records.extend(records_of_target);
        }
        records
    }
}

/// Evaluates one target from the batch's fetched metrics and group states,
/// and applies the decision: the live record first, then its shadow
/// candidates' records (never acted on). A group that could not be read, or
/// does not exist, keeps its capacity and the record says why.
pub async fn evaluate_and_apply<A: Actuator>(
    now: DateTime<Utc>,
    target: &mut TargetEvaluator,
    fetched: &FetchResults,
    group: &GroupRead,
    actuator: &mut A,
    dry_run: bool,
) -> Vec<DecisionRecord> {
    match group {
        Ok(group) => {
            let run = target.run(dry_run);
            let slow = target.fits_models();
            let mut record =
                without_stalling_others(slow, || target.evaluate(now, fetched, group, run)).await;
            let mut group = std::borrow::Cow::Borrowed(group);
            if run == Run::Live && record.action == Action::ScaleIn {
                // Boxed, as in `apply`: only targets about to scale in ask.
                let found = Box::pin(actuator.refresh_before_scale_in(&record.target, now)).await;
                if let Some(refresh) = found {
                    let mut known = group.into_owned();
                    known.info.instance_refresh = Some(Box::new(refresh));
                    record = target.reconsider(now, record, &known);
                    group = std::borrow::Cow::Owned(known);
                }
            }
            if run == Run::Live {
                apply(actuator, target, &mut record).await;
            }
            let mut records = vec![record];
            let slow = target.shadows_fit_models();
            records.extend(
                without_stalling_others(slow, || target.evaluate_shadows(now, fetched, &group))
                    .await,
            );
            records
        }
        Err(error) => vec![target.unavailable(now, fetched, error.clone())],
    }
}

/// Runs evaluations (live, shadow, standby), which may fit forecast models (the
/// predictive policy's daily backtest takes about half a second), without stalling the
/// other tasks on this worker thread: the lease keeper and other targets'
/// Auto Scaling calls move to another worker meanwhile. On a current-thread
/// runtime (the simulator, tests) there is no other worker to move to.
///
/// At most one evaluation per core runs at once ([`cpu_slots`]); the others
/// wait for a slot without holding a thread. Every `block_in_place` hands
/// its worker's place to a new thread, so a round of thousands of
/// evaluations each blocking at once filled tokio's 512-thread blocking pool.
///
/// Only an evaluation that may be `slow` (one that fits forecast models)
/// moves off the worker: a reactive one takes microseconds, less than the
/// thread hand-over, which at 10,000 targets a round cost more CPU than the
/// evaluations themselves.
async fn without_stalling_others<T>(slow: bool, evaluate: impl FnOnce() -> T) -> T {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if slow && handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            // Never closed, so a permit always comes.
            let _slot = cpu_slots().acquire().await;
            tokio::task::block_in_place(evaluate)
        }
        _ => evaluate(),
    }
}

/// One slot per core for CPU-bound evaluations, shared by every batch.
fn cpu_slots() -> &'static tokio::sync::Semaphore {
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        tokio::sync::Semaphore::new(cores)
    })
}

/// Evaluates one target on a standby instance (another holds the leader
/// lease): the same evaluation, recorded with role `standby`, never acted on.
/// It decides in a hypothetical state of its own; the live state takes in
/// only the group's capacity changes (the leader's, as changes made outside
/// this instance), so the cooldowns that hold when this instance takes over
/// are those of what really happened.
pub async fn evaluate_standby(
    now: DateTime<Utc>,
    target: &mut TargetEvaluator,
    fetched: &FetchResults,
    group: &GroupRead,
) -> Vec<DecisionRecord> {
    let mut records = match group {
        Ok(group) => {
            let slow = target.fits_models() || target.shadows_fit_models();
            without_stalling_others(slow, || {
                let standby = Run::Hypothetical(Hypothesis::Standby);
                let mut records = vec![target.evaluate(now, fetched, group, standby)];
                records.extend(target.evaluate_shadows(now, fetched, group));
                records
            })
            .await
        }
        Err(error) => vec![target.unavailable(now, fetched, error.clone())],
    };
    records[0].role = Role::Standby;
    records
}

/// Carries out a live decision, fills in the record's outcome and settles
/// the target's live state.
pub async fn apply<A: Actuator>(
    actuator: &mut A,
    target: &mut TargetEvaluator,
    record: &mut DecisionRecord,
) {
    record.outcome = if record.action == Action::Hold {
        Outcome::Held
    } else {
        // Boxed: an SDK call's future is kilobytes, and every target's
        // task of a round would carry that room inline, called or not (most
        // rounds hold); boxed, only the targets that act allocate it.
        match Box::pin(actuator.set_desired(&record.target, record.desired)).await {
            Ok(()) => Outcome::Applied,
            Err(e) => Outcome::Failed {
                error: format!(
                    "SetDesiredCapacity failed, capacity kept at {}: {e}",
                    record.capacity.desired
                ),
                kind: Some(e.kind),
            },
        }
    };
    target.settle(&record.outcome);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actuator::ActuatorError;
    use crate::clock::ManualClock;
    use crate::decision::{Event, MetricStatus};
    use crate::evaluator::tests::{COOLDOWNS, group, policy_file, t};
    use crate::group::GroupState;
    use crate::series::{Datapoint, FetchError, FetchResults, MetricRequest, Series};
    use chrono::{DateTime, Utc};
    use std::collections::HashMap;

    /// Answers every request with one datapoint of `value` stamped `now`, or
    /// with an error when `value` is `None`. Counts its calls.
    #[derive(Default)]
    struct FakeSource {
        value: Option<f64>,
        fetches: Vec<usize>,
    }

    impl MetricSource for FakeSource {
        fn fetch(
            &mut self,
            now: DateTime<Utc>,
            requests: &[MetricRequest],
        ) -> impl std::future::Future<Output = FetchResults> + Send {
            self.fetches.push(requests.len());
            let answer = match self.value {
                Some(value) => Ok(Series {
                    points: vec![Datapoint { time: now, value }],
                    ..Series::default()
                }),
                None => Err(FetchError::other("no route to host")),
            };
            let results = requests
                .iter()
                .map(|r| (r.key.clone(), answer.clone()))
                .collect();
            std::future::ready(results)
        }
    }

    /// Groups in memory; `set_desired` can be made to fail.
    #[derive(Default)]
    struct FakeGroups {
        groups: HashMap<String, GroupState>,
        describe_error: Option<String>,
        set_error: Option<String>,
        describes: usize,
        sets: Vec<(String, u32)>,
        /// Refreshes found running when asked right before a scale-in.
        refreshes: HashMap<String, crate::group::InstanceRefresh>,
        /// Groups asked right before a scale-in, in order.
        refresh_asks: Vec<String>,
    }

    /// A handle on [`FakeGroups`]: a round hands each target's evaluation a
    /// clone of the actuator, as the daemon does with its AWS clients.
    #[derive(Clone, Default)]
    struct FakeActuator(std::sync::Arc<std::sync::Mutex<FakeGroups>>);

    impl FakeActuator {
        fn new(groups: FakeGroups) -> FakeActuator {
            FakeActuator(std::sync::Arc::new(std::sync::Mutex::new(groups)))
        }

        fn state(&self) -> std::sync::MutexGuard<'_, FakeGroups> {
            self.0.lock().unwrap()
        }
    }

    impl Actuator for FakeActuator {
        fn describe(
            &mut self,
            names: &[String],
            _now: DateTime<Utc>,
        ) -> impl std::future::Future<Output = Result<HashMap<String, GroupState>, ActuatorError>> + Send
        {
            let mut state = self.state();
            state.describes += 1;
            let answer = match &state.describe_error {
                Some(e) => Err(ActuatorError::other(e.clone())),
                None => Ok(names
                    .iter()
                    .filter_map(|n| state.groups.get(n).map(|g| (n.clone(), g.clone())))
                    .collect()),
            };
            std::future::ready(answer)
        }

        fn set_desired(
            &mut self,
            name: &str,
            desired: u32,
        ) -> impl std::future::Future<Output = Result<(), ActuatorError>> + Send {
            let mut state = self.state();
            state.sets.push((name.to_string(), desired));
            let answer = match state.set_error.clone() {
                Some(e) => Err(ActuatorError::other(e)),
                None => {
                    // New instances come into service at once: warm-up is
                    // the evaluator's business, tested there.
                    state.groups.insert(name.to_string(), group(desired));
                    Ok(())
                }
            };
            std::future::ready(answer)
        }

        fn refresh_before_scale_in(
            &mut self,
            name: &str,
            _now: DateTime<Utc>,
        ) -> impl std::future::Future<Output = Option<crate::group::InstanceRefresh>> + Send
        {
            let mut state = self.state();
            state.refresh_asks.push(name.to_string());
            std::future::ready(state.refreshes.get(name).cloned())
        }
    }

    /// A loop over one 4-instance group "web" at 100% CPU (it wants 8).
    fn one_target(
        mode: &str,
        global_dry_run: bool,
    ) -> ControlLoop<ManualClock, FakeSource, FakeActuator> {
        let actuator = FakeActuator::new(FakeGroups {
            groups: HashMap::from([("web".to_string(), group(4))]),
            ..FakeGroups::default()
        });
        let source = FakeSource {
            value: Some(100.0),
            ..FakeSource::default()
        };
        let targets = vec![TargetEvaluator::new(policy_file("web", mode, COOLDOWNS))];
        ControlLoop::new(
            ManualClock::new(t(0)),
            source,
            actuator,
            targets,
            global_dry_run,
        )
    }

    async fn tick(lp: &mut ControlLoop<ManualClock, FakeSource, FakeActuator>) -> DecisionRecord {
        let mut records = lp.evaluate_all().await;
        lp.clock.advance(chrono::Duration::seconds(60));
        assert_eq!(records.len(), 1);
        records.remove(0)
    }

    #[tokio::test]
    async fn a_refresh_found_right_before_a_scale_in_holds_it_and_only_scale_ins_ask() {
        let mut lp = one_target("active", false);
        // Scale-out: never asked (a refresh does not forbid it).
        tick(&mut lp).await;
        assert!(lp.actuator.state().refresh_asks.is_empty());
        lp.clock.advance(chrono::Duration::minutes(15));
        lp.source.value = Some(10.0);
        lp.actuator.state().refreshes.insert(
            "web".into(),
            crate::group::InstanceRefresh {
                id: "r-1".into(),
                status: "InProgress".into(),
                percent_complete: None,
            },
        );
        let record = tick(&mut lp).await;
        assert_eq!((record.desired, record.action), (8, Action::Hold));
        assert!(
            record.reason.contains("instance refresh r-1 InProgress"),
            "{}",
            record.reason
        );
        assert_eq!(record.outcome, Outcome::Held);
        assert_eq!(lp.actuator.state().sets.len(), 1);
        assert_eq!(lp.actuator.state().refresh_asks, ["web"]);
        // It ended: the next scale-in goes ahead.
        lp.actuator.state().refreshes.clear();
        let record = tick(&mut lp).await;
        assert_eq!(record.action, Action::ScaleIn);
        assert_eq!(record.outcome, Outcome::Applied);
        assert_eq!(lp.actuator.state().refresh_asks, ["web", "web"]);
    }

    #[tokio::test]
    async fn an_active_target_is_scaled() {
        let mut lp = one_target("active", false);
        let record = tick(&mut lp).await;
        assert_eq!((record.desired, record.action), (8, Action::ScaleOut));
        assert_eq!(record.outcome, Outcome::Applied);
        assert_eq!(lp.actuator.state().sets, [("web".to_string(), 8)]);
        assert_eq!(lp.actuator.state().groups["web"].desired, 8);
        // 8 instances at 50% are on target: nothing more to do.
        lp.source.value = Some(50.0);
        let record = tick(&mut lp).await;
        assert_eq!(record.action, Action::Hold);
        assert_eq!(record.outcome, Outcome::Held);
        assert_eq!(lp.actuator.state().sets.len(), 1);
    }

    #[tokio::test]
    async fn a_dry_run_policy_file_records_but_changes_nothing() {
        let mut lp = one_target("dry-run", false);
        let record = tick(&mut lp).await;
        assert_eq!((record.desired, record.action), (8, Action::ScaleOut));
        assert_eq!(record.outcome, Outcome::DryRun);
        assert!(lp.actuator.state().sets.is_empty());
        assert_eq!(lp.actuator.state().groups["web"].desired, 4);
        // The dry-run scale-out counts for cooldowns, as it would have live;
        // the unchanged group is not mistaken for someone else's change.
        let record = tick(&mut lp).await;
        assert_eq!(record.action, Action::Hold);
        assert!(
            record.reason.contains("scale-out cooldown"),
            "{}",
            record.reason
        );
        assert!(
            record.notice_lines().is_empty(),
            "{:?}",
            record.notice_lines()
        );
        assert_eq!(record.outcome, Outcome::DryRun);
        assert!(lp.actuator.state().sets.is_empty());
    }

    #[tokio::test]
    async fn global_dry_run_overrides_an_active_policy_file() {
        let mut lp = one_target("active", true);
        let record = tick(&mut lp).await;
        assert_eq!((record.desired, record.action), (8, Action::ScaleOut));
        assert_eq!(record.outcome, Outcome::DryRun);
        assert!(lp.actuator.state().sets.is_empty());
    }

    #[tokio::test]
    async fn a_failed_api_call_keeps_capacity_and_is_retried_next_tick() {
        let mut lp = one_target("active", false);
        lp.actuator.state().set_error = Some("Throttling: Rate exceeded".into());
        let record = tick(&mut lp).await;
        assert_eq!(record.action, Action::ScaleOut);
        let error = record.outcome.error().expect("error recorded");
        assert!(error.contains("capacity kept at 4"), "{error}");
        assert!(error.contains("Rate exceeded"), "{error}");
        assert_eq!(lp.actuator.state().groups["web"].desired, 4);
        // The scale-out cooldown (10 minutes) did not start: a minute later
        // the same decision is tried again, and goes through.
        lp.actuator.state().set_error = None;
        let record = tick(&mut lp).await;
        assert_eq!((record.desired, record.action), (8, Action::ScaleOut));
        assert_eq!(record.outcome, Outcome::Applied);
        assert_eq!(
            lp.actuator.state().sets,
            [("web".to_string(), 8), ("web".to_string(), 8)]
        );
    }

    #[tokio::test]
    async fn missing_metrics_hold_without_calling_the_api() {
        let mut lp = one_target("active", false);
        lp.source.value = None;
        let record = tick(&mut lp).await;
        assert_eq!((record.desired, record.action), (4, Action::Hold));
        assert_eq!(record.metrics[0].status, MetricStatus::Missing);
        assert!(
            record.metrics[0]
                .notes
                .iter()
                .any(|n| n.contains("no route to host"))
        );
        assert!(lp.actuator.state().sets.is_empty());
    }

    #[tokio::test]
    async fn an_unreadable_or_absent_group_holds() {
        let mut lp = one_target("active", false);
        lp.actuator.state().describe_error = Some("AccessDenied".into());
        let record = tick(&mut lp).await;
        assert_eq!(record.action, Action::Hold);
        let error = record.outcome.error().unwrap();
        assert!(
            error.contains("describing groups failed: AccessDenied"),
            "{error}"
        );
        lp.actuator.state().describe_error = None;
        lp.actuator.state().groups.clear();
        let record = tick(&mut lp).await;
        assert_eq!(record.action, Action::Hold);
        assert_eq!(
            record.outcome.error(),
            Some("Auto Scaling group `web` not found")
        );
        assert_eq!(record.events, [Event::GroupNotFound]);
        assert!(lp.actuator.state().sets.is_empty());
    }

    /// One standby evaluation of the loop's only target at the clock's now.
    async fn standby_tick(
        lp: &mut ControlLoop<ManualClock, FakeSource, FakeActuator>,
    ) -> DecisionRecord {
        let now = lp.clock.now();
        let names = ["web".to_string()];
        let fetched = lp
            .source
            .fetch(now, &lp.targets[0].metric_requests(now))
            .await;
        let mut groups = lp.actuator.describe(&names, now).await;
        let group = take_group(&mut groups, "web");
        let mut records = evaluate_standby(now, &mut lp.targets[0], &fetched, &group).await;
        lp.clock.advance(chrono::Duration::seconds(60));
        records.remove(0)
    }

    #[tokio::test]
    async fn a_standby_taking_over_does_not_inherit_its_own_would_be_cooldown() {
        let mut lp = one_target("active", false);
        let record = standby_tick(&mut lp).await;
        assert_eq!(record.role, Role::Standby);
        assert_eq!((record.desired, record.action), (8, Action::ScaleOut));
        assert_eq!(record.outcome, Outcome::DryRun);
        assert_eq!(lp.targets[0].memory().live().last_scale_out, None);
        // The leader did not act (or failed): on taking over, the scale-out
        // happens at once, not after the standby's would-be cooldown.
        let record = tick(&mut lp).await;
        assert_eq!((record.desired, record.action), (8, Action::ScaleOut));
        assert_eq!(record.outcome, Outcome::Applied);
        assert_eq!(lp.actuator.state().sets, [("web".to_string(), 8)]);
    }

    #[tokio::test]
    async fn a_standby_taking_over_keeps_the_cooldown_of_the_leaders_change() {
        let mut lp = one_target("active", false);
        standby_tick(&mut lp).await;
        // The leader scales out to 8; the standby sees it at its next look.
        lp.actuator.state().groups.insert("web".into(), group(8));
        let record = standby_tick(&mut lp).await;
        assert_eq!(record.events, [Event::ExternalChange { from: 4, to: 8 }]);
        assert_eq!(lp.targets[0].memory().live().last_scale_out, Some(t(60)));
        // Taking over a minute later, still hot: held by the leader's cooldown.
        let record = tick(&mut lp).await;
        assert_eq!((record.desired, record.action), (8, Action::Hold));
        assert!(
            record
                .reason
                .contains("scale-out cooldown: last scale-out 60s ago"),
            "{}",
            record.reason
        );
        assert!(lp.actuator.state().sets.is_empty());
    }

    #[tokio::test]
    async fn a_change_made_outside_ebb_is_noticed_and_respected() {
        let mut lp = one_target("active", false);
        lp.source.value = Some(50.0);
        tick(&mut lp).await;
        // An operator scales the group to 12 by hand.
        lp.actuator.state().groups.insert("web".into(), group(12));
        lp.source.value = Some(10.0);
        let record = tick(&mut lp).await;
        assert_eq!(record.events, [Event::ExternalChange { from: 4, to: 12 }]);
        assert_eq!((record.desired, record.action), (12, Action::Hold));
        assert!(lp.actuator.state().sets.is_empty());
    }

    #[tokio::test]
    async fn every_target_is_fetched_and_described_in_one_batch() {
        let actuator = FakeActuator::new(FakeGroups {
            groups: HashMap::from([("web".to_string(), group(4)), ("api".to_string(), group(2))]),
            ..FakeGroups::default()
        });
        let source = FakeSource {
            value: Some(100.0),
            ..FakeSource::default()
        };
        let targets = vec![
            TargetEvaluator::new(policy_file("web", "active", COOLDOWNS)),
            TargetEvaluator::new(policy_file("api", "dry-run", COOLDOWNS)),
        ];
        let mut lp = ControlLoop::new(ManualClock::new(t(0)), source, actuator, targets, false);
        let records = lp.evaluate_all().await;
        assert_eq!(lp.source.fetches, [2]);
        assert_eq!(lp.actuator.state().describes, 1);
        let summary: Vec<_> = records
            .iter()
            .map(|r| (r.target.as_str(), r.desired, r.outcome.clone()))
            .collect();
        assert_eq!(
            summary,
            [("web", 8, Outcome::Applied), ("api", 4, Outcome::DryRun)]
        );
        assert_eq!(lp.actuator.state().sets, [("web".to_string(), 8)]);
    }

    /// One JSON line holds everything needed to tell why: capacity as
    /// observed, each metric's raw and smoothed value and age, each policy's
    /// recommendation and reason, the governor's steps, the final desired
    /// capacity and whether it was applied, dry-run or failed.
    #[tokio::test]
    async fn each_record_is_one_json_line_that_says_why() {
        let mut lines = Vec::new();
        for (mode, failing) in [("active", false), ("dry-run", false), ("active", true)] {
            let mut lp = one_target(mode, false);
            if failing {
                lp.actuator.state().set_error = Some("Throttling".into());
            }
            let record = tick(&mut lp).await;
            let line = serde_json::to_string(&record).unwrap();
            assert!(!line.contains('\n'));
            lines.push(serde_json::from_str::<serde_json::Value>(&line).unwrap());
        }
        for json in &lines {
            assert_eq!(json["target"], "web");
            assert_eq!(json["v"], 2);
            assert_eq!(json["role"], "live");
            assert_eq!(json["capacity"]["in_service"], 4);
            assert_eq!(json["capacity"]["warming"], 0);
            let metric = &json["metrics"][0];
            assert_eq!(
                (metric["name"].as_str(), metric["status"].as_str()),
                (Some("cpu"), Some("ok"))
            );
            assert_eq!(metric["raw"], 100.0);
            assert_eq!(metric["smoothed"], 100.0);
            assert_eq!(metric["age_s"], 0);
            let policy = &json["policies"][0];
            assert_eq!(policy["recommendation"]["capacity"], 8);
            assert!(
                policy["reason"]
                    .as_str()
                    .unwrap()
                    .contains("cpu 100.00 vs target 50"),
                "{policy}"
            );
            assert_eq!(json["steps"][0]["rule"], "combine");
            assert_eq!(json["desired"], 8);
            assert_eq!(json["action"], "scale-out");
            assert!(
                json["reason"].as_str().unwrap().starts_with("4 -> 8"),
                "{json}"
            );
            assert!(json["time"].is_string());
        }
        let outcomes: Vec<_> = lines.iter().map(|j| j["outcome"].clone()).collect();
        assert_eq!(outcomes[0], serde_json::json!({"status": "applied"}));
        assert_eq!(outcomes[1], serde_json::json!({"status": "dry-run"}));
        assert_eq!(outcomes[2]["status"], "failed");
        assert!(
            outcomes[2]["error"]
                .as_str()
                .unwrap()
                .contains("Throttling")
        );
    }

    /// On a one-worker runtime, a task that is ready to run still runs while
    /// an evaluation blocks: the blocked evaluation waits for it, up to 10 s.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_long_evaluation_does_not_stall_other_tasks() {
        let (started, mut evaluation_started) = tokio::sync::mpsc::unbounded_channel();
        let (answer, other_task_ran) = std::sync::mpsc::channel();
        let other = tokio::spawn(async move {
            evaluation_started.recv().await;
            answer.send(()).unwrap();
        });
        let evaluation = tokio::spawn(async move {
            without_stalling_others(true, move || {
                started.send(()).unwrap();
                other_task_ran.recv_timeout(std::time::Duration::from_secs(10))
            })
            .await
        });
        assert!(
            evaluation.await.unwrap().is_ok(),
            "the other task never ran"
        );
        other.await.unwrap();
    }

    /// A quick evaluation (nothing to fit) runs in place on its worker:
    /// with one worker, no other task runs until it is done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn a_quick_evaluation_runs_in_place_without_a_thread_hand_over() {
        let other_ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = other_ran.clone();
        let evaluation = tokio::spawn(async move {
            let other = tokio::spawn(async move {
                flag.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            let ran_meanwhile = without_stalling_others(false, || {
                std::thread::sleep(std::time::Duration::from_millis(50));
                other_ran.load(std::sync::atomic::Ordering::SeqCst)
            })
            .await;
            other.await.unwrap();
            ran_meanwhile
        });
        assert!(
            !evaluation.await.unwrap(),
            "another task ran while a quick evaluation held the worker: it was handed over"
        );
    }

    #[test]
    fn outside_a_multi_thread_runtime_the_evaluation_just_runs() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        assert_eq!(runtime.block_on(without_stalling_others(true, || 8)), 8);
    }

    /// A round of many evaluations at once runs at most one per core at a
    /// time, on a bounded number of threads: the process's thread count
    /// stays near workers + cores, not one thread per evaluation.
    #[test]
    fn many_evaluations_at_once_run_one_per_core() {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .build()
            .unwrap();
        let running = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let most = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        runtime.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..200 {
                let (running, most) = (running.clone(), most.clone());
                tasks.spawn(async move {
                    without_stalling_others(true, || {
                        use std::sync::atomic::Ordering::SeqCst;
                        let now = running.fetch_add(1, SeqCst) + 1;
                        most.fetch_max(now, SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(2));
                        running.fetch_sub(1, SeqCst);
                    })
                    .await
                });
            }
            while let Some(done) = tasks.join_next().await {
                done.unwrap();
            }
        });
        let most = most.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            most >= 1 && most <= cores,
            "{most} at once on {cores} cores"
        );
    }
}
