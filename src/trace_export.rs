//! Exporting a trace: a policy's load history read back from a metric source, as a trace for
//! backtests (`ebb trace export`, `ebb simulate --from-cloudwatch`).
//!
//! The load is what the simulated cloud replays: a fleet total per minute.
//! A total metric (ALB RequestCount) is one already; a per-instance metric
//! (CPUUtilization, RequestCountPerTarget) is multiplied by the group's
//! in-service instances, which CloudWatch has when the group's metrics
//! collection is enabled (`AWS/AutoScaling` GroupInServiceInstances). Those
//! group metrics, with GroupDesiredCapacity, also give what the group really
//! ran, which the simulation scores beside ebb.

use crate::policy_file::{
    CloudWatchMetric, MetricSourceSpec, MetricSpec, MetricType, PolicyFile, PolicySpec,
    SimulatedMetric, Smoothing,
};
use crate::series::{MetricKey, MetricRequest, Series};
use crate::sim::trace::{ReadOptions, RecordedCapacity, Row, Trace};
use crate::source::MetricSource;
use chrono::{DateTime, Utc};
use std::collections::BTreeMap;
use std::time::Duration;

/// CloudWatch keeps 1-minute data for 15 days, 5-minute data for 63 days and
/// 1-hour data for 455 days: the finest period that covers `days`.
pub fn finest_period(days: u32) -> Result<Duration, String> {
    match days {
        0 => Err("--days must be at least 1".into()),
        1..=15 => Ok(Duration::from_secs(60)),
        16..=63 => Ok(Duration::from_secs(300)),
        64..=455 => Ok(Duration::from_secs(3600)),
        _ => Err(format!(
            "CloudWatch keeps metrics for at most 455 days, {days} asked for"
        )),
    }
}

/// How the exported metric becomes load.
#[derive(Debug, Clone, Copy, PartialEq)]
enum LoadFrom {
    /// A fleet total per period: divided by the period's minutes.
    Total,
    /// A per-instance figure: multiplied by the instances in service.
    PerInstance,
}

/// A trace made from history, and how to read it.
#[derive(Debug, Clone)]
pub struct Exported {
    /// The history as a trace: one load value per step.
    pub trace: Trace,
    /// The load one instance serves at 100%, when the metric says (100 for
    /// a utilization in percent); otherwise the user must give it.
    pub capacity_per_instance: Option<f64>,
    /// What the trace holds, in words, for its header and reports.
    pub description: String,
}

/// The metric a policy's load is read from: `metric` when given, else the
/// first target-tracking or predictive policy's.
fn load_metric<'a>(
    file: &'a PolicyFile,
    metric: Option<&'a str>,
) -> Result<(&'a str, LoadFrom), String> {
    let by_policy = file.policies.iter().find_map(|p| match p {
        PolicySpec::TargetTracking(tt) => Some((
            tt.metric.as_str(),
            match tt.metric_type {
                MetricType::LoadTotal => LoadFrom::Total,
                MetricType::Utilization | MetricType::LoadPerInstance => LoadFrom::PerInstance,
            },
        )),
        PolicySpec::Predictive(p) => Some((p.metric.as_str(), LoadFrom::Total)),
        _ => None,
    });
    match (metric, by_policy) {
        (Some(name), _) => {
            let spec = file
                .metrics
                .get(name)
                .ok_or_else(|| format!("the policy file defines no metric `{name}`"))?;
            let from = match spec.simulated_kind() {
                Some(SimulatedMetric::CpuUtilization | SimulatedMetric::RequestCountPerTarget) => {
                    LoadFrom::PerInstance
                }
                _ => LoadFrom::Total,
            };
            Ok((name, from))
        }
        (None, Some(found)) => Ok(found),
        (None, None) => Err(
            "the policy has no target-tracking or predictive policy: name the metric with --metric"
                .into(),
        ),
    }
}

/// A group metric of `AWS/AutoScaling` (needs metrics collection enabled).
fn group_metric(group: &str, name: &str, period: Duration) -> MetricSpec {
    MetricSpec {
        source: MetricSourceSpec::Cloudwatch(CloudWatchMetric {
            query: crate::policy_file::CloudWatchQuery::Stat(crate::policy_file::CloudWatchStat {
                namespace: "AWS/AutoScaling".into(),
                metric_name: name.into(),
                dimensions: [("AutoScalingGroupName".to_string(), group.to_string())].into(),
                statistic: crate::policy_file::Statistic::average(),
            }),
            period,
            delay_periods: 0,
        }),
        smoothing: Smoothing::Latest,
        stale_after: period,
        max_value: None,
        simulated_as: None,
    }
}

/// Reads the last `days` of the policy's load (and the group's recorded
/// capacity, when there) from `source` and makes a trace of it.
pub async fn export<S: MetricSource>(
    source: &mut S,
    file: &PolicyFile,
    metric: Option<&str>,
    days: u32,
    now: DateTime<Utc>,
) -> Result<Exported, String> {
    let period = finest_period(days)?;
    let (name, from) = load_metric(file, metric)?;
    let mut spec = (*file.metrics[name]).clone();
    let Some(cw) = spec.source.cloudwatch_mut() else {
        return Err(format!(
            "metric `{name}` does not come from CloudWatch: only CloudWatch keeps history to export"
        ));
    };
    cw.period = period;
    let group = &file.target.group;
    let since = now - chrono::Duration::days(i64::from(days));
    let key = |m: &str| MetricKey::new(group.as_str(), m);
    let requests = vec![
        MetricRequest {
            key: key("load"),
            spec: spec.into(),
            since,
        },
        MetricRequest {
            key: key("desired"),
            spec: group_metric(group, "GroupDesiredCapacity", period).into(),
            since,
        },
        MetricRequest {
            key: key("in_service"),
            spec: group_metric(group, "GroupInServiceInstances", period).into(),
            since,
        },
    ];
    let mut answers = source.fetch(now, &requests).await;
    let mut take = |m: &str| {
        answers
            .remove(&key(m))
            .unwrap_or_else(|| Ok(Series::default()))
    };
    let load = take("load").map_err(|e| format!("reading `{name}`: {e}"))?;
    let by_time = |series: Result<Series, _>| -> BTreeMap<DateTime<Utc>, f64> {
        series
            .map(|s| s.points.into_iter().map(|p| (p.time, p.value)).collect())
            .unwrap_or_default()
    };
    let desired = by_time(take("desired"));
    let in_service = by_time(take("in_service"));
    let has_group_metrics = !in_service.is_empty() && !desired.is_empty();
    if from == LoadFrom::PerInstance && in_service.is_empty() {
        return Err(format!(
            "`{name}` is a per-instance metric: its load is it times the instances in service, which needs the group's \
             GroupInServiceInstances metric, and CloudWatch has none for `{group}` in the last {days} days; enable the \
             group's metrics collection (EnableMetricsCollection), or export a fleet-total metric with --metric"
        ));
    }
    let period_minutes = period.as_secs_f64() / 60.0;
    let mut rows = Vec::new();
    for point in &load.points {
        let serving = in_service.get(&point.time).copied();
        let value = match from {
            LoadFrom::Total => point.value / period_minutes,
            LoadFrom::PerInstance => match serving {
                Some(serving) => point.value * serving,
                None => continue,
            },
        };
        let recorded = if has_group_metrics {
            match (desired.get(&point.time), serving) {
                (Some(d), Some(s)) => Some(RecordedCapacity {
                    desired: *d,
                    in_service: s,
                }),
                _ => continue,
            }
        } else {
            None
        };
        rows.push((
            rows.len() + 1,
            Row {
                time: point.time,
                value,
                recorded,
            },
        ));
    }
    // The export writes what CloudWatch holds; whoever reads the file decides
    // whether its gaps are acceptable.
    let options = ReadOptions {
        allow_gaps: true,
        ..ReadOptions::default()
    };
    let trace = Trace::from_rows(&rows, options).map_err(|(_, message)| {
        format!(
            "CloudWatch returned {} usable datapoints of `{name}` for the last {days} days: {message}",
            rows.len()
        )
    })?;
    let is_utilization =
        file.metrics[name].simulated_kind() == Some(SimulatedMetric::CpuUtilization);
    let description = format!(
        "{group}: `{name}` {}, {}s periods, last {days} days{}",
        match from {
            LoadFrom::Total => "per minute".to_string(),
            LoadFrom::PerInstance => "x instances in service".to_string(),
        },
        period.as_secs(),
        if has_group_metrics {
            ", with the group's recorded capacity"
        } else {
            ""
        }
    );
    Ok(Exported {
        trace,
        capacity_per_instance: is_utilization.then_some(100.0),
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_finest_period_cloudwatch_still_keeps() {
        assert_eq!(finest_period(1), Ok(Duration::from_secs(60)));
        assert_eq!(finest_period(15), Ok(Duration::from_secs(60)));
        assert_eq!(finest_period(16), Ok(Duration::from_secs(300)));
        assert_eq!(finest_period(63), Ok(Duration::from_secs(300)));
        assert_eq!(finest_period(64), Ok(Duration::from_secs(3600)));
        assert!(finest_period(456).unwrap_err().contains("455 days"));
        assert!(finest_period(0).is_err());
    }
}
