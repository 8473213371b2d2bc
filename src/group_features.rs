//! What an Auto Scaling group's own features mean for ebb: which instances
//! serve (lifecycle, health, warm-up, weights), whether the group allows a
//! change now (suspended processes, an instance refresh, deletion, scaling
//! policies of its own), and which governor defaults it gives a policy
//! file that sets none. Pure: the group's state and the time come in.

use crate::decision::{Action, GroupRecord, InstanceCounts, ObservedCapacity, ScalingBlocks};
use crate::group::{GroupState, Lifecycle};
use crate::policy_file::{ConflictAction, GovernorSpec, PolicyFile};
use crate::signal::to_chrono;
use chrono::{DateTime, Utc};
use std::time::Duration;

/// The group as one evaluation sees it: capacity in the group's units,
/// what blocks a change, the governor settings in force, and the record of it.
#[derive(Debug, Clone)]
pub struct GroupView {
    /// Capacity as the policies see it: desired, serving and warming, in the group's units.
    pub capacity: ObservedCapacity,
    /// What the group does not allow now, per direction.
    pub blocks: ScalingBlocks,
    /// The governor settings in force: the file's, with the group's warm-up and cooldown where the
    /// file leaves them out.
    pub governor: GovernorSpec,
    /// What the record says about the group beyond its capacity.
    pub record: GroupRecord,
    /// Things worth a line in the record's notices.
    pub notices: Vec<String>,
}

/// Looks at `group` through a policy file. `conflicts` are the group's own
/// scaling policies and scheduled actions, as read at start or reload.
pub fn view(
    file: &PolicyFile,
    conflicts: &[String],
    now: DateTime<Utc>,
    group: &GroupState,
) -> GroupView {
    let mut record = GroupRecord::default();
    let mut notices = Vec::new();
    let governor = governor_for(file, group, &mut record);
    let pool_warmup = match (&group.info.warm_pool, file.target.warmup_from_pool) {
        (Some(pool), true) => pool.time_to_service,
        _ => None,
    };
    record.warmup_from_pool = pool_warmup;
    let (capacity, instances) = serving(now, group, governor.warmup, pool_warmup);
    for unknown in &instances.unknown {
        notices.push(format!(
            "instance {unknown}: a lifecycle state ebb does not know, counted as not serving"
        ));
    }
    record.instances = instances;
    record.capacity_unit = capacity_unit(group);
    record.suspended = group.info.suspended.clone();
    record.status = group.info.status.clone();
    if !group.info.suspended.is_empty() {
        notices.push(format!(
            "processes suspended on the group: {}",
            group.info.suspended.join(", ")
        ));
    }
    if let Some(refresh) = &group.info.instance_refresh {
        let done = refresh
            .percent_complete
            .map(|p| format!(", {p}% done"))
            .unwrap_or_default();
        let text = format!("instance refresh {} {}{done}", refresh.id, refresh.status);
        notices.push(format!(
            "{text}: the instances it replaces are not scaling by ebb; no scale-in until it ends"
        ));
        record.instance_refresh = Some(text);
    }
    if let Some(pool) = &group.info.warm_pool {
        let size = pool
            .size
            .map(|n| format!("{n} instance(s)"))
            .unwrap_or_else(|| "size not reported".into());
        let state = pool.pool_state.as_deref().unwrap_or("state not reported");
        record.warm_pool = Some(format!("{size}, {state}: not serving"));
    }
    if !conflicts.is_empty() {
        let action = match file.target.on_conflicting_policies {
            ConflictAction::Warn => "ebb acts anyway (on_conflicting_policies = warn)",
            ConflictAction::Refuse => "ebb does not act (on_conflicting_policies = refuse)",
        };
        notices.push(format!(
            "the group has scaling of its own: {}; two controllers on one group fight: {action}",
            conflicts.join(", ")
        ));
        record.conflicting_policies = conflicts.to_vec();
    }
    notices.extend(group.info.problems.iter().cloned());
    let blocks = blocks(file, conflicts, group);
    record.blocks = blocks.clone();
    GroupView {
        capacity,
        blocks,
        governor,
        record,
        notices,
    }
}

/// The unit the group counts capacity in when not instances: its
/// `DesiredCapacityType`, or `units` when its instances carry weights.
pub fn capacity_unit(group: &GroupState) -> Option<String> {
    let weighted = group.instances.iter().any(|i| i.weight != 1);
    group
        .info
        .capacity_type
        .clone()
        .or_else(|| weighted.then(|| "units".to_string()))
}

/// Capacity in the group's units (instance weights; 1 each without), and
/// instances by state. Serving: in service, healthy and past the warm-up
/// (`pool_warmup` for instances out of the warm pool, when measured).
/// Warming: younger in-service instances and pending ones, hooks included.
pub fn serving(
    now: DateTime<Utc>,
    group: &GroupState,
    warmup: Duration,
    pool_warmup: Option<Duration>,
) -> (ObservedCapacity, InstanceCounts) {
    let (mut in_service, mut warming) = (0u32, 0u32);
    let mut counts = InstanceCounts::default();
    for instance in &group.instances {
        let units = instance.weight;
        match &instance.lifecycle {
            Lifecycle::InService if instance.unhealthy => counts.unhealthy += 1,
            Lifecycle::InService => {
                let warmup = match (instance.from_warm_pool, pool_warmup) {
                    (true, Some(pool)) => pool,
                    _ => warmup,
                };
                if now - instance.launched_at >= to_chrono(warmup) {
                    in_service = in_service.saturating_add(units);
                    counts.in_service += 1;
                } else {
                    warming = warming.saturating_add(units);
                    counts.warming += 1;
                }
            }
            Lifecycle::Pending => {
                warming = warming.saturating_add(units);
                counts.warming += 1;
            }
            Lifecycle::PendingWait => {
                warming = warming.saturating_add(units);
                counts.pending_wait += 1;
            }
            Lifecycle::Standby => counts.standby += 1,
            Lifecycle::TerminatingWait => counts.terminating_wait += 1,
            Lifecycle::Leaving => counts.leaving += 1,
            Lifecycle::WarmPool => counts.warm_pool += 1,
            Lifecycle::Unknown(state) => counts.unknown.push(format!("{} ({state})", instance.id)),
        }
    }
    let capacity = ObservedCapacity {
        desired: group.desired,
        in_service,
        warming,
    };
    (capacity, counts)
}

/// The file's governor, with the group's DefaultInstanceWarmup and
/// DefaultCooldown (as the scale-in cooldown) where the file sets neither;
/// what was taken from the group goes in the record.
fn governor_for(file: &PolicyFile, group: &GroupState, record: &mut GroupRecord) -> GovernorSpec {
    let mut spec = file.governor.clone();
    if file.group_defaults.warmup
        && let Some(warmup) = group.info.default_instance_warmup
    {
        spec.warmup = warmup;
        record.warmup_from_group = Some(warmup);
    }
    if file.group_defaults.scale_in_cooldown
        && let Some(cooldown) = group.info.default_cooldown
    {
        spec.scale_in_cooldown = cooldown;
        record.scale_in_cooldown_from_group = Some(cooldown);
    }
    spec
}

/// What the group does not allow now, per direction.
fn blocks(file: &PolicyFile, conflicts: &[String], group: &GroupState) -> ScalingBlocks {
    if let Some(status) = &group.info.status {
        return ScalingBlocks::both(format!("the group is being deleted (Status = {status})"));
    }
    if !conflicts.is_empty() && file.target.on_conflicting_policies == ConflictAction::Refuse {
        return ScalingBlocks::both(format!(
            "refused: the group has scaling of its own ({}) and on_conflicting_policies = refuse",
            conflicts.join(", ")
        ));
    }
    let mut blocks = ScalingBlocks::default();
    for process in &group.info.suspended {
        let why = format!("process {process} suspended on the group");
        match process.as_str() {
            "Launch" => blocks.add(Action::ScaleOut, &why),
            "Terminate" => blocks.add(Action::ScaleIn, &why),
            other if file.target.respect_suspended.iter().any(|p| p == other) => {
                let why = format!("{why} (respect_suspended)");
                blocks.add(Action::ScaleOut, &why);
                blocks.add(Action::ScaleIn, &why);
            }
            _ => {}
        }
    }
    if let Some(refresh) = &group.info.instance_refresh {
        blocks.add(
            Action::ScaleIn,
            &format!(
                "instance refresh {} {} replacing instances",
                refresh.id, refresh.status
            ),
        );
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evaluator::tests::{COOLDOWNS, policy_file, policy_text, t};
    use crate::group::{GroupInfo, Instance, InstanceRefresh, WarmPool};

    fn instance(id: &str, lifecycle: Lifecycle, weight: u32) -> Instance {
        Instance {
            weight,
            ..Instance::new(id, lifecycle, t(-86_400))
        }
    }

    fn group(instances: Vec<Instance>, info: GroupInfo) -> GroupState {
        GroupState {
            desired: 6,
            min: 0,
            max: 100,
            instances,
            info,
        }
    }

    #[test]
    fn weights_make_units_and_each_state_is_counted_as_what_it_is() {
        let unhealthy = Instance {
            unhealthy: true,
            ..instance("sick", Lifecycle::InService, 2)
        };
        let g = group(
            vec![
                instance("big", Lifecycle::InService, 4),
                instance("small", Lifecycle::InService, 1),
                unhealthy,
                instance("booting", Lifecycle::Pending, 2),
                instance("hooked", Lifecycle::PendingWait, 1),
                instance("resting", Lifecycle::Standby, 4),
                instance("draining", Lifecycle::TerminatingWait, 1),
                instance("gone", Lifecycle::Leaving, 1),
                instance("warm", Lifecycle::WarmPool, 1),
                instance("odd", Lifecycle::Unknown("Sideways".into()), 3),
            ],
            GroupInfo {
                capacity_type: Some("vcpu".into()),
                ..GroupInfo::default()
            },
        );
        let (capacity, counts) = serving(t(0), &g, Duration::ZERO, None);
        assert_eq!(
            capacity,
            ObservedCapacity {
                desired: 6,
                in_service: 5,
                warming: 3,
            }
        );
        assert_eq!(
            counts,
            InstanceCounts {
                in_service: 2,
                warming: 1,
                pending_wait: 1,
                standby: 1,
                unhealthy: 1,
                terminating_wait: 1,
                leaving: 1,
                warm_pool: 1,
                unknown: vec!["odd (Sideways)".into()],
            }
        );
        let v = view(&policy_file("web", "active", COOLDOWNS), &[], t(0), &g);
        assert_eq!(v.record.capacity_unit.as_deref(), Some("vcpu"));
        assert!(
            v.notices[0].contains("odd (Sideways)") && v.notices[0].contains("not serving"),
            "{:?}",
            v.notices
        );
    }

    #[test]
    fn weights_without_a_capacity_type_are_units() {
        let g = group(
            vec![instance("a", Lifecycle::InService, 2)],
            GroupInfo::default(),
        );
        let v = view(&policy_file("web", "active", COOLDOWNS), &[], t(0), &g);
        assert_eq!(v.record.capacity_unit.as_deref(), Some("units"));
        let plain = group(
            vec![instance("a", Lifecycle::InService, 1)],
            GroupInfo::default(),
        );
        let v = view(&policy_file("web", "active", COOLDOWNS), &[], t(0), &plain);
        assert_eq!(v.record.capacity_unit, None);
    }

    fn suspended(processes: &[&str]) -> GroupInfo {
        GroupInfo {
            suspended: processes.iter().map(|p| p.to_string()).collect(),
            ..GroupInfo::default()
        }
    }

    fn file_respecting(respect: &str) -> PolicyFile {
        let text = policy_text("web", "active", COOLDOWNS).replace(
            "mode = \"active\"",
            &format!("mode = \"active\"\nrespect_suspended = [{respect}]"),
        );
        crate::policy_file::parse_str(&text, std::path::Path::new("test.toml")).unwrap()
    }

    #[test]
    fn launch_blocks_scale_out_terminate_scale_in_and_others_only_when_respected() {
        let file = file_respecting("");
        let b = blocks(&file, &[], &group(vec![], suspended(&["Launch"])));
        assert_eq!(
            b.scale_out.as_deref(),
            Some("process Launch suspended on the group")
        );
        assert_eq!(b.scale_in, None);
        let b = blocks(&file, &[], &group(vec![], suspended(&["Terminate"])));
        assert_eq!(
            (b.scale_out, b.scale_in.as_deref()),
            (None, Some("process Terminate suspended on the group"))
        );
        let others = suspended(&["AlarmNotification", "ScheduledActions", "AZRebalance"]);
        assert!(blocks(&file, &[], &group(vec![], others.clone())).is_empty());
        let file = file_respecting("\"AlarmNotification\"");
        let b = blocks(&file, &[], &group(vec![], others));
        let why = "process AlarmNotification suspended on the group (respect_suspended)";
        assert_eq!(
            (b.scale_out.as_deref(), b.scale_in.as_deref()),
            (Some(why), Some(why))
        );
    }

    #[test]
    fn an_unknown_process_in_respect_suspended_is_refused_with_its_field() {
        let text = policy_text("web", "active", COOLDOWNS).replace(
            "mode = \"active\"",
            "mode = \"active\"\nrespect_suspended = [\"Launch\", \"Alarms\"]",
        );
        let e = crate::policy_file::parse_str(&text, std::path::Path::new("w.toml"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("target.respect_suspended[1]"), "{e}");
        assert!(e.contains("`Alarms` is not an Auto Scaling process"), "{e}");
    }

    #[test]
    fn a_refresh_blocks_scale_in_only_and_deletion_or_refusal_both() {
        let file = file_respecting("");
        let refreshing = GroupInfo {
            instance_refresh: Some(Box::new(InstanceRefresh {
                id: "r-1".into(),
                status: "InProgress".into(),
                percent_complete: Some(40),
            })),
            ..GroupInfo::default()
        };
        let g = group(vec![], refreshing);
        let b = blocks(&file, &[], &g);
        assert_eq!(b.scale_out, None);
        assert_eq!(
            b.scale_in.as_deref(),
            Some("instance refresh r-1 InProgress replacing instances")
        );
        let v = view(&file, &[], t(0), &g);
        assert_eq!(
            v.record.instance_refresh.as_deref(),
            Some("instance refresh r-1 InProgress, 40% done")
        );
        let deleting = GroupInfo {
            status: Some("Delete in progress".into()),
            ..GroupInfo::default()
        };
        let b = blocks(&file, &[], &group(vec![], deleting));
        assert!(b.scale_out.is_some() && b.scale_in.is_some());
        assert!(b.scale_in.unwrap().contains("being deleted"));
        let conflicts = ["policy cpu (TargetTrackingScaling)".to_string()];
        assert!(blocks(&file, &conflicts, &group(vec![], GroupInfo::default())).is_empty());
        let text = policy_text("web", "active", COOLDOWNS).replace(
            "mode = \"active\"",
            "mode = \"active\"\non_conflicting_policies = \"refuse\"",
        );
        let refusing =
            crate::policy_file::parse_str(&text, std::path::Path::new("w.toml")).unwrap();
        let b = blocks(&refusing, &conflicts, &group(vec![], GroupInfo::default()));
        assert!(
            b.scale_out
                .unwrap()
                .contains("policy cpu (TargetTrackingScaling)"),
        );
    }

    #[test]
    fn the_groups_warmup_and_cooldown_apply_only_where_the_file_sets_none() {
        let info = GroupInfo {
            default_instance_warmup: Some(Duration::from_secs(120)),
            default_cooldown: Some(Duration::from_secs(200)),
            ..GroupInfo::default()
        };
        let g = group(vec![instance("a", Lifecycle::InService, 1)], info);
        // COOLDOWNS writes both: the file's stand.
        let v = view(&policy_file("web", "active", COOLDOWNS), &[], t(0), &g);
        assert_eq!(v.governor.warmup, Duration::ZERO);
        assert_eq!(v.governor.scale_in_cooldown, Duration::from_secs(600));
        assert_eq!(v.record.warmup_from_group, None);
        // Neither written: the group's.
        let v = view(
            &policy_file("web", "active", "scale_out_cooldown = \"1m\""),
            &[],
            t(0),
            &g,
        );
        assert_eq!(v.governor.warmup, Duration::from_secs(120));
        assert_eq!(v.governor.scale_in_cooldown, Duration::from_secs(200));
        assert_eq!(v.record.warmup_from_group, Some(Duration::from_secs(120)));
        assert_eq!(
            v.record.scale_in_cooldown_from_group,
            Some(Duration::from_secs(200))
        );
        // A group that reports none: ebb's defaults.
        let plain = group(vec![], GroupInfo::default());
        let v = view(
            &policy_file("web", "active", "scale_out_cooldown = \"1m\""),
            &[],
            t(0),
            &plain,
        );
        assert_eq!(v.governor.warmup, Duration::from_secs(300));
    }

    #[test]
    fn instances_out_of_the_warm_pool_warm_up_for_the_pools_measured_time() {
        let info = GroupInfo {
            warm_pool: Some(Box::new(WarmPool {
                pool_state: Some("Stopped".into()),
                size: Some(2),
                time_to_service: Some(Duration::from_secs(40)),
            })),
            ..GroupInfo::default()
        };
        let pooled = Instance {
            from_warm_pool: true,
            ..Instance::new("pooled", Lifecycle::InService, t(-60))
        };
        let fresh = Instance::new("fresh", Lifecycle::InService, t(-60));
        let g = group(vec![pooled, fresh], info);
        let governor = "warmup = \"5m\"";
        let text = policy_text("web", "active", governor).replace(
            "mode = \"active\"",
            "mode = \"active\"\nwarmup_from_pool = true",
        );
        let with = crate::policy_file::parse_str(&text, std::path::Path::new("w.toml")).unwrap();
        let v = view(&with, &[], t(0), &g);
        assert_eq!((v.capacity.in_service, v.capacity.warming), (1, 1));
        assert_eq!(v.record.warmup_from_pool, Some(Duration::from_secs(40)));
        assert_eq!(
            v.record.warm_pool.as_deref(),
            Some("2 instance(s), Stopped: not serving")
        );
        let without = policy_file("web", "active", governor);
        let v = view(&without, &[], t(0), &g);
        assert_eq!((v.capacity.in_service, v.capacity.warming), (0, 2));
    }
}
