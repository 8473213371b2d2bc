//! The daemon run in-process, stopped by the future it was given instead of
//! a signal: it finishes what is in flight, saves its state and returns.

mod support;

use ebb::daemon::config::DaemonConfig;
use ebb::daemon::run::Daemon;
use std::time::Duration;
use support::daemon::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_daemon_stops_when_its_shutdown_future_completes() {
    let Some(Cloud { moto, asg, .. }) = cloud(&["web"], 90.0, -5).await else {
        return;
    };
    // The daemon's clients use the default credential chain, as in
    // production; this test binary runs no other test that reads these.
    unsafe {
        std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let setup = Setup::new(&moto.url());
    setup.write_policy("web.toml", &policy("web", 50.0, "1h"));
    let config = DaemonConfig::load(Some(&setup.dir.path().join("ebb.toml"))).unwrap();
    let daemon = Daemon::start(config, false).await.unwrap();

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(daemon.run(async {
        let _ = stopped.await;
    }));

    // 2 instances at 90% CPU for a 50% target: it scales out to 4.
    wait_desired(&asg, "web", 4).await;
    assert!(!running.is_finished(), "the daemon stopped on its own");
    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), running)
        .await
        .expect("the daemon did not stop within 60 s of being told to")
        .expect("the daemon's task panicked");
    result.expect("the daemon stopped with an error");

    // It saved its state on the way out: the scale-out is in it.
    let state: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(setup.dir.path().join("state/state.json")).unwrap(),
    )
    .unwrap();
    let web = &state["targets"]["web"];
    assert!(web["last_scale_out"].is_string(), "{state}");
    assert_eq!(web["last_set"], 4, "{state}");
    let records = setup.records();
    assert!(records.iter().any(|r| action(r) == "scale-out"));
}
