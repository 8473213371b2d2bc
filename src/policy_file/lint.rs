//! Semantic lint: settings that are valid but probably not what the author
//! meant. Each warning says why it matters and what to change. `ebb check`
//! prints them, and fails on them with `--strict`.

use super::{MetricType, PolicyFile, PolicySpec, PredictiveSpec, SimulatedMetric};
use crate::sim::trace::Trace;

/// One warning about a policy file.
#[derive(Debug, Clone, PartialEq)]
pub struct Warning {
    /// Dotted path of the field to change.
    pub field: String,
    /// What is risky about the value and what to write instead.
    pub message: String,
}

fn warn(field: impl Into<String>, message: String) -> Warning {
    Warning {
        field: field.into(),
        message,
    }
}

/// Warnings about a file on its own.
pub fn lint(file: &PolicyFile) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let g = &file.governor;
    if g.scale_in_cooldown < g.warmup {
        warnings.push(warn(
            "governor.scale_in_cooldown",
            format!(
                "scale_in_cooldown ({}) is shorter than warmup ({}): right after a scale-out's instances finish warming up, \
                 ebb may scale in again on a metric that has seen them for only a moment, and flap; \
                 set scale_in_cooldown to at least the warm-up",
                humantime::format_duration(g.scale_in_cooldown),
                humantime::format_duration(g.warmup)
            ),
        ));
    }
    if g.scale_in_stabilization < file.target.interval {
        warnings.push(warn(
            "governor.scale_in_stabilization",
            format!(
                "scale_in_stabilization ({}) is shorter than the evaluation interval ({}): the window never holds more than \
                 one recommendation, so a single low reading scales in; make it several intervals long",
                humantime::format_duration(g.scale_in_stabilization),
                humantime::format_duration(file.target.interval)
            ),
        ));
    }
    for (index, policy) in file.policies.iter().enumerate() {
        if let PolicySpec::Predictive(p) = policy {
            warnings.extend(lint_predictive(file, index, p));
            continue;
        }
        let PolicySpec::TargetTracking(tt) = policy else {
            continue;
        };
        let Some(metric) = file.metrics.get(&tt.metric) else {
            continue;
        };
        let field = format!("policies[{index}].metric_type");
        let name = metric
            .source
            .cloudwatch()
            .and_then(|cw| cw.metric_name().map(str::to_string))
            .unwrap_or_default();
        if is_latency(&name) {
            warnings.push(warn(
                format!("policies[{index}].metric"),
                format!(
                    "target tracking on `{name}`, a latency: latency does not fall in proportion to capacity (it stays flat \
                     until saturation, then jumps), so the proportional rule over- or under-shoots; track a utilization or \
                     load per instance, and alert on latency instead"
                ),
            ));
            continue;
        }
        let total = matches!(
            metric.simulated_kind(),
            Some(SimulatedMetric::RequestCount | SimulatedMetric::Load)
        );
        if total && tt.metric_type != MetricType::LoadTotal {
            warnings.push(warn(
                field,
                format!(
                    "metric `{}` is a fleet total (it does not fall as capacity grows), but metric_type is `{}`: \
                     ebb would multiply it by the number of instances; set metric_type = \"load-total\" with the \
                     target as one instance's share, or track the per-target metric",
                    tt.metric,
                    serde_json::to_value(tt.metric_type)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default()
                ),
            ));
        }
    }
    warnings
}

/// A predictive policy acts one lead time ahead of the load and forecasts a
/// load, not a ratio.
fn lint_predictive(file: &PolicyFile, index: usize, p: &PredictiveSpec) -> Vec<Warning> {
    let mut warnings = Vec::new();
    if let Some(lead) = p.lead
        && lead < file.governor.warmup
    {
        warnings.push(warn(
            format!("policies[{index}].lead"),
            format!(
                "lead ({}) is shorter than the instance warm-up ({}): instances launched for the forecast load \
                 are still warming up when it arrives, so the forecast is acted on too late; set lead to at \
                 least the warm-up plus the evaluation interval, or leave it out (that is the default)",
                humantime::format_duration(lead),
                humantime::format_duration(file.governor.warmup)
            ),
        ));
    }
    let kind = file.metrics.get(&p.metric).and_then(|m| m.simulated_kind());
    if kind == Some(SimulatedMetric::CpuUtilization) {
        warnings.push(warn(
            format!("policies[{index}].metric"),
            format!(
                "predictive policy `{}` forecasts `{}`, a utilization: it falls when capacity is added, so its \
                 history mixes load with past scaling and the forecast follows ebb's own actions; forecast a \
                 load (request count, CPU-seconds) with target_per_instance",
                p.name, p.metric
            ),
        ));
    }
    warnings
}

/// Warnings that need the load the policy will face: a trace of its load
/// metric (in the metric's units), or of any load with `capacity_per_instance`
/// for utilization policies.
pub fn lint_against_trace(
    file: &PolicyFile,
    trace: &Trace,
    capacity_per_instance: Option<f64>,
) -> Vec<Warning> {
    let mut warnings = Vec::new();
    let peak = trace.peak();
    for policy in &file.policies {
        let PolicySpec::TargetTracking(tt) = policy else {
            continue;
        };
        let per_instance = match (tt.metric_type, capacity_per_instance) {
            (MetricType::Utilization, Some(cpi)) => cpi * tt.target / 100.0,
            (MetricType::Utilization, None) => continue,
            (MetricType::LoadTotal | MetricType::LoadPerInstance, _) => tt.target,
        };
        let needed = (peak / per_instance).ceil();
        if needed > f64::from(file.target.max_capacity) {
            warnings.push(warn(
                "target.max_capacity",
                format!(
                    "the trace's peak load {peak:.1} needs {needed} instances at policy `{}`'s target, more than \
                     max_capacity {}: at such a peak ebb stops at max and the fleet runs above target; raise \
                     max_capacity or accept it (alert on time at max)",
                    tt.name, file.target.max_capacity
                ),
            ));
        }
    }
    warnings
}

fn is_latency(metric_name: &str) -> bool {
    let lower = metric_name.to_ascii_lowercase();
    ["latency", "responsetime", "duration"]
        .iter()
        .any(|w| lower.contains(w))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy_file::parse_str;
    use std::path::Path;

    fn file(governor: &str, metric_name: &str, statistic: &str, metric_type: &str) -> PolicyFile {
        let text = format!(
            r#"
[target]
group = "web"
min_capacity = 2
max_capacity = 10

[metrics.m.source.cloudwatch]
namespace = "AWS/ApplicationELB"
metric_name = "{metric_name}"
statistic = "{statistic}"

[[policies]]
kind = "target-tracking"
name = "tt"
metric = "m"
target = 50.0
metric_type = "{metric_type}"

[governor]
{governor}
"#
        );
        parse_str(&text, Path::new("web.toml")).unwrap()
    }

    const QUIET: &str =
        "scale_in_cooldown = \"5m\"\nwarmup = \"5m\"\nscale_in_stabilization = \"5m\"";

    #[test]
    fn a_sound_file_has_no_warnings() {
        assert_eq!(
            lint(&file(QUIET, "CPUUtilization", "Average", "utilization")),
            vec![]
        );
        assert_eq!(
            lint(&file(QUIET, "RequestCount", "Sum", "load-total")),
            vec![]
        );
    }

    #[test]
    fn scale_in_cooldown_shorter_than_warmup() {
        let w = lint(&file(
            "scale_in_cooldown = \"1m\"\nwarmup = \"5m\"",
            "CPUUtilization",
            "Average",
            "utilization",
        ));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].field, "governor.scale_in_cooldown");
        assert!(w[0].message.contains("1m") && w[0].message.contains("at least the warm-up"));
    }

    #[test]
    fn stabilization_shorter_than_the_interval() {
        let w = lint(&file(
            "scale_in_stabilization = \"30s\"",
            "CPUUtilization",
            "Average",
            "utilization",
        ));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].field, "governor.scale_in_stabilization");
    }

    #[test]
    fn a_total_or_a_latency_tracked_as_utilization() {
        let w = lint(&file(QUIET, "RequestCount", "Sum", "utilization"));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].field, "policies[0].metric_type");
        assert!(w[0].message.contains("load-total"), "{}", w[0].message);
        let w = lint(&file(QUIET, "TargetResponseTime", "Average", "utilization"));
        assert_eq!(w.len(), 1);
        assert_eq!(w[0].field, "policies[0].metric");
        assert!(w[0].message.contains("latency"));
    }

    #[test]
    fn predictive_lead_shorter_than_warmup_and_a_forecast_utilization() {
        let base = file(QUIET, "CPUUtilization", "Average", "utilization");
        let text = |lead: &str| {
            format!(
                r#"
[target]
group = "web"
min_capacity = 2
max_capacity = 10

[metrics.m.source.cloudwatch]
namespace = "AWS/EC2"
metric_name = "CPUUtilization"
statistic = "Average"

[[policies]]
kind = "predictive"
name = "forecast"
metric = "m"
target_per_instance = 100.0
{lead}

[governor]
{QUIET}
"#
            )
        };
        assert!(lint(&base).is_empty());
        let short = parse_str(&text("lead = \"2m\""), Path::new("p.toml")).unwrap();
        let fields: Vec<_> = lint(&short).into_iter().map(|w| w.field).collect();
        assert_eq!(fields, vec!["policies[0].lead", "policies[0].metric"]);
        let default_lead = parse_str(&text(""), Path::new("p.toml")).unwrap();
        let fields: Vec<_> = lint(&default_lead).into_iter().map(|w| w.field).collect();
        assert_eq!(fields, vec!["policies[0].metric"]);
    }

    #[test]
    fn max_capacity_below_the_trace_peak() {
        let start = chrono::DateTime::UNIX_EPOCH;
        let trace = Trace::new(start, chrono::Duration::minutes(1), vec![100.0, 900.0]).unwrap();
        // 900 requests at 50 per instance need 18 > 10.
        let requests = file(QUIET, "RequestCount", "Sum", "load-total");
        let w = lint_against_trace(&requests, &trace, None);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].message.contains("needs 18 instances"),
            "{}",
            w[0].message
        );
        // CPU needs the capacity per instance: 900 / (200 x 50%) = 9 <= 10.
        let cpu = file(QUIET, "CPUUtilization", "Average", "utilization");
        assert!(lint_against_trace(&cpu, &trace, None).is_empty());
        assert!(lint_against_trace(&cpu, &trace, Some(200.0)).is_empty());
        assert_eq!(lint_against_trace(&cpu, &trace, Some(100.0)).len(), 1);
    }
}
