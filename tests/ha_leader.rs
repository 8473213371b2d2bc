//! Two `ebb run` processes sharing a DynamoDB lease in moto: one acts, the
//! other records `standby`; SIGKILL the leader and the standby takes over
//! within the lease duration; no group is scaled by both, and the fencing
//! token only grows. Prints the takeover times and evaluations lost.

mod support;

use chrono::{DateTime, Utc};
use serde_json::Value;
use std::time::{Duration, Instant};
use support::daemon::*;

const LEASE: Duration = Duration::from_secs(3);
const RENEW: Duration = Duration::from_millis(500);
const INTERVAL: Duration = Duration::from_secs(1);

fn election(holder: &str) -> String {
    format!(
        r#"
[leader_election]
table = "ebb-leases"
create_table = true
lease_duration = "3s"
renew_interval = "500ms"
renew_deadline = "2s"
holder_id = "{holder}"
"#
    )
}

fn time_of(r: &Value) -> DateTime<Utc> {
    r["time"].as_str().unwrap().parse().unwrap()
}

/// The fencing token a leader's live record notes.
fn token_of(r: &Value) -> Option<u64> {
    r["notices"].as_array()?.iter().find_map(|n| {
        n.as_str()?
            .split("fencing token ")
            .nth(1)?
            .trim()
            .parse()
            .ok()
    })
}

fn live(r: &Value) -> bool {
    r["role"] == "live"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_standby_takes_over_a_killed_leader_within_the_lease() {
    // High CPU all along: whoever leads scales the group out.
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 90.0, 240).await else {
        return;
    };
    let policy = policy("web", 50.0, "0s");
    let holders = ["a", "b"];
    let setups: Vec<Setup> = holders
        .iter()
        .map(|h| {
            let setup = Setup::with_extra(&moto.url(), &election(h));
            setup.write_policy("web.toml", &policy);
            setup
        })
        .collect();

    let mut running: [Option<Ebb>; 2] = [Some(setups[0].start(&[])), None];
    setups[0].wait_record("a leading", |r| live(r) && token_of(r) == Some(1));
    running[1] = Some(setups[1].start(&[]));
    setups[1].wait_record("b in standby", |r| r["role"] == "standby");

    let mut leader = 0;
    let mut takeovers = Vec::new();
    let mut lost = Vec::new();
    for round in 0..3 {
        let standby = 1 - leader;
        // Let the leader act: back to 2 instances, which it scales out again.
        asg.set_desired_capacity()
            .auto_scaling_group_name("web")
            .desired_capacity(2)
            .send()
            .await
            .unwrap();
        let reset = Utc::now();
        setups[leader].wait_record("the leader scaling out", |r| {
            live(r) && r["outcome"]["status"] == "applied" && time_of(r) > reset
        });

        running[leader].take().unwrap().kill();
        let killed = Utc::now();
        let killed_at = Instant::now();
        let first = setups[standby].wait_record("the standby taking over", |r| {
            live(r) && time_of(r) > killed
        });
        let took = killed_at.elapsed();
        let token = token_of(&first).expect("a leader's record notes its token");
        assert_eq!(
            token,
            round + 2,
            "one more each time the lease changes hands"
        );
        // Within the lease duration, plus one renew poll and one evaluation.
        assert!(
            took <= LEASE + RENEW + INTERVAL + Duration::from_secs(1),
            "takeover took {took:?}"
        );
        // Evaluations missed: whole intervals between the old leader's last
        // live record and the new leader's first, less one.
        let last_old = setups[leader]
            .records()
            .into_iter()
            .filter(live)
            .map(|r| time_of(&r))
            .max()
            .unwrap();
        let gap = (time_of(&first) - last_old).to_std().unwrap();
        lost.push((gap.as_secs_f64() / INTERVAL.as_secs_f64()).round() as i64 - 1);
        takeovers.push(took);
        // The killed one comes back, as a standby.
        running[leader] = Some(setups[leader].start(&[]));
        setups[leader].wait_record("the restarted instance in standby", |r| {
            r["role"] == "standby" && time_of(r) > killed
        });
        leader = standby;
    }
    for ebb in running.into_iter().flatten() {
        assert!(ebb.stop().success());
    }

    // Every live record of both instances, in time order: the token never
    // goes down, each token belongs to one holder, and only live records
    // were applied.
    let mut all: Vec<(DateTime<Utc>, usize, Value)> = Vec::new();
    for (i, setup) in setups.iter().enumerate() {
        for r in setup.records() {
            if !live(&r) {
                assert_eq!(r["role"], "standby");
                assert_ne!(r["outcome"]["status"], "applied", "a standby acted: {r:#}");
            }
            all.push((time_of(&r), i, r));
        }
    }
    all.sort_by_key(|(t, _, _)| *t);
    let mut last_token = 0;
    let mut holder_of = std::collections::BTreeMap::new();
    let mut applied = 0;
    for (_, i, r) in all.iter().filter(|(_, _, r)| live(r)) {
        let token = token_of(r).expect("live records note the token");
        assert!(token >= last_token, "token went down: {r:#}");
        last_token = token;
        assert_eq!(
            *holder_of.entry(token).or_insert(*i),
            *i,
            "token {token} held by both"
        );
        if r["outcome"]["status"] == "applied" {
            applied += 1;
        }
    }
    assert_eq!(last_token, 4);
    assert!(applied >= 3);
    println!(
        "failover: takeover after SIGKILL {:?} (lease {:?}), evaluations lost {:?}, {applied} changes applied, tokens 1..={last_token}",
        takeovers, LEASE, lost
    );
}
