//! What a benchmark reads of a running process from /proc: its CPU time and
//! its memory.

// Each bench uses the part it needs.
#![allow(dead_code)]

/// A `/proc/PID/status` field in KiB (`VmRSS:` now, `VmHWM:` the peak); 0
/// once the process is gone.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// CPU time (user + system) the process has used, seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the line; clock ticks of 1/100 s.
    (ticks(11) + ticks(12)) / 100.0
}

/// A process's RSS sampled every few milliseconds on a thread of its own:
/// a round's transient peak lasts well under a second, which a reading at
/// the round's end never sees and VmHWM only gives for the whole run.
pub struct RssSampler {
    peak_kib: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl RssSampler {
    /// Samples `pid`'s VmRSS every `every` until dropped.
    pub fn start(pid: u32, every: std::time::Duration) -> RssSampler {
        use std::sync::atomic::Ordering;
        let peak_kib = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (peak, stopped) = (peak_kib.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                peak.fetch_max(status_kib(pid, "VmRSS:"), Ordering::Relaxed);
                std::thread::sleep(every);
            }
        });
        RssSampler { peak_kib, stop }
    }

    /// The highest RSS sampled since the last call (or the start), KiB.
    pub fn take_peak(&self) -> u64 {
        self.peak_kib.swap(0, std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}
