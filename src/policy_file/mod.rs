//! The policy file: one TOML file per scaling target, as users keep it in
//! version control.
//!
//! These types are the file's schema (serde, unknown fields rejected) and,
//! once [`load`] has validated them, the configuration the daemon, the
//! simulator and `ebb check` all run from. Validation lives in [`validate`];
//! reading files and turning errors into "file, field, what is wrong" lives
//! in [`load`].

pub mod dimensions;
pub mod http_sources;
pub mod lint;
pub mod load;
pub mod spans;
pub mod validate;
pub mod values;
pub mod written_values;

use chrono::NaiveTime;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use dimensions::Dimensions;
pub use http_sources::{Aggregate, HttpAuth, PrometheusQuery, ScrapeMetric, ScrapeValue};
pub use load::{
    LoadError, LoadedWithShadows, PolicyFileError, load_dir, load_file, load_paths, load_shadows,
    load_with_shadows, parse_str, toml_files_in,
};
pub use values::{Days, HistoryStep, Statistic, TimeZone};

/// One scaling target and everything ebb needs to size it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyFile {
    /// The `[target]` table: the group, its bounds and the evaluation interval.
    pub target: TargetSpec,
    /// The `[metrics.NAME]` tables by name; policies refer to a metric by its name.
    /// Shared with each round's metric requests.
    #[serde(default, with = "crate::shared_map")]
    pub metrics: BTreeMap<String, Arc<MetricSpec>>,
    /// The `[[policies]]` list, in file order; at least one.
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
    /// The `[governor]` table; every field has a default.
    #[serde(default)]
    pub governor: GovernorSpec,
    /// Governor fields the file leaves out, which the group's own
    /// `DefaultInstanceWarmup` and `DefaultCooldown` fill in when it reports
    /// them. Set by the loader from what is written.
    #[serde(skip)]
    pub group_defaults: GroupDefaults,
}

/// Which governor settings come from the group when it has them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupDefaults {
    /// `governor.warmup` not written: the group's DefaultInstanceWarmup.
    pub warmup: bool,
    /// `governor.scale_in_cooldown` not written: the group's DefaultCooldown.
    pub scale_in_cooldown: bool,
}

/// Which Auto Scaling group, its bounds, and how often to look at it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetSpec {
    /// Auto Scaling group name; also the target's name in the decisions log.
    pub group: String,
    /// The AWS region of the group; the default credential chain's region when absent.
    #[serde(default)]
    pub region: Option<String>,
    /// The daemon config's `[accounts.NAME]` whose role ebb assumes to reach
    /// the group; the default credential chain's own account when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// The fewest instances (or capacity units) ebb sets, 0 to 1,000,000; at most `max_capacity`.
    pub min_capacity: u32,
    /// The most instances (or capacity units) ebb sets, 0 to 1,000,000, unless a predictive policy
    /// raises it.
    pub max_capacity: u32,
    /// How often the target is evaluated, 1s to 30d; default 1m.
    #[serde(with = "crate::duration", default = "default_interval")]
    pub interval: Duration,
    /// Whether ebb acts on the target or only records what it would do.
    #[serde(default)]
    pub mode: Mode,
    /// Candidate policy files for the same group, relative to this file's
    /// folder: evaluated every tick on the same inputs, never acted on, their
    /// would-be decisions logged with the role `shadow`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub shadows: Vec<PathBuf>,
    /// Suspended processes, besides `Launch` (no scale-out) and `Terminate`
    /// (no scale-in), that stop ebb in both directions: e.g.
    /// `["AlarmNotification", "ScheduledActions"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub respect_suspended: Vec<String>,
    /// What to do when the group has scaling policies or scheduled actions
    /// of its own (two controllers on one group fight).
    #[serde(default)]
    pub on_conflicting_policies: ConflictAction,
    /// Instances that came out of the group's warm pool are warmed up after
    /// the pool's measured time to service instead of `governor.warmup`.
    #[serde(default)]
    pub warmup_from_pool: bool,
}

/// The Auto Scaling processes a group can suspend.
pub const SCALING_PROCESSES: [&str; 10] = [
    "Launch",
    "Terminate",
    "AddToLoadBalancer",
    "AlarmNotification",
    "AZRebalance",
    "HealthCheck",
    "InstanceRefresh",
    "ReplaceUnhealthy",
    "ScheduledActions",
    "RemoveFromLoadBalancerLowPriority",
];

/// What ebb does with a group that has scaling policies of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictAction {
    /// Log, record a notice, and act.
    #[default]
    Warn,
    /// Do not act on the group; every record says why.
    Refuse,
}

fn default_interval() -> Duration {
    Duration::from_secs(60)
}

/// Whether ebb acts on a target or only records what it would do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Evaluate and set the group's desired capacity.
    #[default]
    Active,
    /// Evaluate and record the decision; never call the Auto Scaling API.
    DryRun,
}

/// A named metric: where it comes from and how it is smoothed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricSpec {
    /// Where the metric's datapoints come from.
    pub source: MetricSourceSpec,
    /// How raw datapoints become the value policies read; default: the latest as it is.
    #[serde(default)]
    pub smoothing: Smoothing,
    /// A datapoint older than this is stale; the governor then holds.
    #[serde(with = "crate::duration", default = "default_stale_after")]
    pub stale_after: Duration,
    /// Reject values above this (absurd spikes, unit mistakes).
    #[serde(default)]
    pub max_value: Option<f64>,
    /// For the simulator: what this metric measures, when its name does not say.
    #[serde(default)]
    pub simulated_as: Option<SimulatedMetric>,
}

impl MetricSpec {
    /// What the simulated cloud should publish for this metric: `simulated_as`
    /// when given, else what a well-known CloudWatch metric name says.
    pub fn simulated_kind(&self) -> Option<SimulatedMetric> {
        if let MetricSourceSpec::Scrape(scrape) = &self.source {
            return self.simulated_as.or_else(|| scrape.simulated_kind());
        }
        self.simulated_as
            .or(match self.source.cloudwatch()?.metric_name() {
                Some("CPUUtilization") => Some(SimulatedMetric::CpuUtilization),
                Some("RequestCount") => Some(SimulatedMetric::RequestCount),
                Some("RequestCountPerTarget") => Some(SimulatedMetric::RequestCountPerTarget),
                _ => None,
            })
    }
}

fn default_stale_after() -> Duration {
    Duration::from_secs(300)
}

/// Where a metric's datapoints come from. One table per kind, e.g.
/// `[metrics.cpu.source.cloudwatch]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricSourceSpec {
    /// A CloudWatch metric stat or metric math expression, read with GetMetricData.
    Cloudwatch(CloudWatchMetric),
    /// The fleet's own Prometheus endpoints, scraped by ebb.
    Scrape(ScrapeMetric),
    /// An instant query against a Prometheus server.
    Prometheus(PrometheusQuery),
}

impl MetricSourceSpec {
    /// The CloudWatch query, when the metric comes from CloudWatch.
    pub fn cloudwatch(&self) -> Option<&CloudWatchMetric> {
        match self {
            MetricSourceSpec::Cloudwatch(cw) => Some(cw),
            MetricSourceSpec::Scrape(_) | MetricSourceSpec::Prometheus(_) => None,
        }
    }

    /// How long a time one datapoint aggregates, from its timestamp on: a
    /// CloudWatch period; zero for a scrape or an instant query, which
    /// measure at their timestamp.
    pub fn measured_over(&self) -> Duration {
        match self {
            MetricSourceSpec::Cloudwatch(cw) => cw.period,
            MetricSourceSpec::Scrape(_) | MetricSourceSpec::Prometheus(_) => Duration::ZERO,
        }
    }

    /// The CloudWatch query, to change, when the metric comes from CloudWatch.
    pub fn cloudwatch_mut(&mut self) -> Option<&mut CloudWatchMetric> {
        match self {
            MetricSourceSpec::Cloudwatch(cw) => Some(cw),
            MetricSourceSpec::Scrape(_) | MetricSourceSpec::Prometheus(_) => None,
        }
    }
}

/// A CloudWatch metric: one metric stat, or a metric math expression over
/// named ones. Read from the table as written ([`CloudWatchMetricToml`])
/// once, so it cannot be both or neither.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "CloudWatchMetricToml", into = "CloudWatchMetricToml")]
pub struct CloudWatchMetric {
    /// The metric stat, or the expression and the stats it refers to.
    pub query: CloudWatchQuery,
    /// CloudWatch's aggregation period: 1s, 5s, 10s, 30s or a multiple of 60s; default 1m.
    pub period: Duration,
    /// Periods not yet complete are ignored: how many of the latest to skip.
    pub delay_periods: u32,
}

/// What a CloudWatch metric asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum CloudWatchQuery {
    /// One metric stat.
    Stat(CloudWatchStat),
    /// Metric math, e.g. `m1 / m2`, over the ids in `queries`.
    Expression {
        /// The metric math expression, e.g. `m1 / m2`.
        expression: String,
        /// The metric stats the expression refers to, by id (lowercase first letter; letters,
        /// digits, `_`).
        queries: BTreeMap<String, CloudWatchStat>,
    },
}

impl CloudWatchMetric {
    /// The metric's name, when it is one metric stat.
    pub fn metric_name(&self) -> Option<&str> {
        match &self.query {
            CloudWatchQuery::Stat(stat) => Some(&stat.metric_name),
            CloudWatchQuery::Expression { .. } => None,
        }
    }

    /// The statistic, when the metric is one metric stat.
    pub fn statistic(&self) -> Option<&Statistic> {
        match &self.query {
            CloudWatchQuery::Stat(stat) => Some(&stat.statistic),
            CloudWatchQuery::Expression { .. } => None,
        }
    }
}

/// A `[metrics.NAME.source.cloudwatch]` table as written: the fields of a
/// metric stat and of an expression side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchMetricToml {
    /// CloudWatch namespace of a metric stat, e.g. `AWS/EC2`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of a metric stat, e.g. `CPUUtilization`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_name: Option<String>,
    /// Dimensions of a metric stat, e.g. `AutoScalingGroupName = "web"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
    /// Statistic of a metric stat: `Average`, `Sum`, `Maximum`, `Minimum`, `SampleCount` or a
    /// percentile such as `p90`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub statistic: Option<Statistic>,
    /// CloudWatch's aggregation period; default 1m.
    #[serde(with = "crate::duration", default = "default_period")]
    pub period: Duration,
    /// A metric math expression, instead of a metric stat.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
    /// The metric stats the expression refers to, by id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub queries: BTreeMap<String, CloudWatchStat>,
    /// How many of the latest periods to skip as not yet complete, 0 to 60; default 2.
    #[serde(default = "default_delay_periods")]
    pub delay_periods: u32,
}

impl TryFrom<CloudWatchMetricToml> for CloudWatchMetric {
    type Error = String;

    fn try_from(table: CloudWatchMetricToml) -> Result<CloudWatchMetric, String> {
        let plain =
            table.namespace.is_some() || table.metric_name.is_some() || table.statistic.is_some();
        let query = match (table.expression, plain) {
            (Some(_), true) => {
                return Err(
                    "give either namespace/metric_name/statistic or expression, not both".into(),
                );
            }
            (Some(_), false) if table.queries.is_empty() => {
                return Err("an expression needs queries to refer to".into());
            }
            (Some(expression), false) => CloudWatchQuery::Expression {
                expression,
                queries: table.queries,
            },
            // Worded as serde words a missing field, so the loader places it.
            (None, _) => CloudWatchQuery::Stat(CloudWatchStat {
                namespace: table.namespace.ok_or("missing field `namespace`")?,
                metric_name: table.metric_name.ok_or("missing field `metric_name`")?,
                dimensions: table.dimensions.into(),
                statistic: table.statistic.ok_or("missing field `statistic`")?,
            }),
        };
        Ok(CloudWatchMetric {
            query,
            period: table.period,
            delay_periods: table.delay_periods,
        })
    }
}

impl From<CloudWatchMetric> for CloudWatchMetricToml {
    fn from(metric: CloudWatchMetric) -> CloudWatchMetricToml {
        let mut table = CloudWatchMetricToml {
            namespace: None,
            metric_name: None,
            dimensions: BTreeMap::new(),
            statistic: None,
            period: metric.period,
            expression: None,
            queries: BTreeMap::new(),
            delay_periods: metric.delay_periods,
        };
        match metric.query {
            CloudWatchQuery::Stat(stat) => {
                table.namespace = Some(stat.namespace);
                table.metric_name = Some(stat.metric_name);
                table.dimensions = stat.dimensions.into();
                table.statistic = Some(stat.statistic);
            }
            CloudWatchQuery::Expression {
                expression,
                queries,
            } => {
                table.expression = Some(expression);
                table.queries = queries;
            }
        }
        table
    }
}

/// One metric stat: alone, or inside a metric math expression.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudWatchStat {
    /// CloudWatch namespace, e.g. `AWS/ApplicationELB`.
    pub namespace: String,
    /// Metric name, e.g. `RequestCount`.
    pub metric_name: String,
    /// Dimensions that select the metric's series, name to value.
    #[serde(default)]
    pub dimensions: Dimensions,
    /// The statistic to aggregate each period with.
    pub statistic: Statistic,
}

fn default_period() -> Duration {
    Duration::from_secs(60)
}

fn default_delay_periods() -> u32 {
    2
}

/// What a metric measures, so the simulated cloud can publish it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimulatedMetric {
    /// Average CPU utilization of serving instances, percent.
    CpuUtilization,
    /// Total requests per metric period across the fleet.
    RequestCount,
    /// Requests per metric period per serving instance.
    RequestCountPerTarget,
    /// The trace's raw load value per minute.
    Load,
    /// Requests per second across the fleet (a scraped counter's rate):
    /// the load per minute / 60.
    RequestRate,
    /// Requests in flight per serving instance, each instance modelled as
    /// 100 workers: 100 means fully busy, more means requests queue.
    InFlightPerInstance,
}

/// How raw datapoints become one value.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Smoothing {
    /// The latest datapoint as it is.
    #[default]
    Latest,
    /// Exponentially weighted moving average; a datapoint's weight halves every `half_life`.
    Ewma {
        /// A datapoint's weight halves every this long, 1s to 30d.
        #[serde(with = "crate::duration")]
        half_life: Duration,
        /// The half-life while the value falls, when it should differ: a
        /// longer one reacts as fast to a rise and holds capacity through a
        /// short dip.
        #[serde(with = "crate::duration::option", default)]
        half_life_down: Option<Duration>,
    },
    /// An aggregate of the datapoints in the last `window`.
    Window {
        /// How far back datapoints are aggregated, 1s to 30d.
        #[serde(with = "crate::duration")]
        window: Duration,
        /// How the datapoints in the window become one value.
        aggregate: WindowAggregate,
        /// For `aggregate = "percentile"`: which one, 0-100.
        #[serde(default)]
        percentile: Option<f64>,
    },
}

/// How a window's datapoints become one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowAggregate {
    /// Their arithmetic mean.
    Mean,
    /// Their median.
    Median,
    /// The highest of them.
    Max,
    /// The `percentile` given beside it (0-100).
    Percentile,
}

/// One recommender. Several on a target combine in the governor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum PolicySpec {
    /// Keep a metric near a target value (`kind = "target-tracking"`).
    TargetTracking(TargetTrackingSpec),
    /// A capacity floor in recurring time windows (`kind = "schedule"`).
    Schedule(ScheduleSpec),
    /// Provision ahead for a forecast load (`kind = "predictive"`).
    Predictive(PredictiveSpec),
}

impl PolicySpec {
    /// The policy's name, unique within the file.
    pub fn name(&self) -> &str {
        match self {
            PolicySpec::TargetTracking(p) => &p.name,
            PolicySpec::Schedule(p) => &p.name,
            PolicySpec::Predictive(p) => &p.name,
        }
    }
}

/// Forecast a load metric and have capacity in service before the load
/// arrives: capacity = ceil(quantile of the forecast load at now + lead /
/// target_per_instance x (1 + buffer_percent / 100)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictiveSpec {
    /// The policy's name, unique within the file; records and alerts name it.
    pub name: String,
    /// Name of a metric in `[metrics]` that grows with load (a request count,
    /// CPU-seconds), not a utilization percentage.
    pub metric: String,
    /// The load, in the metric's units, one instance serves at target.
    pub target_per_instance: f64,
    /// How far ahead to have capacity ready; default: the governor's warm-up
    /// plus the target's evaluation interval.
    #[serde(with = "crate::duration::option", default)]
    pub lead: Option<Duration>,
    /// Which quantile of the forecast to provision for, in (0, 1).
    #[serde(default = "default_quantile")]
    pub quantile: f64,
    /// Extra capacity on top of the forecast, percent.
    #[serde(default)]
    pub buffer_percent: f64,
    /// Relative band around the current desired capacity inside which the
    /// forecast keeps it, as target tracking's tolerance.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Whether the policy recommends its forecast capacity or only records it; default forecast-
    /// only.
    #[serde(default)]
    pub mode: PredictiveMode,
    /// What to do when the forecast needs more than the target's max capacity.
    #[serde(default)]
    pub max_capacity_behavior: MaxCapacityBehavior,
    /// With `max_capacity_behavior = "increase"`: the max is raised to the
    /// forecast capacity plus this percent of it (as AWS's MaxCapacityBuffer).
    #[serde(default)]
    pub max_capacity_buffer: Option<f64>,
    /// How much history to fetch and keep.
    #[serde(with = "crate::duration", default = "default_history")]
    pub history: Duration,
    /// The step the history is kept and forecast at.
    #[serde(default)]
    pub history_step: HistoryStep,
    /// Use this model instead of choosing one by backtest.
    #[serde(default)]
    pub model: Option<crate::forecast::ModelKind>,
}

fn default_quantile() -> f64 {
    0.9
}

fn default_history() -> Duration {
    Duration::from_secs(14 * 86_400)
}

/// Whether a predictive policy acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PredictiveMode {
    /// Forecast and record what it would do; recommend nothing.
    #[default]
    ForecastOnly,
    /// Forecast and recommend the capacity the forecast needs.
    ForecastAndScale,
}

/// When the forecast needs more than max capacity (AWS's MaxCapacityBreachBehavior).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MaxCapacityBehavior {
    /// Cap at max capacity.
    #[default]
    Honor,
    /// Raise the max for this decision, by `max_capacity_buffer`, up to the group's own max.
    Increase,
}

/// Keep a metric near a target value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetTrackingSpec {
    /// The policy's name, unique within the file; records and alerts name it.
    pub name: String,
    /// Name of a metric in `[metrics]`.
    pub metric: String,
    /// The metric value to hold, > 0, in the metric's units (e.g. 50 for 50% CPU; requests per
    /// instance for a load metric).
    pub target: f64,
    /// How the metric relates to capacity; default utilization.
    #[serde(default)]
    pub metric_type: MetricType,
    /// Relative band around the target inside which nothing changes.
    #[serde(default = "default_tolerance")]
    pub tolerance: f64,
    /// Never recommend less than the current desired capacity (other policies may still scale in).
    #[serde(default)]
    pub disable_scale_in: bool,
    /// While the demand rises, provision for where its trend (least squares
    /// over `trend_window`) will be this far ahead; zero: no extrapolation.
    #[serde(with = "crate::duration", default)]
    pub trend_lead: Duration,
    /// The window the demand's trend is measured over.
    #[serde(with = "crate::duration", default = "default_trend_window")]
    pub trend_window: Duration,
}

fn default_tolerance() -> f64 {
    0.1
}

fn default_trend_window() -> Duration {
    Duration::from_secs(300)
}

/// How a target-tracking metric relates to capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MetricType {
    /// A per-instance ratio such as CPU %: capacity = serving x value / target.
    #[default]
    Utilization,
    /// Load per serving instance (e.g. RequestCountPerTarget): total load =
    /// value x serving; capacity = total / target.
    LoadPerInstance,
    /// Total fleet load (e.g. ALB RequestCount): capacity = value / target,
    /// where target is the load one instance should carry.
    LoadTotal,
}

/// Minimum capacity during recurring time windows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    /// The policy's name, unique within the file; records and alerts name it.
    pub name: String,
    /// The time zone the windows are written in; UTC when absent.
    #[serde(default)]
    pub timezone: TimeZone,
    /// The windows, at least one; where several are open the highest floor applies.
    pub windows: Vec<ScheduleWindow>,
}

/// e.g. `{ days = "mon-fri", start = "08:00", end = "18:00", min_capacity = 4 }`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleWindow {
    /// Day list in cron style: `mon-fri`, `sat,sun`, `*`.
    pub days: Days,
    /// When the window opens, `HH:MM` in the schedule's time zone.
    #[serde(with = "hhmm")]
    pub start: NaiveTime,
    /// `end` before `start` means the window runs past midnight.
    #[serde(with = "hhmm")]
    pub end: NaiveTime,
    /// The capacity floor while the window is open, at most the target's max capacity.
    pub min_capacity: u32,
}

/// Limits on how the combined recommendation becomes a change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GovernorSpec {
    /// No scale-out within this long of the last scale-out, 0 to 30d; default 1m.
    #[serde(with = "crate::duration", default = "default_scale_out_cooldown")]
    pub scale_out_cooldown: Duration,
    /// No scale-in within this long of the last scaling either way, 0 to 30d; default 5m (or the
    /// group's DefaultCooldown when not written).
    #[serde(with = "crate::duration", default = "default_scale_in_cooldown")]
    pub scale_in_cooldown: Duration,
    /// Scale in only to the highest recommendation seen within this window.
    #[serde(with = "crate::duration", default = "default_stabilization")]
    pub scale_in_stabilization: Duration,
    /// Which quantile (0..=1) of the proposals within the stabilization
    /// window scale-in goes to: 1 is the highest; lower lets one short peak
    /// in the window not hold capacity up for the whole window.
    #[serde(default = "default_scale_in_quantile")]
    pub scale_in_quantile: f64,
    /// How far one decision may scale out.
    #[serde(default)]
    pub max_step_out: StepLimit,
    /// How far one decision may scale in.
    #[serde(default)]
    pub max_step_in: StepLimit,
    /// Instances younger than this are not yet serving.
    #[serde(with = "crate::duration", default = "default_warmup")]
    pub warmup: Duration,
    /// What missing or stale data blocks besides scale-in; default hold.
    #[serde(default)]
    pub on_missing_data: MissingDataAction,
}

impl Default for GovernorSpec {
    fn default() -> Self {
        GovernorSpec {
            scale_out_cooldown: default_scale_out_cooldown(),
            scale_in_cooldown: default_scale_in_cooldown(),
            scale_in_stabilization: default_stabilization(),
            scale_in_quantile: default_scale_in_quantile(),
            max_step_out: StepLimit::default(),
            max_step_in: StepLimit::default(),
            warmup: default_warmup(),
            on_missing_data: MissingDataAction::default(),
        }
    }
}

fn default_scale_out_cooldown() -> Duration {
    Duration::from_secs(60)
}

fn default_scale_in_cooldown() -> Duration {
    Duration::from_secs(300)
}

fn default_scale_in_quantile() -> f64 {
    1.0
}

fn default_stabilization() -> Duration {
    Duration::from_secs(300)
}

fn default_warmup() -> Duration {
    Duration::from_secs(300)
}

/// At most this many instances, and at most this share of current capacity,
/// per decision. Either may be absent; the tighter of the two applies.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepLimit {
    /// At most this many instances per decision, 1 to 1,000,000.
    #[serde(default)]
    pub instances: Option<u32>,
    /// At most this percent of current capacity per decision (rounded up, at least one instance),
    /// above 0 and at most 1000.
    #[serde(default)]
    pub percent: Option<f64>,
}

/// What the governor does when a policy's data is missing or stale.
/// Scaling in on missing data is never allowed; `hold` also blocks scale-out
/// from the policies that do have data, `scale-out-only` lets it through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingDataAction {
    /// Block scale-out too (a schedule's floor still applies).
    #[default]
    Hold,
    /// Let the policies that have data scale out.
    ScaleOutOnly,
}

/// `HH:MM` times in schedule windows. `24:00` (the end of the day) is kept as
/// the last instant of 23:59:59, so that a window ending at 24:00 contains
/// every time of day before midnight, 23:59:59.5 included.
pub(crate) mod hhmm {
    use chrono::{NaiveTime, Timelike};
    use serde::{Deserialize, Deserializer, Serializer};

    /// `24:00`: later than any other time of day.
    pub const END_OF_DAY: NaiveTime = match NaiveTime::from_hms_nano_opt(23, 59, 59, 1_999_999_999)
    {
        Some(t) => t,
        None => panic!("23:59:59 may carry a leap-second fraction"),
    };

    pub fn format(t: &NaiveTime) -> String {
        if t.nanosecond() >= 1_000_000_000 {
            "24:00".into()
        } else {
            t.format("%H:%M").to_string()
        }
    }

    pub fn serialize<S: Serializer>(t: &NaiveTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<NaiveTime, D::Error> {
        let text = String::deserialize(d)?;
        if text == "24:00" {
            return Ok(END_OF_DAY);
        }
        NaiveTime::parse_from_str(&text, "%H:%M")
            .map_err(|_| serde::de::Error::custom(format!("`{text}` is not a time of day HH:MM")))
    }
}
