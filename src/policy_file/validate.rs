//! Semantic checks on a parsed policy file: what TOML and serde cannot say.
//! Returns (field path, message) pairs; [`super::load`] adds file and line.

use super::{
    CloudWatchMetric, CloudWatchQuery, GovernorSpec, MaxCapacityBehavior, MetricSourceSpec,
    MetricSpec, PolicyFile, PolicySpec, PredictiveSpec, ScheduleSpec, Smoothing,
    TargetTrackingSpec, WindowAggregate,
};
use crate::policy::schedule;
use crate::ranges;

/// Every problem in `file`, as (field path, message) pairs, in the order
/// of the file's sections: target, metrics, policies, governor.
pub fn validate(file: &PolicyFile) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    let mut err = |field: String, msg: String| errors.push((field, msg));
    validate_target(file, &mut err);
    for (name, metric) in &file.metrics {
        validate_metric(name, metric, &mut err);
    }
    validate_policies(file, &mut err);
    validate_governor(&file.governor, &mut err);
    errors
}

/// The `[target]` table, and the entry counts that bound the whole file.
fn validate_target(file: &PolicyFile, err: &mut impl FnMut(String, String)) {
    let t = &file.target;
    if let Some(problem) = group_name_problem(&t.group) {
        err("target.group".into(), problem);
    }
    for (field, value) in [
        ("target.min_capacity", t.min_capacity),
        ("target.max_capacity", t.max_capacity),
    ] {
        if let Err(problem) = ranges::CAPACITY.check(value) {
            err(field.into(), problem);
        }
    }
    if t.min_capacity > t.max_capacity {
        err(
            "target.min_capacity".into(),
            format!(
                "min_capacity {} is greater than max_capacity {}",
                t.min_capacity, t.max_capacity
            ),
        );
    }
    if let Err(problem) = ranges::INTERVAL.check(t.interval) {
        err("target.interval".into(), problem);
    }
    for (field, count, range) in [
        ("policies", file.policies.len(), ranges::POLICIES_PER_FILE),
        ("metrics", file.metrics.len(), ranges::METRICS_PER_FILE),
        ("target.shadows", t.shadows.len(), ranges::SHADOWS_PER_FILE),
    ] {
        if let Err(problem) = range.check_usize(count) {
            err(field.into(), format!("too many entries: {problem}"));
        }
    }
    for (i, process) in t.respect_suspended.iter().enumerate() {
        if !super::SCALING_PROCESSES.contains(&process.as_str()) {
            err(
                format!("target.respect_suspended[{i}]"),
                format!(
                    "`{process}` is not an Auto Scaling process (one of {})",
                    super::SCALING_PROCESSES.join(", ")
                ),
            );
        }
    }
}

/// One `[metrics.NAME]` table: its source, value bound, smoothing and staleness.
fn validate_metric(name: &str, metric: &MetricSpec, err: &mut impl FnMut(String, String)) {
    let at = |f: &str| format!("metrics.{name}.{f}");
    match &metric.source {
        MetricSourceSpec::Cloudwatch(cw) => {
            validate_cloudwatch(cw, metric.stale_after, &|f: &str| at(f), err)
        }
        MetricSourceSpec::Scrape(scrape) => {
            super::http_sources::validate_scrape(scrape, &at("source.scrape"), err)
        }
        MetricSourceSpec::Prometheus(query) => {
            super::http_sources::validate_prometheus(query, &at("source.prometheus"), err)
        }
    }
    if let Some(max) = metric.max_value
        && !(max > 0.0 && max.is_finite())
    {
        err(
            at("max_value"),
            format!("must be > 0, got {max}: every value would be rejected"),
        );
    }
    validate_smoothing(&metric.smoothing, &|f: &str| at(f), err);
    if let Err(problem) = ranges::INTERVAL.check(metric.stale_after) {
        err(at("stale_after"), problem);
    }
}

/// A CloudWatch source: its period, delay, the staleness it allows and its
/// query ids. `at` turns a field under the metric into its full path.
fn validate_cloudwatch(
    cw: &CloudWatchMetric,
    stale_after: std::time::Duration,
    at: &dyn Fn(&str) -> String,
    err: &mut impl FnMut(String, String),
) {
    // 1, 5, 10 and 30s are CloudWatch's high-resolution periods.
    let period = cw.period.as_secs();
    let whole = cw.period.subsec_nanos() == 0;
    if let Err(problem) = ranges::INTERVAL.check(cw.period) {
        err(at("source.cloudwatch.period"), problem);
    } else if !whole || !(matches!(period, 1 | 5 | 10 | 30) || period.is_multiple_of(60)) {
        err(
            at("source.cloudwatch.period"),
            "must be 1s, 5s, 10s, 30s or a multiple of 60s".into(),
        );
    }
    if let Err(problem) = ranges::DELAY_PERIODS.check(cw.delay_periods) {
        err(at("source.cloudwatch.delay_periods"), problem);
    }
    // The newest datapoint is one whose period ended before the
    // skipped incomplete ones: it is at least this old, always.
    let youngest = cw
        .period
        .checked_mul(cw.delay_periods.saturating_add(1))
        .unwrap_or(std::time::Duration::MAX);
    if stale_after < youngest {
        err(
            at("stale_after"),
            format!(
                "{} is less than the age of the newest datapoint CloudWatch can give \
                 (period x (delay_periods + 1) = {}): the metric would always be stale",
                humantime::format_duration(stale_after),
                humantime::format_duration(youngest)
            ),
        );
    }
    let ids = match &cw.query {
        CloudWatchQuery::Expression { queries, .. } => queries.keys().collect(),
        CloudWatchQuery::Stat(_) => Vec::new(),
    };
    for id in ids {
        let mut chars = id.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            err(
                at(&format!("source.cloudwatch.queries.{id}")),
                "a query id must start with a lowercase letter and hold only letters, digits and _"
                    .into(),
            );
        }
    }
}

/// A metric's `smoothing` table: its durations, and the percentile that
/// only the percentile aggregate takes (and needs).
fn validate_smoothing(
    smoothing: &Smoothing,
    at: &dyn Fn(&str) -> String,
    err: &mut impl FnMut(String, String),
) {
    match *smoothing {
        Smoothing::Ewma {
            half_life,
            half_life_down,
        } => {
            if let Err(problem) = ranges::INTERVAL.check(half_life) {
                err(at("smoothing.half_life"), problem);
            }
            if let Some(Err(problem)) = half_life_down.map(|h| ranges::INTERVAL.check(h)) {
                err(at("smoothing.half_life_down"), problem);
            }
        }
        Smoothing::Window {
            window,
            aggregate,
            percentile,
        } => {
            if let Err(problem) = ranges::INTERVAL.check(window) {
                err(at("smoothing.window"), problem);
            }
            match (aggregate, percentile) {
                (WindowAggregate::Percentile, None) => err(
                    at("smoothing.percentile"),
                    "needed with aggregate = \"percentile\"".into(),
                ),
                (WindowAggregate::Percentile, Some(p)) if !(0.0..=100.0).contains(&p) => err(
                    at("smoothing.percentile"),
                    format!("{p} is not within 0-100"),
                ),
                (WindowAggregate::Percentile, _) => {}
                (_, Some(_)) => err(
                    at("smoothing.percentile"),
                    "only used with aggregate = \"percentile\"".into(),
                ),
                _ => {}
            }
        }
        Smoothing::Latest => {}
    }
}

/// The `[[policies]]` list: unique, non-empty names, each policy's own
/// fields, and at least one policy.
fn validate_policies(file: &PolicyFile, err: &mut impl FnMut(String, String)) {
    let mut names = std::collections::BTreeSet::new();
    for (i, policy) in file.policies.iter().enumerate() {
        let at = |f: &str| format!("policies[{i}].{f}");
        if !names.insert(policy.name().to_string()) {
            err(
                at("name"),
                format!("policy name `{}` is used twice", policy.name()),
            );
        }
        if policy.name().trim().is_empty() {
            err(at("name"), "must not be empty".into());
        }
        let mut policy_err = |f: &str, m: String| err(at(f), m);
        match policy {
            PolicySpec::TargetTracking(tt) => validate_target_tracking(file, tt, &mut policy_err),
            PolicySpec::Predictive(p) => validate_predictive(file, p, &mut policy_err),
            PolicySpec::Schedule(s) => validate_schedule(file, s, &mut policy_err),
        }
    }
    if file.policies.is_empty() {
        err("policies".into(), "at least one policy is needed".into());
    }
}

fn validate_target_tracking(
    file: &PolicyFile,
    tt: &TargetTrackingSpec,
    err: &mut dyn FnMut(&str, String),
) {
    if !file.metrics.contains_key(&tt.metric) {
        err(
            "metric",
            format!(
                "metric `{}` is referenced but not defined in [metrics]",
                tt.metric
            ),
        );
    }
    if !(tt.target > 0.0 && tt.target.is_finite()) {
        err(
            "target",
            format!("target value must be > 0, got {}", tt.target),
        );
    }
    if let Some(problem) = tolerance_problem(tt.tolerance) {
        err("tolerance", problem);
    }
    if let Err(problem) = ranges::TREND_LEAD.check(tt.trend_lead) {
        err("trend_lead", problem);
    }
    if let Err(problem) = ranges::TREND_WINDOW.check(tt.trend_window) {
        err("trend_window", problem);
    }
}

fn validate_schedule(file: &PolicyFile, s: &ScheduleSpec, err: &mut dyn FnMut(&str, String)) {
    for (field, problem) in schedule::problems(s) {
        err(&field, problem);
    }
    if s.windows.is_empty() {
        err("windows", "a schedule needs at least one window".into());
    }
    let max_capacity = file.target.max_capacity;
    for (j, window) in s.windows.iter().enumerate() {
        let field = format!("windows[{j}].min_capacity");
        if let Err(problem) = ranges::CAPACITY.check(window.min_capacity) {
            err(&field, problem);
        } else if window.min_capacity > max_capacity {
            err(
                &field,
                format!(
                    "{} is above target.max_capacity {}",
                    window.min_capacity, max_capacity
                ),
            );
        }
    }
}

/// The `[governor]` table: its durations, scale-in quantile and step limits.
fn validate_governor(g: &GovernorSpec, err: &mut impl FnMut(String, String)) {
    for (field, value) in [
        ("scale_out_cooldown", g.scale_out_cooldown),
        ("scale_in_cooldown", g.scale_in_cooldown),
        ("scale_in_stabilization", g.scale_in_stabilization),
        ("warmup", g.warmup),
    ] {
        if let Err(problem) = ranges::DURATION.check(value) {
            err(format!("governor.{field}"), problem);
        }
    }
    if !(0.0..=1.0).contains(&g.scale_in_quantile) || g.scale_in_quantile == 0.0 {
        err(
            "governor.scale_in_quantile".into(),
            format!(
                "{} is out of range: must be above 0 and at most 1 (1: the highest proposal)",
                g.scale_in_quantile
            ),
        );
    }
    for (dir, limit) in [
        ("max_step_out", &g.max_step_out),
        ("max_step_in", &g.max_step_in),
    ] {
        if let Some(Err(problem)) = limit.instances.map(|n| ranges::STEP_INSTANCES.check(n)) {
            err(format!("governor.{dir}.instances"), problem);
        }
        if let Some(Err(problem)) = limit
            .percent
            .map(|p| ranges::check_positive(p, ranges::MAX_STEP_PERCENT))
        {
            err(format!("governor.{dir}.percent"), problem);
        }
    }
}

/// What is wrong with an Auto Scaling group name, if anything: AWS takes 1
/// to 255 characters, none of them control characters.
pub fn group_name_problem(name: &str) -> Option<String> {
    if name.trim().is_empty() {
        Some("must not be empty".into())
    } else if name.chars().count() > 255 {
        Some(format!(
            "is {} characters long; AWS allows at most 255",
            name.chars().count()
        ))
    } else {
        name.chars().find(|c| c.is_control()).map(|c| {
            format!("holds the control character {c:?}; AWS does not allow it in a group name")
        })
    }
}

/// What is wrong with a policy's tolerance band, if anything.
fn tolerance_problem(tolerance: f64) -> Option<String> {
    (!(0.0..1.0).contains(&tolerance)).then(|| format!("must be within [0, 1), got {tolerance}"))
}

fn validate_predictive(file: &PolicyFile, p: &PredictiveSpec, err: &mut dyn FnMut(&str, String)) {
    if !file.metrics.contains_key(&p.metric) {
        err(
            "metric",
            format!(
                "metric `{}` is referenced but not defined in [metrics]",
                p.metric
            ),
        );
    }
    if !(p.target_per_instance > 0.0 && p.target_per_instance.is_finite()) {
        err(
            "target_per_instance",
            format!("must be > 0, got {}", p.target_per_instance),
        );
    }
    if !(p.quantile > 0.0 && p.quantile < 1.0) {
        err(
            "quantile",
            format!("must be within (0, 1), got {}", p.quantile),
        );
    }
    if let Some(problem) = tolerance_problem(p.tolerance) {
        err("tolerance", problem);
    }
    if !(p.buffer_percent >= 0.0 && p.buffer_percent.is_finite()) {
        err(
            "buffer_percent",
            format!("must be >= 0, got {}", p.buffer_percent),
        );
    }
    if let Some(Err(problem)) = p.lead.map(|lead| ranges::LEAD.check(lead)) {
        err("lead", problem);
    }
    match (p.max_capacity_behavior, p.max_capacity_buffer) {
        (MaxCapacityBehavior::Increase, None) => err(
            "max_capacity_buffer",
            "needed with max_capacity_behavior = \"increase\" (percent above the forecast capacity, 0-100)".into(),
        ),
        (MaxCapacityBehavior::Increase, Some(b)) if !(0.0..=100.0).contains(&b) => {
            err("max_capacity_buffer", format!("must be within 0-100, got {b}"))
        }
        (MaxCapacityBehavior::Honor, Some(_)) => err(
            "max_capacity_buffer",
            "only used with max_capacity_behavior = \"increase\"".into(),
        ),
        _ => {}
    }
    if let Err(problem) = ranges::HISTORY.check(p.history) {
        err(
            "history",
            format!("{problem} (one season to CloudWatch's 5-minute retention)"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = r#"
[target]
group = "web"
min_capacity = 1
max_capacity = 10

[metrics.requests.source.cloudwatch]
namespace = "AWS/ApplicationELB"
metric_name = "RequestCount"
statistic = "Sum"

[[policies]]
kind = "predictive"
name = "forecast"
"#;

    /// The errors of the base file with `policy` lines added to the predictive policy.
    fn errors(policy: &str) -> Vec<(String, String)> {
        let file: PolicyFile = toml::from_str(&format!("{BASE}{policy}")).unwrap();
        validate(&file)
    }

    #[test]
    fn a_sound_predictive_policy_passes() {
        let found = errors(
            "metric = \"requests\"\ntarget_per_instance = 500\nmode = \"forecast-and-scale\"\nmax_capacity_behavior = \"increase\"\nmax_capacity_buffer = 10\nmodel = \"mstl\"",
        );
        assert!(found.is_empty(), "{found:?}");
    }

    #[test]
    fn each_bad_field_is_named() {
        let cases = [
            (
                "metric = \"nope\"\ntarget_per_instance = 5",
                "policies[0].metric",
                "not defined",
            ),
            (
                "metric = \"requests\"\ntarget_per_instance = 0",
                "policies[0].target_per_instance",
                "> 0",
            ),
            (
                "metric = \"requests\"\ntarget_per_instance = 5\nquantile = 1.0",
                "policies[0].quantile",
                "(0, 1)",
            ),
            (
                "metric = \"requests\"\ntarget_per_instance = 5\ntolerance = 1.5",
                "policies[0].tolerance",
                "[0, 1)",
            ),
            (
                "metric = \"requests\"\ntarget_per_instance = 5\nbuffer_percent = -1",
                "policies[0].buffer_percent",
                ">= 0",
            ),
            (
                "metric = \"requests\"\ntarget_per_instance = 5\nlead = \"2d\"",
                "policies[0].lead",
                "between 1s and 1d",
            ),
            (
                "metric = \"requests\"\ntarget_per_instance = 5\nmax_capacity_behavior = \"increase\"",
                "policies[0].max_capacity_buffer",
                "needed",
            ),
            (
                "metric = \"requests\"\ntarget_per_instance = 5\nmax_capacity_buffer = 10",
                "policies[0].max_capacity_buffer",
                "only used",
            ),
            (
                "metric = \"requests\"\ntarget_per_instance = 5\nhistory = \"12h\"",
                "policies[0].history",
                "one season",
            ),
            (
                "metric = \"requests\"\ntarget_per_instance = 5\nhistory = \"90d\"",
                "policies[0].history",
                "and 63d",
            ),
        ];
        for (policy, field, message) in cases {
            let found = errors(policy);
            assert!(
                found.iter().any(|(f, m)| f == field && m.contains(message)),
                "{policy}: expected {field}: {message}, got {found:?}"
            );
        }
    }

    #[test]
    fn an_unknown_model_is_refused_when_parsing() {
        let text =
            format!("{BASE}metric = \"requests\"\ntarget_per_instance = 5\nmodel = \"prophet\"");
        let err = toml::from_str::<PolicyFile>(&text).unwrap_err().to_string();
        assert!(
            err.contains("prophet") && err.contains("holt-winters-additive"),
            "{err}"
        );
    }
}
