//! SIGTERM ends `serin run` promptly at any time: here before its caches have synced,
//! against an API server that accepts connections and never answers (kube's graceful
//! shutdown alone waited for the watches forever).

#[path = "support/daemon.rs"]
mod daemon;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use daemon::Daemon;

#[test]
fn sigterm_before_the_caches_synced_ends_the_daemon_within_seconds() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let server = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\nclusters: [{{name: hang, cluster: {{server: \"{server}\"}}}}]\n\
             users: [{{name: hang, user: {{token: t}}}}]\n\
             contexts: [{{name: hang, context: {{cluster: hang, user: hang, namespace: default}}}}]\n\
             current-context: hang\n"
        ),
    )
    .unwrap();
    let mut daemon = Daemon::start(&kubeconfig, "http://127.0.0.1:9", &[], &dir.path().join("serin.log"));
    daemon.http_addr();
    std::thread::sleep(Duration::from_secs(1));
    assert!(daemon.is_running(), "{}", daemon.log());
    let signalled = Instant::now();
    // SAFETY: kill(2) on our own child's pid.
    assert_eq!(unsafe { libc::kill(daemon.pid() as i32, libc::SIGTERM) }, 0);
    while daemon.is_running() && signalled.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let took = signalled.elapsed();
    assert!(!daemon.is_running(), "still running 20 s after SIGTERM:\n{}", daemon.log());
    assert!(took < Duration::from_secs(8), "stopped {took:?} after SIGTERM:\n{}", daemon.log());
    assert!(daemon.log().contains("serin daemon stopped"), "{}", daemon.log());
}
