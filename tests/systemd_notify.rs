//! sd_notify against a real notification socket, the way systemd sets it up
//! (NOTIFY_SOCKET, WATCHDOG_USEC). One test in its own binary: it sets the
//! process environment before any other thread exists.

use ebb::telemetry::systemd::{self, Heartbeat};
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

fn drain(socket: &UnixDatagram) -> Vec<String> {
    let mut got = Vec::new();
    let mut buf = [0u8; 512];
    while let Ok(n) = socket.recv(&mut buf) {
        got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    got
}

#[test]
fn ready_status_and_a_watchdog_that_stops_when_the_loop_hangs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notify.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket.set_nonblocking(true).unwrap();

    // Without systemd nothing breaks.
    systemd::ready("no socket: a no-op");
    assert!(systemd::watchdog_interval().is_none());

    // SAFETY: no other thread exists yet in this test binary.
    unsafe {
        std::env::set_var("NOTIFY_SOCKET", &path);
        std::env::set_var("WATCHDOG_USEC", "300000");
        std::env::remove_var("WATCHDOG_PID");
    }
    systemd::ready("3 targets, next tick in 60s");
    systemd::reloading();
    systemd::status("2 targets ok, 1 stale");
    assert_eq!(
        drain(&socket),
        vec![
            "READY=1\nSTATUS=3 targets, next tick in 60s\n".to_string(),
            "RELOADING=1\nSTATUS=reloading policies\n".to_string(),
            "STATUS=2 targets ok, 1 stale\n".to_string(),
        ]
    );
    assert_eq!(
        systemd::watchdog_interval(),
        Some(Duration::from_millis(300))
    );

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let heartbeat = Heartbeat::new();
        heartbeat.beat();
        let watchdog = systemd::spawn_watchdog(heartbeat.clone()).expect("watchdog requested");
        // A live loop: beats keep the pings coming (every 150 ms).
        for _ in 0..8 {
            heartbeat.beat();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let pings = drain(&socket);
        assert!(pings.len() >= 3, "{pings:?}");
        assert!(pings.iter().all(|p| p == "WATCHDOG=1\n"));

        // A hung loop: no beats. After the interval the pings stop, so
        // systemd's WatchdogSec= fires and restarts the service.
        tokio::time::sleep(Duration::from_millis(450)).await;
        drain(&socket);
        tokio::time::sleep(Duration::from_millis(600)).await;
        assert_eq!(
            drain(&socket),
            Vec::<String>::new(),
            "no WATCHDOG=1 while the loop is stuck"
        );
        watchdog.abort();
    });
}
