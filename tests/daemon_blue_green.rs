//! `serin run` end to end on the `sark` blue-green shapes of `deploy/examples/blue-green.yaml`: Service `sark` selects
//! `version: blue`; the candidate `sark-green` is smoke-checked on its pods (the fake API
//! server gives them 127.0.0.1, and the test serves the smoke paths), the selector flips to
//! green, and the traffic exporter follows whichever slot the Service selects.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/manifests.rs"]
mod manifests;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/rbac.rs"]
mod rbac;
#[path = "support/smoke_server.rs"]
mod smoke_server;
#[path = "support/traffic.rs"]
mod traffic;

use std::sync::atomic::Ordering;
use std::time::Duration;

use e2e::{ROLLOUT_TIMEOUT, Rig, live_slot};
use smoke_server::SmokeServer;
use traffic::Profile;

const SETTINGS: &[(&str, &str)] =
    &[("serin.io/smoke", "/health"), ("serin.io/observe", "12s"), ("serin.io/keep-previous", "3s")];

fn replicas(rig: &Rig, name: &str) -> i64 {
    rig.deployment(name)["spec"]["replicas"].as_i64().unwrap_or(-1)
}

#[test]
fn a_healthy_green_is_flipped_to_and_blue_is_scaled_down_after_keep_previous() {
    let smoke = SmokeServer::start("200 OK");
    let rig = Rig::blue_green(Profile::healthy(), smoke.port, SETTINGS);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the flip to green", |api| live_slot(api).as_deref() == Some("green"));
    assert!(smoke.hits.load(Ordering::Relaxed) >= 3, "smoke checks ran on each of the 3 pods before the flip");
    assert_eq!(replicas(&rig, "sark-blue"), 3, "blue keeps its replicas while green is observed");
    rig.wait_for_phase("sark-green", "Succeeded", ROLLOUT_TIMEOUT);
    rig.api.wait_until(Duration::from_secs(30), "blue scaled down after keep-previous", |_| {
        replicas(&rig, "sark-blue") == 0
    });
    assert_eq!(live_slot(&rig.api).as_deref(), Some("green"));
    let selector_writes: Vec<String> =
        rig.traffic_writes().into_iter().filter(|w| w.contains("/services/sark")).collect();
    assert_eq!(selector_writes.len(), 1, "exactly one flip: {selector_writes:?}");
    for reason in ["RolloutStarted", "SmokeChecksPassed", "SelectorFlipped", "Succeeded", "PreviousSlotScaledDown"] {
        rig.wait_for_event("sark-green", reason);
    }
    // Smoke checks, flip, scale-down: all granted by the RBAC deploy/ ships, cluster-wide
    // and namespaced (the rig's daemon runs with --namespace production, which the
    // namespaced install lists).
    let requests = rig.api.requests();
    rbac::assert_both_installs_allow(requests.iter().map(|r| (r.method.as_str(), r.path.as_str(), r.query.as_str())));
}

#[test]
fn a_bad_green_is_flipped_back_to_blue() {
    let smoke = SmokeServer::start("200 OK");
    let rig = Rig::blue_green(Profile::bad(), smoke.port, SETTINGS);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the flip to green", |api| live_slot(api).as_deref() == Some("green"));
    rig.wait_for_phase("sark-green", "RolledBack", ROLLOUT_TIMEOUT);
    // The decision is written first (write-ahead); the flip back follows it.
    rig.api
        .wait_until(Duration::from_secs(20), "flipped back to blue", |api| live_slot(api).as_deref() == Some("blue"));
    assert_eq!(replicas(&rig, "sark-blue"), 3, "blue was never scaled down");
    let status = rig.status("sark-green");
    assert!(status["trigger"].as_str().is_some_and(|t| t.starts_with("error-rate")), "{status}");
}

/// issue 12: a flip back only goes to a slot with ready pods. Blue is scaled to 0 after the
/// flip (as a GitOps tool that keeps it at 0 would); the rollback scales it back to its 3
/// replicas and flips once it is Available, never to an empty slot.
#[test]
fn a_flip_back_to_a_slot_at_zero_replicas_waits_for_it_to_be_scaled_back() {
    let smoke = SmokeServer::start("200 OK");
    let rig = Rig::blue_green(Profile::bad(), smoke.port, SETTINGS);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the flip to green", |api| live_slot(api).as_deref() == Some("green"));
    rig.api.patch_merge(
        "apps/v1",
        "Deployment",
        "production",
        "sark-blue",
        serde_json::json!({"spec": {"replicas": 0}}),
    );
    rig.api.wait_until(ROLLOUT_TIMEOUT, "flipped back to blue", |api| live_slot(api).as_deref() == Some("blue"));
    let blue = rig.deployment("sark-blue");
    assert!(blue["status"]["availableReplicas"].as_i64().unwrap_or(0) > 0, "flipped to an empty slot: {blue}");
    assert_eq!(replicas(&rig, "sark-blue"), 3, "blue back at its replicas from the run's start");
    rig.wait_for_event("sark-green", "PreviousSlotScaledUp");
}

/// issue 12: after success the candidate is the release; opting out (removing
/// `serin.io/strategy`) during keep-previous clears serin's annotations and never flips back.
#[test]
fn opting_out_after_success_keeps_the_release_live() {
    let smoke = SmokeServer::start("200 OK");
    let rig = Rig::blue_green(Profile::healthy(), smoke.port, SETTINGS);
    rig.wait_for_phase("sark-green", "Succeeded", ROLLOUT_TIMEOUT);
    assert_eq!(live_slot(&rig.api).as_deref(), Some("green"));
    let opt_out = serde_json::json!({"metadata": {"annotations": {"serin.io/strategy": null}}});
    rig.api.patch_merge("apps/v1", "Deployment", "production", "sark-green", opt_out);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "serin lets go", |_| rig.annotation("sark-green", "serin.io/status").is_none());
    assert_eq!(live_slot(&rig.api).as_deref(), Some("green"), "a successful release is never flipped back");
}

#[test]
fn failing_smoke_checks_keep_the_service_on_blue() {
    let smoke = SmokeServer::start("503 Service Unavailable");
    let rig = Rig::blue_green(Profile::healthy(), smoke.port, SETTINGS);
    rig.wait_for_phase("sark-green", "RolledBack", ROLLOUT_TIMEOUT);
    assert_eq!(live_slot(&rig.api).as_deref(), Some("blue"));
    assert_eq!(rig.traffic_writes(), Vec::<String>::new(), "the Service was never written");
    let failed = rig.wait_for_event("sark-green", "SmokeChecksFailed");
    assert!(failed.2.contains("503"), "{}", failed.2);
}
