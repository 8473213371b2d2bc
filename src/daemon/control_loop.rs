//! One pass of the control loop over a set of targets.

use crate::actuator::Actuator;
use crate::clock::Clock;
use crate::decision::{Action, DecisionRecord, Outcome};
use crate::evaluator::TargetEvaluator;
use crate::policy_file::Mode;
use crate::source::MetricSource;

/// The loop, generic over where time, metrics and capacity come from.
pub struct ControlLoop<C, S, A> {
    pub clock: C,
    pub source: S,
    pub actuator: A,
    pub targets: Vec<TargetEvaluator>,
    /// Global dry-run: record every decision, change nothing.
    pub dry_run: bool,
}

impl<C: Clock, S: MetricSource, A: Actuator> ControlLoop<C, S, A> {
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

    /// Evaluates every target once, at the clock's now, with one batched
    /// metric fetch and one batched group read.
    pub async fn evaluate_all(&mut self) -> Vec<DecisionRecord> {
        let now = self.clock.now();
        let requests: Vec<_> = self
            .targets
            .iter()
            .flat_map(|t| t.metric_requests(now))
            .collect();
        let fetched = self.source.fetch(now, &requests).await;
        let names: Vec<String> = self.targets.iter().map(|t| t.name().to_string()).collect();
        let groups = self.actuator.describe(&names).await;
        let mut records = Vec::with_capacity(self.targets.len());
        for target in &mut self.targets {
            let group = match &groups {
                Ok(groups) => groups
                    .get(target.name())
                    .ok_or_else(|| format!("Auto Scaling group `{}` not found", target.name())),
                Err(e) => Err(format!("describing groups failed: {e}")),
            };
            match group {
                Ok(group) => {
                    let mut record = target.evaluate(now, &fetched, group);
                    apply(&mut self.actuator, target, &mut record, self.dry_run).await;
                    records.push(record);
                    records.extend(target.evaluate_shadows(now, &fetched, group));
                }
                Err(error) => records.push(target.unavailable(now, error)),
            }
        }
        records
    }
}

/// Carries out a decision (or records that it was only a dry run), fills in
/// the record's outcome and settles the target's state.
pub async fn apply<A: Actuator>(
    actuator: &mut A,
    target: &mut TargetEvaluator,
    record: &mut DecisionRecord,
    global_dry_run: bool,
) {
    let dry_run = global_dry_run || target.mode() == Mode::DryRun;
    record.outcome = if record.action == Action::Hold {
        Outcome {
            applied: false,
            dry_run,
            error: None,
        }
    } else if dry_run {
        Outcome {
            applied: false,
            dry_run: true,
            error: None,
        }
    } else {
        match actuator.set_desired(&record.target, record.desired).await {
            Ok(()) => Outcome {
                applied: true,
                dry_run: false,
                error: None,
            },
            Err(e) => Outcome {
                applied: false,
                dry_run: false,
                error: Some(format!(
                    "SetDesiredCapacity failed, capacity kept at {}: {e}",
                    record.capacity.desired
                )),
            },
        }
    };
    target.settle(&record.outcome);
}
