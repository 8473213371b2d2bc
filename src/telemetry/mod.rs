//! ebb's own health: Prometheus metrics about what it does, a `/healthz`
//! that says whether every target was evaluated successfully and recently,
//! and systemd notifications (readiness, status, watchdog).
//!
//! [`metrics`] holds the series, [`aws`] counts AWS calls inside the SDK, [`health`] the per-target verdicts,
//! [`server`] serves both over HTTP, [`systemd`] talks to the service
//! manager. The daemon feeds [`Telemetry::observe`] every decision record.

pub mod aws;
pub mod health;
pub mod metrics;
pub mod server;
pub mod systemd;

use crate::clock::Clock;
use crate::decision::DecisionRecord;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use health::{Health, HealthReport};
pub use metrics::Metrics;

/// The `[telemetry]` section of the daemon config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetryConfig {
    /// Serve `/metrics` and `/healthz`; `false` turns the listener off.
    #[serde(default = "default_enabled")]
    pub enabled: bool,
    /// Where to listen. Loopback by default: metrics name every group.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// A target whose last evaluation is older than this many of its
    /// intervals makes `/healthz` answer 503.
    #[serde(default = "default_stale_after_intervals")]
    pub stale_after_intervals: u32,
    /// A policy file that failed to reload makes `/healthz` answer 503
    /// (by default 200, with the failure in `warnings`).
    #[serde(default)]
    pub unhealthy_on_reload_failure: bool,
    /// Series per target (`target` label) on `/metrics`; `false` leaves
    /// the totals only (a lower-cardinality page for thousands of targets).
    #[serde(default = "default_enabled")]
    pub per_target_series: bool,
    /// When not empty: per-target series for these targets only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per_target_only: Vec<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            enabled: default_enabled(),
            listen: default_listen(),
            stale_after_intervals: default_stale_after_intervals(),
            unhealthy_on_reload_failure: false,
            per_target_series: true,
            per_target_only: Vec::new(),
        }
    }
}

fn default_enabled() -> bool {
    true
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9464))
}

fn default_stale_after_intervals() -> u32 {
    3
}

/// Metrics and health, shared by the loop (writer) and the HTTP server (reader).
pub struct Telemetry {
    /// The Prometheus series `/metrics` serves.
    pub metrics: Metrics,
    /// What `/healthz` reports.
    pub health: Health,
}

impl Telemetry {
    /// Metrics and health as `config` sets them, read with `clock`.
    pub fn new(config: &TelemetryConfig, clock: Arc<dyn Clock>) -> Telemetry {
        Telemetry {
            metrics: Metrics::with_per_target(metrics::PerTarget::from_settings(
                config.per_target_series,
                &config.per_target_only,
            )),
            health: Health::new(clock, config.stale_after_intervals.max(1))
                .with_reload_failure_unhealthy(config.unhealthy_on_reload_failure),
        }
    }

    /// Declares the targets and their intervals, for `/healthz` and
    /// `ebb_evaluation_interval_seconds`.
    pub fn set_targets(&self, targets: &[(String, Duration)]) {
        self.health.set_targets(targets);
        self.metrics.set_targets(targets);
    }

    /// Takes in one evaluation: its record and how long it took.
    pub fn observe(&self, record: &DecisionRecord, took: Duration) {
        self.metrics.observe_record(record, took);
        self.health.observe(record);
    }
}
