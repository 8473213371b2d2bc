//! Groups' scaling-activity histories read account-wide: at start-up with
//! many groups, ebb sends one DescribeScalingActivities without a group
//! name (paged back to the longest cooldown or warm-up), not one per group,
//! and what it restores (cooldowns, launch times for warm-up) means what
//! the per-group reads gave. moto records no activities: the loopback
//! proxy answers DescribeScalingActivities from a list written here
//! (support/activities.rs), and every request ebb sends is counted and
//! inspected.

mod support;

use chrono::{DateTime, Duration, Utc};
use ebb::actuator::Actuator;
use ebb::actuator::activity_history::ONE_BY_ONE_UP_TO;
use ebb::actuator::autoscaling::AutoScalingActuator;
use ebb::decision::Action;
use std::collections::HashMap;
use std::sync::Arc;
use support::activities::{Listed, answer, launch, termination};
use support::daemon::*;
use support::moto::sdk_config;
use support::proxy::{AnswerRule, Proxy, Recorded};

/// More groups than are read one call each.
const GROUPS: usize = ONE_BY_ONE_UP_TO + 1;

/// [`GROUPS`] groups `PREFIX-00`... in moto at `cpu`, and their names.
async fn groups_in_moto(prefix: &str, cpu: f64) -> Option<(Vec<String>, Cloud)> {
    let names: Vec<String> = (0..GROUPS).map(|i| format!("{prefix}-{i:02}")).collect();
    let groups: Vec<&str> = names.iter().map(String::as_str).collect();
    let cloud = cloud(&groups, cpu, 300).await?;
    Some((names, cloud))
}

/// A proxy in front of moto answering DescribeScalingActivities from `all`.
fn answering(moto_port: u16, all: Vec<Listed>) -> Proxy {
    let rule: AnswerRule = Arc::new(move |r: &Recorded, _: &str| {
        (r.action == "DescribeScalingActivities").then(|| answer(&all, &r.fields))
    });
    Proxy::start_with_answers(moto_port, rule)
}

fn field<'a>(r: &'a Recorded, name: &str) -> Option<&'a str> {
    r.fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The instance ids moto gave a group.
async fn instance_ids(asg: &aws_sdk_autoscaling::Client, group: &str) -> Vec<String> {
    let out = asg
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(group)
        .send()
        .await
        .unwrap();
    out.auto_scaling_groups()[0]
        .instances()
        .iter()
        .filter_map(|i| i.instance_id().map(str::to_string))
        .collect()
}

/// Activities as AWS lists them: in progress first, then newest first.
fn listed_as_aws(mut all: Vec<Listed>) -> Vec<Listed> {
    all.sort_by_key(|a| (a.status != "InProgress", std::cmp::Reverse(a.start)));
    all
}

/// Start-up with 17 groups and no state file: two account-wide pages, not
/// 17 calls. The top of the first page is an activity of another team's
/// group in progress since three days ago (it must not stop the paging);
/// page 2 gets past the look-back (the 10-minute cooldown), so page 3 is
/// never asked for. A scale-out a minute ago restores the cooldown; an
/// instance launched two minutes ago warms up (5-minute warm-up).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_up_reads_the_account_wide_history_and_restores_from_it() {
    let Some((names, Cloud { moto, asg, .. })) = groups_in_moto("hist", 90.0).await else {
        return;
    };
    let warming = instance_ids(&asg, "hist-01").await[0].clone();
    let now = Utc::now();
    let ago = |s: i64| now - Duration::seconds(s);
    let mut all = vec![
        launch(
            "elsewhere",
            "i-stuck",
            now - Duration::days(3),
            "InProgress",
        ),
        launch("hist-00", "i-gone", ago(60), "Successful"),
        launch("other-team", "i-x", ago(90), "Successful"),
        launch("hist-01", &warming, ago(120), "Successful"),
    ];
    all.extend((0..100).map(|n| launch("other-team", "i-y", ago(180 + 2 * n), "Successful")));
    all.push(termination("hist-02", "i-old", ago(1_800)));
    all.extend((0..200).map(|n| launch("other-team", "i-z", ago(1_860 + n), "Successful")));
    let proxy = answering(moto.port, listed_as_aws(all));
    let setup = Setup::new(&proxy.url());
    for name in &names {
        let text = policy(name, 50.0, "10m").replace("warmup = \"0s\"", "warmup = \"5m\"");
        setup.write_policy(&format!("{name}.toml"), &text);
    }
    let ebb = setup.start(&[]);
    let first = |group: &str| setup.wait_record(group, |r| r["target"] == group);
    let held = first("hist-00");
    let warmed = first("hist-01");
    wait_desired(&asg, "hist-02", 4).await;
    for name in &names {
        first(name);
    }
    // A few more rounds: no group is read again.
    let seen = setup.records().len();
    setup.wait_record("more rounds", |_| {
        setup.records().len() >= seen + 2 * GROUPS
    });
    assert!(ebb.stop().success());

    let calls = proxy.calls("DescribeScalingActivities");
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| field(c, "AutoScalingGroupName").is_none()),
        "{calls:?}"
    );
    assert_eq!(field(&calls[0], "MaxRecords"), Some("100"));
    assert_eq!(field(&calls[0], "NextToken"), None);
    assert_eq!(field(&calls[1], "NextToken"), Some("100"));

    assert_eq!(action(&held), "hold", "{held}");
    let reason = held["reason"].as_str().unwrap();
    assert!(
        reason.contains("scale-out cooldown: last scale-out"),
        "{held}"
    );
    let restored: DateTime<Utc> = held["governor_state"]["last_scale_out"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((restored - ago(60)).num_seconds().abs() <= 1, "{held}");
    // hist-01: one instance launched 2 minutes ago (warming), the other
    // with no launch in the history (warmed up).
    assert_eq!(warmed["capacity"]["warming"], 1, "{warmed}");
    assert_eq!(warmed["capacity"]["in_service"], 1, "{warmed}");
}

/// What a group's last scaling and its instances' launch times mean is the
/// same read one group at a time (as before) or account-wide: 17 groups
/// with launches and terminations inside and outside their 10-minute
/// look-back, one with more activities than a page, in-progress and failed
/// ones, other teams' activities in between. A time older than the
/// look-back means "no cooldown left, warmed up" either way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_wide_read_means_what_the_per_group_reads_meant() {
    let Some((names, Cloud { moto, asg, .. })) = groups_in_moto("same", 50.0).await else {
        return;
    };
    let look_back = Duration::minutes(10);
    let now = Utc::now();
    let ago = |s: i64| now - Duration::seconds(s);
    let mut all = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let i = i as i64;
        let ids = instance_ids(&asg, name).await;
        // One launched i * 70 s ago (inside the look-back up to i = 8), one
        // two days ago.
        all.push(launch(name, &ids[0], ago(i * 70 + 5), "Successful"));
        all.push(launch(name, &ids[1], now - Duration::days(2), "Successful"));
        all.push(termination(name, "i-gone", ago(i * 50 + 30)));
        all.push(launch(name, "i-failed", ago(i * 20 + 1), "Failed"));
        if i % 5 == 0 {
            all.push(launch(
                name,
                "i-stuck",
                now - Duration::days(3),
                "InProgress",
            ));
        }
    }
    // More than a page of one group's activities, all inside the look-back.
    all.extend((0..120).map(|n| termination("same-07", "i-busy", ago(100 + n))));
    all.extend((0..300).map(|n| launch("other-team", "i-x", ago(n * 7), "Successful")));
    let proxy = answering(moto.port, listed_as_aws(all));
    let client = || async { aws_sdk_autoscaling::Client::new(&sdk_config(&proxy.url()).await) };
    let one_by_one = AutoScalingActuator::new(client().await);
    let account_wide = AutoScalingActuator::new(client().await);
    for name in &names {
        account_wide.set_look_back(name, look_back.to_std().unwrap());
    }

    let mut before = HashMap::new();
    for chunk in names.chunks(ONE_BY_ONE_UP_TO) {
        before.extend(one_by_one.last_scalings(chunk.to_vec(), now).await);
    }
    let per_group_calls = proxy.calls("DescribeScalingActivities");
    assert_eq!(per_group_calls.len(), GROUPS);
    assert!(
        per_group_calls
            .iter()
            .all(|c| field(c, "AutoScalingGroupName").is_some())
    );
    proxy.clear();
    let after: HashMap<_, _> = account_wide
        .last_scalings(names.clone(), now)
        .await
        .into_iter()
        .collect();
    let calls = proxy.calls("DescribeScalingActivities");
    assert!(
        !calls.is_empty()
            && calls
                .iter()
                .all(|c| field(c, "AutoScalingGroupName").is_none()),
        "{calls:?}"
    );

    // A scaling older than the look-back starts no cooldown.
    let within = |t: DateTime<Utc>| now - t <= look_back;
    let meaning = |last: &Option<(DateTime<Utc>, Action)>| last.filter(|(t, _)| within(*t));
    let mut cooling = 0;
    for name in &names {
        let (old, new) = (
            before[name].as_ref().unwrap(),
            after[name].as_ref().unwrap(),
        );
        assert_eq!(meaning(old), meaning(new), "{name}: {old:?} / {new:?}");
        cooling += usize::from(meaning(new).is_some());
    }
    assert!(cooling >= 10, "{cooling} groups with a cooldown running");

    // The first looks: launch times from what each read kept.
    proxy.clear();
    let mut one_by_one = one_by_one;
    let mut account_wide = account_wide;
    let looked = |states: HashMap<String, ebb::group::GroupState>| {
        let mut launched = HashMap::new();
        for state in states.into_values() {
            for instance in state.instances {
                // Older than the look-back: warmed up, whichever time.
                let at = Some(instance.launched_at).filter(|t| within(*t));
                launched.insert(instance.id, at);
            }
        }
        launched
    };
    let old = looked(one_by_one.describe(&names, now).await.unwrap());
    let new = looked(account_wide.describe(&names, now).await.unwrap());
    assert_eq!(old.len(), 2 * GROUPS);
    assert_eq!(old, new);
    assert!(new.values().filter(|t| t.is_some()).count() >= 8, "{new:?}");
    assert!(
        proxy.calls("DescribeScalingActivities").is_empty(),
        "the first looks use the histories already read"
    );
}

/// The account-wide read refused (AccessDenied-like 403): the daemon goes
/// on, every group is evaluated and keeps its capacity, and the refused
/// read is not turned into one call per group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_account_wide_read_keeps_the_daemon_going() {
    let Some((names, Cloud { moto, asg, .. })) = groups_in_moto("denied", 50.0).await else {
        return;
    };
    let proxy = Proxy::start_forbidding(moto.port, "DescribeScalingActivities");
    let setup = Setup::new(&proxy.url());
    for name in &names {
        setup.write_policy(&format!("{name}.toml"), &policy(name, 50.0, "0s"));
    }
    let ebb = setup.start(&[]);
    for name in &names {
        setup.wait_record(name, |r| r["target"] == name.as_str());
    }
    let seen = setup.records().len();
    setup.wait_record("more rounds", |_| setup.records().len() >= seen + GROUPS);
    let stderr = ebb.stderr();
    assert!(ebb.stop().success());
    for name in &names {
        assert_eq!(support::moto::desired(&asg, name).await, 2, "{name}");
    }
    assert!(
        setup.records().iter().all(|r| action(r) == "hold"),
        "every group holds at 2"
    );
    // Start-up's read, and the first look's one more try: no per-group calls.
    let calls = proxy.calls("DescribeScalingActivities");
    assert!((1..=2).contains(&calls.len()), "{calls:?}");
    assert!(
        calls
            .iter()
            .all(|c| field(c, "AutoScalingGroupName").is_none())
    );
    assert!(
        stderr.contains("cannot read the account's scaling activities"),
        "{stderr}"
    );
}
