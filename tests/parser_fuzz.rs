//! Fuzzing every parser of outside input with arbitrary bytes and with
//! mangled valid inputs (proptest, a fixed number of cases so CI runs them
//! in a few seconds): the policy TOML loader, the daemon config loader, the
//! trace CSV reader, the decisions log line reader and the Prometheus
//! exposition parser. Each must return (an error or a value) without a
//! panic, and allocate at most [`MAX_ALLOCATION`] for one input: a counting
//! global allocator in this test binary measures each call's peak.
//!
//! Run with `--nocapture` to see each parser's case count and largest peak.

mod fixtures;

use ebb::daemon::config::DaemonConfig;
use ebb::decision::DecisionRecord;
use ebb::policy_file::load::parse_str;
use ebb::sim::trace::{ReadOptions, Trace};
use ebb::source::scrape::expo;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

/// Cases per parser.
const CASES: u32 = 1_000;

/// The most one parse of an input of at most [`MAX_INPUT`] bytes may
/// allocate at its peak.
const MAX_ALLOCATION: usize = 16 << 20;

/// The largest input tried.
const MAX_INPUT: usize = 4096;

/// Counts the bytes live on each thread and their peak, so a parse is
/// measured alone though tests run on several threads.
struct Counting;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn count(delta: isize) {
    // `try_with`: a thread being torn down has no counters left; ignore it.
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            count(layout.size() as isize);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        count(-(layout.size() as isize));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            count(new_size as isize - layout.size() as isize);
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// The peak bytes `f` allocated above what was live when it started.
fn peak_of(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|peak| peak.set(base));
    f();
    (PEAK.with(Cell::get) - base).max(0) as usize
}

/// Arbitrary bytes, or `seed` with a stretch replaced by arbitrary bytes,
/// duplicated or cut (so the deeper branches of a parser are reached).
fn input(seed: &'static [u8]) -> impl Strategy<Value = Vec<u8>> {
    let arbitrary = prop::collection::vec(any::<u8>(), 0..MAX_INPUT);
    let mangled = (
        0..=seed.len(),
        0..=seed.len(),
        prop::collection::vec(any::<u8>(), 0..64),
        0u8..3,
    )
        .prop_map(move |(a, b, insert, how)| {
            let (lo, hi) = (a.min(b), a.max(b));
            match how {
                0 => [&seed[..lo], &seed[hi..]].concat(),
                1 => [&seed[..hi], &seed[lo..hi], &seed[hi..]].concat(),
                _ => [&seed[..lo], &insert[..], &seed[hi..]].concat(),
            }
        });
    prop_oneof![arbitrary, mangled]
}

/// Runs `parse` on [`CASES`] inputs from `seed`, checks none allocates over
/// the bound (a panic fails the case by itself), and prints the figures.
fn fuzz(name: &str, seed: &'static [u8], parse: impl Fn(&[u8])) {
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let largest = Cell::new(0usize);
    runner
        .run(&input(seed), |bytes| {
            let peak = peak_of(|| parse(&bytes));
            largest.set(largest.get().max(peak));
            prop_assert!(
                peak <= MAX_ALLOCATION,
                "{name}: {peak} bytes allocated for a {}-byte input",
                bytes.len()
            );
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    eprintln!(
        "fuzz {name}: {CASES} cases of up to {MAX_INPUT} bytes, largest allocation peak {} KiB",
        largest.get().div_ceil(1024)
    );
}

#[test]
fn policy_toml() {
    fuzz(
        "policy TOML",
        include_bytes!("../policies/web-predictive.toml"),
        |bytes| {
            let _ = parse_str(&String::from_utf8_lossy(bytes), Path::new("fuzz.toml"));
        },
    );
}

#[test]
fn daemon_config() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ebb.toml");
    fuzz(
        "daemon config",
        include_bytes!("../systemd/ebb.toml"),
        |bytes| {
            std::fs::write(&path, bytes).unwrap();
            let _ = DaemonConfig::load_with_env(Some(&path), Vec::new());
        },
    );
}

#[test]
fn trace_csv() {
    fuzz(
        "trace CSV",
        b"\xEF\xBB\xBFtimestamp,value\r\n2026-01-01 00:00:00,5\r\n2026-01-01 00:01:00,7.5\r\n\
          1767225720,8\r\n1767225780000,9\r\n2026-01-01T00:04:00Z,1e3\r\n# note\r\n",
        |bytes| {
            let _ = Trace::parse_bytes(bytes, "fuzz.csv", ReadOptions::default());
        },
    );
}

#[test]
fn decisions_log_line() {
    let mut record = fixtures::decision("web", fixtures::t(0), 4, 6);
    record.notices.push("réglé \u{1b}[2J".into());
    let line: &'static [u8] = serde_json::to_vec(&record).unwrap().leak();
    fuzz("decisions log line", line, |bytes| {
        let _ = serde_json::from_slice::<DecisionRecord>(bytes.trim_ascii());
    });
}

#[test]
fn prometheus_exposition() {
    fuzz(
        "Prometheus exposition",
        b"# HELP req_total Requests.\n# TYPE req_total counter\n\
          req_total{route=\"/\",code=\"200\"} 1027 1395066363000\n\
          lat_bucket{le=\"0.5\"} 3\nlat_bucket{le=\"+Inf\"} 4 # {trace_id=\"a\"} 0.6\n\
          m{a=\"x,y=z\",b=\"\\\"q\\\"\"} NaN\n# EOF\n",
        |bytes| {
            let _ = expo::parse(&String::from_utf8_lossy(bytes));
        },
    );
}
