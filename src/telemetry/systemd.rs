//! Talking to systemd (sd_notify): READY=1 once config and policies are
//! loaded and the first tick is scheduled, STATUS= with a one-line summary,
//! RELOADING=1/STOPPING=1 around SIGHUP and shutdown, and WATCHDOG=1 while
//! the control loop is alive.
//!
//! Without systemd (`NOTIFY_SOCKET` unset) every call does nothing. The
//! watchdog pings only while the loop's [`Heartbeat`] is fresh: a hung loop
//! stops the pings and systemd restarts ebb.

use sd_notify::NotifyState;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

fn send(states: &[NotifyState]) {
    if let Err(e) = sd_notify::notify(states) {
        tracing::warn!(error = %e, "sd_notify failed");
    }
}

/// Config and policies loaded, first tick scheduled.
pub fn ready(status: &str) {
    send(&[NotifyState::Ready, NotifyState::Status(status)]);
}

/// Updates the one-line status `systemctl status ebb` shows.
pub fn status(status: &str) {
    send(&[NotifyState::Status(status)]);
}

/// Reloading policies (SIGHUP); follow with [`ready`].
pub fn reloading() {
    send(&[
        NotifyState::Reloading,
        NotifyState::Status("reloading policies"),
    ]);
}

/// Shutting down.
pub fn stopping() {
    send(&[NotifyState::Stopping, NotifyState::Status("stopping")]);
}

/// The control loop's proof of life: it beats every time it goes round.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    start: Instant,
    /// Milliseconds since `start` at the last beat.
    last: Arc<AtomicU64>,
}

impl Default for Heartbeat {
    fn default() -> Self {
        Heartbeat::new()
    }
}

impl Heartbeat {
    /// A heartbeat that has not beaten yet.
    pub fn new() -> Heartbeat {
        Heartbeat {
            start: Instant::now(),
            last: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Records that the loop went round now.
    pub fn beat(&self) {
        let ms = self.start.elapsed().as_millis() as u64;
        self.last.store(ms, Ordering::Relaxed);
    }

    /// Time since the last beat.
    pub fn age(&self) -> Duration {
        let now = self.start.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last.load(Ordering::Relaxed)))
    }
}

/// The watchdog interval systemd asked for (`WatchdogSec=`), if any.
pub fn watchdog_interval() -> Option<Duration> {
    sd_notify::watchdog_enabled()
}

/// Sends WATCHDOG=1 every half interval while the heartbeat is younger than
/// the interval; returns `None` when systemd wants no watchdog.
pub fn spawn_watchdog(heartbeat: Heartbeat) -> Option<tokio::task::JoinHandle<()>> {
    let interval = watchdog_interval()?;
    Some(tokio::spawn(watchdog_loop(heartbeat, interval)))
}

async fn watchdog_loop(heartbeat: Heartbeat, interval: Duration) {
    let mut tick = tokio::time::interval(interval / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut warned = false;
    loop {
        tick.tick().await;
        if heartbeat.age() < interval {
            send(&[NotifyState::Watchdog]);
            warned = false;
        } else if !warned {
            tracing::error!(
                silent_for = ?heartbeat.age(),
                "control loop has not gone round within the watchdog interval: no longer pinging systemd"
            );
            warned = true;
        }
    }
}
