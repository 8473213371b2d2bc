//! Metric series: the datapoints the core reads, and how they are asked for.
//!
//! Sources produce these and the pure core ([`crate::signal`], the policies,
//! the evaluator) consumes them; they live here so the core needs nothing
//! from the modules that do I/O.

use crate::policy_file::MetricSpec;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;

/// One timestamped value, as a source reported it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Datapoint {
    /// The time the value is for (a CloudWatch period's start, a scrape's time).
    pub time: DateTime<Utc>,
    /// The value, in the metric's own units.
    pub value: f64,
}

/// Identifies a metric of a target: (target name, metric name).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MetricKey {
    /// The target's name (its group, or a shadow's filing name).
    pub target: String,
    /// The metric's name under `[metrics]`.
    pub metric: String,
}

impl MetricKey {
    /// The key of `metric` of `target`.
    pub fn new(target: impl Into<String>, metric: impl Into<String>) -> Self {
        MetricKey {
            target: target.into(),
            metric: metric.into(),
        }
    }
}

/// A request for a metric's datapoints since `since`.
#[derive(Debug, Clone)]
pub struct MetricRequest {
    /// Which metric of which target the datapoints are for.
    pub key: MetricKey,
    /// How to fetch the metric: shared with the policy file it comes from
    /// (a round asks for every target's metrics; a copy each was most of
    /// the round's transient memory at 10,000 targets).
    pub spec: Arc<MetricSpec>,
    /// The earliest time the caller still needs datapoints for.
    pub since: DateTime<Utc>,
}

/// What a source returned for one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Oldest first.
    pub points: Vec<Datapoint>,
    /// Source-specific details for the decision record (e.g. which scrape
    /// targets answered).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
    /// Set when the source answered but its answer cannot be trusted now
    /// (e.g. too few scrape targets answered): the metric is stale at once,
    /// whatever the age of its last datapoint, so the governor holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stale: Option<String>,
}

/// Why a source could not deliver a metric, with its kind.
pub type FetchError = crate::error_kind::CallError;

/// The answers to a batch of requests, by key.
pub type FetchResults = HashMap<MetricKey, Result<Series, FetchError>>;
