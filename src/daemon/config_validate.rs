//! Semantic checks on the daemon config, as [`crate::policy_file::validate`]
//! does for policy files: every duration and count within its documented
//! range ([`crate::ranges`]), URLs that parse, alert rules that make sense.
//! Returns (field path, message) pairs; [`super::config`] adds the file and
//! line, or the environment variable, the field came from.
//!
//! [`path_problems`] is separate: `ebb check --config` also asks that the
//! files and folders the config names exist, which the simulator (reading
//! only the AWS settings) does not need.

use super::config::DaemonConfig;
use crate::alert::{AlertConfigError, RuleEngine, sinks};
use crate::policy_file::http_sources::check_url;
use crate::ranges;

/// Every problem of `config` that serde cannot see (ranges, URLs, alert rules and sinks, leader
/// election), as (field path, message) pairs.
pub fn problems(config: &DaemonConfig) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let mut durations = vec![
        ("jitter", config.jitter, ranges::DURATION),
        ("batch_window", config.batch_window, ranges::DURATION),
        (
            "aws.connect_timeout",
            config.aws.connect_timeout,
            ranges::POSITIVE_DURATION,
        ),
        (
            "aws.attempt_timeout",
            config.aws.attempt_timeout,
            ranges::POSITIVE_DURATION,
        ),
        (
            "aws.operation_timeout",
            config.aws.operation_timeout,
            ranges::POSITIVE_DURATION,
        ),
        (
            "alerts.repeat_interval",
            config.alerts.repeat_interval,
            ranges::INTERVAL,
        ),
        (
            "alerts.delivery.initial_backoff",
            config.alerts.delivery.initial_backoff,
            ranges::POSITIVE_DURATION,
        ),
        (
            "alerts.delivery.max_backoff",
            config.alerts.delivery.max_backoff,
            ranges::POSITIVE_DURATION,
        ),
        (
            "alerts.delivery.timeout",
            config.alerts.delivery.timeout,
            ranges::POSITIVE_DURATION,
        ),
    ];
    if let Some(election) = &config.leader_election {
        durations.push((
            "leader_election.lease_duration",
            election.lease_duration,
            ranges::POSITIVE_DURATION,
        ));
        durations.push((
            "leader_election.renew_interval",
            election.renew_interval,
            ranges::POSITIVE_DURATION,
        ));
        if let Some(deadline) = election.renew_deadline {
            durations.push((
                "leader_election.renew_deadline",
                deadline,
                ranges::POSITIVE_DURATION,
            ));
        }
    }
    for (field, value, range) in durations {
        if let Err(problem) = range.check(value) {
            found.push((field.to_string(), problem));
        }
    }
    found.extend(super::accounts::problems(&config.accounts));
    let counts = [
        (
            "aws.max_attempts",
            u64::from(config.aws.max_attempts),
            ranges::ATTEMPTS,
        ),
        (
            "alerts.delivery.max_attempts",
            u64::from(config.alerts.delivery.max_attempts),
            ranges::ATTEMPTS,
        ),
        (
            "alerts.queue_capacity",
            u64::try_from(config.alerts.queue_capacity).unwrap_or(u64::MAX),
            ranges::QUEUE,
        ),
        (
            "leader_election.shards",
            config
                .leader_election
                .as_ref()
                .map_or(1, |e| u64::from(e.shards)),
            ranges::SHARDS,
        ),
        (
            "leader_election.warm_shards",
            config
                .leader_election
                .as_ref()
                .map_or(0, |e| u64::from(e.warm_shards)),
            ranges::WARM_SHARDS,
        ),
        (
            "telemetry.stale_after_intervals",
            u64::from(config.telemetry.stale_after_intervals),
            ranges::RULE_COUNT,
        ),
    ];
    for (field, value, range) in counts {
        if let Err(problem) = range.check(value) {
            found.push((field.to_string(), problem));
        }
    }
    if let Some(Err(problem)) = config.aws.endpoint_url.as_deref().map(check_url) {
        found.push(("aws.endpoint_url".into(), problem));
    }
    rule_problems(config, &mut found);
    for (i, sink) in config.alerts.sinks.iter().enumerate() {
        for (field, problem) in sinks::field_problems(sink) {
            found.push((format!("alerts.sinks[{i}].{field}"), problem));
        }
    }
    // The lease's timing rules multiply its durations: only once they are
    // in range.
    if let Some(election) = &config.leader_election
        && !found.iter().any(|(f, _)| f.starts_with("leader_election."))
        && let Err(problem) = election.validate()
    {
        found.push(split_field(&problem, "leader_election"));
    }
    found
}

/// Each `[[alerts.rules]]`: its counts and durations in range, then the
/// rules as the daemon builds them (the parameters each kind needs, unique
/// names).
fn rule_problems(config: &DaemonConfig, found: &mut Vec<(String, String)>) {
    let before = found.len();
    for (i, rule) in config.alerts.rules.iter().enumerate() {
        let at = |f: &str| format!("alerts.rules[{i}].{f}");
        for (field, value) in [("evaluations", rule.evaluations), ("changes", rule.changes)] {
            if let Some(Err(problem)) = value.map(|v| ranges::RULE_COUNT.check(v)) {
                found.push((at(field), problem));
            }
        }
        for (field, value) in [("for", rule.for_duration), ("window", rule.window)] {
            if let Some(Err(problem)) = value.map(|v| ranges::DURATION.check(v)) {
                found.push((at(field), problem));
            }
        }
    }
    if found.len() > before {
        return;
    }
    match RuleEngine::from_config(&config.alerts) {
        Ok(_) => {}
        Err(AlertConfigError::Rule { index, message, .. }) => {
            found.push((format!("alerts.rules[{index}]"), message))
        }
        Err(other) => found.push(("alerts.rules".into(), other.to_string())),
    }
}

/// What `ebb check --config` adds to [`problems`]: the folders and files the
/// config names exist, and each alert sink can be built (its URL and token,
/// from the variable or file named, read and valid).
pub fn path_problems(config: &DaemonConfig) -> Vec<(String, String)> {
    let mut found = Vec::new();
    if !config.policy_dir.is_dir() {
        found.push((
            "policy_dir".into(),
            format!("{} is not a directory", config.policy_dir.display()),
        ));
    }
    for (field, path) in [
        ("decisions_log", &config.decisions_log),
        ("state_dir", &config.state_dir),
    ] {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !path.exists() && !parent.is_dir() {
            found.push((
                field.into(),
                format!(
                    "neither {} nor its folder {} exists",
                    path.display(),
                    parent.display()
                ),
            ));
        }
    }
    for (i, sink) in config.alerts.sinks.iter().enumerate() {
        let one = std::slice::from_ref(sink);
        if let Err(e) = sinks::build_all(one, config.alerts.repeat_interval) {
            let message = match e {
                AlertConfigError::Sink { message, .. } => message,
                other => other.to_string(),
            };
            found.push((format!("alerts.sinks[{i}]"), message));
        }
    }
    found
}

/// `leader_election.table: must ...` -> (`leader_election.table`, `must ...`);
/// a message naming no field is placed on `section`.
fn split_field(message: &str, section: &str) -> (String, String) {
    match message.split_once(": ") {
        Some((field, rest)) if field.starts_with(section) && !field.contains(' ') => {
            (field.to_string(), rest.to_string())
        }
        _ => (section.to_string(), message.to_string()),
    }
}
