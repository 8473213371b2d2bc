//! A group's warm pool as ebb watches it: which instances came out of the
//! pool, and how long they took from leaving it to being in service (the
//! pool's time to service, for `warmup_from_pool`). The pool's members come
//! from DescribeWarmPool, asked once per tick for groups that have a pool.

use super::ActuatorError;
use crate::aws_error::call_error;
use aws_sdk_autoscaling::Client;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

/// How many recent times to service the median is taken over.
const SAMPLES: usize = 10;

/// What ebb has seen of one group's warm pool.
#[derive(Debug, Default)]
pub struct PoolWatch {
    /// Instances in the pool at the last look.
    members: HashSet<String>,
    /// Instances out of the pool, not in service yet: when they left it.
    left: HashMap<String, DateTime<Utc>>,
    /// Instances known to have come out of the pool.
    from_pool: HashSet<String>,
    /// Recent times from leaving the pool to in service, newest last.
    times: VecDeque<Duration>,
}

impl PoolWatch {
    /// Takes in one of the group's instances at `now`; whether it came out
    /// of the pool. An instance that was in the pool at the last look left it
    /// since; its time to service is measured when it is first seen in service.
    pub fn see(&mut self, now: DateTime<Utc>, id: &str, in_service: bool) -> bool {
        if self.members.contains(id) && !self.from_pool.contains(id) {
            self.from_pool.insert(id.to_string());
            self.left.insert(id.to_string(), now);
        }
        if in_service && let Some(left) = self.left.remove(id) {
            let took = (now - left).to_std().unwrap_or_default();
            self.times.push_back(took);
            if self.times.len() > SAMPLES {
                self.times.pop_front();
            }
        }
        self.from_pool.contains(id)
    }

    /// The pool's members as of now, for the next look.
    pub fn set_members(&mut self, members: HashSet<String>) {
        self.members = members;
    }

    /// Forgets instances no longer in the group.
    pub fn retain(&mut self, present: &HashSet<String>) {
        self.from_pool.retain(|id| present.contains(id));
        self.left.retain(|id, _| present.contains(id));
    }

    /// The median measured time to service, once one was measured.
    pub fn time_to_service(&self) -> Option<Duration> {
        let mut times: Vec<Duration> = self.times.iter().copied().collect();
        times.sort();
        times.get(times.len() / 2).copied()
    }
}

/// The ids of the instances in a group's warm pool (paginated).
pub async fn members(client: &Client, group: &str) -> Result<HashSet<String>, ActuatorError> {
    let mut out = HashSet::new();
    let mut next_token: Option<String> = None;
    loop {
        let page = client
            .describe_warm_pool()
            .auto_scaling_group_name(group)
            .max_records(100)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| call_error("DescribeWarmPool", &e))?;
        out.extend(
            page.instances()
                .iter()
                .filter_map(|i| i.instance_id())
                .map(str::to_string),
        );
        match page.next_token() {
            Some(token) if !token.is_empty() => next_token = Some(token.to_string()),
            _ => break,
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + secs, 0).expect("valid time")
    }

    #[test]
    fn an_instance_leaving_the_pool_is_timed_until_it_serves() {
        let mut pool = PoolWatch::default();
        pool.set_members(HashSet::from(["i-1".to_string(), "i-2".to_string()]));
        // i-9 was never in the pool.
        assert!(!pool.see(t(0), "i-9", false));
        // i-1 shows up in the group: it left the pool; in service 30 s later.
        assert!(pool.see(t(0), "i-1", false));
        assert_eq!(pool.time_to_service(), None);
        assert!(pool.see(t(30), "i-1", true));
        assert_eq!(pool.time_to_service(), Some(Duration::from_secs(30)));
        // i-2 takes 50 s, a third 40 s: the median is 40 s.
        pool.see(t(60), "i-2", false);
        pool.see(t(110), "i-2", true);
        pool.set_members(HashSet::from(["i-3".to_string()]));
        pool.see(t(120), "i-3", false);
        pool.see(t(160), "i-3", true);
        assert_eq!(pool.time_to_service(), Some(Duration::from_secs(40)));
        // Measured once only.
        pool.see(t(500), "i-3", true);
        assert_eq!(pool.times.len(), 3);
        pool.set_members(HashSet::new());
        pool.retain(&HashSet::from(["i-1".to_string()]));
        assert!(pool.see(t(600), "i-1", true));
        assert!(!pool.see(t(600), "i-3", true));
    }
}
