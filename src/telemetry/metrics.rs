//! The series ebb exports about itself (prometheus-client, OpenMetrics text).
//!
//! Per target: evaluations and their duration, when it was last evaluated
//! and its interval, decisions by action and outcome, the group's
//! desired/in-service/warming capacity, the decided capacity and bounds,
//! each policy's recommendation, each metric's age and staleness. Per AWS
//! operation: calls, errors, latency. Per alert sink: sent, failed, dropped.
//! For the instance: whether it acts (leader) or stands by.
//!
//! Per-target series can be limited ([`PerTarget`]: off, or an allow-list):
//! at thousands of targets they make a page of megabytes. The totals
//! (targets declared, evaluations and decisions over all targets) are
//! always there.

use crate::alert::AlertMetrics;
use crate::decision::{Action, DecisionRecord, MetricStatus, Outcome, Recommendation};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

/// Labels of a per-target series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TargetLabels {
    /// The target's name (its group).
    pub target: String,
}

/// Labels of `ebb_decisions`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// The target's name (its group).
    pub target: String,
    /// scale-out, scale-in, hold.
    pub action: String,
    /// applied, dry-run, failed, none (a hold, or not acted on).
    pub outcome: String,
}

/// Labels of `ebb_policy_recommendation`.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PolicyLabels {
    /// The target's name (its group).
    pub target: String,
    /// The policy's name.
    pub policy: String,
    /// The policy's kind: `target-tracking`, `predictive` or `schedule`.
    pub kind: String,
}

/// Labels of the per-metric series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MetricLabels {
    /// The target's name (its group).
    pub target: String,
    /// The metric's name under `[metrics]`.
    pub metric: String,
}

/// A decision over all targets: by action and outcome only.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ActionLabels {
    /// scale-out, scale-in, hold.
    pub action: String,
    /// applied, dry-run, failed, none (a hold, or not acted on).
    pub outcome: String,
}

/// Which targets get series of their own.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum PerTarget {
    /// Every target has series of its own.
    #[default]
    All,
    /// No target does: only the all-target series.
    None,
    /// Only these targets (group names).
    Only(std::collections::BTreeSet<String>),
}

impl PerTarget {
    /// From the telemetry settings: `per_target_series = false` turns
    /// them off, a non-empty `per_target_only` limits them.
    pub fn from_settings(enabled: bool, only: &[String]) -> PerTarget {
        match (enabled, only.is_empty()) {
            (false, _) => PerTarget::None,
            (true, true) => PerTarget::All,
            (true, false) => PerTarget::Only(only.iter().cloned().collect()),
        }
    }

    /// Whether `target` gets series of its own.
    pub fn shows(&self, target: &str) -> bool {
        match self {
            PerTarget::All => true,
            PerTarget::None => false,
            PerTarget::Only(targets) => targets.contains(target),
        }
    }
}

/// Labels of the AWS API series.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OperationLabels {
    /// The API operation, e.g. `SetDesiredCapacity`.
    pub operation: String,
}

pub(super) type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn evaluation_histogram() -> Histogram {
    // 1 ms .. ~33 s.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

fn api_histogram() -> Histogram {
    // 5 ms .. ~40 s: AWS calls, retries included.
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

/// Every series, and the registry that serves them.
pub struct Metrics {
    registry: Registry,
    /// `ebb_evaluations`: evaluations per target (counter).
    pub evaluations: Family<TargetLabels, Counter>,
    /// `ebb_evaluation_duration_seconds`: time to evaluate a target, fetch to apply (1 ms to ~33 s
    /// buckets).
    pub evaluation_duration: HistogramFamily<TargetLabels>,
    /// `ebb_decisions`: decisions by target, action and outcome (counter).
    pub decisions: Family<DecisionLabels, Counter>,
    /// `ebb_desired_capacity`: the group's desired capacity as read.
    pub desired_capacity: Family<TargetLabels, Gauge>,
    /// `ebb_in_service_capacity`: instances in service and past their warm-up.
    pub in_service_capacity: Family<TargetLabels, Gauge>,
    /// `ebb_warming_capacity`: instances pending or warming up.
    pub warming_capacity: Family<TargetLabels, Gauge>,
    /// `ebb_decided_capacity`: the capacity ebb decided on.
    pub decided_capacity: Family<TargetLabels, Gauge>,
    /// `ebb_min_capacity`: the lower bound applied.
    pub min_capacity: Family<TargetLabels, Gauge>,
    /// `ebb_max_capacity`: the upper bound applied.
    pub max_capacity: Family<TargetLabels, Gauge>,
    /// `ebb_policy_recommendation`: each policy's recommended capacity, absent when it has no
    /// opinion.
    pub recommendation: Family<PolicyLabels, Gauge>,
    /// `ebb_metric_age_seconds`: age of the latest accepted datapoint.
    pub metric_age: Family<MetricLabels, Gauge<f64, AtomicU64>>,
    /// `ebb_metric_stale`: 1 when the metric is stale or missing (ebb holds), else 0.
    pub metric_stale: Family<MetricLabels, Gauge>,
    /// `ebb_aws_api_calls`: AWS API calls by operation (counter).
    pub aws_calls: Family<OperationLabels, Counter>,
    /// `ebb_aws_api_errors`: failed AWS API calls by operation (counter).
    pub aws_errors: Family<OperationLabels, Counter>,
    /// `ebb_aws_api_call_duration_seconds`: AWS API call latency by operation, retries included (5
    /// ms to ~40 s buckets).
    pub aws_duration: HistogramFamily<OperationLabels>,
    /// Each declared target's interval; a removed target's goes.
    pub evaluation_interval: Family<TargetLabels, Gauge<f64, AtomicU64>>,
    /// When each target was last evaluated (live or standby), by the
    /// evaluation's own clock.
    pub last_evaluation: Family<TargetLabels, Gauge<f64, AtomicU64>>,
    /// 1 when this instance's last evaluation was live (it holds the lease,
    /// or leader election is off), 0 when it was a standby's.
    pub leader: Gauge,
    /// The alert queue's and sinks' series.
    pub alerts: AlertMetrics,
    /// Targets declared (all of them, whatever [`PerTarget`] shows).
    pub targets: Gauge,
    /// Evaluations over all targets.
    pub evaluations_all: Counter,
    /// Decisions over all targets, by action and outcome.
    pub decisions_all: Family<ActionLabels, Counter>,
    per_target: PerTarget,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Every series registered, each target with series of its own.
    pub fn new() -> Metrics {
        Metrics::with_per_target(PerTarget::All)
    }

    /// Every series, per-target ones only for the targets `per_target` shows.
    pub fn with_per_target(per_target: PerTarget) -> Metrics {
        let mut m = Metrics {
            registry: Registry::default(),
            evaluations: Family::default(),
            evaluation_duration: Family::new_with_constructor(evaluation_histogram),
            decisions: Family::default(),
            desired_capacity: Family::default(),
            in_service_capacity: Family::default(),
            warming_capacity: Family::default(),
            decided_capacity: Family::default(),
            min_capacity: Family::default(),
            max_capacity: Family::default(),
            recommendation: Family::default(),
            metric_age: Family::default(),
            metric_stale: Family::default(),
            aws_calls: Family::default(),
            aws_errors: Family::default(),
            aws_duration: Family::new_with_constructor(api_histogram),
            evaluation_interval: Family::default(),
            last_evaluation: Family::default(),
            leader: Gauge::default(),
            alerts: AlertMetrics::default(),
            targets: Gauge::default(),
            evaluations_all: Counter::default(),
            decisions_all: Family::default(),
            per_target,
        };
        let r = &mut m.registry;
        r.register(
            "ebb_evaluations",
            "Evaluations per target",
            m.evaluations.clone(),
        );
        r.register(
            "ebb_evaluation_duration_seconds",
            "Time to evaluate a target: fetch, decide, apply",
            m.evaluation_duration.clone(),
        );
        r.register(
            "ebb_decisions",
            "Decisions by action and outcome",
            m.decisions.clone(),
        );
        r.register(
            "ebb_desired_capacity",
            "The group's desired capacity as read",
            m.desired_capacity.clone(),
        );
        r.register(
            "ebb_in_service_capacity",
            "Instances in service and past their warm-up",
            m.in_service_capacity.clone(),
        );
        r.register(
            "ebb_warming_capacity",
            "Instances pending or warming up",
            m.warming_capacity.clone(),
        );
        r.register(
            "ebb_decided_capacity",
            "The capacity ebb decided on",
            m.decided_capacity.clone(),
        );
        r.register(
            "ebb_min_capacity",
            "The lower bound applied",
            m.min_capacity.clone(),
        );
        r.register(
            "ebb_max_capacity",
            "The upper bound applied",
            m.max_capacity.clone(),
        );
        r.register(
            "ebb_policy_recommendation",
            "Each policy's recommended capacity (absent when it has no opinion)",
            m.recommendation.clone(),
        );
        r.register(
            "ebb_metric_age_seconds",
            "Age of the latest accepted datapoint",
            m.metric_age.clone(),
        );
        r.register(
            "ebb_metric_stale",
            "1 when the metric is stale or missing (ebb holds), else 0",
            m.metric_stale.clone(),
        );
        r.register(
            "ebb_aws_api_calls",
            "AWS API calls by operation",
            m.aws_calls.clone(),
        );
        r.register(
            "ebb_aws_api_errors",
            "AWS API calls that failed, by operation",
            m.aws_errors.clone(),
        );
        r.register(
            "ebb_aws_api_call_duration_seconds",
            "AWS API call latency by operation",
            m.aws_duration.clone(),
        );
        r.register(
            "ebb_evaluation_interval_seconds",
            "Each target's evaluation interval, from its policy file",
            m.evaluation_interval.clone(),
        );
        r.register(
            "ebb_last_evaluation_timestamp_seconds",
            "When each target was last evaluated (Unix time)",
            m.last_evaluation.clone(),
        );
        r.register(
            "ebb_leader",
            "1 while this instance acts on its groups (holds the lease, or leader election is off), 0 as a standby",
            m.leader.clone(),
        );
        r.register(
            "ebb_targets",
            "Targets declared by the policy files",
            m.targets.clone(),
        );
        r.register(
            "ebb_evaluations_all",
            "Evaluations over all targets",
            m.evaluations_all.clone(),
        );
        r.register(
            "ebb_decisions_all",
            "Decisions over all targets by action and outcome",
            m.decisions_all.clone(),
        );
        m.alerts.register(r);
        m
    }

    /// The registry `/metrics` encodes.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The OpenMetrics text exposition of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }

    /// An SDK interceptor that records every AWS call into these metrics;
    /// add it to each client's config.
    pub fn aws_interceptor(&self) -> super::aws::ApiMetricsInterceptor {
        super::aws::ApiMetricsInterceptor {
            calls: self.aws_calls.clone(),
            errors: self.aws_errors.clone(),
            duration: self.aws_duration.clone(),
        }
    }

    /// Declares the targets and their intervals (at start and after a
    /// reload); a target no longer declared loses its interval series.
    pub fn set_targets(&self, targets: &[(String, Duration)]) {
        self.evaluation_interval.clear();
        self.targets
            .set(i64::try_from(targets.len()).unwrap_or(i64::MAX));
        for (target, interval) in targets {
            if !self.per_target.shows(target) {
                continue;
            }
            self.evaluation_interval
                .get_or_create(&TargetLabels {
                    target: target.clone(),
                })
                .set(interval.as_secs_f64());
        }
    }

    /// Records one AWS API call (for calls made outside the SDK).
    pub fn aws_call(&self, operation: &str, took: Duration, ok: bool) {
        let labels = OperationLabels {
            operation: operation.to_string(),
        };
        self.aws_calls.get_or_create(&labels).inc();
        let errors = self.aws_errors.get_or_create(&labels);
        if !ok {
            errors.inc();
        }
        self.aws_duration
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    /// Takes in one evaluation. Shadow candidates' records ride along with
    /// the live one and are neither counted nor shown as the target's;
    /// standby records count as evaluations but move no gauge.
    pub fn observe_record(&self, record: &DecisionRecord, took: Duration) {
        if record.role.is_shadow() {
            return;
        }
        self.evaluations_all.inc();
        self.leader.set(record.role.is_live().into());
        if record.role.is_live() {
            let (action, outcome) = action_and_outcome(record);
            self.decisions_all
                .get_or_create(&ActionLabels {
                    action: action.into(),
                    outcome: outcome.into(),
                })
                .inc();
        }
        if !self.per_target.shows(&record.target) {
            return;
        }
        let target = TargetLabels {
            target: record.target.clone(),
        };
        self.evaluations.get_or_create(&target).inc();
        self.evaluation_duration
            .get_or_create(&target)
            .observe(took.as_secs_f64());
        // Milliseconds keep the f64 exact enough; a time before 1970 is not
        // one an evaluation has.
        self.last_evaluation
            .get_or_create(&target)
            .set(record.time.timestamp_millis() as f64 / 1000.0);
        if !record.role.is_live() {
            return;
        }
        let (action, outcome) = action_and_outcome(record);
        self.decisions
            .get_or_create(&DecisionLabels {
                target: record.target.clone(),
                action: action.into(),
                outcome: outcome.into(),
            })
            .inc();
        self.desired_capacity
            .get_or_create(&target)
            .set(record.capacity.desired.into());
        self.in_service_capacity
            .get_or_create(&target)
            .set(record.capacity.in_service.into());
        self.warming_capacity
            .get_or_create(&target)
            .set(record.capacity.warming.into());
        self.decided_capacity
            .get_or_create(&target)
            .set(record.desired.into());
        self.min_capacity
            .get_or_create(&target)
            .set(record.min_capacity.into());
        self.max_capacity
            .get_or_create(&target)
            .set(record.max_capacity.into());
        for policy in &record.policies {
            let labels = PolicyLabels {
                target: record.target.clone(),
                policy: policy.name.clone(),
                kind: policy.kind.to_string(),
            };
            match policy.recommendation {
                Recommendation::Capacity(c) => {
                    self.recommendation.get_or_create(&labels).set(c.into());
                }
                // No number to show: the series disappears rather than lie.
                Recommendation::NoOpinion | Recommendation::MissingData => {
                    self.recommendation.remove(&labels);
                }
            }
        }
        for metric in &record.metrics {
            let labels = MetricLabels {
                target: record.target.clone(),
                metric: metric.name.clone(),
            };
            let stale = metric.status != MetricStatus::Ok;
            self.metric_stale.get_or_create(&labels).set(stale.into());
            match metric.age_s {
                Some(age) => {
                    self.metric_age.get_or_create(&labels).set(age as f64);
                }
                None => {
                    self.metric_age.remove(&labels);
                }
            }
        }
    }
}

/// A live record's action and outcome as the decision series label them.
fn action_and_outcome(record: &DecisionRecord) -> (&'static str, &'static str) {
    let action = match record.action {
        Action::ScaleOut => "scale-out",
        Action::ScaleIn => "scale-in",
        Action::Hold => "hold",
    };
    let outcome = match (&record.outcome, record.action) {
        (Outcome::Failed { .. }, _) => "failed",
        (_, Action::Hold) | (Outcome::Held, _) => "none",
        (Outcome::DryRun, _) => "dry-run",
        (Outcome::Applied, _) => "applied",
    };
    (action, outcome)
}
