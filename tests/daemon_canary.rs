//! `serin run` end to end on the `sark` canary shapes of `deploy/examples/canary.yaml`: the real binary and `kube::Client`
//! against the stateful fake API server, deciding from a real Prometheus that scrapes
//! traffic split by the canary weight serin set. Needs prometheus (scripts/install-test-deps.sh).

#[path = "support/daemon.rs"]
mod daemon;
#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/fake_apiserver/mod.rs"]
mod fake_apiserver;
#[path = "support/prometheus.rs"]
mod prometheus;
#[path = "support/traffic.rs"]
mod traffic;

use std::time::Duration;

use e2e::{NS, ROLLOUT_TIMEOUT, Rig, WEIGHT, canary_weight, tail};
use serde_json::json;
use traffic::Profile;

fn image(rig: &Rig, name: &str) -> String {
    rig.deployment(name)["spec"]["template"]["spec"]["containers"][0]["image"].as_str().unwrap_or_default().to_string()
}

fn replicas(rig: &Rig, name: &str) -> i64 {
    rig.deployment(name)["spec"]["replicas"].as_i64().unwrap_or(-1)
}

fn canary_ingress_exists(rig: &Rig) -> bool {
    rig.api.get("networking.k8s.io/v1", "Ingress", NS, "sark-canary").is_some()
}

#[test]
fn a_healthy_canary_walks_the_steps_and_is_promoted() {
    let rig = Rig::canary(Profile::healthy(), &[]);
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    let log = tail(&rig.log(), 40);
    assert_eq!(rig.weights_written_by_the_end(), vec![10, 25, 50, 100, 0], "{log}");
    assert_eq!(image(&rig, "sark"), "sark:1.0", "the stable runs the candidate's pod spec");
    let stable_labels = &rig.deployment("sark")["spec"]["template"]["metadata"]["labels"];
    assert_eq!(stable_labels["version"], "stable", "the stable keeps its labels");
    assert!(!canary_ingress_exists(&rig), "the canary Ingress is deleted");
    assert_eq!(replicas(&rig, "sark-canary"), 0, "the candidate is scaled to 0");
    assert_eq!(replicas(&rig, "sark"), 4, "the stable is never scaled");
    for reason in ["RolloutStarted", "WeightChanged", "Promoting", "Succeeded"] {
        rig.wait_for_event("sark-canary", reason);
    }
    let status = rig.status("sark-canary");
    assert!(status["last_verdicts"].as_array().is_some_and(|v| !v.is_empty()), "evidence in status: {status}");
    assert!(
        rig.deployment("sark-canary")["metadata"]["finalizers"].as_array().is_none_or(|f| f.is_empty()),
        "the finalizer is released when the run is over"
    );
}

#[test]
fn a_bad_canary_is_rolled_back_by_the_error_rate_trigger() {
    let rig = Rig::canary(Profile::bad(), &[]);
    rig.wait_for_phase("sark-canary", "RolledBack", ROLLOUT_TIMEOUT);
    let status = rig.status("sark-canary");
    assert_eq!(status["trigger"], "error-rate-critical", "{status}");
    // The decision is written first (write-ahead); the work follows it.
    rig.api.wait_until(Duration::from_secs(20), "the canary Ingress deleted", |_| !canary_ingress_exists(&rig));
    assert_eq!(rig.weights_written(), vec![10, 0], "weight 0 at once, in one write, before the deletion");
    assert_eq!(image(&rig, "sark"), "sark:0.9", "nothing promoted");
    rig.api.wait_until(Duration::from_secs(20), "the candidate scaled to 0", |_| replicas(&rig, "sark-canary") == 0);
    // Scaling the candidate changed its resourceVersion: the record written after that
    // work must not be lost to it (the next run starts with these replicas).
    rig.api.wait_until(Duration::from_secs(20), "the remembered replicas", |_| {
        rig.status("sark-canary")["replicas_before"] == 1 && rig.status("sark-canary").get("pending").is_none()
    });
    let rollback = rig.wait_for_event("sark-canary", "RolledBack");
    assert_eq!(rollback.0, "Warning");
    assert!(
        rollback.2.contains("error-rate-critical") && rollback.2.contains('%'),
        "evidence in the note: {}",
        rollback.2
    );
}

/// issue 12: a rollback never waits behind a write that keeps failing when another write
/// takes the traffic off. ingress-nginx's admission webhook checks creates and updates, not
/// deletes: with it down, weight 0 is refused, the deletion of the canary Ingress is not.
#[test]
fn a_rollback_completes_while_the_ingress_webhook_refuses_updates() {
    let rig = Rig::canary(Profile::bad(), &[]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the first weight", |_| rig.weights_written() == vec![10]);
    rig.api.refuse_writes("Ingress");
    rig.wait_for_phase("sark-canary", "RolledBack", ROLLOUT_TIMEOUT);
    rig.api.wait_until(Duration::from_secs(20), "the canary Ingress deleted", |_| !canary_ingress_exists(&rig));
    assert_eq!(rig.weights_written(), vec![10], "no Ingress write got through the webhook");
    rig.api.wait_until(Duration::from_secs(20), "the candidate scaled to 0", |_| replicas(&rig, "sark-canary") == 0);
    assert_eq!(image(&rig, "sark"), "sark:0.9", "nothing promoted");
}

/// issue 12: a run whose configuration breaks mid-run stays guarded: `edit` breaks it while
/// a bad canary takes traffic, and the rollback still happens, the canary Ingress removed.
fn a_bad_canary_broken_mid_run_is_still_rolled_back(edit: impl FnOnce(&Rig), what: &str) {
    let rig = Rig::canary(Profile::bad(), &[("serin.io/step-min", "30s")]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the first weight", |_| rig.weights_written() == vec![10]);
    edit(&rig);
    rig.wait_for_phase("sark-canary", "RolledBack", ROLLOUT_TIMEOUT);
    rig.api.wait_until(Duration::from_secs(30), "the canary Ingress deleted", |_| !canary_ingress_exists(&rig));
    assert!(rig.event_reasons("sark-canary").iter().any(|r| r == "ConfigurationBroken"), "{what}: a Warning names it");
    let status = rig.status("sark-canary");
    assert_eq!(status["phase"], "RolledBack", "{what}: {status}");
}

#[test]
fn an_annotation_typo_mid_run_keeps_the_canary_guarded() {
    a_bad_canary_broken_mid_run_is_still_rolled_back(
        |rig| {
            let typo = serde_json::json!({"metadata": {"annotations": {"serin.io/steps": "10,5O,100"}}});
            rig.api.patch_merge("apps/v1", "Deployment", "production", "sark-canary", typo);
        },
        "steps typo",
    );
}

#[test]
fn a_stable_deleted_mid_run_keeps_the_canary_guarded() {
    a_bad_canary_broken_mid_run_is_still_rolled_back(
        |rig| rig.api.delete("apps/v1", "Deployment", "production", "sark"),
        "stable deleted",
    );
}

/// `kubectl replace` of the candidate with its manifest: serin's annotations gone, the
/// replicas back.
fn gitops_replace() -> serde_json::Value {
    serde_json::json!({"metadata": {"annotations": {
        "serin.io/status": null, "serin.io/phase": null, "serin.io/weight": null}}, "spec": {"replicas": 1}})
}

/// issue 12: a GitOps tool that replaces the candidate from its manifest strips
/// `serin.io/status`; the rolled-back revision must not get traffic again.
#[test]
fn a_rolled_back_revision_stays_rolled_back_after_a_gitops_replace() {
    let rig = Rig::canary(Profile::bad(), &[]);
    rig.wait_for_phase("sark-canary", "RolledBack", ROLLOUT_TIMEOUT);
    rig.api.wait_until(Duration::from_secs(20), "the candidate scaled to 0", |_| replicas(&rig, "sark-canary") == 0);
    rig.api.patch_merge("apps/v1", "Deployment", "production", "sark-canary", gitops_replace());
    a_restored_rollback_stays(&rig);
}

/// The same replace landing between the rollback's last write (the candidate scaled to
/// 0) and serin's save of the record after it, which it makes conflict.
#[test]
fn a_replace_racing_the_rollbacks_last_save_still_keeps_the_revision_rolled_back() {
    let rig = Rig::canary(Profile::bad(), &[]);
    let scaled_to_zero = |d: &serde_json::Value| d["spec"]["replicas"] == 0;
    rig.api.react_once(("apps/v1", "Deployment", NS, "sark-canary"), scaled_to_zero, gitops_replace());
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the candidate scaled to 0 and replaced", |_| {
        rig.weights_written().contains(&0) && replicas(&rig, "sark-canary") == 1
    });
    a_restored_rollback_stays(&rig);
}

fn a_restored_rollback_stays(rig: &Rig) {
    rig.api.wait_until(Duration::from_secs(20), "the record restored", |_| rig.phase("sark-canary").is_some());
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(rig.weights_written(), vec![10, 0], "no traffic for the rolled-back revision");
    assert_eq!(rig.status("sark-canary")["phase"], "RolledBack");
    rig.wait_for_event("sark-canary", "RecordRestored");
}

/// issue 12: after downtime of 3× step-min the missed ticks are caught up, but what they
/// find may only roll back: every later step is observed live for step-min, none skipped.
#[test]
fn catching_up_after_downtime_never_skips_a_step() {
    const STEP_MIN: Duration = Duration::from_secs(3);
    let mut rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "3s")]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 25", |api| canary_weight(api) == Some(25));
    rig.kill_daemon();
    std::thread::sleep(STEP_MIN * 3);
    let restarted = std::time::Instant::now();
    rig.start_daemon();
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    assert_eq!(rig.weights_written_by_the_end(), vec![10, 25, 50, 100, 0], "no step skipped");
    let writes: Vec<std::time::Instant> = rig
        .api
        .requests()
        .iter()
        .filter(|r| r.at > restarted && r.path.contains("/ingresses") && r.status < 300)
        .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH"))
        .filter(|r| r.body.as_ref().is_some_and(|b| b["metadata"]["annotations"].get(WEIGHT).is_some()))
        .map(|r| r.at)
        .collect();
    // 50 may come at once (25% was live through the downtime); 100 only after 50 was
    // observed live for step-min (a little less: ticks fall on interval boundaries).
    assert!(writes.len() >= 2, "{writes:?}");
    let observed_at_50 = writes[1].duration_since(writes[0]);
    assert!(observed_at_50 >= STEP_MIN - Duration::from_millis(800), "50% observed for {observed_at_50:?} only");
}

/// issue 12: names resolved at run start are kept until the run ends; an annotation changed
/// mid-run applies to the next run, with a Warning (no second canary Ingress).
#[test]
fn an_ingress_renamed_mid_run_applies_to_the_next_run() {
    let rig = Rig::canary(Profile::healthy(), &[]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 10", |api| canary_weight(api) == Some(10));
    let rename = serde_json::json!({"metadata": {"annotations": {"serin.io/ingress": "sark-v2"}}});
    rig.api.patch_merge("apps/v1", "Deployment", NS, "sark-canary", rename);
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    assert_eq!(rig.weights_written_by_the_end(), vec![10, 25, 50, 100, 0], "the run kept its canary Ingress");
    let ingresses: Vec<String> = rig
        .api
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path.ends_with("/ingresses"))
        .filter_map(|r| r.body.as_ref()?["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    assert_eq!(ingresses, vec!["sark-canary"], "no second canary Ingress");
    let deferred = rig.wait_for_event("sark-canary", "ConfigurationDeferred");
    assert!(deferred.2.contains("serin.io/ingress"), "{deferred:?}");
}

#[test]
fn a_killed_daemon_resumes_mid_step_without_a_jump() {
    let mut rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "6s")]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 25", |api| canary_weight(api) == Some(25));
    rig.kill_daemon();
    let status_at_kill = rig.status("sark-canary");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(canary_weight(&rig.api), Some(25), "nothing moves while serin is down");
    rig.start_daemon();
    rig.wait_for_phase("sark-canary", "Succeeded", ROLLOUT_TIMEOUT);
    assert_eq!(rig.weights_written_by_the_end(), vec![10, 25, 50, 100, 0], "no second write of a weight, no jump");
    let status = rig.status("sark-canary");
    assert_eq!(status["started"], status_at_kill["started"], "the same run resumed: {status}");
    assert_eq!(image(&rig, "sark"), "sark:1.0");
}

#[test]
fn invalid_annotations_are_reported_and_change_no_traffic() {
    let rig = Rig::canary(Profile::healthy(), &[("serin.io/steps", "50,10"), ("serin.io/intervall", "1m")]);
    rig.wait_for_phase("sark-canary", "Invalid", Duration::from_secs(30));
    let warning = rig.wait_for_event("sark-canary", "InvalidConfiguration");
    assert_eq!(warning.0, "Warning");
    assert!(
        warning.2.contains("serin.io/steps") && warning.2.contains("serin.io/intervall"),
        "every problem: {}",
        warning.2
    );
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(rig.traffic_writes(), Vec::<String>::new(), "no write to any Ingress or Service");
    assert_eq!(image(&rig, "sark"), "sark:0.9");
}

#[test]
fn removing_the_annotation_mid_rollout_gives_traffic_back() {
    let rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "30s")]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 10", |api| canary_weight(api) == Some(10));
    // As `kubectl annotate deployment sark-canary serin.io/strategy-`.
    rig.api.patch_merge(
        "apps/v1",
        "Deployment",
        NS,
        "sark-canary",
        json!({"metadata": {"annotations": {"serin.io/strategy": null}}}),
    );
    rig.api.wait_until(Duration::from_secs(30), "the canary Ingress deleted", |_| !canary_ingress_exists(&rig));
    rig.api.wait_until(Duration::from_secs(30), "serin's annotations cleared", |_| rig.phase("sark-canary").is_none());
    rig.wait_for_event("sark-canary", "Released");
    assert_eq!(image(&rig, "sark"), "sark:0.9");
}

#[test]
fn deleting_the_candidate_mid_rollout_removes_the_canary() {
    let rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "30s")]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 10", |api| canary_weight(api) == Some(10));
    let finalizers = rig.deployment("sark-canary")["metadata"]["finalizers"].clone();
    assert_eq!(finalizers, json!(["serin.io/traffic"]), "serin holds the candidate while it has traffic");
    rig.api.delete("apps/v1", "Deployment", NS, "sark-canary");
    rig.api.wait_until(Duration::from_secs(30), "the candidate gone", |api| {
        api.get("apps/v1", "Deployment", NS, "sark-canary").is_none()
    });
    assert!(!canary_ingress_exists(&rig), "no canary route left behind");
    assert_eq!(image(&rig, "sark"), "sark:0.9");
}
