//! Per-target health for `/healthz`: healthy when every target's last
//! evaluation succeeded and is recent (within a few of its intervals).
//! A policy file that failed to reload is a warning (the old policy is in
//! force), or makes the daemon unhealthy if the operator configures it so.

use crate::alert::ReloadFailure;
use crate::clock::Clock;
use crate::decision::DecisionRecord;
use crate::lock::lock;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Debug, Clone)]
struct TargetHealth {
    interval: Duration,
    last: Option<DateTime<Utc>>,
    error: Option<String>,
}

/// What the loop last told us about each target.
pub struct Health {
    clock: Arc<dyn Clock>,
    stale_after_intervals: u32,
    targets: Mutex<BTreeMap<String, TargetHealth>>,
    /// By policy file, from the last reload.
    reload_failures: Mutex<BTreeMap<String, ReloadFailure>>,
    reload_failure_unhealthy: bool,
}

/// The `/healthz` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// "ok" or "unhealthy".
    pub status: &'static str,
    /// Each target's health, by name.
    pub targets: BTreeMap<String, TargetReport>,
    /// Not failures of evaluation, but worth acting on: each policy file
    /// that failed to reload (`FILE: error`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// One target's part of the `/healthz` body.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReport {
    /// Evaluated within `stale_after_intervals` of its interval, and its last
    /// evaluation did not fail.
    pub healthy: bool,
    /// When the target was last evaluated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_evaluation: Option<DateTime<Utc>>,
    /// Seconds since the last evaluation.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub age_s: Option<i64>,
    /// Why it is unhealthy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// Its policy file failed to reload: the old policy is in force.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<String>,
}

impl HealthReport {
    /// True when every target is healthy ("ok").
    pub fn healthy(&self) -> bool {
        self.status == "ok"
    }
}

impl Health {
    /// Health read with `clock`; a target is stale after `stale_after_intervals` of its intervals
    /// without an evaluation.
    pub fn new(clock: Arc<dyn Clock>, stale_after_intervals: u32) -> Health {
        Health {
            clock,
            stale_after_intervals,
            targets: Mutex::new(BTreeMap::new()),
            reload_failures: Mutex::new(BTreeMap::new()),
            reload_failure_unhealthy: false,
        }
    }

    /// With `true`, a policy file that failed to reload makes the report
    /// unhealthy; by default it is a warning only.
    pub fn with_reload_failure_unhealthy(mut self, unhealthy: bool) -> Health {
        self.reload_failure_unhealthy = unhealthy;
        self
    }

    /// The policy files that failed at the last reload (empty: all loaded).
    pub fn set_reload_failures(&self, failures: &BTreeMap<String, ReloadFailure>) {
        *lock(&self.reload_failures) = failures.clone();
    }

    /// Declares the targets the daemon evaluates (at start and on reload);
    /// targets no longer listed are forgotten.
    pub fn set_targets(&self, targets: &[(String, Duration)]) {
        let mut map = lock(&self.targets);
        map.retain(|name, _| targets.iter().any(|(n, _)| n == name));
        for (name, interval) in targets {
            map.entry(name.clone())
                .and_modify(|t| t.interval = *interval)
                .or_insert(TargetHealth {
                    interval: *interval,
                    last: None,
                    error: None,
                });
        }
    }

    /// Takes in a live evaluation: it succeeded unless its outcome has an error.
    pub fn observe(&self, record: &DecisionRecord) {
        if !record.role.is_live() {
            return;
        }
        let mut map = lock(&self.targets);
        if let Some(t) = map.get_mut(&record.target) {
            t.last = Some(record.time);
            t.error = record.outcome.error().map(str::to_string);
        }
    }

    /// How many targets there are, and how many are healthy: what the
    /// status line says, without building the report (at 10,000 targets a
    /// map of 10,000 reports, about 2 MiB, each time the line was sent).
    pub fn counts(&self) -> (usize, usize) {
        let now = self.clock.now();
        let map = lock(&self.targets);
        let healthy = map
            .values()
            .filter(|t| self.problem(t, now).is_none())
            .count();
        (map.len(), healthy)
    }

    /// Why a target is unhealthy at `now`, if it is.
    fn problem<'a>(&self, t: &'a TargetHealth, now: DateTime<Utc>) -> Option<Problem<'a>> {
        let max_age = t.interval * self.stale_after_intervals;
        let age = t.last.map(|last| now - last);
        match (&t.error, age) {
            (_, None) => Some(Problem::NotEvaluated),
            (Some(e), _) => Some(Problem::Failed(e)),
            (None, Some(age)) if age.to_std().unwrap_or_default() > max_age => {
                Some(Problem::Stale {
                    age,
                    intervals: self.stale_after_intervals,
                    max_age,
                })
            }
            (None, Some(_)) => None,
        }
    }

    /// The `/healthz` body now.
    pub fn report(&self) -> HealthReport {
        let now = self.clock.now();
        let failures = lock(&self.reload_failures).clone();
        let map = lock(&self.targets);
        let mut targets = BTreeMap::new();
        for (name, t) in map.iter() {
            let problem = self.problem(t, now).map(|p| p.to_string());
            let warning = failures
                .iter()
                .find(|(_, f)| f.target.as_ref() == Some(name))
                .map(|(file, f)| f.record(file).notice());
            targets.insert(
                name.clone(),
                TargetReport {
                    healthy: problem.is_none(),
                    last_evaluation: t.last,
                    age_s: t.last.map(|last| (now - last).num_seconds()),
                    problem,
                    warning,
                },
            );
        }
        let warnings: Vec<String> = failures
            .iter()
            .map(|(file, f)| format!("{file}: policy reload failed: {}", f.error))
            .collect();
        let reload_ok = warnings.is_empty() || !self.reload_failure_unhealthy;
        let all_ok = reload_ok && targets.values().all(|t| t.healthy);
        HealthReport {
            status: if all_ok { "ok" } else { "unhealthy" },
            targets,
            warnings,
        }
    }
}

/// Why a target is unhealthy; what `/healthz` says of it. Kept as data until
/// said, so the status line's counts (once a second) build no text.
enum Problem<'a> {
    NotEvaluated,
    Failed(&'a str),
    Stale {
        age: chrono::Duration,
        intervals: u32,
        max_age: Duration,
    },
}

impl std::fmt::Display for Problem<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Problem::NotEvaluated => write!(f, "not evaluated yet"),
            Problem::Failed(e) => write!(f, "last evaluation failed: {e}"),
            Problem::Stale {
                age,
                intervals,
                max_age,
            } => write!(
                f,
                "last evaluation {}s ago, more than {intervals} intervals ({}s)",
                age.num_seconds(),
                max_age.as_secs()
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    /// The status line's counts are the report's: every target, and those
    /// evaluated well and recently.
    #[test]
    fn the_counts_agree_with_the_report() {
        let now = DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::days(1);
        let health = Health::new(Arc::new(ManualClock::new(now)), 3);
        let interval = Duration::from_secs(10);
        let names = ["fresh", "failed", "stale", "never"].map(|n| (n.to_string(), interval));
        health.set_targets(&names);
        {
            let mut map = lock(&health.targets);
            let ago = |s| Some(now - chrono::Duration::seconds(s));
            map.get_mut("fresh").unwrap().last = ago(5);
            let failed = map.get_mut("failed").unwrap();
            failed.last = ago(5);
            failed.error = Some("Throttling".into());
            map.get_mut("stale").unwrap().last = ago(31);
        }
        let report = health.report();
        let healthy: Vec<&str> = report
            .targets
            .iter()
            .filter(|(_, t)| t.healthy)
            .map(|(name, _)| name.as_str())
            .collect();
        assert_eq!(healthy, ["fresh"]);
        assert_eq!(health.counts(), (4, 1));
    }
}
