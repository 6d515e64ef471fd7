//! `serin run` end to end on Gateway API routing (`deploy/examples/gateway-api.yaml`'s
//! shapes): the real binary against the fake API server serving the HTTPRoute with its
//! simulated gateway controller, deciding with `app-canary` from a real Prometheus that
//! scrapes application traffic split as the gateway last accepted the route.
//! Needs prometheus (scripts/install-test-deps.sh).

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/e2e_gateway.rs"]
mod e2e_gateway;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/traffic.rs"]
mod traffic;

use std::time::Duration;

use e2e::{ROLLOUT_TIMEOUT, Rig, tail};
use e2e_gateway::{as_written, original_route};
use fake_apiserver::GatewayBehaviour;
use serde_json::{Value, json};
use traffic::Profile;

fn image(rig: &Rig, name: &str) -> String {
    rig.deployment(name)["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_string()
}

/// Waits until the route is back as written (serin's last write follows the phase).
fn wait_restored(rig: &Rig, expected: &str) {
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rig.api.wait_until(Duration::from_secs(20), "the route as written", |_| as_written(&rig.route()) == expected)
    }));
    if waited.is_err() {
        panic!(
            "route: {}\nexpected: {expected}\n--- serin log ---\n{}",
            as_written(&rig.route()),
            tail(&rig.log(), 40)
        );
    }
}

#[test]
fn a_healthy_canary_on_an_http_route_is_promoted_and_the_route_restored_byte_for_byte() {
    let rig = Rig::gateway(Profile::healthy(), &[], GatewayBehaviour::default());
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    wait_restored(&rig, &as_written(&original_route()));
    let log = tail(&rig.log(), 40);
    assert_eq!(rig.route_weights_written(), vec![10, 25, 50, 100, 0], "{log}");
    assert_eq!(image(&rig, "sark"), "sark:1.0", "promoted");
    // Every write is a JSON patch that first tests the resourceVersion it was made from,
    // and touches only spec.rules and serin's annotation.
    for (method, ops) in rig.route_writes() {
        assert_eq!(method, "PATCH");
        let ops = ops.as_array().cloned().unwrap_or_default();
        assert_eq!(ops[0]["op"], "test", "{ops:?}");
        assert_eq!(ops[0]["path"], "/metadata/resourceVersion");
        for op in &ops[1..] {
            let path = op["path"].as_str().unwrap_or_default();
            assert!(path == "/spec/rules" || path.starts_with("/metadata/annotations"), "{op}");
            if path == "/spec/rules" {
                assert_eq!(op["value"][1], original_route()["spec"]["rules"][1], "the /admin rule is untouched");
            }
        }
    }
    for reason in ["RolloutStarted", "RouteAccepted", "WeightChanged", "Succeeded"] {
        rig.wait_for_event("sark-canary", reason);
    }
}

#[test]
fn a_bad_canary_on_an_http_route_is_rolled_back_within_the_first_two_steps() {
    let rig = Rig::gateway(Profile::bad(), &[], GatewayBehaviour::default());
    rig.wait_for_phase("sark-canary", "RolledBack", ROLLOUT_TIMEOUT);
    assert_eq!(rig.status("sark-canary")["trigger"], "error-rate-critical", "{}", rig.status("sark-canary"));
    wait_restored(&rig, &as_written(&original_route()));
    let written = rig.route_weights_written();
    assert!(written == [10, 0] || written == [10, 25, 0], "weight 0 in one write after at most two steps: {written:?}");
    assert_eq!(image(&rig, "sark"), "sark:0.9", "nothing promoted");
}

#[test]
fn a_route_the_gateway_refuses_makes_no_progress_and_rolls_back_at_the_deadline() {
    let refuse = ("UnsupportedValue".to_string(), "backendRef weights are not supported".to_string());
    let gateway = GatewayBehaviour { delay: None, refuse: Some(refuse) };
    let rig = Rig::gateway(Profile::healthy(), &[("serin.io/progress-deadline", "15s")], gateway);
    let (kind, _, note) = rig.wait_for_event("sark-canary", "RouteRefused");
    assert_eq!(kind, "Warning");
    for needle in ["Gateway gateways/public (section https)", "Accepted=False", "UnsupportedValue", "not supported"] {
        assert!(note.contains(needle), "{needle:?} in {note}");
    }
    rig.wait_for_phase("sark-canary", "RolledBack", ROLLOUT_TIMEOUT);
    assert_eq!(rig.status("sark-canary")["trigger"], "route-refused");
    wait_restored(&rig, &as_written(&original_route()));
    assert_eq!(rig.route_weights_written(), vec![10, 0], "no progress past the first weight");
    assert!(!rig.event_reasons("sark-canary").iter().any(|r| r == "RouteAccepted"));
}

#[test]
fn a_route_re_applied_mid_run_keeps_the_other_writers_edits_and_serins_split() {
    let rig = Rig::gateway(Profile::healthy(), &[("serin.io/step-min", "8s")], GatewayBehaviour::default());
    rig.api.wait_until(ROLLOUT_TIMEOUT, "canary weight 25 in the route", |_| rig.route_weight() == 25);
    // GitOps re-applies the route as written, with a new filter and annotation of its own.
    let mut theirs = original_route();
    theirs["metadata"]["annotations"]["owner"] = json!("gitops");
    let mirror = json!({"type": "RequestMirror", "requestMirror": {"backendRef": {"name": "sark-admin", "port": 80}}});
    theirs["spec"]["rules"][1]["filters"].as_array_mut().unwrap().push(mirror.clone());
    rig.api.apply(theirs.clone());
    let (kind, _, note) = rig.wait_for_event("sark-canary", "RouteChanged");
    assert_eq!(kind, "Warning");
    assert!(note.contains("no longer carries serin's backendRef"), "{note}");
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    let route = rig.route();
    assert_eq!(route["spec"], theirs["spec"], "their edits kept, serin's part gone: {route}");
    let annotations = route["metadata"]["annotations"].as_object().cloned().unwrap_or_default();
    let keys: Vec<&str> = annotations.keys().map(String::as_str).collect();
    assert_eq!(keys, ["kubectl.kubernetes.io/last-applied-configuration", "owner", "team"], "{route}");
    assert_eq!(rig.route_weights_written().first(), Some(&10));
    assert!(
        rig.route_weights_written().windows(2).all(|w| w[0] <= w[1] || w[1] == 0),
        "{:?}",
        rig.route_weights_written()
    );
}

#[test]
fn ab_by_header_adds_one_rule_in_front_and_removes_it_at_the_end() {
    let rig = Rig::gateway(Profile::healthy(), &[("serin.io/header", "X-Canary")], GatewayBehaviour::default());
    let mut seen = Value::Null;
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the header rule in front", |_| {
        seen = rig.route();
        seen["spec"]["rules"].as_array().is_some_and(|r| r.len() == 3)
    });
    let rule = &seen["spec"]["rules"][0];
    assert_eq!(rule["matches"][0]["headers"], json!([{"type": "Exact", "name": "X-Canary", "value": "always"}]));
    assert_eq!(rule["backendRefs"], json!([{"name": "sark-canary", "port": 80}]));
    assert_eq!(seen["spec"]["rules"][1], original_route()["spec"]["rules"][0], "the stable rule keeps its weight");
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    wait_restored(&rig, &as_written(&original_route()));
}

#[test]
fn removing_the_annotation_mid_rollout_gives_the_route_back_as_written() {
    let rig = Rig::gateway(Profile::healthy(), &[("serin.io/step-min", "30s")], GatewayBehaviour::default());
    rig.api.wait_until(ROLLOUT_TIMEOUT, "canary weight 10 in the route", |_| rig.route_weight() == 10);
    // As `kubectl annotate deployment sark-canary serin.io/strategy-`: the spec is gone, the
    // record alone says which route and which backendRef are serin's.
    let opt_out = json!({"metadata": {"annotations": {"serin.io/strategy": null}}});
    rig.api.patch_merge("apps/v1", "Deployment", e2e::NS, "sark-canary", opt_out);
    wait_restored(&rig, &as_written(&original_route()));
    let (_, _, note) = rig.wait_for_event("sark-canary", "Released");
    assert!(note.contains("HTTPRoute sark"), "{note}");
    assert_eq!(image(&rig, "sark"), "sark:0.9");
}
