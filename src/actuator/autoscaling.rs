//! The AWS Auto Scaling actuator: reads groups with DescribeAutoScalingGroups
//! (batched across all targets, at most [`MAX_NAMES_PER_CALL`] names a call,
//! paginated) and sizes them with SetDesiredCapacity.
//!
//! The API does not say when an instance was launched, and warm-up needs it.
//! The actuator remembers when it first saw each instance: an instance that
//! appears in a group it has looked at before launched since the last look.
//! For a group seen for the first time (at start), the launch activities of
//! DescribeScalingActivities say when its instances were launched; an
//! instance with no launch activity is older than the activity history and
//! is taken as warmed up.

use super::{Actuator, ActuatorError, GroupState, Instance, Lifecycle};
use crate::aws_error::error_text;
use crate::decision::Action;
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::types::{
    Activity, AutoScalingGroup, LifecycleState, ScalingActivityStatusCode,
};
use chrono::{DateTime, TimeZone, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// DescribeAutoScalingGroups takes at most this many group names per call.
pub const MAX_NAMES_PER_CALL: usize = 50;
/// Largest page DescribeAutoScalingGroups returns.
const PAGE_SIZE: i32 = 100;

/// Reads and sizes Auto Scaling groups. Cheap to clone: clones share the
/// client and what is known of instance launch times.
#[derive(Clone, Debug)]
pub struct AutoScalingActuator {
    client: Client,
    seen: Arc<Mutex<Seen>>,
}

/// Launch times the actuator knows, and which groups it has looked at.
#[derive(Debug, Default)]
struct Seen {
    groups: HashSet<String>,
    launched: HashMap<String, DateTime<Utc>>,
    /// Launch times already read from a group's activity history (at
    /// start, with the last scaling time), for its first look.
    history: HashMap<String, HashMap<String, DateTime<Utc>>>,
}

impl AutoScalingActuator {
    pub fn new(client: Client) -> Self {
        AutoScalingActuator {
            client,
            seen: Arc::new(Mutex::new(Seen::default())),
        }
    }

    /// The groups' raw descriptions, batched and paginated.
    async fn describe_raw(&self, names: &[String]) -> Result<Vec<AutoScalingGroup>, ActuatorError> {
        let mut groups = Vec::new();
        for chunk in name_batches(names) {
            let mut next_token: Option<String> = None;
            loop {
                let output = self
                    .client
                    .describe_auto_scaling_groups()
                    .set_auto_scaling_group_names(Some(chunk.to_vec()))
                    .max_records(PAGE_SIZE)
                    .set_next_token(next_token.take())
                    .send()
                    .await
                    .map_err(|e| {
                        ActuatorError(format!(
                            "DescribeAutoScalingGroups failed: {}",
                            error_text(&e)
                        ))
                    })?;
                groups.extend(output.auto_scaling_groups().iter().cloned());
                match output.next_token() {
                    Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                    _ => break,
                }
            }
        }
        Ok(groups)
    }

    /// The group's most recent scaling activities (first page, newest first).
    pub async fn recent_activities(&self, group: &str) -> Result<Vec<Activity>, ActuatorError> {
        let output = self
            .client
            .describe_scaling_activities()
            .auto_scaling_group_name(group)
            .max_records(100)
            .send()
            .await
            .map_err(|e| {
                ActuatorError(format!(
                    "DescribeScalingActivities failed: {}",
                    error_text(&e)
                ))
            })?;
        Ok(output.activities().to_vec())
    }

    /// When and which way the group last changed size, from its activity
    /// history: used to restore cooldowns when no state file was kept.
    pub async fn last_scaling(
        &self,
        group: &str,
    ) -> Result<Option<(DateTime<Utc>, Action)>, ActuatorError> {
        let activities = self.recent_activities(group).await?;
        // The first look at the group needs the same history: keep it.
        self.seen
            .lock()
            .expect("seen lock poisoned")
            .history
            .insert(group.to_string(), launches(&activities));
        Ok(last_scaling(&activities))
    }
}

/// Splits group names (deduplicated, in order) into calls the API accepts.
pub fn name_batches(names: &[String]) -> Vec<Vec<String>> {
    let mut unique = Vec::with_capacity(names.len());
    let mut seen = HashSet::new();
    for name in names {
        if seen.insert(name.as_str()) {
            unique.push(name.clone());
        }
    }
    unique
        .chunks(MAX_NAMES_PER_CALL)
        .map(<[String]>::to_vec)
        .collect()
}

/// How the API's lifecycle states count for serving.
pub fn lifecycle(state: Option<&LifecycleState>) -> Lifecycle {
    match state {
        Some(LifecycleState::InService) => Lifecycle::InService,
        Some(
            LifecycleState::Pending | LifecycleState::PendingWait | LifecycleState::PendingProceed,
        ) => Lifecycle::Pending,
        _ => Lifecycle::Leaving,
    }
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(t.to_millis().ok()?).single()
}

/// The instance ids a launch activity names, with its start time.
fn launches(activities: &[Activity]) -> HashMap<String, DateTime<Utc>> {
    let mut out = HashMap::new();
    for activity in activities {
        let (Some(description), Some(start)) = (activity.description(), activity.start_time())
        else {
            continue;
        };
        if let Some(id) = description.strip_prefix("Launching a new EC2 instance: ") {
            let id = id.split_whitespace().next().unwrap_or(id);
            if let Some(start) = to_chrono(start) {
                out.insert(id.to_string(), start);
            }
        }
    }
    out
}

/// The latest successful launch or termination in an activity history.
pub fn last_scaling(activities: &[Activity]) -> Option<(DateTime<Utc>, Action)> {
    activities
        .iter()
        .filter(|a| a.status_code() == Some(&ScalingActivityStatusCode::Successful))
        .filter_map(|a| {
            let description = a.description()?;
            let action = if description.starts_with("Launching") {
                Action::ScaleOut
            } else if description.starts_with("Terminating") {
                Action::ScaleIn
            } else {
                return None;
            };
            Some((to_chrono(a.start_time()?)?, action))
        })
        .max_by_key(|(t, _)| *t)
}

fn non_negative(v: Option<i32>, what: &str, group: &str) -> Result<u32, ActuatorError> {
    v.and_then(|v| u32::try_from(v).ok())
        .ok_or_else(|| ActuatorError(format!("group `{group}` reported no valid {what}")))
}

impl Actuator for AutoScalingActuator {
    async fn describe(
        &mut self,
        groups: &[String],
        now: DateTime<Utc>,
    ) -> Result<HashMap<String, GroupState>, ActuatorError> {
        let raw = self.describe_raw(groups).await?;
        // Groups seen for the first time: look up when their instances
        // launched, unless that was read already.
        let mut history = HashMap::new();
        let first_sight: Vec<String> = {
            let mut seen = self.seen.lock().expect("seen lock poisoned");
            let mut unknown = Vec::new();
            for name in raw.iter().filter_map(|g| g.auto_scaling_group_name()) {
                if seen.groups.contains(name) {
                    continue;
                }
                match seen.history.remove(name) {
                    Some(known) => history.extend(known),
                    None => unknown.push(name.to_string()),
                }
            }
            unknown
        };
        for name in &first_sight {
            match self.recent_activities(name).await {
                Ok(activities) => history.extend(launches(&activities)),
                // Without history the instances count as warmed up; the
                // failure is not worth failing the whole read for.
                Err(e) => tracing::warn!(group = %name, error = %e, "cannot read launch history"),
            }
        }
        let mut seen = self.seen.lock().expect("seen lock poisoned");
        let mut out = HashMap::with_capacity(raw.len());
        let mut present = HashSet::new();
        for group in &raw {
            let Some(name) = group.auto_scaling_group_name() else {
                continue;
            };
            let first = !seen.groups.contains(name);
            let mut instances = Vec::with_capacity(group.instances().len());
            for instance in group.instances() {
                let Some(id) = instance.instance_id() else {
                    continue;
                };
                let lifecycle = lifecycle(instance.lifecycle_state());
                present.insert(id.to_string());
                let launched_at = *seen.launched.entry(id.to_string()).or_insert_with(|| {
                    match (first, lifecycle) {
                        (_, Lifecycle::Pending) | (false, _) => now,
                        (true, _) => history
                            .get(id)
                            .copied()
                            .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                    }
                });
                instances.push(Instance {
                    id: id.to_string(),
                    lifecycle,
                    launched_at,
                });
            }
            let state = GroupState {
                desired: non_negative(group.desired_capacity(), "desired capacity", name)?,
                min: non_negative(group.min_size(), "min size", name)?,
                max: non_negative(group.max_size(), "max size", name)?,
                instances,
            };
            seen.groups.insert(name.to_string());
            out.insert(name.to_string(), state);
        }
        // Forget instances of the groups just read that are gone.
        let read: HashSet<&str> = raw
            .iter()
            .filter_map(|g| g.auto_scaling_group_name())
            .collect();
        if read.len() == seen.groups.len() {
            seen.launched.retain(|id, _| present.contains(id));
        }
        Ok(out)
    }

    async fn set_desired(&mut self, group: &str, desired: u32) -> Result<(), ActuatorError> {
        let desired = i32::try_from(desired)
            .map_err(|_| ActuatorError(format!("desired capacity {desired} is too large")))?;
        self.client
            .set_desired_capacity()
            .auto_scaling_group_name(group)
            .desired_capacity(desired)
            // ebb keeps its own cooldowns; the group's must not block it.
            .honor_cooldown(false)
            .send()
            .await
            .map_err(|e| ActuatorError(format!("SetDesiredCapacity failed: {}", error_text(&e))))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_batched_fifty_at_a_time_without_repeats() {
        let mut names: Vec<String> = (0..120).map(|i| format!("g{i}")).collect();
        names.push("g3".into());
        let batches = name_batches(&names);
        assert_eq!(
            batches.iter().map(Vec::len).collect::<Vec<_>>(),
            [50, 50, 20]
        );
        assert!(batches.iter().all(|b| b.len() <= MAX_NAMES_PER_CALL));
        assert!(name_batches(&[]).is_empty());
    }

    #[test]
    fn pending_states_are_not_serving_and_leaving_states_are_not_coming() {
        assert_eq!(
            lifecycle(Some(&LifecycleState::PendingWait)),
            Lifecycle::Pending
        );
        assert_eq!(
            lifecycle(Some(&LifecycleState::InService)),
            Lifecycle::InService
        );
        assert_eq!(
            lifecycle(Some(&LifecycleState::Terminating)),
            Lifecycle::Leaving
        );
        assert_eq!(
            lifecycle(Some(&LifecycleState::Standby)),
            Lifecycle::Leaving
        );
        assert_eq!(lifecycle(None), Lifecycle::Leaving);
    }

    fn activity(description: &str, secs: i64, status: ScalingActivityStatusCode) -> Activity {
        Activity::builder()
            .activity_id("a")
            .auto_scaling_group_name("web")
            .cause("test")
            .description(description)
            .start_time(aws_smithy_types::DateTime::from_secs(secs))
            .status_code(status)
            .build()
    }

    #[test]
    fn the_activity_history_gives_launch_times_and_the_last_scaling() {
        let activities = vec![
            activity(
                "Terminating EC2 instance: i-2",
                3_000,
                ScalingActivityStatusCode::Failed,
            ),
            activity(
                "Launching a new EC2 instance: i-1",
                2_000,
                ScalingActivityStatusCode::Successful,
            ),
            activity(
                "Terminating EC2 instance: i-0",
                1_000,
                ScalingActivityStatusCode::Successful,
            ),
        ];
        let launched = launches(&activities);
        assert_eq!(launched["i-1"].timestamp(), 2_000);
        assert_eq!(launched.len(), 1);
        let (at, action) = last_scaling(&activities).unwrap();
        assert_eq!((at.timestamp(), action), (2_000, Action::ScaleOut));
        assert_eq!(last_scaling(&[]), None);
    }
}
