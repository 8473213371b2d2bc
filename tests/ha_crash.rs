//! Crash safety: `ebb run` SIGKILLed at random points, many times over,
//! restarted each time on the same decisions log and state directory. After
//! every kill the log holds only whole, distinct lines and the state file is
//! whole JSON; across all restarts the scale-out cooldown holds, so the group
//! is scaled out once.

mod support;

use rand::Rng;
use serde_json::Value;
use std::collections::HashSet;
use std::time::Duration;
use support::daemon::*;
use support::moto::desired;

const CYCLES: usize = 30;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_points_loses_nothing_and_cooldowns_hold() {
    // 90% CPU on a 50% target: 2 -> 4, then the 1h cooldown must hold.
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 90.0, 300).await else {
        return;
    };
    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    let state = setup.dir.path().join("state/state.json");
    let mut rng = rand::rng();
    let mut kills_during_startup = 0;
    let mut state_checks = 0;
    for cycle in 0..CYCLES {
        let before = setup.records().len();
        let ebb = setup.start(&[]);
        let lifetime = Duration::from_millis(rng.random_range(0..3000));
        tokio::time::sleep(lifetime).await;
        ebb.kill();
        // Whole lines only (records() fails on a torn one), none repeated.
        let records = setup.records();
        if records.len() == before {
            kills_during_startup += 1;
        }
        let mut seen = HashSet::new();
        for r in &records {
            let key = (
                r["time"].to_string(),
                r["target"].to_string(),
                r["role"].to_string(),
                r["candidate"].to_string(),
            );
            assert!(seen.insert(key), "cycle {cycle}: duplicated record {r}");
        }
        // The state file is the old one or the new one, never half of one.
        if state.exists() {
            let text = std::fs::read_to_string(&state).unwrap();
            let parsed: Value = serde_json::from_str(&text)
                .unwrap_or_else(|e| panic!("cycle {cycle}: torn state file ({e}): {text}"));
            assert!(parsed["targets"].is_object());
            state_checks += 1;
        }
    }
    let records = setup.records();
    let applied: Vec<&Value> = records
        .iter()
        .filter(|r| r["outcome"]["status"] == "applied")
        .collect();
    assert!(applied.len() <= 1, "scaled more than once: {applied:#?}");
    assert!(
        records.iter().any(|r| r["steps"]
            .as_array()
            .is_some_and(|s| s.iter().any(|s| s["rule"] == "cooldown"))),
        "later evaluations held on the cooldown"
    );
    assert_eq!(desired(&asg, "web").await, 4, "one scale-out in all");
    // A last clean start removes any temporary file a kill left behind.
    let ebb = setup.start(&[]);
    let seen = setup.records().len();
    setup.wait_record("one more evaluation", |_| setup.records().len() > seen);
    assert!(ebb.stop().success());
    // The lock file stays (removing it on exit would race a starting
    // daemon); no temporary state file does.
    let mut names: Vec<String> = std::fs::read_dir(setup.dir.path().join("state"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["ebb.lock", "state.json"],
        "only the lock and state.json are left in the state dir"
    );
    let leftovers = names.len();
    println!(
        "crash safety: {CYCLES} SIGKILL/restart cycles ({kills_during_startup} before the first record), {} whole records, 0 torn or duplicated, state file whole {state_checks}/{state_checks} times, {} scale-out applied, cooldown held; files in the state dir: {leftovers}",
        records.len(),
        applied.len()
    );
    drop(moto);
}
