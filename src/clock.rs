//! Where the control loop gets the time from.
//!
//! The decision core never reads the wall clock: every timestamp it sees comes
//! from a [`Clock`], so the simulator can run days of traffic in a second and
//! tests can step time by hand.

use crate::lock::lock;
use chrono::{DateTime, Utc};
use std::sync::{Arc, Mutex};

/// A source of "now".
pub trait Clock: Send + Sync {
    /// The current time, UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock, for the daemon.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that only moves when told to: the simulator's and the tests'.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<DateTime<Utc>>>,
}

impl ManualClock {
    /// A clock standing at `start` until set or advanced.
    pub fn new(start: DateTime<Utc>) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(start)),
        }
    }

    /// Moves the clock to `to` (backwards too: tests of clock skew need it).
    pub fn set(&self, to: DateTime<Utc>) {
        *lock(&self.now) = to;
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = lock(&self.now);
        *now += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *lock(&self.now)
    }
}

/// A configured duration as chrono's, saturating at chrono's largest (about
/// 292 million years) instead of failing: the one conversion the core uses.
/// Loaders bound every duration a user gives ([`crate::ranges`]), so the
/// saturation only guards against a bug; pair it with checked time
/// arithmetic such as [`earlier`].
pub fn to_chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

/// `t` minus a configured duration, or the earliest time chrono can hold
/// when that is before it (never a panic, as `t - d` would be).
pub fn earlier(t: DateTime<Utc>, d: std::time::Duration) -> DateTime<Utc> {
    t.checked_sub_signed(to_chrono(d))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn an_absurd_duration_saturates_instead_of_panicking() {
        let t = Utc.with_ymd_and_hms(2026, 11, 30, 12, 0, 0).unwrap();
        assert_eq!(
            earlier(t, std::time::Duration::from_secs(60)),
            Utc.with_ymd_and_hms(2026, 11, 30, 11, 59, 0).unwrap()
        );
        // 100000000000 days: the stabilization window that panicked the governor.
        let absurd = std::time::Duration::from_secs(8_640_000_000_000_000);
        assert_eq!(earlier(t, absurd), DateTime::<Utc>::MIN_UTC);
        assert_eq!(to_chrono(std::time::Duration::MAX), chrono::Duration::MAX);
    }
}
