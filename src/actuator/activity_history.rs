//! Groups' scaling-activity histories read with one account-wide
//! DescribeScalingActivities instead of one call per group.
//!
//! At start (10,000 groups: cooldowns to restore with no state file, and
//! every group's instance launch times for its first look) and when many
//! groups come here at once (a shard hand-over), one call per group cost
//! ~0.2 ms of the daemon's CPU each, most of round 1. Without a group name
//! the API lists the activities of every group of the account and region:
//! those still in progress first, then the others by start time, newest
//! first, [`PAGE_SIZE`] a page. [`read_account`] pages back until the
//! finished activities are older than the look-back (the longest any of
//! the wanted groups cares about, at most [`MAX_LOOK_BACK`]) or the listing
//! ends, and keeps the wanted groups' activities (other teams' groups,
//! other shards' are skipped). An old activity still in progress, listed
//! at the top, does not stop it: only finished ones say how far back the
//! listing has got.
//!
//! What a group gets means what its own read gave: its activities in the
//! listing's order, at most [`PAGE_SIZE`] (the one page the per-group read
//! took). A group is *settled* when the account listing has shown all of
//! that: the listing ended, it got past the group's own look-back (whatever
//! is older cannot start a cooldown or a warm-up that is still running:
//! an instance launched before it counts as warmed up, a scaling before it
//! has no cooldown left, as when the per-group read found none), or a full
//! page's worth of its activities was seen. A group that is not settled
//! (its look-back is longer than the cap, or the read stopped at
//! [`MAX_PAGES`] in a very busy account) is read on its own, as before.

use super::ActuatorError;
use crate::aws_error::call_error;
use aws_sdk_autoscaling::Client;
use aws_sdk_autoscaling::types::{Activity, ScalingActivityStatusCode};
use chrono::{DateTime, Duration, TimeZone, Utc};
use std::collections::HashMap;

/// Activities a DescribeScalingActivities page holds (the API's largest),
/// and how many of a group's activities its own read took.
pub const PAGE_SIZE: usize = 100;
/// How far back the account-wide read goes at most; a group that cares
/// about longer (a cooldown of hours or days) is read on its own.
pub const MAX_LOOK_BACK: Duration = Duration::hours(6);
/// Pages the account-wide read takes at most (10,000 activities): past
/// that, in an account this busy, the groups not settled yet are read one
/// by one, as before.
pub const MAX_PAGES: usize = 100;
/// What a group's own DefaultCooldown or DefaultInstanceWarmup may add to
/// its look-back when its policy takes them (they are not known before the
/// group's first look), and the look-back of a group nothing was said of.
pub const DEFAULT_LOOK_BACK: Duration = Duration::hours(1);
/// Up to this many groups at once are read one call each (a reload that
/// adds a target, a shard of a few groups): fewer calls than a busy
/// account's pages. More go through the account-wide read.
pub const ONE_BY_ONE_UP_TO: usize = 16;

/// What the account-wide read saw of the wanted groups.
#[derive(Debug, Default)]
pub struct AccountRead {
    /// Each wanted group's activities, in the listing's order, at most
    /// [`PAGE_SIZE`]; a group with none is absent.
    pub by_group: HashMap<String, Vec<Activity>>,
    /// The oldest start of a finished activity seen: every activity that
    /// started after it has been listed.
    pub reached: Option<DateTime<Utc>>,
    /// The listing ended (no further page): every activity was listed.
    pub ended: bool,
    /// Pages read.
    pub pages: usize,
}

impl AccountRead {
    /// Takes one page's activities: the wanted groups' are kept.
    pub fn take_page(&mut self, activities: &[Activity], wanted: &HashMap<String, Duration>) {
        for activity in activities {
            if finished(activity)
                && let Some(start) = activity.start_time().and_then(to_chrono)
            {
                self.reached = Some(self.reached.map_or(start, |r| r.min(start)));
            }
            let Some(group) = activity.auto_scaling_group_name() else {
                continue;
            };
            if !wanted.contains_key(group) {
                continue;
            }
            let kept = self.by_group.entry(group.to_string()).or_default();
            if kept.len() < PAGE_SIZE {
                kept.push(activity.clone());
            }
        }
    }

    /// Whether everything `group`'s own read would have given that still
    /// matters `look_back` before `now` has been listed (see the module doc).
    pub fn settled(&self, group: &str, look_back: Duration, now: DateTime<Utc>) -> bool {
        self.ended
            || self
                .by_group
                .get(group)
                .is_some_and(|kept| kept.len() >= PAGE_SIZE)
            || self.past(look_back, now)
    }

    /// Whether the listing got past `look_back` before `now`.
    fn past(&self, look_back: Duration, now: DateTime<Utc>) -> bool {
        self.reached
            .is_some_and(|reached| now.signed_duration_since(reached) > look_back)
    }
}

/// The account-wide read for the `wanted` groups (each with how far back
/// its history matters): pages until every wanted group is settled, the
/// listing ends or [`MAX_PAGES`] were read. A failed page fails the read.
pub async fn read_account(
    client: &Client,
    wanted: &HashMap<String, Duration>,
    now: DateTime<Utc>,
) -> Result<AccountRead, ActuatorError> {
    let look_back = wanted
        .values()
        .copied()
        .max()
        .unwrap_or(Duration::zero())
        .min(MAX_LOOK_BACK);
    let mut read = AccountRead::default();
    let mut next_token: Option<String> = None;
    loop {
        let output = client
            .describe_scaling_activities()
            .max_records(PAGE_SIZE as i32)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| call_error("DescribeScalingActivities", &e))?;
        read.pages += 1;
        read.take_page(output.activities(), wanted);
        match output.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => {
                read.ended = true;
                break;
            }
        }
        if read.past(look_back, now) || read.pages >= MAX_PAGES {
            break;
        }
    }
    Ok(read)
}

/// Whether an activity is over (so it is listed by its start time, not at
/// the top with those in progress).
fn finished(activity: &Activity) -> bool {
    matches!(
        activity.status_code(),
        Some(
            ScalingActivityStatusCode::Successful
                | ScalingActivityStatusCode::Failed
                | ScalingActivityStatusCode::Cancelled
        )
    )
}

/// An API time as chrono's.
pub fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<DateTime<Utc>> {
    Utc.timestamp_millis_opt(t.to_millis().ok()?).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn activity(group: &str, secs: i64, status: ScalingActivityStatusCode) -> Activity {
        Activity::builder()
            .activity_id("a")
            .auto_scaling_group_name(group)
            .cause("test")
            .description("Launching a new EC2 instance: i-1")
            .start_time(aws_smithy_types::DateTime::from_secs(secs))
            .status_code(status)
            .build()
    }

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(secs, 0).unwrap()
    }

    #[test]
    fn an_old_activity_in_progress_at_the_top_does_not_count_as_reached() {
        use ScalingActivityStatusCode::*;
        let wanted = HashMap::from([("web".to_string(), Duration::seconds(600))]);
        let mut read = AccountRead::default();
        // In progress since long ago, listed first; then finished ones.
        read.take_page(
            &[
                activity("web", 1_000, InProgress),
                activity("other", 9_900, Successful),
                activity("web", 9_800, Successful),
            ],
            &wanted,
        );
        assert_eq!(read.reached, Some(at(9_800)));
        assert!(!read.settled("web", Duration::seconds(600), at(10_000)));
        assert!(read.settled("web", Duration::seconds(100), at(10_000)));
        // Other groups' activities are not kept; the wanted one's in order.
        assert_eq!(read.by_group.len(), 1);
        assert_eq!(read.by_group["web"].len(), 2);
        read.take_page(&[activity("web", 9_000, Failed)], &wanted);
        assert!(read.settled("web", Duration::seconds(600), at(10_000)));
    }

    #[test]
    fn a_group_is_settled_by_the_end_of_the_listing_or_a_full_page_of_its_own() {
        use ScalingActivityStatusCode::*;
        let wanted = HashMap::from([
            ("busy".to_string(), Duration::days(2)),
            ("quiet".to_string(), Duration::days(2)),
        ]);
        let now = at(1_000_000);
        let mut read = AccountRead::default();
        let page: Vec<Activity> = (0..150)
            .map(|i| activity("busy", 999_000 - i, Successful))
            .collect();
        read.take_page(&page, &wanted);
        assert_eq!(read.by_group["busy"].len(), PAGE_SIZE);
        assert_eq!(
            read.by_group["busy"][0].start_time(),
            page[0].start_time(),
            "the newest kept, as the group's own first page"
        );
        assert!(read.settled("busy", Duration::days(2), now));
        assert!(!read.settled("quiet", Duration::days(2), now));
        read.ended = true;
        assert!(read.settled("quiet", Duration::days(2), now));
    }
}
