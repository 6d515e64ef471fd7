//! `serin run` beside a GitOps tool (README, "GitOps"): every 2 s (Argo CD's default is
//! minutes; this is several syncs per step) a tool server-side-applies the user's
//! manifests with its own field manager, forced, as Argo CD and Flux do. Configured as the
//! README says (the fields serin owns left out of what it applies), serin ends as it would
//! alone, traffic never flaps, and serin's annotations and finalizer survive every apply.
//! Configured wrongly (the blue-green Service's selector applied as written), serin says so
//! once and holds rather than fighting the tool.

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/gitops.rs"]
mod gitops;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/smoke_server.rs"]
mod smoke_server;
#[path = "support/traffic.rs"]
mod traffic;

use std::time::Duration;

use e2e::{NS, ROLLOUT_TIMEOUT, Rig, WEIGHT, annotations, deployment, live_slot, service, stable_ingress};
use gitops::{GitOpsTool, carries_tracking, tracked, without};
use serde_json::{Value, json};
use smoke_server::SmokeServer;
use traffic::Profile;

const SYNC: Duration = Duration::from_secs(2);
const BLUE_GREEN: &[(&str, &str)] =
    &[("serin.io/smoke", "/health"), ("serin.io/observe", "12s"), ("serin.io/keep-previous", "3s")];

/// The canary rig's objects as Git has them, without what the README tells the tool to
/// ignore (unless `template`): the stable's `spec.template` (serin promotes into it) and
/// the candidate's `spec.replicas` (serin scales it).
fn canary_git(template: bool) -> Vec<Value> {
    let stable = deployment("sark", json!({"app": "sark", "version": "stable"}), "sark:0.9", 4, json!({}));
    let config = annotations(&[("serin.io/strategy", "canary"), ("serin.io/step-min", "3s")]);
    let candidate = deployment("sark-canary", json!({"app": "sark", "version": "canary"}), "sark:1.0", 1, config);
    vec![
        tracked(stable_ingress()),
        tracked(service("sark", json!({"app": "sark", "version": "stable"}), 8000)),
        tracked(if template { stable } else { without(stable, "/spec/template") }),
        tracked(without(candidate, "/spec/replicas")),
    ]
}

/// The blue-green rig's objects as Git has them; `selector`: whether the Service's
/// selector is applied (the README says to leave it to serin).
fn blue_green_git(smoke_port: u16, selector: bool) -> Vec<Value> {
    let mut settings = vec![("serin.io/strategy", "blue-green"), ("serin.io/service", "sark")];
    settings.extend_from_slice(BLUE_GREEN);
    let blue = deployment("sark-blue", json!({"app": "sark", "version": "blue"}), "sark:0.9", 3, json!({}));
    let green =
        deployment("sark-green", json!({"app": "sark", "version": "green"}), "sark:1.0", 3, annotations(&settings));
    let service = service("sark", json!({"app": "sark", "version": "blue"}), smoke_port);
    vec![
        tracked(if selector { service } else { without(service, "/spec/selector") }),
        tracked(without(blue, "/spec/replicas")),
        tracked(without(green, "/spec/replicas")),
    ]
}

fn replicas(rig: &Rig, name: &str) -> i64 {
    rig.deployment(name)["spec"]["replicas"].as_i64().unwrap_or(-1)
}

fn image(rig: &Rig, name: &str) -> String {
    rig.deployment(name)["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_string()
}

/// Consecutive equal values folded into one: the changes an object went through.
fn changes<T: PartialEq>(values: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for value in values {
        if out.last() != Some(&value) {
            out.push(value);
        }
    }
    out
}

/// Every selector slot the Service `sark` had, in order.
fn slots_seen(rig: &Rig) -> Vec<String> {
    let versions = rig.api.versions("v1", "Service", NS, "sark").into_iter().flatten();
    changes(versions.map(|s| s["spec"]["selector"]["version"].as_str().unwrap_or("<none>").to_string()))
}

fn selector_writes(rig: &Rig) -> usize {
    rig.traffic_writes().iter().filter(|w| w.contains("/services/sark")).count()
}

#[test]
fn a_canary_beside_a_gitops_tool_ends_as_it_would_alone() {
    let rig = Rig::canary(Profile::healthy(), &[]);
    let tool = GitOpsTool::start(rig.api.clone(), canary_git(false), SYNC);
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    // Two more syncs after the end: nothing the tool applies undoes the promotion.
    let after = tool.applies();
    rig.api.wait_until(Duration::from_secs(10), "two syncs after success", |_| tool.applies() >= after + 2);
    assert_eq!(rig.weights_written(), vec![10, 25, 50, 100, 0], "serin's writes, as without the tool");
    let versions = rig.api.versions("networking.k8s.io/v1", "Ingress", NS, "sark-canary");
    let weights = changes(versions.iter().map(|v| v.as_ref().map(|i| i["metadata"]["annotations"][WEIGHT].clone())));
    let expected: Vec<Option<Value>> =
        vec![Some(json!("10")), Some(json!("25")), Some(json!("50")), Some(json!("100")), Some(json!("0")), None];
    assert_eq!(weights, expected, "every weight the canary Ingress had: up the steps, 0, deleted; no flap");
    let tracking: Vec<&Value> = versions.iter().flatten().filter(|i| carries_tracking(i)).collect();
    assert!(tracking.is_empty(), "the canary Ingress never carries the tool's tracking metadata: {tracking:?}");
    let canary_service = rig.api.get("v1", "Service", NS, "sark-canary").expect("serin created the canary Service");
    assert!(!carries_tracking(&canary_service), "{canary_service}");
    assert_eq!(image(&rig, "sark"), "sark:1.0", "the promotion stands");
    assert_eq!(replicas(&rig, "sark-canary"), 0, "the candidate stays scaled to 0");
    assert!(carries_tracking(&rig.deployment("sark")), "the tool did apply");
    assert_eq!(*tool.lost.lock().unwrap(), Vec::<String>::new(), "serin's status and finalizer survived each apply");
    let reasons = rig.event_reasons("sark-canary");
    assert!(!reasons.iter().any(|r| r.ends_with("Reverted")), "{reasons:?}");
}

#[test]
fn a_blue_green_run_beside_a_gitops_tool_ends_as_it_would_alone() {
    let smoke = SmokeServer::start("200 OK");
    let rig = Rig::blue_green(Profile::healthy(), smoke.port, BLUE_GREEN);
    let tool = GitOpsTool::start(rig.api.clone(), blue_green_git(smoke.port, false), SYNC);
    rig.wait_for_phase("sark-green", "Succeeded", ROLLOUT_TIMEOUT);
    rig.api.wait_until(Duration::from_secs(30), "blue scaled down after keep-previous", |_| {
        replicas(&rig, "sark-blue") == 0
    });
    let after = tool.applies();
    rig.api.wait_until(Duration::from_secs(10), "two syncs after the scale-down", |_| tool.applies() >= after + 2);
    assert_eq!(slots_seen(&rig), ["blue", "green"], "one flip, never back");
    assert_eq!(selector_writes(&rig), 1, "exactly one selector write");
    assert_eq!(live_slot(&rig.api).as_deref(), Some("green"));
    assert_eq!(replicas(&rig, "sark-blue"), 0, "the tool leaves the previous slot scaled down");
    assert!(carries_tracking(&rig.deployment("sark-green")), "the tool did apply");
    assert_eq!(*tool.lost.lock().unwrap(), Vec::<String>::new(), "serin's status and finalizer survived each apply");
    for reason in ["SelectorFlipped", "Succeeded", "PreviousSlotScaledDown"] {
        rig.wait_for_event("sark-green", reason);
    }
}

/// A tool told nothing applies the Service's selector as Git has it (`version: blue`) and
/// takes the flip back within a sync. serin writes the selector once, warns once, holds
/// the run (no success on traffic green never got, blue keeps its replicas), and goes on
/// when the selector is green again.
#[test]
fn a_tool_reverting_the_selector_gets_one_warning_and_no_fight() {
    let smoke = SmokeServer::start("200 OK");
    let rig = Rig::blue_green(Profile::healthy(), smoke.port, BLUE_GREEN);
    let mut tool = GitOpsTool::start(rig.api.clone(), blue_green_git(smoke.port, true), SYNC);
    let (kind, _, note) = rig.wait_for_event("sark-green", "SelectorReverted");
    assert_eq!(kind, "Warning");
    assert!(note.contains("spec.selector.version is \"blue\", not \"green\""), "{note}");
    // Longer than observe (12 s) and keep-previous (3 s): alone, serin would have finished.
    let before = rig.api.request_count();
    std::thread::sleep(Duration::from_secs(16));
    let reads = rig.api.requests_since(before).iter().filter(|r| r.path.ends_with("/deployments/sark-green")).count();
    // Held, serin looks once per interval (3 s) and when the Service changes: no busy loop.
    assert!(reads < 30, "{reads} reads of the candidate in 16 s of holding");
    assert_eq!(selector_writes(&rig), 1, "serin flipped once and never again");
    assert_eq!(slots_seen(&rig), ["blue", "green", "blue"], "the tool's revert, and nothing after");
    assert_eq!(rig.phase("sark-green").as_deref(), Some("Progressing"), "held: {}", rig.status("sark-green"));
    assert_eq!(replicas(&rig, "sark-blue"), 3, "the live previous slot is never scaled down");
    let warnings = rig.event_reasons("sark-green").into_iter().filter(|r| r == "SelectorReverted").count();
    assert_eq!(warnings, 1, "said once");
    // The tool fixed (stopped here) and the selector put back on green: the run goes on.
    tool.stop();
    rig.api.patch_merge("v1", "Service", NS, "sark", json!({"spec": {"selector": {"version": "green"}}}));
    rig.wait_for_event("sark-green", "SelectorRestored");
}

/// A tool applying the stable Deployment's pod template from Git takes the promotion back
/// within a sync. serin promotes once, says so once, and does not promote again.
#[test]
fn a_tool_reverting_the_promotion_gets_one_warning_and_no_fight() {
    let rig = Rig::canary(Profile::healthy(), &[]);
    let _tool = GitOpsTool::start(rig.api.clone(), canary_git(true), SYNC);
    let reverted = |rig: &Rig| rig.event_reasons("sark-canary").iter().any(|r| r == "PromotionReverted");
    rig.api.wait_until(ROLLOUT_TIMEOUT, "a PromotionReverted Event", |_| reverted(&rig));
    let (kind, _, note) = rig.wait_for_event("sark-canary", "PromotionReverted");
    assert_eq!(kind, "Warning");
    assert!(note.contains("no longer the promoted revision"), "{note}");
    std::thread::sleep(Duration::from_secs(6));
    let promotions =
        rig.api.requests().iter().filter(|r| r.method == "PUT" && r.path.ends_with("/deployments/sark")).count();
    assert_eq!(promotions, 1, "serin promoted once and never again");
    assert_eq!(image(&rig, "sark"), "sark:0.9", "Git's version, as the tool applies it");
    let warnings = rig.event_reasons("sark-canary").into_iter().filter(|r| r == "PromotionReverted").count();
    assert_eq!(warnings, 1, "said once");
}
