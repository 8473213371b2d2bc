//! End to end, through the `ebb` binary against moto_server: what a dry run
//! decides is hypothetical and never becomes the live governor state.

mod support;

use serde_json::Value;
use support::daemon::*;

/// The test policy with a scale-in cooldown of an hour: a cooldown leaked
/// from the dry run would hold the first active scale-in for that long.
fn policy_with_long_scale_in_cooldown(group: &str) -> String {
    let text = policy(group, 50.0, "1h");
    let long = text.replace(r#"scale_in_cooldown = "2s""#, r#"scale_in_cooldown = "1h""#);
    assert_ne!(long, text, "the test policy sets scale_in_cooldown");
    long
}

fn time_of(r: &Value) -> chrono::DateTime<chrono::Utc> {
    r["time"].as_str().unwrap().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dry_run_then_active_scales_in_at_once() {
    // 2 instances at 20% CPU for a 50% target want 1.
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 20.0, -5).await else {
        return;
    };
    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy_with_long_scale_in_cooldown("web"));

    let ebb = setup.start(&["--dry-run"]);
    let dry = setup.wait_record("a dry-run scale-in", |r| action(r) == "scale-in");
    assert_eq!(dry["outcome"]["status"], "dry-run", "{dry:#}");
    // A second dry-run decision is held by the dry run's own cooldown: the
    // hypothetical state behaves as if the scale-in had happened.
    let dry_time = time_of(&dry);
    let held = setup.wait_record("a dry-run hold after the scale-in", |r| {
        time_of(r) > dry_time && action(r) == "hold"
    });
    assert!(
        held["reason"]
            .as_str()
            .unwrap_or("")
            .contains("scale-in cooldown"),
        "{held:#}"
    );
    assert!(ebb.stop().success());
    assert_eq!(support::moto::desired(&asg, "web").await, 2);
    // The dry run's state is saved apart from the live one.
    let state = saved_state(&setup);
    assert_eq!(
        state["hypothetical"]["web"]["hypothesis"], "dry-run",
        "{state:#}"
    );
    assert!(
        state["hypothetical"]["web"]["state"]["last_scale_in"].is_string(),
        "{state:#}"
    );
    assert!(
        state["targets"]["web"]["last_scale_in"].is_null(),
        "{state:#}"
    );

    // Same state directory, now active: the first decision scales in.
    let before = setup.records().len();
    let ebb = setup.start(&[]);
    setup.wait_record("a first active decision", |_| {
        setup.records().len() > before
    });
    let first: Value = setup.records()[before].clone();
    assert_ne!(first["outcome"]["status"], "dry-run", "{first:#}");
    assert_eq!(
        (action(&first), first["desired"].as_u64()),
        ("scale-in", Some(1)),
        "the first active decision: {first:#}"
    );
    assert_eq!(first["outcome"]["status"], "applied", "{first:#}");
    wait_desired(&asg, "web", 1).await;
    assert!(ebb.stop().success());
    let state = saved_state(&setup);
    assert!(
        state["targets"]["web"]["last_scale_in"].is_string(),
        "{state:#}"
    );
    assert!(state.get("hypothetical").is_none(), "{state:#}");
}

fn saved_state(setup: &Setup) -> Value {
    let path = setup.dir.path().join("state/state.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The policy's own `mode = "dry-run"`, switched to active by a reload
/// (SIGHUP) without a restart: the first active decision scales in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_switched_from_dry_run_to_active_scales_in_at_once() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 20.0, -5).await else {
        return;
    };
    let setup = Setup::new(&moto.url());
    let active = policy_with_long_scale_in_cooldown("web");
    let dry_run = active.replace("interval = \"1s\"", "interval = \"1s\"\nmode = \"dry-run\"");
    assert_ne!(dry_run, active, "the test policy sets interval");
    setup.write_policy("web.toml", &dry_run);

    let ebb = setup.start(&[]);
    let dry = setup.wait_record("a dry-run scale-in", |r| action(r) == "scale-in");
    assert_eq!(dry["outcome"]["status"], "dry-run", "{dry:#}");
    let dry_time = time_of(&dry);
    setup.wait_record("a dry-run hold after the scale-in", |r| {
        time_of(r) > dry_time && action(r) == "hold"
    });

    setup.write_policy("web.toml", &active);
    ebb.signal("HUP");
    let first = setup.wait_record("a first active decision", |r| {
        r["outcome"]["status"] != "dry-run"
    });
    assert_eq!(
        (action(&first), first["desired"].as_u64()),
        ("scale-in", Some(1)),
        "the first active decision: {first:#}"
    );
    assert_eq!(first["outcome"]["status"], "applied", "{first:#}");
    wait_desired(&asg, "web", 1).await;
    assert!(ebb.stop().success());
}
