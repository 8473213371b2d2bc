//! A group as one DescribeAutoScalingGroups answer describes it, in ebb's
//! own types, made as soon as the answer arrives.
//!
//! The SDK's `AutoScalingGroup` holds every field the API has (about 40,
//! with nested structs inline, and each instance's a dozen more): a round's
//! answers for 10,000 groups, held in those types until every call had come
//! back, were most of the round's memory peak. [`Described`] keeps only what
//! a look at the group reads, with every field already parsed (odd values
//! noted in [`GroupInfo::problems`]). What a look adds from what the
//! actuator has seen before (when each instance launched, a running
//! instance refresh, the warm pool's members) is done in
//! [`super::autoscaling`].

use crate::group::{GroupInfo, Instance, Lifecycle, WarmPool};
use aws_sdk_autoscaling::types::{AutoScalingGroup, LaunchTemplateSpecification, LifecycleState};
use chrono::{DateTime, Utc};

/// What a look needs of one group of a DescribeAutoScalingGroups answer.
#[derive(Debug)]
pub(super) struct Described {
    pub(super) name: String,
    /// Desired capacity, min and max size as the API gave them: checked
    /// when the look is made (an invalid one fails the read there).
    pub(super) desired: Option<i32>,
    pub(super) min: Option<i32>,
    pub(super) max: Option<i32>,
    /// Its instances; `launched_at` is the Unix epoch until the look sets
    /// it from what the actuator has seen.
    pub(super) instances: Vec<Instance>,
    /// Its features, problems of its instances' fields first.
    pub(super) info: GroupInfo,
    /// Whether an instance runs another launch template (version) or
    /// configuration than the group's: what a refresh in progress looks like.
    pub(super) looks_replaced: bool,
}

impl Described {
    /// The group's description; none for an answer without a group name.
    pub(super) fn read(group: &AutoScalingGroup) -> Option<Described> {
        let name = group.auto_scaling_group_name()?;
        let weighted = group
            .instances()
            .iter()
            .any(|i| i.weighted_capacity().is_some());
        let mut problems = Vec::new();
        let mut instances = Vec::with_capacity(group.instances().len());
        for instance in group.instances() {
            let Some(id) = instance.instance_id() else {
                problems.push("an instance without an InstanceId: left out".into());
                continue;
            };
            let lifecycle = lifecycle(instance.lifecycle_state());
            let unhealthy = match instance.health_status().map(str::trim) {
                Some(h) if h.eq_ignore_ascii_case("healthy") => false,
                Some(h) if h.eq_ignore_ascii_case("unhealthy") => true,
                // Absent or odd: as AWS before its first health check.
                Some(other) => {
                    problems.push(format!(
                        "instance {id} has HealthStatus `{other}`: taken as healthy"
                    ));
                    false
                }
                None => false,
            };
            instances.push(Instance {
                id: id.to_string(),
                lifecycle,
                launched_at: DateTime::<Utc>::UNIX_EPOCH,
                weight: weight(instance.weighted_capacity(), id, weighted, &mut problems),
                unhealthy,
                from_warm_pool: false,
            });
        }
        Some(Described {
            name: name.to_string(),
            desired: group.desired_capacity(),
            min: group.min_size(),
            max: group.max_size(),
            instances,
            info: group_info(group, problems),
            looks_replaced: looks_replaced(group),
        })
    }
}

/// How the API's lifecycle states count for serving. A state ebb does not
/// know counts as not serving, under its own name.
fn lifecycle(state: Option<&LifecycleState>) -> Lifecycle {
    let Some(state) = state else {
        return Lifecycle::Unknown("(no LifecycleState)".into());
    };
    match state.as_str() {
        "InService" => Lifecycle::InService,
        "Pending" | "Pending:Proceed" => Lifecycle::Pending,
        "Pending:Wait" => Lifecycle::PendingWait,
        "Standby" | "EnteringStandby" => Lifecycle::Standby,
        "Terminating:Wait" => Lifecycle::TerminatingWait,
        "Terminating"
        | "Terminating:Proceed"
        | "Terminated"
        | "Detaching"
        | "Detached"
        | "Quarantined" => Lifecycle::Leaving,
        warmed if warmed.starts_with("Warmed:") => Lifecycle::WarmPool,
        other => Lifecycle::Unknown(other.to_string()),
    }
}

/// An instance's `WeightedCapacity`: a whole number of units, at least 1.
/// Anything else counts as 1 and is noted.
fn weight(written: Option<&str>, id: &str, weighted: bool, problems: &mut Vec<String>) -> u32 {
    match written.map(str::trim) {
        None if weighted => {
            problems.push(format!(
                "instance {id} has no WeightedCapacity while others do: counted as 1 unit"
            ));
            1
        }
        None => 1,
        Some(text) => match text.parse::<u32>() {
            Ok(units) if units > 0 => units,
            _ => {
                problems.push(format!(
                    "instance {id} has WeightedCapacity `{text}`, not a whole number of units above 0: counted as 1 unit"
                ));
                1
            }
        },
    }
}

/// A whole number of seconds, non-negative, from an optional API field.
fn seconds(v: Option<i32>, what: &str, problems: &mut Vec<String>) -> Option<std::time::Duration> {
    let v = v?;
    match u64::try_from(v) {
        Ok(s) => Some(std::time::Duration::from_secs(s)),
        Err(_) => {
            problems.push(format!("{what} is {v}: ignored"));
            None
        }
    }
}

/// The launch template or configuration an instance or group runs, to tell
/// a replacement underway: same name or id and version.
fn template_key(
    template: Option<&LaunchTemplateSpecification>,
    configuration: Option<&str>,
) -> Option<String> {
    if let Some(t) = template {
        let id = t.launch_template_id().or(t.launch_template_name())?;
        return Some(format!("{id}:{}", t.version().unwrap_or("$Default")));
    }
    configuration.map(str::to_string)
}

/// Whether some instance runs another launch template (version) or
/// configuration than the group's: what a refresh in progress looks like.
fn looks_replaced(group: &AutoScalingGroup) -> bool {
    let template = group.launch_template().or_else(|| {
        group
            .mixed_instances_policy()
            .and_then(|m| m.launch_template())
            .and_then(|t| t.launch_template_specification())
    });
    let Some(own) = template_key(template, group.launch_configuration_name()) else {
        return false;
    };
    group.instances().iter().any(|i| {
        template_key(i.launch_template(), i.launch_configuration_name()).is_some_and(|k| k != own)
    })
}

fn group_info(group: &AutoScalingGroup, problems: Vec<String>) -> GroupInfo {
    let mut info = GroupInfo {
        problems,
        ..GroupInfo::default()
    };
    info.status = group
        .status()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    info.suspended = group
        .suspended_processes()
        .iter()
        .filter_map(|p| p.process_name())
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    info.default_instance_warmup = seconds(
        group.default_instance_warmup(),
        "DefaultInstanceWarmup",
        &mut info.problems,
    )
    // AWS reports -1 or 0 for "not set" in some answers.
    .filter(|d| !d.is_zero());
    info.default_cooldown = seconds(
        group.default_cooldown(),
        "DefaultCooldown",
        &mut info.problems,
    );
    info.capacity_type = group
        .desired_capacity_type()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    info.warm_pool = group.warm_pool_configuration().map(|config| {
        Box::new(WarmPool {
            pool_state: config.pool_state().map(|s| s.as_str().to_string()),
            size: group.warm_pool_size().and_then(|n| u32::try_from(n).ok()),
            time_to_service: None,
        })
    });
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_lifecycle_state_is_named_and_unknown_ones_kept_by_name() {
        let cases = [
            (LifecycleState::PendingWait, Lifecycle::PendingWait),
            (LifecycleState::PendingProceed, Lifecycle::Pending),
            (LifecycleState::InService, Lifecycle::InService),
            (LifecycleState::Terminating, Lifecycle::Leaving),
            (LifecycleState::TerminatingWait, Lifecycle::TerminatingWait),
            (LifecycleState::Standby, Lifecycle::Standby),
            (LifecycleState::EnteringStandby, Lifecycle::Standby),
            (LifecycleState::WarmedStopped, Lifecycle::WarmPool),
            (
                LifecycleState::from("Hibernating:Sideways"),
                Lifecycle::Unknown("Hibernating:Sideways".into()),
            ),
        ];
        for (state, want) in cases {
            assert_eq!(lifecycle(Some(&state)), want, "{state:?}");
        }
        assert_eq!(
            lifecycle(None),
            Lifecycle::Unknown("(no LifecycleState)".into())
        );
    }

    #[test]
    fn weights_are_whole_units_and_odd_ones_count_as_one_with_a_note() {
        let mut problems = Vec::new();
        assert_eq!(weight(Some("4"), "i-1", true, &mut problems), 4);
        assert_eq!(weight(Some(" 2 "), "i-1", true, &mut problems), 2);
        assert_eq!(weight(None, "i-1", false, &mut problems), 1);
        assert!(problems.is_empty());
        for odd in ["0", "-3", "1.5", "lots"] {
            assert_eq!(weight(Some(odd), "i-9", true, &mut problems), 1);
        }
        assert_eq!(weight(None, "i-8", true, &mut problems), 1);
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert!(problems[3].contains("i-9") && problems[3].contains("`lots`"));
        assert!(problems[4].contains("no WeightedCapacity"));
    }

    #[test]
    fn group_features_are_read_and_odd_values_noted() {
        use aws_sdk_autoscaling::types::{SuspendedProcess, WarmPoolConfiguration, WarmPoolState};
        let group = AutoScalingGroup::builder()
            .auto_scaling_group_name("web")
            .status("Delete in progress")
            .suspended_processes(SuspendedProcess::builder().process_name("Launch").build())
            .suspended_processes(SuspendedProcess::builder().build())
            .default_instance_warmup(-1)
            .default_cooldown(120)
            .desired_capacity_type("vcpu")
            .warm_pool_configuration(
                WarmPoolConfiguration::builder()
                    .pool_state(WarmPoolState::Stopped)
                    .build(),
            )
            .warm_pool_size(3)
            .build();
        let info = group_info(&group, Vec::new());
        assert_eq!(info.status.as_deref(), Some("Delete in progress"));
        assert_eq!(info.suspended, ["Launch"]);
        assert_eq!(info.default_instance_warmup, None);
        assert_eq!(info.problems, ["DefaultInstanceWarmup is -1: ignored"]);
        assert_eq!(
            info.default_cooldown,
            Some(std::time::Duration::from_secs(120))
        );
        assert_eq!(info.capacity_type.as_deref(), Some("vcpu"));
        let pool = info.warm_pool.unwrap();
        assert_eq!(
            (pool.pool_state.as_deref(), pool.size),
            (Some("Stopped"), Some(3))
        );
        // Nothing set: nothing in use.
        let plain = group_info(&AutoScalingGroup::builder().build(), Vec::new());
        assert_eq!(plain, GroupInfo::default());
    }

    #[test]
    fn an_instance_on_another_launch_template_version_looks_like_a_refresh() {
        use aws_sdk_autoscaling::types::Instance as ApiInstance;
        let template = |version: &str| {
            LaunchTemplateSpecification::builder()
                .launch_template_name("web")
                .version(version)
                .build()
        };
        let instance = |version: &str| {
            ApiInstance::builder()
                .instance_id("i-1")
                .launch_template(template(version))
                .build()
        };
        let group = |versions: &[&str]| {
            let mut g = AutoScalingGroup::builder().launch_template(template("3"));
            for v in versions {
                g = g.instances(instance(v));
            }
            g.build()
        };
        assert!(!looks_replaced(&group(&["3", "3"])));
        assert!(looks_replaced(&group(&["3", "2"])));
        assert!(!looks_replaced(&AutoScalingGroup::builder().build()));
    }

    #[test]
    fn a_description_keeps_the_instances_and_notes_odd_fields_in_order() {
        use aws_sdk_autoscaling::types::Instance as ApiInstance;
        let group = AutoScalingGroup::builder()
            .auto_scaling_group_name("web")
            .desired_capacity(3)
            .min_size(1)
            .max_size(-2)
            .default_cooldown(-5)
            .instances(
                ApiInstance::builder()
                    .instance_id("i-1")
                    .lifecycle_state(LifecycleState::InService)
                    .health_status("Unhealthy")
                    .weighted_capacity("2")
                    .build(),
            )
            .instances(ApiInstance::builder().health_status("Healthy").build())
            .instances(
                ApiInstance::builder()
                    .instance_id("i-2")
                    .lifecycle_state(LifecycleState::Pending)
                    .health_status("Sick")
                    .build(),
            )
            .build();
        let described = Described::read(&group).unwrap();
        assert_eq!(described.name, "web");
        // Checked at the look, not here.
        assert_eq!(
            (described.desired, described.min, described.max),
            (Some(3), Some(1), Some(-2))
        );
        let instances: Vec<_> = described
            .instances
            .iter()
            .map(|i| (i.id.as_str(), i.lifecycle.clone(), i.weight, i.unhealthy))
            .collect();
        assert_eq!(
            instances,
            [
                ("i-1", Lifecycle::InService, 2, true),
                ("i-2", Lifecycle::Pending, 1, false)
            ]
        );
        assert!(
            described
                .instances
                .iter()
                .all(|i| i.launched_at == DateTime::<Utc>::UNIX_EPOCH && !i.from_warm_pool)
        );
        // The instances' problems, in their order, then the group's.
        assert_eq!(
            described.info.problems.len(),
            4,
            "{:?}",
            described.info.problems
        );
        assert!(described.info.problems[0].contains("without an InstanceId"));
        assert!(described.info.problems[1].contains("HealthStatus `Sick`"));
        assert!(described.info.problems[2].contains("i-2 has no WeightedCapacity"));
        assert_eq!(described.info.problems[3], "DefaultCooldown is -5: ignored");
        assert!(!described.looks_replaced);
        // No name: nothing to look at.
        assert!(Described::read(&AutoScalingGroup::builder().build()).is_none());
    }
}
