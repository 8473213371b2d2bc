//! Alerts on the decision stream: rules watch every [`DecisionRecord`] and
//! tell operators when scaling goes wrong, through webhooks, Slack,
//! Alertmanager or an SNS topic.
//!
//! [`rules`] turns records into firing/resolved events (pure: record time is
//! its only clock), [`queue`] delivers them in the background with retries on
//! a bounded queue, and [`sinks`] knows each receiver's wire format. The
//! [`Alerter`] joins them: the control loop hands it each record and never
//! waits on the network.
//!
//! [`DecisionRecord`]: crate::decision::DecisionRecord

pub mod queue;
pub mod rules;
pub mod sinks;
pub mod sns;

use crate::daemon::config::AwsSettings;
use crate::decision::DecisionRecord;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::time::Duration;
use thiserror::Error;

pub use queue::{AlertMetrics, Dispatcher};
pub use rules::{ReloadFailure, Rule, RuleEngine, RuleKind, SavedAlerts};
pub use sinks::{Secret, SecretSource, Sink, SinkKind};

/// How urgent an alert is; sinks can ignore what is below their minimum.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// The least urgent; sinks take it only with `min_severity = "info"` (their default).
    Info,
    /// The default severity of a rule.
    #[default]
    Warning,
    /// The most urgent; a sink with `min_severity = "critical"` takes only these.
    Critical,
}

impl Severity {
    /// The severity as the config and the sinks spell it: `info`, `warning` or `critical`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

/// Whether an event starts (or repeats) an alert, or ends it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertStatus {
    /// The condition holds: the alert starts, or is sent again.
    Firing,
    /// The condition cleared: the alert ends.
    Resolved,
}

/// One alert notification, as every sink receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AlertEvent {
    /// Whether the alert starts (or repeats) or ends.
    pub status: AlertStatus,
    /// The rule's name: `alertname` in Alertmanager.
    pub rule: String,
    /// The target (Auto Scaling group); for a reload failure of a file with
    /// no target yet, the policy file.
    pub target: String,
    /// How urgent the rule says the alert is.
    pub severity: Severity,
    /// The rule's labels; `alertname`, `target` and `severity` are added by sinks.
    pub labels: BTreeMap<String, String>,
    /// One line: what is wrong.
    pub summary: String,
    /// Details: the figures behind it.
    pub description: String,
    /// When the condition started holding.
    pub starts_at: DateTime<Utc>,
    /// When it cleared (resolved events only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<DateTime<Utc>>,
    /// When this event was produced (record time).
    pub at: DateTime<Utc>,
    /// True for a reminder of an alert already sent.
    #[serde(default)]
    pub repeat: bool,
}

/// The `[alerts]` section of the daemon config.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertsConfig {
    /// How often an alert that still holds is sent again.
    #[serde(with = "crate::duration", default = "default_repeat_interval")]
    pub repeat_interval: Duration,
    /// Events waiting for delivery, per sink; when full the oldest is dropped.
    #[serde(default = "default_queue_capacity")]
    pub queue_capacity: usize,
    /// Retries and timeouts for sending events.
    #[serde(default)]
    pub delivery: DeliveryConfig,
    /// The `[[alerts.rules]]`: what to watch for.
    #[serde(default)]
    pub rules: Vec<rules::RuleConfig>,
    /// The `[[alerts.sinks]]`: where to send what fires.
    #[serde(default)]
    pub sinks: Vec<sinks::SinkConfig>,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            repeat_interval: default_repeat_interval(),
            queue_capacity: default_queue_capacity(),
            delivery: DeliveryConfig::default(),
            rules: Vec::new(),
            sinks: Vec::new(),
        }
    }
}

fn default_repeat_interval() -> Duration {
    Duration::from_secs(3600)
}

fn default_queue_capacity() -> usize {
    1000
}

/// Retries and timeouts for one delivery.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeliveryConfig {
    /// Attempts per event, the first included.
    #[serde(default = "default_max_attempts")]
    pub max_attempts: u32,
    /// Wait before the first retry; doubles each retry up to `max_backoff`.
    #[serde(with = "crate::duration", default = "default_initial_backoff")]
    pub initial_backoff: Duration,
    /// The longest wait between retries; default 1m.
    #[serde(with = "crate::duration", default = "default_max_backoff")]
    pub max_backoff: Duration,
    /// Per-request timeout (connect and response).
    #[serde(with = "crate::duration", default = "default_timeout")]
    pub timeout: Duration,
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        DeliveryConfig {
            max_attempts: default_max_attempts(),
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
            timeout: default_timeout(),
        }
    }
}

fn default_max_attempts() -> u32 {
    5
}
fn default_initial_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(60)
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// A bad `[alerts]` section: says which rule or sink and what is wrong.
#[derive(Debug, Error)]
pub enum AlertConfigError {
    /// A rule is wrong.
    #[error("alerts.rules[{index}] ({kind}): {message}")]
    Rule {
        /// Its position in `[[alerts.rules]]`, from 0.
        index: usize,
        /// Its kind, as written.
        kind: String,
        /// What is wrong.
        message: String,
    },
    /// A sink is wrong.
    #[error("alerts.sinks[{index}] ({kind}): {message}")]
    Sink {
        /// Its position in `[[alerts.sinks]]`, from 0.
        index: usize,
        /// Its kind, as written.
        kind: String,
        /// What is wrong.
        message: String,
    },
    /// A field of `[alerts]` itself is wrong.
    #[error("alerts.{field}: {message}")]
    Field {
        /// The field's name, e.g. `repeat_interval`.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// Rules plus delivery: what the daemon holds and feeds every record to.
pub struct Alerter {
    engine: RuleEngine,
    dispatcher: Dispatcher,
}

impl Alerter {
    /// Validates the config, reads sink URLs and tokens, and starts one
    /// delivery worker per sink (on the current tokio runtime); SNS sinks
    /// call AWS with `aws`.
    pub fn start(
        config: &AlertsConfig,
        metrics: AlertMetrics,
        aws: &AwsSettings,
    ) -> Result<Alerter, AlertConfigError> {
        if config.queue_capacity == 0 {
            return Err(AlertConfigError::Field {
                field: "queue_capacity",
                message: "must be at least 1".into(),
            });
        }
        if config.repeat_interval.is_zero() {
            return Err(AlertConfigError::Field {
                field: "repeat_interval",
                message: "must be longer than zero".into(),
            });
        }
        if config.delivery.max_attempts == 0 {
            return Err(AlertConfigError::Field {
                field: "delivery.max_attempts",
                message: "must be at least 1".into(),
            });
        }
        let engine = RuleEngine::from_config(config)?;
        let sinks = sinks::build_all(&config.sinks, config.repeat_interval)?;
        let dispatcher = Dispatcher::start(
            sinks,
            config.queue_capacity,
            config.delivery.clone(),
            metrics,
            aws,
        )
        .map_err(|e| AlertConfigError::Field {
            field: "sinks",
            message: e.to_string(),
        })?;
        Ok(Alerter { engine, dispatcher })
    }

    /// Evaluates the rules on a record and queues what they produced.
    /// Never blocks on delivery.
    pub fn observe(&mut self, record: &DecisionRecord) {
        for event in self.engine.observe(record) {
            self.dispatcher.send(event);
        }
    }

    /// Tells the rules how a policy reload went: `failures` maps each policy
    /// file that failed to load to its error; files not in it loaded fine.
    pub fn policy_reload(&mut self, at: DateTime<Utc>, failures: &BTreeMap<String, ReloadFailure>) {
        for event in self.engine.policy_reload(at, failures) {
            self.dispatcher.send(event);
        }
    }

    /// The targets now evaluated: alerts of the others resolve.
    pub fn retain_targets(&mut self, at: DateTime<Utc>, targets: &[String]) {
        for event in self.engine.retain_targets(at, targets) {
            self.dispatcher.send(event);
        }
    }

    /// What the rules remember, to save across restarts.
    pub fn saved(&self) -> SavedAlerts {
        self.engine.saved()
    }

    /// Takes back what the rules remembered before a restart.
    pub fn restore(&mut self, saved: &SavedAlerts) {
        self.engine.restore(saved);
    }

    /// The queues events are delivered through.
    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// Waits up to `deadline` for queued events to go out (at shutdown).
    pub async fn flush(&self, deadline: Duration) -> bool {
        self.dispatcher.flush(deadline).await
    }
}
