//! Writing an evaluation's records: the decisions log, tracing, alerts,
//! ebb's own metrics and systemd's status line.

use super::decisions_log::record_json;
use super::run::Daemon;
use crate::decision::{Action, DecisionRecord};
use std::time::Duration;

impl Daemon {
    /// Writes an evaluation's records: the decisions log, tracing, alerts
    /// and metrics, systemd's status line.
    pub(super) fn write_records(&mut self, records: &mut [DecisionRecord], took: Duration) {
        for record in records.iter_mut() {
            record.instance = Some(self.instance.clone());
            let slot = self.slots.get(&record.target);
            record.account = slot.and_then(|s| s.policy.file.target.account.clone());
            if let Some(failed) = slot.and_then(|s| s.reload_failed.as_ref()) {
                record.notices.push(failed.notice());
                record.reload_failed = Some(failed.clone());
            }
            // Serialized once, for the log and for tracing: at 10,000
            // targets a round, a second serialization was a tenth of the
            // daemon's CPU.
            let written = record_json(record).and_then(|json| {
                emit(record, &json);
                self.log.append_json(&json)
            });
            if let Err(e) = written {
                tracing::error!(error = %e, path = %self.log.path().display(), "cannot write the decisions log");
            }
            self.ops.observe(record, took);
        }
        self.ops.update_status(records.first());
    }
}

/// Every decision also goes through tracing, as one event carrying `json`,
/// the record as the log has it.
fn emit(record: &DecisionRecord, json: &str) {
    if let Some(error) = record.outcome.error() {
        tracing::warn!(target: "ebb::decision", group = %record.target, action = ?record.action, desired = record.desired, error, decision = %json, "{}", record.reason);
    } else if record.action != Action::Hold {
        tracing::info!(target: "ebb::decision", group = %record.target, action = ?record.action, desired = record.desired, applied = record.outcome.is_applied(), dry_run = record.outcome.is_dry_run(), decision = %json, "{}", record.reason);
    } else {
        tracing::debug!(target: "ebb::decision", group = %record.target, decision = %json, "{}", record.reason);
    }
}
