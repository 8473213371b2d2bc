//! `ebb check --aws`: the policy files against the live groups they size.
//! Reads each group as the daemon would (one DescribeAutoScalingGroups per
//! 50 groups, the groups' own scaling policies and scheduled actions once
//! per account and region, through the account's role as the daemon
//! assumes it) and reports what would stop or surprise ebb: a group that
//! does not exist or is being deleted (errors), suspended processes, an
//! instance refresh, bounds outside the group's, scaling of its own, and
//! capacity counted in weights (warnings and notes).

use crate::actuator::Actuator;
use crate::daemon::accounts::ClientKey;
use crate::daemon::aws::{account_sdk_config, clients_from};
use crate::daemon::config::DaemonConfig;
use crate::group::GroupState;
use crate::policy_file::{ConflictAction, PolicyFile};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// What `--aws` found: how many errors and warnings it printed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Findings {
    /// Errors printed: a group missing or being deleted.
    pub errors: usize,
    /// Warnings printed: things that change how ebb can scale the group.
    pub warnings: usize,
}

/// Checks every file's group; prints one line per finding to stderr and
/// one `aws ok:` line per group without any to stdout.
pub fn check(
    files: &[(PathBuf, PolicyFile)],
    config: Option<&Path>,
    strict: bool,
) -> anyhow::Result<Findings> {
    let config = DaemonConfig::load(config)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut by_key: BTreeMap<ClientKey, Vec<&(PathBuf, PolicyFile)>> = BTreeMap::new();
    for entry in files {
        if let Some(e) =
            crate::daemon::accounts::unknown_account(&entry.0, &entry.1.target, &config.accounts)
        {
            anyhow::bail!("{e}");
        }
        by_key
            .entry(ClientKey::of(&entry.1.target, &config.accounts))
            .or_default()
            .push(entry);
    }
    let mut findings = Findings::default();
    for (key, entries) in by_key {
        let names: Vec<String> = entries
            .iter()
            .map(|(_, f)| f.target.group.clone())
            .collect();
        let (groups, own) = runtime.block_on(async {
            let sdk = account_sdk_config(&config.aws, &config.accounts, &key).await;
            let mut actuator = clients_from(&sdk).actuator.asking_refreshes_at_first_look();
            let groups = actuator.describe(&names, chrono::Utc::now()).await;
            let own = actuator.own_scaling(&names).await;
            (groups, own)
        });
        let groups = groups.map_err(|e| anyhow::anyhow!("{e}"))?;
        let own = own.unwrap_or_else(|e| {
            eprintln!("warning: cannot read the groups' own scaling policies: {e}");
            findings.warnings += 1;
            BTreeMap::new()
        });
        for (path, file) in entries {
            let lines = findings_for(file, groups.get(&file.target.group), &own);
            let level = |error: bool| match (error, strict) {
                (true, _) | (false, true) => "error",
                (false, false) => "warning",
            };
            for (error, line) in &lines {
                eprintln!("{}: {}: aws: {line}", level(*error), path.display());
                if *error || strict {
                    findings.errors += 1;
                } else {
                    findings.warnings += 1;
                }
            }
            if lines.is_empty() {
                println!("aws ok: {} (group {})", path.display(), file.target.group);
            }
        }
    }
    Ok(findings)
}

/// What one file's live group says: (is an error, text) lines.
fn findings_for(
    file: &PolicyFile,
    group: Option<&GroupState>,
    own: &BTreeMap<String, Vec<String>>,
) -> Vec<(bool, String)> {
    let name = &file.target.group;
    let Some(group) = group else {
        return vec![(
            true,
            format!("target.group: Auto Scaling group `{name}` not found"),
        )];
    };
    let mut out = Vec::new();
    if let Some(status) = &group.info.status {
        out.push((
            true,
            format!("group `{name}` is being deleted (Status = {status}): ebb will hold it"),
        ));
    }
    let respected: HashMap<&str, &str> = [("Launch", "no scale-out"), ("Terminate", "no scale-in")]
        .into_iter()
        .collect();
    for process in &group.info.suspended {
        let effect = match respected.get(process.as_str()) {
            Some(effect) => (*effect).to_string(),
            None if file.target.respect_suspended.contains(process) => {
                "no scaling (respect_suspended)".into()
            }
            None => "ebb acts anyway (not in target.respect_suspended)".into(),
        };
        out.push((
            false,
            format!("group `{name}` has process {process} suspended: {effect}"),
        ));
    }
    if let Some(refresh) = &group.info.instance_refresh {
        out.push((
            false,
            format!(
                "group `{name}` runs instance refresh {} ({}): no scale-in until it ends",
                refresh.id, refresh.status
            ),
        ));
    }
    let (min, max) = (file.target.min_capacity, file.target.max_capacity);
    if min < group.min || max > group.max {
        out.push((
            false,
            format!(
                "target bounds [{min}, {max}] lie outside the group's [{}, {}]: ebb keeps within the group's",
                group.min, group.max
            ),
        ));
    }
    if let Some(conflicts) = own.get(name) {
        let action = match file.target.on_conflicting_policies {
            ConflictAction::Warn => "ebb acts anyway (on_conflicting_policies = warn)",
            ConflictAction::Refuse => "ebb will not act on it (on_conflicting_policies = refuse)",
        };
        out.push((
            false,
            format!(
                "group `{name}` has scaling of its own: {}; two controllers on one group fight: {action}",
                conflicts.join(", ")
            ),
        ));
    }
    if let Some(unit) = crate::group_features::capacity_unit(group) {
        out.push((
            false,
            format!(
                "group `{name}` counts capacity in {unit}: min_capacity and max_capacity are read in {unit}, not instances"
            ),
        ));
    }
    for problem in &group.info.problems {
        out.push((false, format!("group `{name}`: {problem}")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluator::tests::{COOLDOWNS, policy_file, t};
    use crate::group::{GroupInfo, Instance, Lifecycle};

    #[test]
    fn each_finding_names_the_group_and_what_ebb_will_do() {
        let file = policy_file("web", "active", COOLDOWNS);
        assert_eq!(
            findings_for(&file, None, &BTreeMap::new()),
            [(
                true,
                "target.group: Auto Scaling group `web` not found".to_string()
            )]
        );
        let group = GroupState {
            desired: 4,
            min: 2,
            max: 10,
            instances: vec![Instance {
                weight: 2,
                ..Instance::new("i-1", Lifecycle::InService, t(0))
            }],
            info: GroupInfo {
                suspended: vec!["Launch".into(), "AZRebalance".into()],
                ..GroupInfo::default()
            },
        };
        let own = BTreeMap::from([(
            "web".to_string(),
            vec!["policy cpu (TargetTrackingScaling)".to_string()],
        )]);
        let lines: Vec<String> = findings_for(&file, Some(&group), &own)
            .into_iter()
            .map(|(error, line)| {
                assert!(!error, "{line}");
                line
            })
            .collect();
        assert_eq!(
            lines,
            [
                "group `web` has process Launch suspended: no scale-out",
                "group `web` has process AZRebalance suspended: ebb acts anyway (not in target.respect_suspended)",
                "target bounds [1, 20] lie outside the group's [2, 10]: ebb keeps within the group's",
                "group `web` has scaling of its own: policy cpu (TargetTrackingScaling); two controllers on one group fight: ebb acts anyway (on_conflicting_policies = warn)",
                "group `web` counts capacity in units: min_capacity and max_capacity are read in units, not instances",
            ]
        );
    }
}
