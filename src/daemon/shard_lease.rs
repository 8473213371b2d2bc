//! Shard mode's lease assignment, pure: which shard a target is in, and
//! each round which shard leases this host takes, renews, steals or gives
//! up. The DynamoDB calls live in [`super::shard_election`]; every shard's
//! lease is a [`Lease`] of [`super::lease`], so fencing tokens and the
//! rule that no instance compares its clock with another's hold per shard.
//!
//! Balance follows the Kinesis Client Library's lease taker: count the live
//! hosts (holders of unexpired leases, plus this one); the fair share is
//! `ceil(shards / hosts)`. Below it, a host takes free or expired shards
//! first, and when there are none steals one lease per round from the most
//! loaded host above its share. Above it, a host gives its surplus up (it
//! stops acting on those shards at once and releases them a round later,
//! so a change it sent just before lands before anyone else may act).

use super::lease::{Lease, LeaseRecord, LeaseTiming, Step, WriteOutcome};
use crate::fnv::fnv1a;
use std::collections::BTreeMap;
use std::time::Instant;

/// The shard of a target, by its name.
pub fn shard_of(target: &str, shards: u32) -> u32 {
    // `shards` is at least 1 (checked by the config loader).
    (fnv1a(target.as_bytes()) % u64::from(shards.max(1))) as u32
}

/// The order in which `host` prefers shards, when it takes free ones,
/// gives up surplus or picks a warm set: its own, so hosts starting
/// together try different shards first instead of all racing for shard 0.
fn preference(host: &str, shard: u32) -> u64 {
    fnv1a(format!("{host}#{shard}").as_bytes())
}

/// One change of this host's share, decided by [`plan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Move {
    /// Take a free, released or expired shard.
    Take(u32),
    /// Take a live shard from a host above its fair share.
    Steal {
        /// The shard taken.
        shard: u32,
        /// Its holder until now.
        from: String,
    },
    /// Give up a shard of this host's surplus.
    GiveUp(u32),
}

/// This round's moves for `me`, from each shard's live holder (`None`:
/// free, released or expired; this host included where it holds one).
pub fn plan(me: &str, holders: &[Option<&str>]) -> Vec<Move> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for holder in holders.iter().flatten() {
        *counts.entry(holder).or_default() += 1;
    }
    let mine = counts.get(me).copied().unwrap_or(0);
    let hosts = counts.len() + usize::from(mine == 0);
    let fair = holders.len().div_ceil(hosts);
    let shards_of = |host: Option<&str>| -> Vec<u32> {
        let mut found: Vec<u32> = (0..holders.len() as u32)
            .filter(|s| holders[*s as usize] == host)
            .collect();
        found.sort_by_key(|s| preference(me, *s));
        found
    };
    if mine > fair {
        let held = shards_of(Some(me));
        return held
            .into_iter()
            .rev()
            .take(mine - fair)
            .map(Move::GiveUp)
            .collect();
    }
    if mine == fair {
        return Vec::new();
    }
    let free = shards_of(None);
    if !free.is_empty() {
        return free.into_iter().take(fair - mine).map(Move::Take).collect();
    }
    // Nothing free: steal one from the most loaded host above its share,
    // or at it while this host is two or more below (else 6, 6, 4 of 16
    // would stay so); the first by name among equals.
    let victim = counts
        .iter()
        .filter(|(host, count)| {
            **host != me && (**count > fair || (**count == fair && mine + 1 < fair))
        })
        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)));
    match victim {
        Some((host, _)) => shards_of(Some(host))
            .into_iter()
            .take(1)
            .map(|shard| Move::Steal {
                shard,
                from: host.to_string(),
            })
            .collect(),
        None => Vec::new(),
    }
}

/// What this host does with a target's shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShardRole {
    /// Holds its lease: evaluates and acts, fenced by this token.
    Acting(u64),
    /// Evaluates in standby (hypothetical state), to take over warm.
    Warm,
    /// Neither: another host's work.
    Idle,
}

/// One host's view of every shard lease.
#[derive(Debug, Clone)]
pub struct ShardLeases {
    leases: Vec<Lease>,
    warm_shards: usize,
    /// Shards evaluated warm, as last picked.
    warm: Vec<u32>,
}

impl ShardLeases {
    /// `holder`'s view of `shards` shard leases, none read yet; it will
    /// evaluate `warm_shards` shards of other hosts warm.
    pub fn new(holder: &str, timing: LeaseTiming, shards: u32, warm_shards: u32) -> ShardLeases {
        ShardLeases {
            leases: (0..shards).map(|_| Lease::new(holder, timing)).collect(),
            warm_shards: warm_shards as usize,
            warm: Vec::new(),
        }
    }

    /// This host's name in the leases.
    pub fn holder(&self) -> &str {
        self.leases[0].holder()
    }

    /// How many shards there are.
    pub fn shards(&self) -> u32 {
        self.leases.len() as u32
    }

    /// The timing rules of every shard's lease.
    pub fn timing(&self) -> LeaseTiming {
        self.leases[0].timing()
    }

    /// Every shard's record as read at `now` (index: shard).
    pub fn read(&mut self, now: Instant, rows: Vec<Option<LeaseRecord>>) {
        for (lease, row) in self.leases.iter_mut().zip(rows) {
            lease.read(now, row);
        }
    }

    /// This round's writes: renewals and releases of the shards held, and
    /// the takes and steal [`plan`] decides. Shards given up stop acting
    /// at once and are released next round.
    pub fn steps(&mut self, now: Instant) -> Vec<(u32, Step)> {
        let me = self.holder().to_string();
        let moves = {
            let holders: Vec<Option<&str>> =
                self.leases.iter().map(|l| l.live_holder(now)).collect();
            plan(&me, &holders)
        };
        let mut steps = Vec::new();
        let mut given_up = Vec::new();
        for m in &moves {
            match m {
                Move::Take(shard) => steps.push((*shard, self.leases[*shard as usize].plan(now))),
                Move::Steal { shard, .. } => {
                    if let Some(step) = self.leases[*shard as usize].steal() {
                        steps.push((*shard, step));
                    }
                }
                Move::GiveUp(shard) => given_up.push(*shard),
            }
        }
        for (shard, lease) in self.leases.iter_mut().enumerate() {
            let shard = shard as u32;
            if given_up.contains(&shard) && lease.keeping() {
                lease.surrender();
            } else if lease.record().is_some()
                && lease.live_holder(now) == Some(me.as_str())
                && let Some(step) = lease_step_if_held(lease, now)
            {
                steps.push((shard, step));
            }
        }
        self.pick_warm(now);
        steps
    }

    /// The shards to evaluate warm: the ones this host prefers among those
    /// it does not hold.
    fn pick_warm(&mut self, now: Instant) {
        let me = self.holder().to_string();
        let mut others: Vec<u32> = (0..self.shards())
            .filter(|s| self.leases[*s as usize].live_holder(now) != Some(me.as_str()))
            .collect();
        others.sort_by_key(|s| preference(&me, *s));
        others.truncate(self.warm_shards);
        self.warm = others;
    }

    /// A write's answer.
    pub fn written(
        &mut self,
        shard: u32,
        step: &Step,
        sent: Instant,
        now: Instant,
        outcome: WriteOutcome,
    ) {
        self.leases[shard as usize].written(step, sent, now, outcome);
    }

    /// A write that got no answer.
    pub fn unanswered(&mut self, shard: u32, step: &Step, sent: Instant) {
        self.leases[shard as usize].unanswered(step, sent);
    }

    /// The fencing token of `shard` while this host may act on it.
    pub fn acting(&self, shard: u32, now: Instant) -> Option<u64> {
        self.leases.get(shard as usize)?.acting(now)
    }

    /// What this host does with `shard` at `now`.
    pub fn role(&self, shard: u32, now: Instant) -> ShardRole {
        match self.acting(shard, now) {
            Some(token) => ShardRole::Acting(token),
            None if self.warm.contains(&shard) || self.holds(shard) => ShardRole::Warm,
            None => ShardRole::Idle,
        }
    }

    /// Holds `shard`'s lease (acting or not yet: a stolen lease waits out
    /// its old holder's duration; evaluated in standby meanwhile).
    fn holds(&self, shard: u32) -> bool {
        self.leases[shard as usize].keeping()
    }

    /// Shards this host holds, acting or waiting to.
    pub fn held(&self) -> Vec<u32> {
        (0..self.shards()).filter(|s| self.holds(*s)).collect()
    }

    /// The releases of every shard held (clean shutdown).
    pub fn releases(&self) -> Vec<(u32, Step)> {
        self.leases
            .iter()
            .enumerate()
            .filter_map(|(shard, lease)| Some((shard as u32, lease.release()?)))
            .collect()
    }
}

/// The renewal (or, surrendering, the release) of a lease this host holds.
fn lease_step_if_held(lease: &Lease, now: Instant) -> Option<Step> {
    match lease.plan(now) {
        step @ Step::Replace { .. } => Some(step),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const S: Duration = Duration::from_secs(1);
    const SHARDS: u32 = 16;

    fn timing() -> LeaseTiming {
        // lease 3s, renew every 1s, act until 2s after a renewal was sent.
        LeaseTiming::new(3 * S, S, 2 * S).unwrap()
    }

    /// The lease table: one row per shard, conditional writes.
    struct Table(Vec<Option<LeaseRecord>>);

    impl Table {
        fn new() -> Table {
            Table(vec![None; SHARDS as usize])
        }

        fn apply(&mut self, shard: u32, step: &Step) -> WriteOutcome {
            let row = &mut self.0[shard as usize];
            match step {
                Step::Read => unreachable!(),
                Step::Create { record } if row.is_none() => {
                    *row = Some(record.clone());
                    WriteOutcome::Written
                }
                Step::Replace {
                    expected_version,
                    record,
                } if row.as_ref().map(|r| r.version) == Some(*expected_version) => {
                    *row = Some(record.clone());
                    WriteOutcome::Written
                }
                _ => WriteOutcome::Conflict(row.clone()),
            }
        }

        /// One round of `host`: read every row, then its writes.
        fn round(&mut self, host: &mut ShardLeases, now: Instant) {
            host.read(now, self.0.clone());
            for (shard, step) in host.steps(now) {
                let outcome = self.apply(shard, &step);
                host.written(shard, &step, now, now, outcome);
            }
        }

        fn counts(&self) -> BTreeMap<String, usize> {
            let mut counts = BTreeMap::new();
            for row in self.0.iter().flatten().filter(|r| !r.released) {
                *counts.entry(row.holder.clone()).or_default() += 1;
            }
            counts
        }
    }

    fn host(name: &str) -> ShardLeases {
        ShardLeases::new(name, timing(), SHARDS, 0)
    }

    fn acting_count(host: &ShardLeases, now: Instant) -> usize {
        (0..SHARDS)
            .filter(|s| host.acting(*s, now).is_some())
            .count()
    }

    /// No shard is acted on by two hosts at the same moment.
    fn assert_exclusive(hosts: &[&ShardLeases], now: Instant) {
        for shard in 0..SHARDS {
            let acting: Vec<&str> = hosts
                .iter()
                .filter(|h| h.acting(shard, now).is_some())
                .map(|h| h.holder())
                .collect();
            assert!(acting.len() <= 1, "shard {shard} acted on by {acting:?}");
        }
    }

    #[test]
    fn the_hash_is_fnv1a_and_spreads_targets() {
        // The published FNV-1a 64 test vectors: a change would move targets.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(b"foobar"), 0x8594_4171_f739_67e8);
        let mut per_shard = [0usize; 16];
        for i in 0..1600 {
            per_shard[shard_of(&format!("web-{i}"), 16) as usize] += 1;
        }
        assert!(
            per_shard.iter().all(|n| (60..=140).contains(n)),
            "{per_shard:?}"
        );
        assert_eq!(shard_of("anything", 1), 0);
    }

    #[test]
    fn one_host_takes_every_shard() {
        let t0 = Instant::now();
        let mut table = Table::new();
        let mut a = host("a");
        table.round(&mut a, t0);
        assert_eq!(acting_count(&a, t0), SHARDS as usize);
        assert_eq!(table.counts()["a"], SHARDS as usize);
        // Renewals keep it all, tokens unchanged.
        for round in 1..10 {
            table.round(&mut a, t0 + round * S);
            assert_eq!(acting_count(&a, t0 + round * S), SHARDS as usize);
        }
        assert!(table.0.iter().flatten().all(|r| r.token == 1));
    }

    #[test]
    fn a_joining_host_converges_to_a_fair_share_without_double_acting() {
        let t0 = Instant::now();
        let mut table = Table::new();
        let mut a = host("a");
        let mut b = host("b");
        table.round(&mut a, t0);
        let mut t = t0;
        for _ in 0..12 {
            t += S;
            table.round(&mut a, t);
            table.round(&mut b, t);
            assert_exclusive(&[&a, &b], t);
            assert_exclusive(&[&a, &b], t + S / 2);
        }
        let counts = table.counts();
        assert_eq!(counts["a"], 8, "{counts:?}");
        assert_eq!(counts["b"], 8, "{counts:?}");
        // A third joins: ceil(16 / 3) = 6, so 6, 5, 5 in some order.
        let mut c = host("c");
        for _ in 0..20 {
            t += S;
            table.round(&mut a, t);
            table.round(&mut b, t);
            table.round(&mut c, t);
            assert_exclusive(&[&a, &b, &c], t);
        }
        let mut shares: Vec<usize> = table.counts().into_values().collect();
        shares.sort();
        assert_eq!(shares, vec![5, 5, 6]);
        assert_eq!(
            acting_count(&a, t) + acting_count(&b, t) + acting_count(&c, t),
            SHARDS as usize
        );
    }

    #[test]
    fn a_stolen_shard_is_acted_on_only_after_the_old_holders_lease() {
        let t0 = Instant::now();
        let mut table = Table::new();
        let mut a = host("a");
        let mut b = host("b");
        table.round(&mut a, t0);
        // b's first round: nothing free, a above the fair share of 8.
        table.round(&mut b, t0 + S / 2);
        let stolen = b.held();
        assert_eq!(stolen.len(), 1, "one steal per round");
        let shard = stolen[0];
        assert_eq!(b.role(shard, t0 + S / 2), ShardRole::Warm);
        // a, partitioned, still acts until its renew deadline (t0 + 2s).
        assert!(a.acting(shard, t0 + S).is_some());
        assert!(b.acting(shard, t0 + 2 * S).is_none());
        // b acts once a's whole lease duration has passed since the steal
        // (renewing meanwhile).
        for round in 1..=3 {
            table.round(&mut b, t0 + S / 2 + round * S);
        }
        assert!(b.acting(shard, t0 + S / 2 + 3 * S - S / 10).is_none());
        assert!(b.acting(shard, t0 + S / 2 + 3 * S).is_some());
    }

    #[test]
    fn a_leaving_hosts_shards_are_taken_after_expiry() {
        let t0 = Instant::now();
        let mut table = Table::new();
        let mut a = host("a");
        let mut b = host("b");
        let mut t = t0;
        for _ in 0..12 {
            table.round(&mut a, t);
            table.round(&mut b, t);
            t += S;
        }
        let a_shards = a.held();
        assert_eq!(a_shards.len(), 8);
        assert_eq!(acting_count(&b, t), 8, "{:?}", b.held());
        let a_tokens: Vec<u64> = a_shards.iter().map(|s| a.acting(*s, t).unwrap()).collect();
        // a is killed: no release. b takes its shards once it has seen them
        // unrenewed for a lease duration, and not before.
        // a's last renewal was sent a round ago.
        let killed = t - S;
        let mut taken_at = None;
        while t < killed + 10 * S {
            table.round(&mut b, t);
            assert!(
                t >= killed + 3 * S || acting_count(&b, t) == 8,
                "b took a's shards before they expired"
            );
            if acting_count(&b, t) == SHARDS as usize && taken_at.is_none() {
                taken_at = Some(t);
            }
            t += S;
        }
        let took = taken_at.expect("b took everything") - killed;
        assert!(took <= 3 * S + S, "taken after {took:?}");
        // Each of a's shards changed hands once more: its token went up one.
        for (shard, token) in a_shards.into_iter().zip(a_tokens) {
            assert_eq!(b.acting(shard, t), Some(token + 1));
        }
    }

    #[test]
    fn at_balance_nothing_moves() {
        let t0 = Instant::now();
        let mut table = Table::new();
        let mut hosts = [host("a"), host("b"), host("c")];
        let mut t = t0;
        for _ in 0..30 {
            for h in &mut hosts {
                table.round(h, t);
            }
            t += S;
        }
        let settled = table.0.clone();
        for _ in 0..30 {
            for h in &mut hosts {
                table.round(h, t);
                assert!(h.steps(t).iter().all(|(shard, step)| {
                    matches!(step, Step::Replace { record, .. }
                        if record.holder == h.holder()
                            && settled[*shard as usize].as_ref().is_some_and(|s| s.holder == record.holder))
                }));
            }
            t += S;
        }
        for (before, now) in settled.iter().zip(&table.0) {
            let (before, now) = (before.as_ref().unwrap(), now.as_ref().unwrap());
            assert_eq!((&before.holder, before.token), (&now.holder, now.token));
        }
    }

    #[test]
    fn a_host_whose_shard_was_taken_refuses_its_stale_token() {
        let t0 = Instant::now();
        let mut table = Table::new();
        let mut a = host("a");
        table.round(&mut a, t0);
        let token = a.acting(3, t0).unwrap();
        // b takes shard 3 behind a's back (as after a's lease expired).
        let mut b = host("b");
        b.read(t0, table.0.clone());
        let step = b.leases[3].steal().unwrap();
        assert_eq!(table.apply(3, &step), WriteOutcome::Written);
        // a's next round sees it: no longer acting on shard 3, and its
        // renewal of the old version would be refused by the table.
        table.round(&mut a, t0 + S);
        assert_eq!(a.acting(3, t0 + S), None);
        let stale = Step::Replace {
            expected_version: 1,
            record: LeaseRecord {
                holder: "a".into(),
                token,
                version: 2,
                duration: 3 * S,
                released: false,
            },
        };
        assert!(matches!(table.apply(3, &stale), WriteOutcome::Conflict(_)));
        assert_eq!(table.0[3].as_ref().unwrap().token, token + 1);
    }

    #[test]
    fn given_up_shards_stop_acting_at_once_and_are_released_a_round_later() {
        let t0 = Instant::now();
        let mut table = Table::new();
        let mut a = host("a");
        let mut b = host("b");
        table.round(&mut a, t0);
        table.round(&mut b, t0); // steals one
        table.round(&mut a, t0 + S); // sees b: gives up 7 (16 -> fair 8 + b's 1)
        let acting = acting_count(&a, t0 + S);
        assert_eq!(acting, 8, "a acts only on the shards it keeps");
        let released_before = table.0.iter().flatten().filter(|r| r.released).count();
        assert_eq!(released_before, 0, "not released in the same round");
        table.round(&mut a, t0 + 2 * S);
        let released = table.0.iter().flatten().filter(|r| r.released).count();
        assert_eq!(released, 7);
    }

    #[test]
    fn the_warm_set_is_shards_held_by_others() {
        let t0 = Instant::now();
        let mut table = Table::new();
        let mut a = ShardLeases::new("a", timing(), SHARDS, 3);
        let mut b = ShardLeases::new("b", timing(), SHARDS, 3);
        let mut t = t0;
        for _ in 0..12 {
            table.round(&mut a, t);
            table.round(&mut b, t);
            t += S;
        }
        let warm: Vec<u32> = (0..SHARDS)
            .filter(|s| a.role(*s, t) == ShardRole::Warm)
            .collect();
        assert_eq!(warm.len(), 3);
        assert!(warm.iter().all(|s| b.acting(*s, t).is_some()));
    }
}
