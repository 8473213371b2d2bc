//! The leader lease, as a pure state machine: which write to try next, and
//! whether this instance may act now. The DynamoDB calls live in
//! [`super::lease_table`], the task that drives them in [`super::leader`];
//! here the clock is an argument, so every timing rule is unit-tested.
//!
//! The lease is one record: holder, fencing token, version. Every write is
//! conditional on the version the writer last saw and bumps it, so two
//! instances can never both believe a write of theirs won. The fencing token
//! goes up by one each time the lease changes hands, and only then.
//!
//! No instance compares its clock with another's. A standby takes the lease
//! over once it has seen the same version for a whole lease duration of its
//! own (monotonic) time. The leader acts only until `renew_deadline` after it
//! *sent* its last successful write, and that write was sent before any
//! standby could read it, so with `renew_deadline < lease_duration` the leader
//! stops acting before anyone can take the lease:
//!
//! ```text
//! leader:  sent ---- write lands ---- stops acting at sent + renew_deadline
//! standby:                  reads it (since) ............ may take over at since + lease_duration
//! ```
//!
//! The gap (`lease_duration - renew_deadline`) must cover one Auto Scaling
//! call started just before the deadline, and the drift between the hosts'
//! clock rates over one lease.

use std::time::{Duration, Instant};

/// The lease's timing rules, checked to be consistent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LeaseTiming {
    duration: Duration,
    renew_interval: Duration,
    renew_deadline: Duration,
}

impl LeaseTiming {
    /// `renew_interval < renew_deadline < duration`, all more than zero.
    pub fn new(
        duration: Duration,
        renew_interval: Duration,
        renew_deadline: Duration,
    ) -> Result<LeaseTiming, String> {
        if renew_interval.is_zero() {
            return Err("renew_interval: must be more than 0s".into());
        }
        if renew_deadline >= duration {
            return Err(format!(
                "renew_deadline ({}) must be shorter than lease_duration ({}): a leader that cannot renew must stop acting before its lease can be taken",
                humantime::format_duration(renew_deadline),
                humantime::format_duration(duration)
            ));
        }
        if renew_interval >= renew_deadline {
            return Err(format!(
                "renew_interval ({}) must be shorter than renew_deadline ({}): the leader must get at least one try to renew before it stops acting",
                humantime::format_duration(renew_interval),
                humantime::format_duration(renew_deadline)
            ));
        }
        Ok(LeaseTiming {
            duration,
            renew_interval,
            renew_deadline,
        })
    }

    /// How long a standby waits on an unchanged lease before taking it.
    pub fn duration(&self) -> Duration {
        self.duration
    }

    /// How often the leader renews and a standby looks at the lease.
    pub fn renew_interval(&self) -> Duration {
        self.renew_interval
    }

    /// How long after its last successful renewal was sent the leader acts.
    pub fn renew_deadline(&self) -> Duration {
        self.renew_deadline
    }
}

/// The lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseRecord {
    /// The id of the instance holding the lease.
    pub holder: String,
    /// Fencing token: one more each time the lease changes hands.
    pub token: u64,
    /// One more on every write; every write is conditional on it.
    pub version: u64,
    /// The holder's lease duration, so a standby configured with a shorter
    /// one still waits long enough.
    pub duration: Duration,
    /// The holder gave the lease up (clean shutdown): take it at once.
    pub released: bool,
}

/// What the driver should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read the lease (consistently).
    Read,
    /// Write `record`, only if there is no lease record yet.
    Create {
        /// The lease to store.
        record: LeaseRecord,
    },
    /// Replace the lease with `record`, only if its version is still
    /// `expected_version` (a takeover, a renewal or a release).
    Replace {
        /// The version the stored record must still have.
        expected_version: u64,
        /// The lease to store.
        record: LeaseRecord,
    },
}

/// How a conditional write ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// The condition held: the record is stored.
    Written,
    /// The condition failed: someone else wrote first. Carries the record as
    /// it now is, when the driver read it.
    Conflict(Option<LeaseRecord>),
}

/// A write of ours whose answer was lost.
#[derive(Debug, Clone, PartialEq)]
struct Unanswered {
    attempt: LeaseRecord,
    sent: Instant,
    /// It was a steal: if it landed, the holder it replaced may act for up
    /// to this long after it landed.
    stolen_from: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq)]
enum State {
    /// Nothing known yet: read first.
    Unknown,
    /// Someone else holds the lease (or nobody does: `record` is `None`).
    Following {
        record: Option<LeaseRecord>,
        /// When this instance first saw this version of the record.
        since: Instant,
        /// A write of ours whose answer was lost (timeout), with the time
        /// it was sent: if the next read shows it, it landed.
        unanswered: Option<Unanswered>,
    },
    /// This instance holds the lease.
    Leading {
        record: LeaseRecord,
        /// When the last successful write was sent.
        renewed: Instant,
        /// Acting starts here: at once for a lease taken free, expired or
        /// released; for one stolen from a live holder, once that holder's
        /// own renew deadline has surely passed (shard mode's stealing).
        acting_from: Instant,
        /// Giving the lease up (shard mode's surplus): no longer acting,
        /// released at the next step.
        surrendering: bool,
    },
}

/// One instance's view of the lease.
#[derive(Debug, Clone)]
pub struct Lease {
    holder: String,
    timing: LeaseTiming,
    state: State,
}

impl Lease {
    /// A lease for `holder`, state unknown until the first read.
    pub fn new(holder: impl Into<String>, timing: LeaseTiming) -> Lease {
        Lease {
            holder: holder.into(),
            timing,
            state: State::Unknown,
        }
    }

    /// The id this instance holds the lease under.
    pub fn holder(&self) -> &str {
        &self.holder
    }

    /// The lease's durations and deadlines.
    pub fn timing(&self) -> LeaseTiming {
        self.timing
    }

    /// The fencing token, while this instance may act as the leader;
    /// `None` as a standby, or once the renew deadline has passed.
    pub fn acting(&self, now: Instant) -> Option<u64> {
        match &self.state {
            State::Leading {
                record,
                renewed,
                acting_from,
                surrendering: false,
            } if now >= *acting_from && now < *renewed + self.timing.renew_deadline => {
                Some(record.token)
            }
            _ => None,
        }
    }

    /// Until when this instance may act, when it holds the lease.
    pub fn acting_until(&self) -> Option<Instant> {
        match &self.state {
            State::Leading { renewed, .. } => Some(*renewed + self.timing.renew_deadline),
            _ => None,
        }
    }

    /// The lease record as last seen or written, if any.
    pub fn record(&self) -> Option<&LeaseRecord> {
        match &self.state {
            State::Unknown => None,
            State::Following { record, .. } => record.as_ref(),
            State::Leading { record, .. } => Some(record),
        }
    }

    /// The next step at `now`.
    pub fn plan(&self, now: Instant) -> Step {
        match &self.state {
            State::Unknown => Step::Read,
            State::Following { record: None, .. } => Step::Create {
                record: self.claim(None),
            },
            State::Following {
                record: Some(record),
                since,
                ..
            } => {
                let wait = record.duration.max(self.timing.duration);
                if record.released || now >= *since + wait {
                    Step::Replace {
                        expected_version: record.version,
                        record: self.claim(Some(record)),
                    }
                } else {
                    Step::Read
                }
            }
            State::Leading {
                surrendering: true, ..
            } => self.release().expect("leading"),
            // Renew even past the deadline: if the version is unchanged,
            // nobody took the lease, and the conditional write keeps it.
            State::Leading { record, .. } => Step::Replace {
                expected_version: record.version,
                record: LeaseRecord {
                    version: record.version + 1,
                    duration: self.timing.duration,
                    ..record.clone()
                },
            },
        }
    }

    /// The step that gives the lease up (clean shutdown), if this instance
    /// holds it.
    pub fn release(&self) -> Option<Step> {
        match &self.state {
            State::Leading { record, .. } => Some(Step::Replace {
                expected_version: record.version,
                record: LeaseRecord {
                    version: record.version + 1,
                    released: true,
                    ..record.clone()
                },
            }),
            _ => None,
        }
    }

    /// Whether this instance could take the lease now: there is none, or it
    /// was released, or it went unrenewed for a whole lease duration.
    pub fn claimable(&self, now: Instant) -> bool {
        matches!(&self.state, State::Following { .. })
            && matches!(self.plan(now), Step::Create { .. } | Step::Replace { .. })
    }

    /// Who holds the lease live, as far as this instance knows at `now`:
    /// this instance while it holds it (surrendering or not), another
    /// while its lease is neither released nor expired; `None` otherwise.
    pub fn live_holder(&self, now: Instant) -> Option<&str> {
        match &self.state {
            State::Unknown => None,
            State::Leading { .. } => Some(&self.holder),
            State::Following {
                record: Some(record),
                ..
            } if !self.claimable(now) => Some(&record.holder),
            State::Following { .. } => None,
        }
    }

    /// Whether this instance holds the lease and is not giving it up.
    pub fn keeping(&self) -> bool {
        matches!(
            self.state,
            State::Leading {
                surrendering: false,
                ..
            }
        )
    }

    /// Stops acting at once and gives the lease up at the next step (a
    /// renew interval later, so a change sent just before this call lands
    /// before anyone else may act). No-op unless this instance holds it.
    pub fn surrender(&mut self) {
        if let State::Leading { surrendering, .. } = &mut self.state {
            *surrendering = true;
        }
    }

    /// The write that takes a live lease from its holder (shard mode's
    /// stealing toward balance); `None` unless another holds it live.
    /// Won, it lets this instance act only once the old holder's lease
    /// duration has passed, by which time the old holder, whose renewals
    /// now conflict, has stopped at its renew deadline.
    pub fn steal(&self) -> Option<Step> {
        match &self.state {
            State::Following {
                record: Some(record),
                ..
            } if !record.released => Some(Step::Replace {
                expected_version: record.version,
                record: self.claim(Some(record)),
            }),
            _ => None,
        }
    }

    /// How long the holder this write replaces may still act after it
    /// lands: its lease duration when `step` steals a live lease, `None`
    /// when it creates, renews, releases or takes a free one.
    fn stolen_from(&self, step: &Step, sent: Instant) -> Option<Duration> {
        let State::Following {
            record: Some(previous),
            since,
            ..
        } = &self.state
        else {
            return None;
        };
        let Step::Replace {
            record: attempted, ..
        } = step
        else {
            return None;
        };
        let wait = previous.duration.max(self.timing.duration);
        let expired = sent >= *since + wait;
        (attempted.holder == self.holder
            && previous.holder != self.holder
            && !previous.released
            && !expired)
            .then_some(previous.duration)
    }

    /// The lease as read at `now` (`None`: no record).
    pub fn read(&mut self, now: Instant, current: Option<LeaseRecord>) {
        self.state = match std::mem::replace(&mut self.state, State::Unknown) {
            State::Leading {
                record,
                renewed,
                acting_from,
                surrendering,
            } if current.as_ref().is_some_and(|c| {
                *c == record || (c.version > record.version && self.own_renewal(&record, c))
            }) =>
            {
                // A renewal of ours whose answer was lost may have landed:
                // still ours, acting from the last renewal known to be sent.
                State::Leading {
                    record: current.expect("checked"),
                    renewed,
                    acting_from,
                    surrendering,
                }
            }
            State::Following {
                unanswered: Some(lost),
                ..
            } if current.as_ref() == Some(&lost.attempt) && !lost.attempt.released => {
                State::Leading {
                    record: lost.attempt,
                    renewed: lost.sent,
                    acting_from: lost.stolen_from.map_or(lost.sent, |d| now + d),
                    surrendering: false,
                }
            }
            State::Following { record, since, .. } if record == current => State::Following {
                record,
                since,
                unanswered: None,
            },
            _ => State::Following {
                record: current,
                since: now,
                unanswered: None,
            },
        };
    }

    /// A conditional write of `step`, sent at `sent`, has been answered at
    /// `now`.
    pub fn written(&mut self, step: &Step, sent: Instant, now: Instant, outcome: WriteOutcome) {
        let attempted = match step {
            Step::Read => return,
            Step::Create { record } | Step::Replace { record, .. } => record,
        };
        match outcome {
            WriteOutcome::Written if attempted.released => {
                self.state = State::Following {
                    record: Some(attempted.clone()),
                    since: now,
                    unanswered: None,
                };
            }
            WriteOutcome::Written => {
                self.state = match &self.state {
                    // A renewal keeps when acting started.
                    State::Leading {
                        acting_from,
                        surrendering,
                        ..
                    } => State::Leading {
                        record: attempted.clone(),
                        renewed: sent,
                        acting_from: *acting_from,
                        surrendering: *surrendering,
                    },
                    _ => State::Leading {
                        record: attempted.clone(),
                        renewed: sent,
                        acting_from: self.stolen_from(step, sent).map_or(sent, |d| now + d),
                        surrendering: false,
                    },
                };
            }
            WriteOutcome::Conflict(current) => {
                // An earlier write of ours whose answer was lost may be what
                // changed the version: the record then is ours, renewed when
                // that write was sent, which is no later than the last
                // renewal this instance knows of.
                if let (
                    State::Leading {
                        record,
                        renewed,
                        acting_from,
                        surrendering,
                    },
                    Some(current),
                ) = (&self.state, &current)
                    && self.own_renewal(record, current)
                {
                    self.state = State::Leading {
                        record: current.clone(),
                        renewed: *renewed,
                        acting_from: *acting_from,
                        surrendering: *surrendering,
                    };
                    return;
                }
                // As a read: a takeover of ours whose answer was lost may be
                // what is there now.
                self.read(now, current);
            }
        }
    }

    /// A conditional write of `step`, sent at `sent`, got no answer (timeout,
    /// connection dropped, server error): it may or may not have landed.
    pub fn unanswered(&mut self, step: &Step, sent: Instant) {
        let attempted = match step {
            Step::Read => return,
            Step::Create { record } | Step::Replace { record, .. } => record.clone(),
        };
        let stolen_from = self.stolen_from(step, sent);
        if let State::Following { unanswered, .. } = &mut self.state {
            *unanswered = Some(Unanswered {
                attempt: attempted,
                sent,
                stolen_from,
            });
        }
        // A leader keeps its last known renewal: it stops acting at the
        // deadline unless a later renewal is answered, and a conflict on
        // that renewal tells whether this one landed.
    }

    /// Whether `current` is `held` renewed by this instance (the same
    /// holding: same token, not given up).
    fn own_renewal(&self, held: &LeaseRecord, current: &LeaseRecord) -> bool {
        current.holder == self.holder && current.token == held.token && !current.released
    }

    /// The record this instance writes to take the lease.
    fn claim(&self, previous: Option<&LeaseRecord>) -> LeaseRecord {
        LeaseRecord {
            holder: self.holder.clone(),
            token: previous.map_or(1, |r| r.token + 1),
            version: previous.map_or(1, |r| r.version + 1),
            duration: self.timing.duration,
            released: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    fn timing() -> LeaseTiming {
        LeaseTiming::new(15 * S, 2 * S, 10 * S).unwrap()
    }

    /// The stored record, shared by simulated instances: a conditional write
    /// as DynamoDB does it.
    #[derive(Default)]
    struct Table(Option<LeaseRecord>);

    impl Table {
        fn apply(&mut self, step: &Step) -> WriteOutcome {
            match step {
                Step::Read => unreachable!("not a write"),
                Step::Create { record } if self.0.is_none() => {
                    self.0 = Some(record.clone());
                    WriteOutcome::Written
                }
                Step::Replace {
                    expected_version,
                    record,
                } if self.0.as_ref().map(|r| r.version) == Some(*expected_version) => {
                    self.0 = Some(record.clone());
                    WriteOutcome::Written
                }
                _ => WriteOutcome::Conflict(self.0.clone()),
            }
        }

        /// One step of `lease` against the table, answered at once.
        fn step(&mut self, lease: &mut Lease, now: Instant) {
            match lease.plan(now) {
                Step::Read => lease.read(now, self.0.clone()),
                step => {
                    let outcome = self.apply(&step);
                    lease.written(&step, now, now, outcome);
                }
            }
        }
    }

    #[test]
    fn timing_rules_are_checked() {
        assert!(LeaseTiming::new(15 * S, 2 * S, 15 * S).is_err());
        assert!(LeaseTiming::new(15 * S, 10 * S, 10 * S).is_err());
        assert!(LeaseTiming::new(15 * S, Duration::ZERO, 10 * S).is_err());
        let e = LeaseTiming::new(10 * S, 2 * S, 12 * S).unwrap_err();
        assert!(e.contains("renew_deadline"), "{e}");
    }

    #[test]
    fn the_first_instance_creates_the_lease_with_token_one() {
        let t0 = Instant::now();
        let mut table = Table::default();
        let mut a = Lease::new("a", timing());
        assert_eq!(a.acting(t0), None);
        table.step(&mut a, t0); // read: nothing there
        assert_eq!(a.acting(t0), None);
        table.step(&mut a, t0 + S); // create
        assert_eq!(a.acting(t0 + S), Some(1));
        assert_eq!(table.0.as_ref().unwrap().holder, "a");
    }

    #[test]
    fn a_standby_waits_a_whole_lease_duration_on_an_unchanged_version() {
        let t0 = Instant::now();
        let mut table = Table::default();
        let mut a = Lease::new("a", timing());
        let mut b = Lease::new("b", timing());
        table.step(&mut a, t0);
        table.step(&mut a, t0);
        // b starts and reads a's lease at t0 + 1s; a then dies.
        table.step(&mut b, t0 + S);
        let mut t = t0 + S;
        while t < t0 + 16 * S {
            assert_eq!(b.plan(t), Step::Read, "at {:?}", t - t0);
            table.step(&mut b, t);
            assert_eq!(b.acting(t), None);
            t += S / 2;
        }
        // 15s after b first saw this version: take over, token 2.
        assert!(matches!(b.plan(t0 + 16 * S), Step::Replace { .. }));
        table.step(&mut b, t0 + 16 * S);
        assert_eq!(b.acting(t0 + 16 * S), Some(2));
    }

    #[test]
    fn a_renewing_leader_is_never_taken_over() {
        let t0 = Instant::now();
        let mut table = Table::default();
        let mut a = Lease::new("a", timing());
        let mut b = Lease::new("b", timing());
        table.step(&mut a, t0);
        let mut t = t0;
        let mut last_token = 0;
        while t < t0 + 120 * S {
            table.step(&mut a, t);
            table.step(&mut b, t + S);
            let token = a.acting(t + S).expect("a keeps acting");
            assert!(token >= last_token);
            last_token = token;
            assert_eq!(b.acting(t + S), None);
            t += 2 * S;
        }
        assert_eq!(
            last_token, 1,
            "the token only moves when the lease changes hands"
        );
    }

    #[test]
    fn a_leader_that_cannot_renew_stops_acting_before_anyone_can_take_over() {
        let t0 = Instant::now();
        let mut table = Table::default();
        let mut a = Lease::new("a", timing());
        let mut b = Lease::new("b", timing());
        table.step(&mut a, t0);
        table.step(&mut a, t0); // a leads, renewed (sent) at t0
        // b reads immediately after the write landed: the earliest it can.
        table.step(&mut b, t0);
        // From now on a's renewals get no answer (partitioned).
        let mut t = t0;
        let mut a_stopped = None;
        let mut b_started = None;
        while t < t0 + 30 * S {
            let step = a.plan(t);
            a.unanswered(&step, t);
            if a.acting(t).is_none() && a_stopped.is_none() {
                a_stopped = Some(t);
            }
            table.step(&mut b, t);
            if b.acting(t).is_some() && b_started.is_none() {
                b_started = Some(t);
            }
            assert!(
                !(a.acting(t).is_some() && b.acting(t).is_some()),
                "two leaders at {:?}",
                t - t0
            );
            t += S / 4;
        }
        let (stopped, started) = (a_stopped.unwrap(), b_started.unwrap());
        assert_eq!(stopped - t0, 10 * S, "a stops at the renew deadline");
        assert_eq!(
            started - t0,
            15 * S,
            "b takes over one lease duration later"
        );
        assert_eq!(b.acting(started), Some(2));
        // a's partition heals: its renewal conflicts and it follows b.
        let step = a.plan(t);
        let outcome = table.apply(&step);
        assert!(matches!(outcome, WriteOutcome::Conflict(Some(_))));
        a.written(&step, t, t, outcome);
        assert_eq!(a.acting(t), None);
        assert_eq!(a.record().unwrap().holder, "b");
    }

    #[test]
    fn a_renewal_whose_answer_was_lost_is_recognised() {
        let t0 = Instant::now();
        let mut table = Table::default();
        let mut a = Lease::new("a", timing());
        table.step(&mut a, t0);
        table.step(&mut a, t0);
        // The renewal at 2s lands but its answer is lost.
        let step = a.plan(t0 + 2 * S);
        assert_eq!(table.apply(&step), WriteOutcome::Written);
        a.unanswered(&step, t0 + 2 * S);
        // The renewal at 4s conflicts with a's own write: still the leader,
        // acting from the last renewal it knows was sent (t0).
        let step = a.plan(t0 + 4 * S);
        let outcome = table.apply(&step);
        a.written(&step, t0 + 4 * S, t0 + 4 * S, outcome);
        assert_eq!(a.acting(t0 + 9 * S), Some(1));
        assert_eq!(a.acting(t0 + 10 * S), None);
        // The next renewal succeeds and a acts on.
        table.step(&mut a, t0 + 6 * S);
        assert_eq!(a.acting(t0 + 15 * S), Some(1));
    }

    #[test]
    fn a_takeover_whose_answer_was_lost_is_recognised_on_the_next_read() {
        let t0 = Instant::now();
        let mut table = Table::default();
        let mut b = Lease::new("b", timing());
        table.step(&mut b, t0); // nothing there
        let step = b.plan(t0 + S);
        assert!(matches!(step, Step::Create { .. }));
        assert_eq!(table.apply(&step), WriteOutcome::Written);
        b.unanswered(&step, t0 + S);
        assert_eq!(b.acting(t0 + S), None);
        assert_eq!(
            b.plan(t0 + 2 * S),
            Step::Create {
                record: b.claim(None)
            }
        );
        // A read (the driver reads after a lost write) shows it landed.
        b.read(t0 + 2 * S, table.0.clone());
        assert_eq!(b.acting(t0 + 2 * S), Some(1));
        assert_eq!(b.acting_until(), Some(t0 + S + 10 * S));
    }

    #[test]
    fn a_released_lease_is_taken_at_once_and_the_token_only_grows() {
        let t0 = Instant::now();
        let mut table = Table::default();
        let mut a = Lease::new("a", timing());
        let mut b = Lease::new("b", timing());
        table.step(&mut a, t0);
        table.step(&mut a, t0);
        let mut tokens = vec![a.acting(t0).unwrap()];
        let mut t = t0;
        for round in 0..6 {
            let (leader, standby) = if round % 2 == 0 {
                (&mut a, &mut b)
            } else {
                (&mut b, &mut a)
            };
            table.step(standby, t);
            let release = leader.release().unwrap();
            let outcome = table.apply(&release);
            leader.written(&release, t, t, outcome);
            assert_eq!(leader.acting(t), None);
            t += S;
            table.step(standby, t); // reads the release
            table.step(standby, t); // takes over
            tokens.push(standby.acting(t).expect("took over at once"));
        }
        assert_eq!(tokens, vec![1, 2, 3, 4, 5, 6, 7]);
    }

    #[test]
    fn a_standby_with_a_shorter_lease_waits_for_the_holders() {
        let t0 = Instant::now();
        let mut table = Table::default();
        let long = LeaseTiming::new(60 * S, 5 * S, 40 * S).unwrap();
        let mut a = Lease::new("a", long);
        let mut b = Lease::new("b", timing());
        table.step(&mut a, t0);
        table.step(&mut a, t0);
        table.step(&mut b, t0);
        assert_eq!(b.plan(t0 + 30 * S), Step::Read);
        assert!(matches!(b.plan(t0 + 60 * S), Step::Replace { .. }));
    }

    #[test]
    fn only_one_of_many_racing_standbys_wins() {
        let t0 = Instant::now();
        let mut table = Table::default();
        let mut leases: Vec<Lease> = (0..5)
            .map(|i| Lease::new(format!("i{i}"), timing()))
            .collect();
        for lease in &mut leases {
            table.step(lease, t0);
        }
        // All plan a Create against the empty table; one write lands.
        let steps: Vec<Step> = leases.iter().map(|l| l.plan(t0)).collect();
        for (lease, step) in leases.iter_mut().zip(&steps) {
            let outcome = table.apply(step);
            lease.written(step, t0, t0, outcome);
        }
        let acting: Vec<_> = leases.iter().filter_map(|l| l.acting(t0)).collect();
        assert_eq!(acting, vec![1]);
    }
}
