//! One batch of the daemon: a round of the control loop for the targets due
//! together in one region, each target reported back to the daemon's owner
//! task as soon as it is done.
//!
//! A target's evaluator travels with its evaluation and comes back in its
//! [`Finished`] report; a [`Report`] dropped unsent (the batch's task
//! panicked, or was cancelled) reports the evaluation lost, so the owner
//! never waits for it forever.

use super::aws::RegionClients;
use super::leader::{Fenced, LeaderHandle};
use super::shard_lease::ShardRole;
use crate::actuator::Actuator;
use crate::control_loop::{
    EvaluateTarget, Evaluated, GroupRead, evaluate_and_apply, evaluate_standby, run_round,
};
use crate::decision::DecisionRecord;
use crate::evaluator::TargetEvaluator;
use crate::lock::lock;
use crate::series::FetchResults;
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio::time::Instant;

/// How many finished evaluations may wait for the owner to write their
/// records (those running included). Without a bound, a round's
/// evaluations all ran ahead of the owner and every one of its records,
/// with its evaluator, waited in the channel at once: at 10,000 targets,
/// most of the round's memory peak.
pub(super) const UNWRITTEN_AT_ONCE: usize = 512;

/// The places of the evaluations of a batch, by target, between their start
/// and their report: each is handed on with its report and freed when the
/// owner has written its records (or at once, for a panic).
type Places = Arc<Mutex<HashMap<String, OwnedSemaphorePermit>>>;

/// A finished evaluation, on its way back to the owner.
pub(super) struct Done {
    pub(super) evaluator: Box<TargetEvaluator>,
    /// The live record, then the shadow candidates'.
    pub(super) records: Vec<DecisionRecord>,
    /// From the batch's start (its shared fetch included) to the records.
    pub(super) took: Duration,
    /// Its place among the [`UNWRITTEN_AT_ONCE`]: dropped once the records
    /// are written.
    pub(super) place: Option<OwnedSemaphorePermit>,
}

/// What comes back to the owner for each target handed to a batch: exactly
/// one of these, so `in_flight` always goes down.
pub(super) enum Finished {
    Done(Box<Done>),
    /// The evaluation panicked and its evaluator is lost: the owner builds
    /// a new one from the policy and records the failure.
    Panicked {
        group: String,
        message: String,
        took: Duration,
    },
}

/// A target's promise to report back to the owner. Dropped without a
/// result (the batch task panicked, or was cancelled), it reports the
/// evaluation as lost, so the owner never waits for it forever.
pub(super) struct Report {
    group: String,
    started: Instant,
    tx: mpsc::UnboundedSender<Finished>,
    sent: bool,
}

impl Report {
    pub(super) fn new(
        group: &str,
        started: Instant,
        tx: mpsc::UnboundedSender<Finished>,
    ) -> Report {
        Report {
            group: group.to_string(),
            started,
            tx,
            sent: false,
        }
    }

    fn done(
        &mut self,
        evaluator: Box<TargetEvaluator>,
        records: Vec<DecisionRecord>,
        place: Option<OwnedSemaphorePermit>,
    ) {
        self.send(Finished::Done(Box::new(Done {
            evaluator,
            records,
            took: self.started.elapsed(),
            place,
        })));
    }

    fn panicked(&mut self, message: String) {
        let group = self.group.clone();
        let took = self.started.elapsed();
        self.send(Finished::Panicked {
            group,
            message,
            took,
        });
    }

    fn send(&mut self, finished: Finished) {
        self.sent = true;
        // The owner only stops listening after every evaluation is back.
        let _ = self.tx.send(finished);
    }
}

impl Drop for Report {
    fn drop(&mut self) {
        if !self.sent {
            let message = "the evaluation's task ended without a result".to_string();
            let (group, took) = (self.group.clone(), self.started.elapsed());
            self.send(Finished::Panicked {
                group,
                message,
                took,
            });
        }
    }
}

/// One batch at the wall clock's now: a round over `targets` with the
/// region's clients, each target applied as [`LeaseAware`] says and
/// reported back through its [`Report`] as soon as it is done. A target
/// whose evaluation panics is reported as such with the panic's message;
/// the others go on. An evaluation starts only once it has a place among
/// `unwritten` (see [`UNWRITTEN_AT_ONCE`]).
pub(super) async fn run_batch(
    clients: RegionClients,
    targets: Vec<(Box<TargetEvaluator>, Report)>,
    dry_run: bool,
    leader: Option<LeaderHandle>,
    unwritten: Arc<Semaphore>,
) {
    let RegionClients {
        mut source,
        actuator,
    } = clients;
    let now = Utc::now();
    let (evaluators, reports): (Vec<_>, Vec<_>) = targets.into_iter().unzip();
    let mut reports = Reports::new(reports);
    let mut reader = actuator.clone();
    let places = Places::default();
    let evaluate = LeaseAware {
        actuator,
        leader,
        dry_run,
        unwritten,
        places: Arc::clone(&places),
    };
    run_round(
        now,
        &mut source,
        &mut reader,
        evaluators,
        evaluate,
        |evaluated| match evaluated {
            Evaluated::Done { evaluator, records } => {
                let place = lock(&places).remove(evaluator.name());
                if let Some(report) = reports.of(evaluator.name()) {
                    report.done(evaluator, records, place);
                }
            }
            Evaluated::Panicked { target, message } => {
                lock(&places).remove(&target);
                if let Some(report) = reports.of(&target) {
                    report.panicked(message);
                }
            }
        },
    )
    .await;
}

/// The reports of a batch's targets, sorted by group: found by binary
/// search. A map keyed by a copy of each name was about 1.5 MiB at 10,000
/// targets, held through the round.
struct Reports(Vec<Report>);

impl Reports {
    fn new(mut reports: Vec<Report>) -> Reports {
        reports.sort_unstable_by(|a, b| a.group.cmp(&b.group));
        Reports(reports)
    }

    /// The report of `group`'s evaluation, unless it was sent already.
    fn of(&mut self, group: &str) -> Option<&mut Report> {
        let at = self
            .0
            .binary_search_by(|r| r.group.as_str().cmp(group))
            .ok()?;
        Some(&mut self.0[at]).filter(|r| !r.sent)
    }
}

/// How the daemon carries out a target's evaluation. Without leader
/// election: applied (unless dry-run). With it, as the leader (or, in shard
/// mode, the holder of the target's shard): applied through an actuator
/// that checks the lease right before each change, the live record noting
/// the fencing token; as a standby (or warm): recorded only.
#[derive(Clone)]
struct LeaseAware<A> {
    actuator: A,
    leader: Option<LeaderHandle>,
    dry_run: bool,
    unwritten: Arc<Semaphore>,
    places: Places,
}

impl<A: Actuator + Clone + Send + Sync + 'static> EvaluateTarget for LeaseAware<A> {
    async fn evaluate(
        self,
        now: DateTime<Utc>,
        target: &mut TargetEvaluator,
        fetched: &FetchResults,
        group: &GroupRead,
    ) -> Vec<DecisionRecord> {
        let LeaseAware {
            mut actuator,
            leader,
            dry_run,
            unwritten,
            places,
        } = self;
        // The semaphore is never closed: a place is always given in the end.
        if let Ok(place) = unwritten.acquire_owned().await {
            lock(&places).insert(target.name().to_string(), place);
        }
        let Some(leader) = leader else {
            return evaluate_and_apply(now, target, fetched, group, &mut actuator, dry_run).await;
        };
        let ShardRole::Acting(token) = leader.role(target.name()) else {
            return evaluate_standby(now, target, fetched, group).await;
        };
        let note = leader.fencing_note(target.name(), token);
        let mut fenced = Fenced::new(actuator, leader, token);
        let mut records =
            evaluate_and_apply(now, target, fetched, group, &mut fenced, dry_run).await;
        records[0].notices.push(note);
        records
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::aws::clients_from;
    use crate::evaluator::tests::{COOLDOWNS, policy_file};
    use crate::test_support::moto::{MotoServer, create_group, put_metric, sdk_config};

    /// Groups of 4 instances in moto, each at 100% CPU over the last ten
    /// minutes: every one of them scales out (to 8).
    async fn hot_groups(moto: &MotoServer, names: &[String]) -> aws_sdk_autoscaling::Client {
        let config = sdk_config(&moto.url()).await;
        let asg = aws_sdk_autoscaling::Client::new(&config);
        let cw = aws_sdk_cloudwatch::Client::new(&config);
        let now = Utc::now();
        let hot: Vec<_> = (0..=10)
            .map(|m| (now - chrono::Duration::minutes(m), 100.0))
            .collect();
        for name in names {
            create_group(&asg, name, 1, 20, 4).await;
            put_metric(
                &cw,
                "AWS/EC2",
                "CPUUtilization",
                ("AutoScalingGroupName", name),
                &hot,
            )
            .await;
        }
        asg
    }

    /// How many of `names` moto has scaled out: each one an evaluation
    /// that ran and carried out its decision.
    async fn scaled_out(asg: &aws_sdk_autoscaling::Client, names: &[String]) -> usize {
        let described = asg
            .describe_auto_scaling_groups()
            .set_auto_scaling_group_names(Some(names.to_vec()))
            .send()
            .await
            .expect("describe the groups in moto");
        let groups = described.auto_scaling_groups();
        assert_eq!(groups.len(), names.len(), "every group described");
        groups
            .iter()
            .filter(|g| g.desired_capacity() > Some(4))
            .count()
    }

    /// The next report, which must be a finished evaluation.
    async fn next_done(rx: &mut mpsc::UnboundedReceiver<Finished>) -> Done {
        match rx.recv().await {
            Some(Finished::Done(done)) => *done,
            Some(Finished::Panicked { group, message, .. }) => panic!("{group}: {message}"),
            None => panic!("the batch ended without every report"),
        }
    }

    /// Whether another report comes within a while (none should).
    async fn another_comes(rx: &mut mpsc::UnboundedReceiver<Finished>) -> bool {
        tokio::time::timeout(Duration::from_millis(300), rx.recv())
            .await
            .is_ok()
    }

    /// While the owner writes nothing, no more evaluations than the bound
    /// run or wait to be written; each one written lets one more run. The
    /// batch reads CloudWatch and scales groups in moto_server; the bound
    /// is the batch's own semaphore, small here (the daemon's is
    /// [`UNWRITTEN_AT_ONCE`]) so that few groups show it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn evaluations_wait_for_a_place_among_the_unwritten() {
        const BOUND: usize = 3;
        const TARGETS: usize = 20;
        let Some(moto) = MotoServer::start() else {
            return;
        };
        let names: Vec<String> = (0..TARGETS).map(|i| format!("g{i:02}")).collect();
        let asg = hot_groups(&moto, &names).await;
        let clients = clients_from(&sdk_config(&moto.url()).await);
        let unwritten = Arc::new(Semaphore::new(BOUND));
        let (tx, mut rx) = mpsc::unbounded_channel();
        let targets = names
            .iter()
            .map(|name| {
                let evaluator =
                    Box::new(TargetEvaluator::new(policy_file(name, "active", COOLDOWNS)));
                (evaluator, Report::new(name, Instant::now(), tx.clone()))
            })
            .collect();
        let batch = tokio::spawn(run_batch(
            clients,
            targets,
            false,
            None,
            Arc::clone(&unwritten),
        ));
        // Nothing written: the bound's worth come back, then nothing.
        let mut unwritten_done = Vec::new();
        for _ in 0..BOUND {
            unwritten_done.push(next_done(&mut rx).await);
        }
        assert!(!another_comes(&mut rx).await, "more reports than the bound");
        assert_eq!(
            scaled_out(&asg, &names).await,
            BOUND,
            "evaluations ran ahead"
        );
        assert!(unwritten_done.iter().all(|d| d.place.is_some()));
        assert_eq!(unwritten.available_permits(), 0);
        // One written (its place dropped): one more runs and comes back.
        drop(unwritten_done.remove(0));
        unwritten_done.push(next_done(&mut rx).await);
        assert!(!another_comes(&mut rx).await, "more reports than the bound");
        assert_eq!(scaled_out(&asg, &names).await, BOUND + 1);
        // Written as they come: every other one comes back.
        unwritten_done.clear();
        for _ in BOUND + 1..TARGETS {
            drop(next_done(&mut rx).await);
        }
        batch.await.expect("the batch ends");
        assert_eq!(scaled_out(&asg, &names).await, TARGETS);
        assert_eq!(unwritten.available_permits(), BOUND);
    }

    #[test]
    fn a_report_dropped_unsent_reports_the_evaluation_lost() {
        // What a batch task that panics (or is cancelled) leaves behind.
        let (tx, mut rx) = mpsc::unbounded_channel();
        drop(Report::new("web", Instant::now(), tx.clone()));
        match rx.try_recv() {
            Ok(Finished::Panicked { group, message, .. }) => {
                assert_eq!(group, "web");
                assert!(message.contains("without a result"), "{message}");
            }
            _ => panic!("no report of the lost evaluation"),
        }
        // Reported once: a report that was sent does not report again.
        Report::new("api", Instant::now(), tx).panicked("boom".into());
        assert!(matches!(
            rx.try_recv(),
            Ok(Finished::Panicked { message, .. }) if message == "boom"
        ));
        assert!(rx.try_recv().is_err());
    }
}
