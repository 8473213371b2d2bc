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
//! is taken as warmed up. Those histories (and the last scaling that
//! restores cooldowns with no state file) are read a few groups one call
//! each, and many groups at once (start-up, a shard hand-over) with one
//! account-wide read ([`super::activity_history`]).
//!
//! Besides sizes and instances it reads what changes "capacity" and "may I
//! scale now" (suspended processes, deletion, weights, lifecycle and health
//! states, warm pool, default warm-up and cooldown), parsing every field
//! defensively: an odd value is noted in
//! [`crate::group::GroupInfo::problems`], never a failure of the whole read.
//! Each answer is read into ebb's own types as it arrives
//! ([`super::described`]): the SDK's are many times larger.
//!
//! Instance refreshes need a call of their own per group
//! (DescribeInstanceRefreshes): made only while one was running at
//! the last look, when an instance runs another launch template or
//! configuration than the group's (the sign of a replacement), or at most
//! every [`REFRESH_RECHECK`] otherwise. A group's first look asks none
//! (10,000 groups would be 10,000 calls in one round): its first ask falls
//! at a point of the first window its name picks, or comes sooner, right
//! before a scale-in (the one change a refresh forbids), through
//! [`Actuator::refresh_before_scale_in`]. A group with a warm pool costs one
//! DescribeWarmPool a tick, to tell instances that came out of the pool and
//! time how long they take to serve.

use super::activity_history::{self, to_chrono};
use super::{Actuator, ActuatorError};
use crate::lock::lock;

use super::described::Described;
use crate::aws_error::call_error;
use crate::decision::Action;
use crate::error_kind::ErrorKind;
use crate::few_at_once::FewAtOnce;
use crate::fnv::fnv1a;
use crate::group::{GroupState, InstanceRefresh, Lifecycle};
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::types::{Activity, InstanceRefreshStatus, ScalingActivityStatusCode};
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

/// DescribeAutoScalingGroups takes at most this many group names per call.
pub const MAX_NAMES_PER_CALL: usize = 50;
/// Largest page DescribeAutoScalingGroups returns.
const PAGE_SIZE: i32 = 100;
/// How often a group that shows no sign of one is asked whether an
/// instance refresh runs.
pub const REFRESH_RECHECK: chrono::Duration = chrono::Duration::minutes(5);
/// Per-group calls (DescribeInstanceRefreshes, and DescribeScalingActivities
/// for a few groups) in flight at once.
const PER_GROUP_CALLS_AT_ONCE: usize = 8;
/// DescribeAutoScalingGroups calls of one round in flight at once.
pub const DESCRIBE_CALLS_AT_ONCE: usize = 4;

/// Reads and sizes Auto Scaling groups. Cheap to clone: clones share the
/// client and what is known of instance launch times.
#[derive(Clone, Debug)]
pub struct AutoScalingActuator {
    client: Client,
    seen: Arc<Mutex<Seen>>,
    /// See [`AutoScalingActuator::asking_refreshes_at_first_look`].
    refreshes_at_first_look: bool,
}

/// Launch times the actuator knows, and which groups it has looked at.
#[derive(Debug, Default)]
struct Seen {
    groups: HashSet<String>,
    launched: HashMap<String, DateTime<Utc>>,
    /// Launch times already read from a group's activity history (at
    /// start, with the last scaling time), for its first look.
    history: HashMap<String, HashMap<String, DateTime<Utc>>>,
    /// Per group: when DescribeInstanceRefreshes is next asked if nothing
    /// looks like a refresh ([`next_refresh_check`]), and what it said.
    refreshes: HashMap<String, (DateTime<Utc>, RefreshSeen)>,
    /// Per group with a warm pool: what was seen of it.
    pools: HashMap<String, super::warm_pool::PoolWatch>,
    /// Per group: how far back its activity history matters
    /// ([`AutoScalingActuator::set_look_back`]).
    look_backs: HashMap<String, chrono::Duration>,
}

/// What DescribeInstanceRefreshes said of a group.
#[derive(Debug, Clone)]
enum RefreshSeen {
    /// Not asked yet (the group's first look asks none).
    NotAsked,
    /// The refresh running at the last ask, if one was.
    Asked(Option<InstanceRefresh>),
}

impl AutoScalingActuator {
    /// An actuator calling the Auto Scaling API through `client`.
    pub fn new(client: Client) -> Self {
        AutoScalingActuator {
            client,
            seen: Arc::new(Mutex::new(Seen::default())),
            refreshes_at_first_look: false,
        }
    }

    /// Asks every group's instance refresh at its first look too: for a
    /// one-off read (`ebb check --aws`), which has no later look and never
    /// scales in.
    pub fn asking_refreshes_at_first_look(mut self) -> Self {
        self.refreshes_at_first_look = true;
        self
    }

    /// The groups' descriptions, batched and paginated, a few calls in
    /// flight at once: 10,000 targets take 200 calls a round, which one
    /// after another would outlast a short interval. Each answer is read
    /// into [`Described`] as it arrives, and the SDK's copy dropped. The
    /// answers stay one `Vec` per call, in the order asked: flattened into
    /// one, 10,000 descriptions were copied into a buffer that lived beside
    /// the look's map of group states, at the round's memory peak.
    async fn describe_raw(&self, names: &[String]) -> Result<Vec<Vec<Described>>, ActuatorError> {
        let batches = name_batches(names).into_iter().enumerate();
        let mut calls = FewAtOnce::new(DESCRIBE_CALLS_AT_ONCE, batches, |(index, chunk)| {
            let actuator = self.clone();
            async move { (index, actuator.describe_chunk(chunk).await) }
        });
        let mut answers = Vec::new();
        while let Some(joined) = calls.next().await {
            match joined {
                Ok((index, answer)) => answers.push((index, answer?)),
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                Err(_) => return Err(ActuatorError::other("DescribeAutoScalingGroups cancelled")),
            }
        }
        // In the order asked, as one call after another gave them.
        answers.sort_by_key(|(index, _)| *index);
        Ok(answers.into_iter().map(|(_, groups)| groups).collect())
    }

    /// One DescribeAutoScalingGroups call (following NextToken).
    async fn describe_chunk(&self, chunk: Vec<String>) -> Result<Vec<Described>, ActuatorError> {
        let mut groups = Vec::new();
        let mut next_token: Option<String> = None;
        loop {
            let output = self
                .client
                .describe_auto_scaling_groups()
                .set_auto_scaling_group_names(Some(chunk.clone()))
                .max_records(PAGE_SIZE)
                .set_next_token(next_token.take())
                .send()
                .await
                .map_err(|e| call_error("DescribeAutoScalingGroups", &e))?;
            groups.extend(
                output
                    .auto_scaling_groups()
                    .iter()
                    .filter_map(Described::read),
            );
            match output.next_token() {
                Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
                _ => break,
            }
        }
        Ok(groups)
    }

    /// The instances in the warm pool of each group that has one (one
    /// DescribeWarmPool per such group); a failed call is logged and the
    /// group's last known members stay.
    async fn pool_members(&self, groups: &[Vec<Described>]) -> HashMap<String, HashSet<String>> {
        let mut out = HashMap::new();
        for group in groups
            .iter()
            .flatten()
            .filter(|g| g.info.warm_pool.is_some())
        {
            let name = &group.name;
            match super::warm_pool::members(&self.client, name).await {
                Ok(members) => {
                    out.insert(name.to_string(), members);
                }
                Err(e) => tracing::warn!(group = %name, error = %e, "cannot read the warm pool"),
            }
        }
        out
    }

    /// The instance refresh running on each group that has one, as far as
    /// known: groups that need asking now are asked (see the module doc);
    /// groups not asked keep what was last known, and a group not asked yet
    /// has none known. A failed call keeps what was last known too, noted
    /// in the log. Groups with none are left out: at 10,000 groups an entry
    /// for each was a map of 10,000 names at the round's memory peak.
    async fn refreshes(
        &self,
        groups: &[Vec<Described>],
        now: DateTime<Utc>,
    ) -> HashMap<String, InstanceRefresh> {
        let mut known = HashMap::new();
        let mut ask = Vec::new();
        {
            let mut seen = lock(&self.seen);
            for group in groups.iter().flatten() {
                let name = group.name.as_str();
                let due = match seen.refreshes.get(name) {
                    None => {
                        // Its first ask, at a point of the window its name
                        // picks, unless something asks sooner.
                        let first = next_refresh_check(name, now, true);
                        seen.refreshes
                            .insert(name.to_string(), (first, RefreshSeen::NotAsked));
                        self.refreshes_at_first_look || group.looks_replaced
                    }
                    Some((_, RefreshSeen::Asked(Some(_)))) => true,
                    Some((next, _)) => now >= *next || group.looks_replaced,
                };
                if due {
                    ask.push(name.to_string());
                }
                if let Some((_, RefreshSeen::Asked(Some(refresh)))) = seen.refreshes.get(name) {
                    known.insert(name.to_string(), refresh.clone());
                }
            }
        }
        let answers = self
            .per_group(ask, |actuator, name| async move {
                actuator.running_refresh(&name).await
            })
            .await;
        for (name, answer) in answers {
            match self.take_refresh_answer(&name, answer, now) {
                Some(refresh) => known.insert(name, refresh),
                None => known.remove(&name),
            };
        }
        known
    }

    /// Keeps what DescribeInstanceRefreshes said of `group` (asked again
    /// after [`REFRESH_RECHECK`] unless something asks sooner) and returns
    /// the refresh running. A failed call keeps what was last known (none
    /// if nothing was), and is made again at the same bounded rate, not
    /// every tick.
    fn take_refresh_answer(
        &self,
        group: &str,
        answer: Result<Option<InstanceRefresh>, ActuatorError>,
        now: DateTime<Utc>,
    ) -> Option<InstanceRefresh> {
        let mut seen = lock(&self.seen);
        let refresh = match answer {
            Ok(refresh) => refresh,
            Err(e) => {
                tracing::warn!(group = %group, error = %e, "cannot tell whether an instance refresh runs: keeping what was last known");
                match seen.refreshes.get(group) {
                    Some((_, RefreshSeen::Asked(last))) => last.clone(),
                    _ => None,
                }
            }
        };
        let next = next_refresh_check(group, now, false);
        seen.refreshes.insert(
            group.to_string(),
            (next, RefreshSeen::Asked(refresh.clone())),
        );
        refresh
    }

    /// `call` once for each group, a few calls at once ([`PER_GROUP_CALLS_AT_ONCE`]):
    /// quick with many groups, within the API's rate limits. The answers by
    /// group, in no particular order; a call whose task is lost is left out.
    async fn per_group<T, F, Fut>(&self, groups: Vec<String>, call: F) -> Vec<(String, T)>
    where
        T: Send + 'static,
        F: Fn(AutoScalingActuator, String) -> Fut,
        Fut: Future<Output = T> + Send + 'static,
    {
        let mut calls = FewAtOnce::new(PER_GROUP_CALLS_AT_ONCE, groups, |name| {
            let answer = call(self.clone(), name.clone());
            async move { (name, answer.await) }
        });
        let mut answers = Vec::new();
        while let Some(joined) = calls.next().await {
            if let Ok(answer) = joined {
                answers.push(answer);
            }
        }
        answers
    }

    /// The group's instance refresh still replacing instances, if any.
    async fn running_refresh(&self, group: &str) -> Result<Option<InstanceRefresh>, ActuatorError> {
        let output = self
            .client
            .describe_instance_refreshes()
            .auto_scaling_group_name(group)
            .max_records(10)
            .send()
            .await
            .map_err(|e| call_error("DescribeInstanceRefreshes", &e))?;
        Ok(output
            .instance_refreshes()
            .iter()
            .find(|r| r.status().is_some_and(refresh_active))
            .map(|r| InstanceRefresh {
                id: r.instance_refresh_id().unwrap_or("(no id)").to_string(),
                status: r.status().map_or("", |s| s.as_str()).to_string(),
                percent_complete: r.percentage_complete().and_then(|p| u32::try_from(p).ok()),
            }))
    }

    /// Each group's own scaling policies and scheduled actions (see
    /// [`super::own_scaling`]).
    pub async fn own_scaling(
        &self,
        groups: &[String],
    ) -> Result<std::collections::BTreeMap<String, Vec<String>>, ActuatorError> {
        super::own_scaling::read(&self.client, groups).await
    }

    /// Says how far back `group`'s activity history matters (its longest
    /// cooldown or warm-up): how far the account-wide read goes for it. A
    /// group never told gets [`activity_history::DEFAULT_LOOK_BACK`].
    pub fn set_look_back(&self, group: &str, look_back: std::time::Duration) {
        let look_back = chrono::Duration::from_std(look_back).unwrap_or(chrono::Duration::MAX);
        lock(&self.seen)
            .look_backs
            .insert(group.to_string(), look_back);
    }

    /// The group's most recent scaling activities (its first page, newest first).
    async fn recent_activities(&self, group: &str) -> Result<Vec<Activity>, ActuatorError> {
        let output = self
            .client
            .describe_scaling_activities()
            .auto_scaling_group_name(group)
            .max_records(activity_history::PAGE_SIZE as i32)
            .send()
            .await
            .map_err(|e| call_error("DescribeScalingActivities", &e))?;
        Ok(output.activities().to_vec())
    }

    /// Each group's scaling activities, as its own first page gives them
    /// (see [`super::activity_history`]): a few groups one call each, more
    /// with one account-wide read (and one call each for the groups it did
    /// not settle). A failed account-wide read fails every group's: not
    /// retried one by one, as the same permission or throttling would
    /// refuse those calls too, 10,000 of them.
    async fn activities(
        &self,
        groups: Vec<String>,
        now: DateTime<Utc>,
    ) -> Vec<(String, Result<Vec<Activity>, ActuatorError>)> {
        if groups.len() <= activity_history::ONE_BY_ONE_UP_TO {
            return self.one_by_one(groups).await;
        }
        let wanted: HashMap<String, chrono::Duration> = {
            let seen = lock(&self.seen);
            groups
                .iter()
                .map(|g| {
                    let look_back = seen.look_backs.get(g).copied();
                    (
                        g.clone(),
                        look_back.unwrap_or(activity_history::DEFAULT_LOOK_BACK),
                    )
                })
                .collect()
        };
        let mut read = match activity_history::read_account(&self.client, &wanted, now).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(groups = groups.len(), error = %e, "cannot read the account's scaling activities: cooldowns start fresh and instances count as warmed up");
                return groups.into_iter().map(|g| (g, Err(e.clone()))).collect();
            }
        };
        let (settled, unsettled): (Vec<String>, Vec<String>) = groups
            .into_iter()
            .partition(|g| read.settled(g, wanted[g], now));
        tracing::info!(
            pages = read.pages,
            groups = settled.len(),
            one_by_one = unsettled.len(),
            "scaling activities read account-wide"
        );
        let mut out: Vec<_> = settled
            .into_iter()
            .map(|g| {
                let kept = read.by_group.remove(&g).unwrap_or_default();
                (g, Ok(kept))
            })
            .collect();
        out.extend(self.one_by_one(unsettled).await);
        out
    }

    /// One DescribeScalingActivities per group, a few at once.
    async fn one_by_one(
        &self,
        groups: Vec<String>,
    ) -> Vec<(String, Result<Vec<Activity>, ActuatorError>)> {
        self.per_group(groups, |actuator, name| async move {
            actuator.recent_activities(&name).await
        })
        .await
    }

    /// When and which way each group last changed size, from its activity
    /// history: to restore cooldowns when no state file was kept. The
    /// launch times read with it are kept for each group's first look.
    pub async fn last_scalings(
        &self,
        groups: Vec<String>,
        now: DateTime<Utc>,
    ) -> Vec<(
        String,
        Result<Option<(DateTime<Utc>, Action)>, ActuatorError>,
    )> {
        let read = self.activities(groups, now).await;
        let mut seen = lock(&self.seen);
        read.into_iter()
            .map(|(group, answer)| {
                let last = answer.map(|activities| {
                    seen.history.insert(group.clone(), launches(&activities));
                    last_scaling(&activities)
                });
                (group, last)
            })
            .collect()
    }
}

/// Splits group names (deduplicated, in order) into calls the API accepts.
/// Each name is copied once, into its batch (10,000 names a round).
pub fn name_batches(names: &[String]) -> Vec<Vec<String>> {
    let mut seen = HashSet::with_capacity(names.len());
    let mut batches: Vec<Vec<String>> = Vec::new();
    for name in names.iter().filter(|name| seen.insert(name.as_str())) {
        match batches.last_mut() {
            Some(batch) if batch.len() < MAX_NAMES_PER_CALL => batch.push(name.clone()),
            _ => {
                let mut batch = Vec::with_capacity(MAX_NAMES_PER_CALL);
                batch.push(name.clone());
                batches.push(batch);
            }
        }
    }
    batches
}

/// When a group that shows no sign of a refresh is next asked: every
/// [`REFRESH_RECHECK`] after an ask; its first ask, at a point of the first
/// window that the group's name picks. Every group has its first look in
/// the same round, so without the spread all of them would fall due in the
/// same round too (10,000 calls every 5 minutes at 10,000 groups).
fn next_refresh_check(group: &str, now: DateTime<Utc>, first: bool) -> DateTime<Utc> {
    // Near the end of time, asked again at the next look.
    if !first {
        return now.checked_add_signed(REFRESH_RECHECK).unwrap_or(now);
    }
    let window_ms = REFRESH_RECHECK.num_milliseconds().max(1) as u64;
    // 1..=window: never sooner than the next round, never later than the
    // re-check would have been.
    let offset_ms = fnv1a(group.as_bytes()) % window_ms + 1;
    now.checked_add_signed(chrono::Duration::milliseconds(offset_ms as i64))
        .unwrap_or(now)
}

/// Whether a refresh in this status is still replacing instances (or about to).
fn refresh_active(status: &InstanceRefreshStatus) -> bool {
    matches!(
        status.as_str(),
        "Pending" | "InProgress" | "Cancelling" | "RollbackInProgress" | "Baking"
    )
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
/// Replacements by an instance refresh are not scaling: they are left out.
pub fn last_scaling(activities: &[Activity]) -> Option<(DateTime<Utc>, Action)> {
    activities
        .iter()
        .filter(|a| a.status_code() == Some(&ScalingActivityStatusCode::Successful))
        .filter(|a| {
            !a.cause()
                .is_some_and(|c| c.to_ascii_lowercase().contains("instance refresh"))
        })
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
    v.and_then(|v| u32::try_from(v).ok()).ok_or_else(|| {
        ActuatorError::new(
            ErrorKind::BadResponse,
            format!("group `{group}` reported no valid {what}"),
        )
    })
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
            let mut seen = lock(&self.seen);
            let mut unknown = Vec::new();
            for name in raw.iter().flatten().map(|g| g.name.as_str()) {
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
        // A restart with a state file, or a shard that came here, sees many
        // groups for the first time at once: one account-wide read, not one
        // call per group (10,000 groups one by one made a round of minutes).
        let read = self.activities(first_sight, now).await;
        for (name, answer) in read {
            match answer {
                Ok(activities) => history.extend(launches(&activities)),
                // Without history the instances count as warmed up; the
                // failure is not worth failing the whole read for.
                Err(e) => tracing::warn!(group = %name, error = %e, "cannot read launch history"),
            }
        }
        let mut refreshes = self.refreshes(&raw, now).await;
        let pool_members = self.pool_members(&raw).await;
        let mut seen = lock(&self.seen);
        let mut out = HashMap::with_capacity(raw.iter().map(Vec::len).sum());
        // The groups just read, before their descriptions move into `out`.
        let read = raw
            .iter()
            .flatten()
            .map(|g| g.name.as_str())
            .collect::<HashSet<_>>()
            .len();
        // One call's answers at a time: each call's buffer is freed once its
        // groups have moved into `out`.
        for group in raw.into_iter().flatten() {
            let Described {
                name,
                desired,
                min,
                max,
                mut instances,
                mut info,
                looks_replaced: _,
            } = group;
            let first = !seen.groups.contains(&name);
            for instance in &mut instances {
                let lifecycle = &instance.lifecycle;
                instance.launched_at =
                    *seen.launched.entry(instance.id.clone()).or_insert_with(|| {
                        match (first, lifecycle) {
                            (_, Lifecycle::Pending | Lifecycle::PendingWait) | (false, _) => now,
                            (true, _) => history
                                .get(&instance.id)
                                .copied()
                                .unwrap_or(DateTime::<Utc>::UNIX_EPOCH),
                        }
                    });
            }
            info.instance_refresh = refreshes.remove(&name).map(Box::new);
            if let Some(pool) = info.warm_pool.as_mut() {
                let watch = seen.pools.entry(name.clone()).or_default();
                for instance in &mut instances {
                    let in_service = instance.lifecycle == Lifecycle::InService;
                    instance.from_warm_pool = watch.see(now, &instance.id, in_service);
                }
                let ids: HashSet<String> = instances.iter().map(|i| i.id.clone()).collect();
                watch.retain(&ids);
                if let Some(members) = pool_members.get(&name) {
                    watch.set_members(members.clone());
                }
                pool.time_to_service = watch.time_to_service();
            }
            let state = GroupState {
                desired: non_negative(desired, "desired capacity", &name)?,
                min: non_negative(min, "min size", &name)?,
                max: non_negative(max, "max size", &name)?,
                instances,
                info,
            };
            seen.groups.insert(name.clone());
            out.insert(name, state);
        }
        // Forget instances of the groups just read that are gone. The ids
        // are borrowed from `out`: a copy of each was 20,000 strings at
        // the round's memory peak.
        if read == seen.groups.len() {
            let present: HashSet<&str> = out
                .values()
                .flat_map(|g: &GroupState| g.instances.iter().map(|i| i.id.as_str()))
                .collect();
            seen.launched.retain(|id, _| present.contains(id.as_str()));
        }
        Ok(out)
    }

    async fn set_desired(&mut self, group: &str, desired: u32) -> Result<(), ActuatorError> {
        let desired = i32::try_from(desired).map_err(|_| {
            ActuatorError::other(format!("desired capacity {desired} is too large"))
        })?;
        self.client
            .set_desired_capacity()
            .auto_scaling_group_name(group)
            .desired_capacity(desired)
            // ebb keeps its own cooldowns; the group's must not block it.
            .honor_cooldown(false)
            .send()
            .await
            .map_err(|e| call_error("SetDesiredCapacity", &e))?;
        Ok(())
    }

    async fn refresh_before_scale_in(
        &mut self,
        group: &str,
        now: DateTime<Utc>,
    ) -> Option<InstanceRefresh> {
        let not_asked = matches!(
            lock(&self.seen).refreshes.get(group),
            Some((_, RefreshSeen::NotAsked))
        );
        if !not_asked {
            return None;
        }
        let answer = self.running_refresh(group).await;
        self.take_refresh_answer(group, answer, now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn refresh_re_checks_after_the_first_look_are_spread_over_the_window() {
        let now = Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let mut per_slice = [0usize; 10];
        for i in 0..1000 {
            let next = next_refresh_check(&format!("fleet-{i:05}"), now, true);
            assert!(next > now && next <= now + REFRESH_RECHECK, "{next}");
            let slice = (next - now).num_milliseconds() * 10 / REFRESH_RECHECK.num_milliseconds();
            per_slice[slice.min(9) as usize] += 1;
        }
        // 100 a slice on average: none holds most of them.
        assert!(
            per_slice.iter().all(|n| (50..=150).contains(n)),
            "{per_slice:?}"
        );
        // After that, each group every REFRESH_RECHECK.
        assert_eq!(next_refresh_check("web", now, false), now + REFRESH_RECHECK);
    }

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
        // An instance refresh's replacement is not a scaling.
        let mut refreshed = activities.clone();
        refreshed.insert(
            0,
            Activity::builder()
                .activity_id("r")
                .auto_scaling_group_name("web")
                .cause("At 2026-11-30T10:00:00Z an instance was launched in response to an instance refresh.")
                .description("Launching a new EC2 instance: i-5")
                .start_time(aws_smithy_types::DateTime::from_secs(4_000))
                .status_code(ScalingActivityStatusCode::Successful)
                .build(),
        );
        assert_eq!(last_scaling(&refreshed).unwrap().0.timestamp(), 2_000);
    }
}
