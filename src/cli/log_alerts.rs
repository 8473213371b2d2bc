//! `ebb log alerts`: run the alert rules of a daemon config over a decisions
//! log and print what would have fired, repeated and resolved, without
//! sending anything. For tuning rules on history before they page anyone.

use super::log::{Records, printable};
use crate::alert::{AlertEvent, AlertStatus, AlertsConfig, ReloadFailure, RuleEngine};
use crate::decision::DecisionRecord;
use anyhow::{Context, bail};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The arguments of `ebb log alerts`.
#[derive(Debug, Args)]
pub struct AlertsArgs {
    /// The daemon config whose `[alerts]` section holds the rules.
    #[arg(long, short, default_value = "/etc/ebb/ebb.toml")]
    pub config: PathBuf,
    /// Only this target.
    #[arg(long, short)]
    pub target: Option<String>,
    /// Print only the summary per rule.
    #[arg(long)]
    pub summary: bool,
}

/// Reads the `[alerts]` section of a daemon config file.
pub fn read_alerts_config(path: &Path) -> anyhow::Result<AlertsConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read `{}`", path.display()))?;
    let mut doc: toml::Table =
        toml::from_str(&text).with_context(|| format!("`{}` is not valid TOML", path.display()))?;
    let Some(alerts) = doc.remove("alerts") else {
        bail!("`{}` has no [alerts] section", path.display());
    };
    alerts
        .try_into()
        .with_context(|| format!("`{}`: invalid [alerts] section", path.display()))
}

/// Counts per rule, for the summary.
#[derive(Debug, Default)]
struct RuleCount {
    fired: u64,
    repeated: u64,
    resolved: u64,
    /// Still firing at the end of the log, by target.
    open: BTreeMap<String, ()>,
}

/// Runs `ebb log alerts` over the log at `log`, writing what would have fired to `out`.
pub fn run(log: &Path, args: AlertsArgs, out: &mut dyn Write) -> anyhow::Result<ExitCode> {
    let config = read_alerts_config(&args.config)?;
    let mut engine =
        RuleEngine::from_config(&config).with_context(|| format!("`{}`", args.config.display()))?;
    let mut counts: BTreeMap<String, RuleCount> = engine
        .rules()
        .iter()
        .map(|r| (r.name.clone(), RuleCount::default()))
        .collect();
    let mut records = Records::open(log)?;
    let mut reload_failures = ReloadFailures::default();
    while let Some(record) = records.next_record()? {
        if args.target.as_deref().is_some_and(|t| t != record.target) {
            continue;
        }
        let mut events = engine.observe(&record);
        if reload_failures.take_in(&record) {
            events.extend(engine.policy_reload(record.time, &reload_failures.by_file));
        }
        for event in events {
            let count = counts.entry(event.rule.clone()).or_default();
            match (event.status, event.repeat) {
                (AlertStatus::Firing, false) => {
                    count.fired += 1;
                    count.open.insert(event.target.clone(), ());
                }
                (AlertStatus::Firing, true) => count.repeated += 1,
                (AlertStatus::Resolved, _) => {
                    count.resolved += 1;
                    count.open.remove(&event.target);
                }
            }
            if !args.summary {
                writeln!(out, "{}", printable(&event_line(&event)))?;
            }
        }
    }
    let width = counts
        .keys()
        .map(String::len)
        .max()
        .unwrap_or(0)
        .max("rule".len());
    writeln!(
        out,
        "{:<width$}  {:>5}  {:>8}  {:>8}  still firing",
        "rule", "fired", "repeated", "resolved"
    )?;
    for (rule, c) in &counts {
        let open: Vec<String> = c.open.keys().map(|t| printable(t)).collect();
        writeln!(
            out,
            "{rule:<width$}  {:>5}  {:>8}  {:>8}  {}",
            c.fired,
            c.repeated,
            c.resolved,
            if open.is_empty() {
                "-".to_string()
            } else {
                open.join(", ")
            }
        )?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The policy files failing to reload, as the records say: a record carries
/// its target's failure until a reload works, so a record without one means
/// that target's file loads again. (A new file that never loaded has no
/// records, so the log cannot tell of it.)
#[derive(Debug, Default)]
struct ReloadFailures {
    by_file: BTreeMap<String, ReloadFailure>,
}

impl ReloadFailures {
    /// Takes in one record; true when the set of failures changed.
    fn take_in(&mut self, record: &DecisionRecord) -> bool {
        let target = Some(&record.target);
        match &record.reload_failed {
            Some(failed) => {
                let failure = ReloadFailure {
                    target: Some(record.target.clone()),
                    error: failed.error.clone(),
                };
                let before = self.by_file.insert(failed.file.clone(), failure);
                before.is_none_or(|b| b.target.as_ref() != target || b.error != failed.error)
            }
            None => {
                let before = self.by_file.len();
                self.by_file.retain(|_, f| f.target.as_ref() != target);
                before != self.by_file.len()
            }
        }
    }
}

fn event_line(e: &AlertEvent) -> String {
    let status = match (e.status, e.repeat) {
        (AlertStatus::Firing, false) => "FIRING",
        (AlertStatus::Firing, true) => "REPEAT",
        (AlertStatus::Resolved, _) => "RESOLVED",
    };
    format!(
        "{} {status:<8} {:<8} {} {} | {}",
        e.at.format("%Y-%m-%dT%H:%M:%SZ"),
        e.severity.as_str(),
        e.rule,
        e.summary,
        e.description
    )
}
