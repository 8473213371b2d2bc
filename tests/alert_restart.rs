//! Alert state survives a restart: the `ebb run` binary against moto fires
//! `api-call-failed` while its group does not exist, is stopped, the group is
//! created, and the restarted daemon sends the resolution (and does not fire
//! the alert again). Without the state file's alert section the restarted
//! daemon would know of nothing to resolve, and the receiver would keep the
//! alert firing until it timed out.

mod http_receiver;
mod support;

use http_receiver::Receiver;
use std::time::{Duration, Instant};
use support::daemon::*;
use support::moto::{MotoServer, create_group, sdk_config};

fn statuses(hook: &Receiver) -> Vec<String> {
    hook.requests()
        .iter()
        .map(|r| r.json())
        .filter(|b| b["labels"]["alertname"] == "api-call-failed")
        .map(|b| b["status"].as_str().unwrap_or("").to_string())
        .collect()
}

async fn wait_for_status(hook: &Receiver, ebb: &Ebb, count: usize) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let seen = statuses(hook);
        if seen.len() >= count {
            return seen;
        }
        assert!(
            Instant::now() < deadline,
            "waited for {count} notifications, got {seen:?}; ebb's log:\n{}",
            ebb.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resolves_what_fired_before_it_and_does_not_fire_it_again() {
    let Some(moto) = MotoServer::start() else {
        return;
    };
    let hook = Receiver::ok().await;
    let setup = Setup::with_extra(
        &moto.url(),
        &webhook_alerts(&["kind = \"api-call-failed\""], &hook.url("/hook")),
    );
    // The group does not exist yet: every evaluation fails to find it.
    setup.write_policy("web.toml", &policy("web", 50.0, "0s"));
    let ebb = setup.start(&[]);
    assert_eq!(wait_for_status(&hook, &ebb, 1).await, ["firing"]);
    assert!(ebb.stop().success());
    let state = std::fs::read_to_string(setup.dir.path().join("state/state.json")).unwrap();
    assert!(state.contains("api-call-failed"), "{state}");

    let config = sdk_config(&moto.url()).await;
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let cw = aws_sdk_cloudwatch::Client::new(&config);
    create_group(&asg, "web", 1, 10, 2).await;
    put_cpu(&cw, "web", -60, 120, 50.0).await;

    let ebb = setup.start(&[]);
    let seen = wait_for_status(&hook, &ebb, 2).await;
    assert_eq!(seen, ["firing", "resolved"]);
    // A few more evaluations: nothing fires again.
    let evaluated = setup.records().len();
    let deadline = Instant::now() + WAIT;
    while setup.records().len() < evaluated + 3 {
        assert!(Instant::now() < deadline, "no more evaluations");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(statuses(&hook), ["firing", "resolved"]);
    assert!(ebb.stop().success());
}
