//! `serin run --notify` end to end (README, "Notifications"): the real daemon drives a
//! canary against the fake API server and a real Prometheus while loopback receivers
//! answer 500, refuse connections at first, or never listen. Needs prometheus.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/http.rs"]
mod http;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/receiver.rs"]
mod receiver;
#[path = "support/traffic.rs"]
mod traffic;

use std::time::Duration;

use e2e::{NS, ROLLOUT_TIMEOUT, Rig, WEIGHT, tail};
use receiver::{Receiver, unused_addr};
use traffic::Profile;

/// A path a real webhook would keep secret: it must never reach the log.
const SECRET: &str = "/services/T0/B0/s3cr3t-path";

#[test]
fn a_rollback_reaches_receivers_that_fail_at_first_with_its_trigger_and_evidence() {
    let flaky = Receiver::start(2);
    let late = unused_addr();
    let dead = unused_addr();
    // As the Secret gives them: separated by a comma and a newline.
    let urls = format!("{},http://{late}{SECRET}\nhttp://{dead}/hook", flaky.url(SECRET));
    let mut rig = Rig::canary_with_daemon(Profile::bad(), &[], &[], &[("SERIN_NOTIFY", &urls)]);
    // Refused until the daemon has had time to send its first notification.
    std::thread::sleep(Duration::from_secs(2));
    let late = Receiver::start_on(late, 0);

    rig.wait_for_phase("sark-canary", "RolledBack", ROLLOUT_TIMEOUT);
    assert_eq!(rig.weights_written_by_the_end(), vec![10, 0]);
    let expected = ["started", "weight_changed", "rolled_back"];
    for (who, receiver) in [("answering 500 twice", &flaky), ("refusing at first", &late)] {
        receiver.wait_for(Duration::from_secs(40), who, |got| got.len() >= expected.len());
        assert_eq!(receiver.actions(), expected, "{who}: in order, each once");
    }
    assert!(flaky.requests() >= 5, "the two 500s were retried");

    let rollback = &flaky.accepted()[2];
    let status = rig.status("sark-canary");
    assert_eq!(rollback["namespace"], NS);
    assert_eq!(rollback["name"], "sark-canary");
    assert_eq!(rollback["revision"], status["revision"]);
    assert_eq!(rollback["phase"], "RolledBack");
    assert_eq!(rollback["weight"], 0);
    assert_eq!(rollback["trigger"], "error-rate-critical");
    let reason = rollback["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("error-rate-critical") && reason.contains('%'), "the evidence: {reason}");
    assert!(rollback["metrics"].as_array().is_some_and(|m| !m.is_empty()), "each metric's verdict: {rollback}");
    assert!(rollback["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{rollback}");
    let weight = &flaky.accepted()[1];
    assert_eq!((weight["weight"].as_u64(), weight["phase"].as_str()), (Some(10), Some("Progressing")));

    // The receiver that never listens: each notification dropped after its retries.
    let addr = rig.http_addr();
    let dropped = "serin_notifications_total{format=\"webhook\",outcome=\"failed\"} 3";
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !http::get(addr, "/metrics").body.contains(dropped) {
        assert!(std::time::Instant::now() < deadline, "{}", http::get(addr, "/metrics").body);
        std::thread::sleep(Duration::from_millis(500));
    }
    let log = rig.log();
    assert!(log.contains("notification dropped after 5 attempts"), "{}", tail(&log, 30));
    assert!(log.contains("webhook 3 (127.0.0.1)"), "receivers are named by number and host");
    assert!(!log.contains("s3cr3t"), "a URL is a credential: {}", tail(&log, 30));
}

#[test]
fn receivers_that_fail_do_not_slow_a_healthy_rollout() {
    let failing = Receiver::start(usize::MAX);
    let urls = format!("{} http://{}/hook", failing.url("/hook"), unused_addr());
    let rig = Rig::canary_with_daemon(Profile::healthy(), &[], &["--notify", &urls], &[]);
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    assert_eq!(rig.weights_written_by_the_end(), vec![10, 25, 50, 100, 0]);
    // Each traffic change follows the write that decided it at once; a delivery in the
    // way would put each receiver's retries (15 s) between them.
    let requests = rig.api.requests();
    for weight in ["10", "25", "50", "100"] {
        let decided = requests
            .iter()
            .find(|r| {
                r.method == "PATCH"
                    && r.path.ends_with("/deployments/sark-canary")
                    && r.status < 300
                    && r.body.as_ref().is_some_and(|b| {
                        b["metadata"]["annotations"]["serin.io/weight"] == weight
                            && b["metadata"]["annotations"]["serin.io/phase"] == "Progressing"
                    })
            })
            .unwrap_or_else(|| panic!("the write deciding weight {weight}"));
        let done = requests
            .iter()
            .find(|r| {
                r.path.contains("/ingresses")
                    && r.method != "GET"
                    && r.body.as_ref().is_some_and(|b| b["metadata"]["annotations"][WEIGHT] == weight)
            })
            .unwrap_or_else(|| panic!("the write of weight {weight}"));
        let gap = done.at.saturating_duration_since(decided.at);
        assert!(gap < Duration::from_secs(3), "weight {weight} written {gap:?} after its decision");
    }
    assert!(failing.requests() > 0, "the failing receiver was tried");
    assert!(failing.accepted().is_empty());
}

#[test]
fn an_operator_abort_is_told_as_a_command_and_a_manual_rollback() {
    let receiver = Receiver::start(0);
    let url = receiver.url("/hook");
    let rig = Rig::canary_with_daemon(Profile::healthy(), &[("serin.io/step-min", "5m")], &["--notify", &url], &[]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 10", |api| e2e::canary_weight(api) == Some(10));
    let revision = rig.status("sark-canary")["revision"].as_str().unwrap_or_default().to_string();
    // What `kubectl serin abort production/sark-canary` writes.
    let command = serde_json::json!({"metadata": {"annotations": {"serin.io/command": format!("abort@{revision}")}}});
    rig.api.patch_merge("apps/v1", "Deployment", NS, "sark-canary", command);
    rig.wait_for_phase("sark-canary", "RolledBack", Duration::from_secs(30));
    receiver.wait_for(Duration::from_secs(20), "the abort told", |got| got.len() >= 4);
    assert_eq!(receiver.actions(), ["started", "weight_changed", "command_applied", "rolled_back"]);
    let rollback = &receiver.accepted()[3];
    assert_eq!(rollback["trigger"], "manual");
    assert!(rollback["reason"].as_str().is_some_and(|r| r.contains("aborted by an operator at 10%")), "{rollback}");
}
