//! What the daemon tells its operators, in one place: alerts on every
//! decision, its own metrics and `/healthz`, and systemd notifications.
//!
//! The daemon's owner task holds one [`Operations`] and calls it at a few
//! points: each finished evaluation ([`Operations::observe`]), each reload,
//! each time its loop goes round ([`Operations::beat`]), and at shutdown.
//! None of these calls waits on the network.

use super::config::AwsSettings;
use crate::alert::{AlertConfigError, Alerter, AlertsConfig, ReloadFailure, SavedAlerts};
use crate::clock::SystemClock;
use crate::decision::DecisionRecord;
use crate::telemetry::systemd::{self, Heartbeat};
use crate::telemetry::{Telemetry, TelemetryConfig, server};
use chrono::Utc;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long shutdown waits for queued alerts to go out.
const ALERT_FLUSH_DEADLINE: Duration = Duration::from_secs(5);

/// systemd's status line counts every target's health (work in the number
/// of targets): it is rebuilt at most this often, however many evaluations
/// finish, so a round over N targets costs O(N), not O(N^2).
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// When systemd's status line is due again.
#[derive(Debug, Default)]
struct StatusThrottle {
    /// The latest decision, as the line shows it.
    last: Option<String>,
    /// Something changed since the line was last sent.
    pending: bool,
    sent_at: Option<Instant>,
}

impl StatusThrottle {
    /// Notes a change; whether the line is due now.
    fn changed(&mut self, last: Option<String>, now: Instant) -> bool {
        if last.is_some() {
            self.last = last;
        }
        self.pending = true;
        self.due(now)
    }

    /// Whether a pending change may be sent now; if so, it counts as sent.
    fn due(&mut self, now: Instant) -> bool {
        let waited = self
            .sent_at
            .is_none_or(|at| now.saturating_duration_since(at) >= STATUS_EVERY);
        if self.pending && waited {
            self.pending = false;
            self.sent_at = Some(now);
            return true;
        }
        false
    }
}

/// Alerts, telemetry and systemd for a running daemon.
pub struct Operations {
    /// The metrics and health the telemetry server serves.
    pub telemetry: Arc<Telemetry>,
    alerter: Alerter,
    heartbeat: Heartbeat,
    status: StatusThrottle,
    server: Option<(oneshot::Sender<()>, JoinHandle<()>)>,
    listening: Option<SocketAddr>,
    watchdog: Option<JoinHandle<()>>,
}

/// Why the operations side of the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub enum OperationsError {
    /// The `[alerts]` section is wrong.
    #[error(transparent)]
    Alerts(#[from] AlertConfigError),
    /// The telemetry server could not listen.
    #[error(transparent)]
    Listen(#[from] server::BindError),
}

impl Operations {
    /// Validates the `[alerts]` section and reads the sinks' secrets, binds
    /// the telemetry listener (a taken port is an error now, not later), and
    /// the watchdog waits for [`Operations::ready`].
    pub async fn start(
        alerts: &AlertsConfig,
        telemetry_config: &TelemetryConfig,
        aws: &AwsSettings,
    ) -> Result<Operations, OperationsError> {
        let telemetry = Arc::new(Telemetry::new(telemetry_config, Arc::new(SystemClock)));
        let alerter = Alerter::start(alerts, telemetry.metrics.alerts.clone(), aws)?;
        let (server, listening) = if telemetry_config.enabled {
            let listener = server::bind(telemetry_config.listen).await?;
            let addr = listener.local_addr().ok();
            let (stop, stopped) = oneshot::channel::<()>();
            let task = tokio::spawn(server::serve(listener, telemetry.clone(), async {
                let _ = stopped.await;
            }));
            tracing::info!(listen = ?addr, "serving /metrics and /healthz");
            (Some((stop, task)), addr)
        } else {
            (None, None)
        };
        Ok(Operations {
            telemetry,
            alerter,
            heartbeat: Heartbeat::new(),
            status: StatusThrottle::default(),
            server,
            listening,
            watchdog: None,
        })
    }

    /// Where `/metrics` is served, if it is.
    pub fn listening(&self) -> Option<SocketAddr> {
        self.listening
    }

    /// Declares the targets and their intervals (at start and after a reload).
    /// Alerts of targets no longer evaluated resolve.
    pub fn set_targets(&mut self, targets: &[(String, Duration)]) {
        self.telemetry.set_targets(targets);
        let names: Vec<String> = targets.iter().map(|(name, _)| name.clone()).collect();
        self.alerter.retain_targets(Utc::now(), &names);
    }

    /// Takes in one finished evaluation.
    pub fn observe(&mut self, record: &DecisionRecord, took: Duration) {
        self.telemetry.observe(record, took);
        self.alerter.observe(record);
    }

    /// What the alert rules remember, to save across restarts.
    pub fn saved_alerts(&self) -> SavedAlerts {
        self.alerter.saved()
    }

    /// Takes back what the alert rules remembered before a restart.
    pub fn restore_alerts(&mut self, saved: &SavedAlerts) {
        self.alerter.restore(saved);
    }

    /// Takes in the result of a policy reload: each policy file that failed,
    /// with its errors (an empty map resolves earlier reload alerts and
    /// clears the warnings of `/healthz`).
    pub fn policy_reload(&mut self, failures: &BTreeMap<String, ReloadFailure>) {
        self.telemetry.health.set_reload_failures(failures);
        self.alerter.policy_reload(Utc::now(), failures);
    }

    /// The control loop went round: keeps the systemd watchdog fed, and
    /// sends a status line held back by [`STATUS_EVERY`].
    pub fn beat(&mut self) {
        self.heartbeat.beat();
        if self.status.due(Instant::now()) {
            self.send_status();
        }
    }

    /// Tells systemd the daemon is ready (again, after a reload), with a
    /// one-line status. The first call starts the watchdog: systemd counts
    /// `WatchdogSec=` from readiness, and startup (reading AWS history) may
    /// take longer than one watchdog interval.
    pub fn ready(&mut self) {
        systemd::ready(&self.status_line(None));
        if self.watchdog.is_none() {
            self.heartbeat.beat();
            self.watchdog = systemd::spawn_watchdog(self.heartbeat.clone());
        }
    }

    /// Updates `systemctl status` with the targets' health and the latest
    /// decision: now, or within [`STATUS_EVERY`] (at the next beat).
    pub fn update_status(&mut self, last: Option<&DecisionRecord>) {
        if self.status.changed(last.map(last_decision), Instant::now()) {
            self.send_status();
        }
    }

    fn send_status(&self) {
        systemd::status(&self.line(self.status.last.as_deref()));
    }

    /// One line: how many targets, how many healthy, the latest decision.
    pub fn status_line(&self, last: Option<&DecisionRecord>) -> String {
        self.line(last.map(last_decision).as_deref())
    }

    fn line(&self, last: Option<&str>) -> String {
        let (targets, healthy) = self.telemetry.health.counts();
        let mut line = format!("{targets} targets, {healthy} healthy");
        if let Some(last) = last {
            line.push_str("; last: ");
            line.push_str(last);
        }
        line
    }

    /// Tells systemd the daemon is reloading (`RELOADING=1`).
    pub fn reloading(&self) {
        systemd::reloading();
    }

    /// An SDK interceptor that counts AWS calls into ebb's metrics.
    pub fn aws_interceptor(&self) -> crate::telemetry::aws::ApiMetricsInterceptor {
        self.telemetry.metrics.aws_interceptor()
    }

    /// At shutdown: tells systemd, gives queued alerts a few seconds, stops
    /// the listener and the watchdog.
    pub async fn shutdown(mut self) {
        systemd::stopping();
        if !self.alerter.flush(ALERT_FLUSH_DEADLINE).await {
            tracing::warn!(
                pending = self.alerter.dispatcher().pending(),
                "shutting down with alert notifications still queued"
            );
        }
        if let Some((stop, task)) = self.server.take() {
            let _ = stop.send(());
            let _ = task.await;
        }
        if let Some(watchdog) = self.watchdog.take() {
            watchdog.abort();
        }
    }
}

/// A decision as the status line shows it: `web scale-out 4->6 at 09:00:00Z`.
fn last_decision(r: &DecisionRecord) -> String {
    let action = serde_json::to_value(r.action)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    format!(
        "{} {action} {}->{} at {}",
        r.target,
        r.capacity.desired,
        r.desired,
        r.time.format("%H:%M:%SZ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_line_goes_out_at_most_once_a_second_and_the_last_change_is_not_lost() {
        let mut status = StatusThrottle::default();
        let start = Instant::now();
        assert!(status.changed(Some("web hold 2->2".into()), start));
        // A round of a thousand evaluations within the second: none sent.
        for i in 1..=1000u64 {
            let at = start + Duration::from_micros(i * 900);
            assert!(!status.changed(Some(format!("t{i} hold 2->2")), at));
        }
        // Nor at a beat before the second is up.
        assert!(!status.due(start + Duration::from_millis(950)));
        // The beat after it sends the latest.
        assert!(status.due(start + STATUS_EVERY));
        assert_eq!(status.last.as_deref(), Some("t1000 hold 2->2"));
        // Nothing new: nothing to send.
        assert!(!status.due(start + STATUS_EVERY * 5));
        // A change without a decision (a reload) keeps the last decision.
        assert!(status.changed(None, start + STATUS_EVERY * 6));
        assert_eq!(status.last.as_deref(), Some("t1000 hold 2->2"));
    }
}
