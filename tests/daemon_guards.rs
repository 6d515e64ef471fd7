//! `serin run`'s guards, end to end: a dry run only records what it would do, a closed
//! deployment window holds progress, an unreachable Prometheus pauses a rollout without
//! promoting or rolling it back, and a run whose template is gone is rolled back. Same rig
//! as `daemon_canary.rs`.

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

use e2e::{ROLLOUT_TIMEOUT, Rig, canary_weight};
use traffic::Profile;

#[test]
fn a_dry_run_records_would_and_changes_nothing() {
    let rig = Rig::canary(Profile::healthy(), &[("serin.io/dry-run", "true")]);
    let (kind, _, note) = rig.wait_for_event("sark-canary", "WeightChanged");
    assert_eq!(kind, "Normal");
    assert!(note.starts_with("would set canary weight 0% → 10%"), "{note}");
    assert_eq!(rig.annotation("sark-canary", "serin.io/weight").as_deref(), Some("10"), "the decision is recorded");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(rig.traffic_writes(), Vec::<String>::new(), "no Ingress or Service written");
    assert!(rig.deployment("sark-canary")["metadata"]["finalizers"].is_null(), "no finalizer in a dry run");
}

#[test]
fn outside_every_window_nothing_progresses() {
    // 00:00:00 on January 1st only.
    let rig = Rig::canary(Profile::healthy(), &[("serin.io/window", "0 0 0 1 1 *")]);
    let (_, _, note) = rig.wait_for_event("sark-canary", "Held");
    assert!(note.contains("window"), "{note}");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(rig.phase("sark-canary").as_deref(), Some("Pending"));
    assert_eq!(rig.traffic_writes(), Vec::<String>::new());
}

#[test]
fn an_unreachable_prometheus_pauses_without_promoting_or_rolling_back() {
    let mut rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "60s")]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 10", |api| canary_weight(api) == Some(10));
    rig.kill_daemon();
    // Nothing listens on the discard port of the loopback address.
    rig.start_daemon_with("http://127.0.0.1:9", &[]);
    rig.wait_for_phase("sark-canary", "Paused", ROLLOUT_TIMEOUT);
    let status = rig.status("sark-canary");
    assert_eq!(status["trigger"], "query-errors", "{status}");
    let (kind, _, note) = rig.wait_for_event("sark-canary", "Paused");
    assert_eq!(kind, "Warning");
    assert!(note.contains("query errors"), "{note}");
    assert_eq!(canary_weight(&rig.api), Some(10), "the weight is held: no promotion, no rollback");
    assert_eq!(rig.weights_written(), vec![10]);
}

/// A Prometheus that accepts connections and never answers: each query would wait out its
/// 10 s request timeout, six per analysis. The reconcile's Prometheus budget (15 s) ends
/// them: the analysis is recorded as query errors within the budget, not after a minute.
#[test]
fn a_hanging_prometheus_holds_a_reconcile_no_longer_than_its_budget() {
    let mut rig = Rig::canary(Profile::healthy(), &[("serin.io/step-min", "60s")]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 10", |api| canary_weight(api) == Some(10));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let errors = |rig: &Rig| rig.status("sark-canary")["consecutive_errors"].as_u64().unwrap_or(0);
    let before = errors(&rig);
    rig.kill_daemon();
    let restarted = std::time::Instant::now();
    rig.start_daemon_with(&url, &[]);
    rig.api.wait_until(Duration::from_secs(45), "an analysis recorded with query errors", |_| errors(&rig) > before);
    let took = restarted.elapsed();
    assert!(took < Duration::from_secs(30), "the first analysis took {took:?} against a hanging Prometheus");
    assert_eq!(canary_weight(&rig.api), Some(10), "nothing moves on query errors");
}

/// issue 13: a run whose templates cannot be checked because Prometheus is unreachable
/// waits with a status message and a Warning naming Prometheus, and starts once it answers.
#[test]
fn a_run_start_with_prometheus_unreachable_waits_with_a_warning() {
    // Invalid first (no such stable): no run starts before the daemon loses Prometheus.
    let mut rig = Rig::canary(Profile::healthy(), &[("serin.io/stable", "nope")]);
    rig.wait_for_event("sark-canary", "InvalidConfiguration");
    rig.kill_daemon();
    let fixed = serde_json::json!({"metadata": {"annotations": {"serin.io/stable": null}}});
    rig.api.patch_merge("apps/v1", "Deployment", "production", "sark-canary", fixed);
    rig.start_daemon_with("http://127.0.0.1:9", &[]);
    let (kind, _, note) = rig.wait_for_event("sark-canary", "PrometheusUnreachable");
    assert_eq!(kind, "Warning");
    assert!(note.starts_with("Prometheus at http://127.0.0.1:9 unreachable: "), "{note}");
    assert!(note.contains("the run waits"), "{note}");
    let status = rig.status("sark-canary");
    assert_eq!(status["invalid"][0].as_str(), Some(note.as_str()), "the same message in serin.io/status");
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(rig.traffic_writes(), Vec::<String>::new(), "no traffic moved");
    let warnings = rig.event_reasons("sark-canary").into_iter().filter(|r| r == "PrometheusUnreachable").count();
    assert_eq!(warnings, 1, "said once while it lasts");
    rig.kill_daemon();
    rig.start_daemon();
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the run starts once Prometheus answers", |api| canary_weight(api) == Some(10));
}

/// A run in flight whose analysis cannot be prepared any more (the daemon restarted with a
/// templates directory that lost the run's template) is rolled back at once: no trigger
/// could guard its traffic (README, "Lifecycle").
#[test]
fn a_run_in_flight_whose_template_is_gone_is_rolled_back() {
    let shipped = include_str!("../analysis-templates/nginx-canary.yaml");
    let templates = tempfile::tempdir().unwrap();
    std::fs::write(templates.path().join("my-slo.yaml"), shipped.replace("name: nginx-canary", "name: my-slo"))
        .unwrap();
    let with = templates.path().display().to_string();
    let extra = [("serin.io/analysis", "my-slo"), ("serin.io/step-min", "60s")];
    let mut rig = Rig::canary_with_daemon(Profile::healthy(), &extra, &["--templates", &with], &[]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "weight 10", |api| canary_weight(api) == Some(10));
    rig.kill_daemon();
    let without = tempfile::tempdir().unwrap();
    let without = without.path().display().to_string();
    rig.start_daemon_with(rig.prometheus.url().to_string().as_str(), &["--templates", &without]);
    rig.wait_for_phase("sark-canary", "RolledBack", ROLLOUT_TIMEOUT);
    rig.api.wait_until(Duration::from_secs(20), "the canary Ingress removed", |api| canary_weight(api).is_none());
    let status = rig.status("sark-canary");
    assert_eq!(status["trigger"], "configuration", "{status}");
    let reason = status["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("can no longer be judged") && reason.contains("\"my-slo\""), "{reason}");
    let (kind, _, note) = rig.wait_for_event("sark-canary", "RolledBack");
    assert_eq!(kind, "Warning");
    assert!(note.contains("\"my-slo\""), "the Event names the template: {note}");
    assert_eq!(rig.weights_written(), vec![10, 0], "straight back to 0");
    std::thread::sleep(Duration::from_secs(2));
    let reasons = rig.event_reasons("sark-canary");
    let said = reasons.iter().filter(|r| r.starts_with("Invalid") || *r == "RolledBack").count();
    assert_eq!(said, 1, "said once: {reasons:?}");

    // The template back, the next revision runs as usual.
    rig.kill_daemon();
    let image = serde_json::json!({"spec": {"template": {"spec": {"containers": [
        {"name": "sark", "image": "sark:1.1", "ports": [{"name": "http", "containerPort": 8000}]}]}}}});
    rig.api.patch_merge("apps/v1", "Deployment", "production", "sark-canary", image);
    rig.start_daemon_with(rig.prometheus.url().to_string().as_str(), &["--templates", &with]);
    rig.api.wait_until(ROLLOUT_TIMEOUT, "the next run at 10%", |api| canary_weight(api) == Some(10));
}
