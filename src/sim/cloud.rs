//! A simulated Auto Scaling group behind a load balancer, replaying a trace.
//!
//! Instances take a boot time to come into service; each serves a fixed load.
//! Every minute the cloud records what happened (load, serving instances,
//! utilization) and publishes it as CloudWatch would: per-period statistics,
//! visible only after a publishing delay. [`SimHandle`] implements the same
//! [`MetricSource`] and [`Actuator`] traits as the AWS code, so the real loop
//! runs on it unchanged.

use super::trace::Trace;
use crate::actuator::{Actuator, ActuatorError};
use crate::group::{GroupState, Instance, Lifecycle};
use crate::lock::lock;
use crate::policy_file::{MetricSpec, SimulatedMetric};
use crate::series::{Datapoint, FetchError, FetchResults, MetricRequest, Series};
use crate::signal::to_chrono;
use crate::source::MetricSource;
use chrono::{DateTime, Duration, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How the simulated group behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct CloudConfig {
    /// Load one instance serves at 100% utilization, in the trace's units.
    pub capacity_per_instance: f64,
    /// From launch to in service.
    pub boot_time: Duration,
    /// How long after a period ends its datapoint becomes visible.
    pub publish_delay: Duration,
    /// The group's own bounds, which SetDesiredCapacity must respect.
    pub min: u32,
    /// The group's max size; desired capacity is clamped to it.
    pub max: u32,
}

/// One minute of the simulated fleet.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Start of the minute.
    pub time: DateTime<Utc>,
    /// Load during the minute, in the trace's units per minute.
    pub load: f64,
    /// Instances in service during the minute.
    pub serving: u32,
    /// Instances running or booting (what is paid for).
    pub running: u32,
    /// The group's desired capacity during the minute.
    pub desired: u32,
}

impl Sample {
    /// Average CPU utilization of serving instances, percent, capped at 100.
    pub fn utilization(&self, capacity_per_instance: f64) -> f64 {
        if self.serving == 0 {
            return if self.load > 0.0 { 100.0 } else { 0.0 };
        }
        (100.0 * self.load / (f64::from(self.serving) * capacity_per_instance)).min(100.0)
    }

    /// Instances needed to serve the load at 100% utilization.
    pub fn demand(&self, capacity_per_instance: f64) -> u32 {
        demand(self.load, capacity_per_instance)
    }

    /// The value a metric of the given kind has during this minute.
    pub fn metric(&self, kind: SimulatedMetric, capacity_per_instance: f64) -> f64 {
        match kind {
            SimulatedMetric::CpuUtilization => self.utilization(capacity_per_instance),
            SimulatedMetric::RequestCount | SimulatedMetric::Load => self.load,
            SimulatedMetric::RequestCountPerTarget => self.load / f64::from(self.serving.max(1)),
            SimulatedMetric::RequestRate => self.load / 60.0,
            // Uncapped, unlike CPU: past 100 requests queue on the instance.
            SimulatedMetric::InFlightPerInstance => {
                100.0 * self.load / (f64::from(self.serving.max(1)) * capacity_per_instance)
            }
        }
    }
}

/// Instances needed to serve `load` at 100% utilization.
pub fn demand(load: f64, capacity_per_instance: f64) -> u32 {
    (load / capacity_per_instance - 1e-9).ceil().max(0.0) as u32
}

#[derive(Debug, Clone)]
struct SimInstance {
    id: u64,
    launched_at: DateTime<Utc>,
    ready_at: DateTime<Utc>,
}

/// The simulated group and what it has recorded.
#[derive(Debug, Clone)]
pub struct SimCloud {
    group: String,
    trace: Arc<Trace>,
    config: CloudConfig,
    start: DateTime<Utc>,
    now: DateTime<Utc>,
    instances: Vec<SimInstance>,
    next_id: u64,
    desired: u32,
    samples: Vec<Sample>,
    set_calls: u32,
}

impl SimCloud {
    /// A group named `group` with `initial` instances, all in service at `start`.
    pub fn new(
        group: &str,
        trace: Arc<Trace>,
        config: CloudConfig,
        initial: u32,
        start: DateTime<Utc>,
    ) -> SimCloud {
        let initial = initial.clamp(config.min, config.max);
        let long_ago = start - Duration::days(1);
        let instances = (0..u64::from(initial))
            .map(|id| SimInstance {
                id,
                launched_at: long_ago,
                ready_at: long_ago,
            })
            .collect();
        SimCloud {
            group: group.to_string(),
            trace,
            config,
            start,
            now: start,
            instances,
            next_id: u64::from(initial),
            desired: initial,
            samples: Vec::new(),
            set_calls: 0,
        }
    }

    /// The settings the cloud was made with.
    pub fn config(&self) -> &CloudConfig {
        &self.config
    }

    /// The simulated now: the start of the minute being simulated.
    pub fn now(&self) -> DateTime<Utc> {
        self.now
    }

    /// Every complete minute recorded so far.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// How many times the desired capacity was set.
    pub fn set_calls(&self) -> u32 {
        self.set_calls
    }

    /// Moves time forward, recording every minute that completed.
    pub fn advance_to(&mut self, now: DateTime<Utc>) {
        if now < self.now {
            return;
        }
        self.now = now;
        loop {
            let minute = self.start + Duration::minutes(self.samples.len() as i64);
            if minute + Duration::minutes(1) > now {
                break;
            }
            let serving = self
                .instances
                .iter()
                .filter(|i| i.ready_at <= minute)
                .count() as u32;
            let load = self.trace.load_at(minute + Duration::seconds(30));
            self.samples.push(Sample {
                time: minute,
                load,
                serving,
                running: self.instances.len() as u32,
                desired: self.desired,
            });
        }
    }

    /// The group as DescribeAutoScalingGroups would report it now.
    pub fn group_state(&self) -> GroupState {
        GroupState {
            desired: self.desired,
            min: self.config.min,
            max: self.config.max,
            instances: self
                .instances
                .iter()
                .map(|i| {
                    let lifecycle = if i.ready_at <= self.now {
                        Lifecycle::InService
                    } else {
                        Lifecycle::Pending
                    };
                    Instance::new(format!("i-sim{:08}", i.id), lifecycle, i.launched_at)
                })
                .collect(),
            info: Default::default(),
        }
    }

    /// Instances in service now.
    pub fn serving(&self) -> u32 {
        self.instances
            .iter()
            .filter(|i| i.ready_at <= self.now)
            .count() as u32
    }

    /// The group's desired capacity now.
    pub fn desired(&self) -> u32 {
        self.desired
    }

    /// SetDesiredCapacity: refuses values outside the group's bounds, as AWS
    /// does; launches or terminates instances (booting ones first, then the
    /// newest) to match.
    pub fn set_desired(&mut self, desired: u32) -> Result<(), String> {
        if desired < self.config.min || desired > self.config.max {
            return Err(format!(
                "ValidationError: new desired capacity {desired} is outside the group's bounds [{}, {}]",
                self.config.min, self.config.max
            ));
        }
        self.set_calls += 1;
        self.desired = desired;
        let wanted = desired as usize;
        while self.instances.len() < wanted {
            self.instances.push(SimInstance {
                id: self.next_id,
                launched_at: self.now,
                ready_at: self.now + self.config.boot_time,
            });
            self.next_id += 1;
        }
        if self.instances.len() > wanted {
            // Newest (and so booting) instances go first.
            self.instances.sort_by_key(|i| i.launched_at);
            self.instances.truncate(wanted);
        }
        Ok(())
    }

    /// The latest published value of a metric kind, with its minute.
    pub fn latest_published(&self, kind: SimulatedMetric) -> Option<(DateTime<Utc>, f64)> {
        let visible = self.published_minutes(self.config.publish_delay);
        let sample = self.samples[..visible].last()?;
        Some((
            sample.time,
            sample.metric(kind, self.config.capacity_per_instance),
        ))
    }

    /// How many recorded minutes are visible with a publishing delay.
    fn published_minutes(&self, delay: Duration) -> usize {
        let cutoff = self.now - delay;
        let complete = (cutoff - self.start).num_seconds().div_euclid(60).max(0) as usize;
        complete.min(self.samples.len())
    }

    /// A metric's datapoints since `since`, as its source would report them.
    pub fn series(&self, spec: &MetricSpec, since: DateTime<Utc>) -> Result<Series, FetchError> {
        let Some(kind) = spec.simulated_kind() else {
            return Err(FetchError::other(
                "the simulator cannot tell what this metric measures: set `simulated_as` on it",
            ));
        };
        let cpi = self.config.capacity_per_instance;
        let Some(cw) = spec.source.cloudwatch() else {
            // Sources read straight from the instances see the last complete minute.
            let visible = self.published_minutes(Duration::zero());
            let points = self.samples[..visible]
                .iter()
                .filter(|s| s.time >= since)
                .map(|s| Datapoint {
                    time: s.time,
                    value: s.metric(kind, cpi),
                })
                .collect();
            return Ok(Series {
                points,
                detail: None,
                stale: None,
            });
        };
        let period_minutes = (cw.period.as_secs() / 60).max(1) as i64;
        let period = Duration::minutes(period_minutes);
        // A period is reported once its last minute is published and the
        // source's own delay (periods it ignores as incomplete) has passed.
        let visible = self.published_minutes(self.config.publish_delay);
        let settled_end = self.now - to_chrono(cw.period) * cw.delay_periods as i32;
        let statistic = cw.statistic().map_or("Average", |s| s.as_str());
        let mut points = Vec::new();
        let first_bucket = bucket_start(since.max(self.start), period);
        let mut bucket = if first_bucket < since {
            first_bucket + period
        } else {
            first_bucket
        };
        loop {
            let end = bucket + period;
            if end > settled_end {
                break;
            }
            let from = (bucket - self.start).num_minutes().max(0) as usize;
            let to = ((end - self.start).num_minutes().max(0) as usize).min(visible);
            if to < from + period_minutes as usize {
                break;
            }
            let mut values: Vec<f64> = self.samples[from..to]
                .iter()
                .map(|s| s.metric(kind, cpi))
                .collect();
            let value = aggregate(statistic, &mut values).map_err(FetchError::other)?;
            points.push(Datapoint {
                time: bucket,
                value,
            });
            bucket = end;
        }
        Ok(Series {
            points,
            detail: None,
            stale: None,
        })
    }
}

/// The start of the period containing `time`, periods aligned to the epoch.
fn bucket_start(time: DateTime<Utc>, period: Duration) -> DateTime<Utc> {
    let seconds = period.num_seconds();
    let start = time.timestamp().div_euclid(seconds) * seconds;
    DateTime::from_timestamp(start, 0).expect("a period start is a valid time")
}

/// A CloudWatch statistic over one period's per-minute values.
fn aggregate(statistic: &str, values: &mut [f64]) -> Result<f64, String> {
    let n = values.len() as f64;
    Ok(match statistic {
        "Average" => values.iter().sum::<f64>() / n,
        "Sum" => values.iter().sum(),
        "Maximum" => values.iter().copied().fold(f64::MIN, f64::max),
        "Minimum" => values.iter().copied().fold(f64::MAX, f64::min),
        "SampleCount" => n,
        other => {
            let Some(q) = other.strip_prefix('p').and_then(|p| p.parse::<f64>().ok()) else {
                return Err(format!(
                    "the simulator does not know the statistic `{other}`"
                ));
            };
            crate::signal::quantile(values, q / 100.0)
        }
    })
}

/// A shared handle on a simulated cloud: the loop's metric source and
/// actuator at once.
#[derive(Debug, Clone)]
pub struct SimHandle(Arc<Mutex<SimCloud>>);

impl SimHandle {
    /// A handle sharing `cloud` with the simulated source and actuator.
    pub fn new(cloud: SimCloud) -> SimHandle {
        SimHandle(Arc::new(Mutex::new(cloud)))
    }

    /// Runs `f` on the cloud.
    pub fn with<T>(&self, f: impl FnOnce(&mut SimCloud) -> T) -> T {
        f(&mut lock(&self.0))
    }
}

impl MetricSource for SimHandle {
    fn fetch(
        &mut self,
        _now: DateTime<Utc>,
        requests: &[MetricRequest],
    ) -> impl std::future::Future<Output = FetchResults> + Send {
        let results = self.with(|cloud| {
            requests
                .iter()
                .map(|r| (r.key.clone(), cloud.series(&r.spec, r.since)))
                .collect::<FetchResults>()
        });
        std::future::ready(results)
    }
}

impl Actuator for SimHandle {
    /// The simulated cloud knows each instance's launch time: `now` is not needed.
    fn describe(
        &mut self,
        groups: &[String],
        _now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Result<HashMap<String, GroupState>, ActuatorError>> + Send
    {
        let states = self.with(|cloud| {
            groups
                .iter()
                .filter(|g| **g == cloud.group)
                .map(|g| (g.clone(), cloud.group_state()))
                .collect()
        });
        std::future::ready(Ok(states))
    }

    fn set_desired(
        &mut self,
        group: &str,
        desired: u32,
    ) -> impl std::future::Future<Output = Result<(), ActuatorError>> + Send {
        let result = self.with(|cloud| {
            if group != cloud.group {
                return Err(ActuatorError::new(
                    crate::error_kind::ErrorKind::NotFound,
                    format!("no such group `{group}`"),
                ));
            }
            cloud.set_desired(desired).map_err(ActuatorError::other)
        });
        std::future::ready(result)
    }

    /// The simulated group never runs an instance refresh.
    fn refresh_before_scale_in(
        &mut self,
        _group: &str,
        _now: DateTime<Utc>,
    ) -> impl std::future::Future<Output = Option<crate::group::InstanceRefresh>> + Send {
        std::future::ready(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_file::{CloudWatchMetric, MetricSourceSpec, Smoothing};

    fn flat_cloud(load: f64) -> SimCloud {
        let start = DateTime::from_timestamp(1_767_571_200, 0).unwrap();
        let trace = Trace::new(start, Duration::minutes(1), vec![load; 120]).unwrap();
        let config = CloudConfig {
            capacity_per_instance: 100.0,
            boot_time: Duration::minutes(5),
            publish_delay: Duration::minutes(2),
            min: 1,
            max: 10,
        };
        SimCloud::new("web", Arc::new(trace), config, 2, start)
    }

    fn cpu_spec(period_minutes: u64, statistic: &str, delay_periods: u32) -> MetricSpec {
        cloudwatch_spec("CPUUtilization", period_minutes, statistic, delay_periods)
    }

    fn cloudwatch_spec(
        name: &str,
        period_minutes: u64,
        statistic: &str,
        delay_periods: u32,
    ) -> MetricSpec {
        MetricSpec {
            source: MetricSourceSpec::Cloudwatch(CloudWatchMetric {
                query: crate::policy_file::CloudWatchQuery::Stat(
                    crate::policy_file::CloudWatchStat {
                        namespace: "AWS/EC2".into(),
                        metric_name: name.into(),
                        dimensions: Default::default(),
                        statistic: statistic.parse().expect("a test statistic"),
                    },
                ),
                period: std::time::Duration::from_secs(period_minutes * 60),
                delay_periods,
            }),
            smoothing: Smoothing::Latest,
            stale_after: std::time::Duration::from_secs(300),
            max_value: None,
            simulated_as: None,
        }
    }

    #[test]
    fn instances_serve_only_after_boot() {
        let mut cloud = flat_cloud(150.0);
        let start = cloud.now();
        cloud.set_desired(4).unwrap();
        cloud.advance_to(start + Duration::minutes(10));
        let serving: Vec<u32> = cloud.samples().iter().map(|s| s.serving).collect();
        assert_eq!(serving, vec![2, 2, 2, 2, 2, 4, 4, 4, 4, 4]);
        assert!(cloud.samples().iter().all(|s| s.running == 4));
        assert_eq!(cloud.samples()[0].utilization(100.0), 75.0);
        assert_eq!(cloud.samples()[9].utilization(100.0), 37.5);
    }

    #[test]
    fn refuses_capacity_outside_the_group_bounds() {
        let mut cloud = flat_cloud(10.0);
        assert!(cloud.set_desired(11).unwrap_err().contains("outside"));
        assert!(cloud.set_desired(0).is_err());
        assert_eq!(cloud.set_calls(), 0);
    }

    #[test]
    fn scale_in_terminates_booting_instances_first() {
        let mut cloud = flat_cloud(10.0);
        cloud.set_desired(5).unwrap();
        cloud.set_desired(3).unwrap();
        let state = cloud.group_state();
        let pending = state
            .instances
            .iter()
            .filter(|i| i.lifecycle == Lifecycle::Pending)
            .count();
        assert_eq!((state.instances.len(), pending), (3, 1));
    }

    #[test]
    fn metrics_appear_after_the_publish_delay_per_period() {
        let mut cloud = flat_cloud(150.0);
        let start = cloud.now();
        cloud.advance_to(start + Duration::minutes(10));
        let one_minute = cloud.series(&cpu_spec(1, "Average", 0), start).unwrap();
        // Minutes 0..=7 are complete and 2 minutes old.
        assert_eq!(one_minute.points.len(), 8);
        assert_eq!(one_minute.points[0].value, 75.0);
        let five_minute = cloud.series(&cpu_spec(5, "Maximum", 0), start).unwrap();
        assert_eq!(
            five_minute.points.len(),
            1,
            "the second period is not yet published"
        );
        let delayed = cloud.series(&cpu_spec(1, "Average", 4), start).unwrap();
        assert_eq!(
            delayed.points.len(),
            6,
            "the source ignores its own delay periods too"
        );
    }

    #[test]
    fn unknown_metric_kind_is_an_error_not_a_guess() {
        let spec = cloudwatch_spec("Latency", 1, "Average", 0);
        let err = flat_cloud(1.0)
            .series(&spec, DateTime::UNIX_EPOCH)
            .unwrap_err();
        assert!(err.message.contains("simulated_as"), "{err}");
    }
}
