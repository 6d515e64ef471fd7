//! `serin replay --prometheus` against a real Prometheus reaches the same decision as
//! `serin replay --recording` of the same simulated rollout.
//!
//! Each shipped scenario is run closed-loop through the engine; the resulting world is
//! exported twice: as a recording (exact per-interval counts) and as raw counters in
//! OpenMetrics, backfilled into a throwaway Prometheus with `promtool`. The real `serin`
//! binary then replays both, and the test asserts the same outcome and trigger (the
//! scenario's expectation) after the same walk of weights, although Prometheus'
//! `increase()` extrapolates at window edges and so sees slightly different numbers.
//! Decisions taken at the first canary step must also come at nearly the same time.
//! Needs `prometheus` and `promtool`: scripts/install-test-deps.sh.

#[path = "support/prometheus.rs"]
mod prometheus;

use std::path::Path;
use std::process::Command;
use std::time::SystemTime;

use prometheus::TestPrometheus;
use serde_json::{Value, json};
use serin::judge::JudgeConfig;
use serin::template::Catalog;
use serin::time::{format_instant, parse_instant};
use serin_sim::sim::Scenario;
use serin_sim::simulate;

/// Decisions taken from the first canary step: both replays see the same data up to then.
const CLOSE: Option<u32> = Some(2);

#[test]
fn error_regression_rolls_back_from_prometheus_as_from_the_recording() {
    replay_both_ways("error-regression", CLOSE);
}

#[test]
fn shared_incident_pauses_from_prometheus_as_from_the_recording() {
    replay_both_ways("shared-incident", CLOSE);
}

/// Same outcome and the same walk (10, 25, 50, 100, promote), but not at the same time.
/// The canary's 5xx counter is born at 02:01:15 already at 3 and does not move again
/// before 02:02; `increase()` cannot see a series' first value unless it extrapolates a
/// moving counter back to zero, so Prometheus reports 0/312 canary errors where the
/// recording has 3/315. With 3 fewer errors the 10% step passes at 02:06 instead of
/// 02:12, and from then on a replay is open-loop (its weights no longer match the
/// traffic split that was recorded): promoted at 02:21 instead of 02:27.
#[test]
fn healthy_promotes_from_prometheus_as_from_the_recording() {
    replay_both_ways("healthy", None);
}

/// Errors in bursts of mean size 5 on both versions, three controller pods scraped at their
/// own phase, and an hour of the stable's history before the run: through a real
/// Prometheus (history backfilled) as from the recording (which holds the history and
/// names the rollout's start), serin reads the history first and does not mistake the
/// bursts for a regression. Without the history it did: rolled back at minute 6.
#[test]
fn bursty_healthy_is_not_rolled_back_from_prometheus_nor_from_the_recording() {
    replay_both_ways("bursty-healthy", None);
}

/// Replays scenario `name` both ways; when `within` is given, the decisions (promote,
/// rollback or pause) must be at most that many analysis intervals apart.
fn replay_both_ways(name: &str, within: Option<u32>) {
    let scenario = Scenario::load(Scenario::shipped_dir().join(format!("{name}.yaml"))).unwrap();
    let mut run = simulate::run(&scenario, None, &Catalog::builtin(), &JudgeConfig::default()).unwrap();
    simulate::check_expectation(&scenario, &run.replay).unwrap();
    let interval = run.spec.interval;

    let dir = tempfile::tempdir().unwrap();
    let recording = dir.path().join("recording.json");
    run.recording(&scenario).save(&recording).unwrap();
    let manifest = dir.path().join("deployment.yaml");
    write_manifest(&scenario, &manifest);
    let server = TestPrometheus::start_with_openmetrics(&run.openmetrics(&scenario));

    let from_recording = serin_replay(&["--recording", path(&recording)]);
    let (start, end) = (format_instant(scenario.start), format_instant(scenario.end()));
    let from_prometheus = serin_replay(&[
        "--prometheus",
        server.url(),
        "--start",
        &start,
        "--end",
        &end,
        "--deployment",
        path(&manifest),
    ]);

    let context = format!(
        "{name}\n--- recording ---\n{}\n--- prometheus ---\n{}\n--- prometheus log ---\n{}",
        summary(&from_recording),
        summary(&from_prometheus),
        server.log()
    );
    let expected_outcome = serde_json::to_value(scenario.expect.outcome).unwrap();
    let expected_trigger = json!(scenario.expect.trigger);
    if expected_outcome == "not_rolled_back" {
        // Only a rollback is wrong; Prometheus' `increase()`-free exact counts and the
        // recording's agree, but bursts make the walk sensitive to a single request.
        for (input, replay) in [("recording", &from_recording), ("prometheus", &from_prometheus)] {
            assert_ne!(replay["outcome"], "rolled_back", "{input}: outcome\n{context}");
        }
        return;
    }
    for (input, replay) in [("recording", &from_recording), ("prometheus", &from_prometheus)] {
        assert_eq!(replay["outcome"], expected_outcome, "{input}: outcome\n{context}");
        assert_eq!(replay["trigger"], expected_trigger, "{input}: trigger\n{context}");
    }
    assert_eq!(moves(&from_recording), moves(&from_prometheus), "different walks\n{context}");
    assert_eq!(from_recording["decided_at"].is_null(), from_prometheus["decided_at"].is_null(), "{context}");
    if let Some(within) = within {
        let (a, b) = (decision_time(&from_recording), decision_time(&from_prometheus));
        let apart = a.duration_since(b).or_else(|_| b.duration_since(a)).unwrap();
        assert!(apart <= within * interval, "decisions {apart:?} apart (interval {interval:?})\n{context}");
    }
}

/// The candidate as an `apps/v1` Deployment: the manifest `--deployment` reads.
fn write_manifest(scenario: &Scenario, file: &Path) {
    let target = scenario.candidate();
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": target.name, "namespace": target.namespace, "annotations": target.annotations},
        "spec": {
            "selector": {"matchLabels": target.pod_labels},
            "template": {"metadata": {"labels": target.pod_labels}},
        },
    });
    std::fs::write(file, serde_yaml_ng::to_string(&deployment).unwrap()).unwrap();
}

/// Runs `serin replay ARGS --output json` and parses its output.
fn serin_replay(args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_serin"))
        .arg("replay")
        .args(args)
        .args(["--output", "json"])
        .output()
        .expect("run serin");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "serin replay {args:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("serin replay {args:?}: {e}\n{stdout}"))
}

/// The weights set and the final action, in order (not analyses and holds).
fn moves(replay: &Value) -> Vec<(Value, Value)> {
    let timeline = replay["timeline"].as_array().expect("a timeline");
    let moved = |e: &&Value| e["action"] != "analysis" && e["action"] != "hold";
    timeline.iter().filter(moved).map(|e| (e["action"].clone(), e["weight"].clone())).collect()
}

/// When the rollout was promoted, rolled back or paused (a pause has no `decided_at`).
fn decision_time(replay: &Value) -> SystemTime {
    let timeline = replay["timeline"].as_array().expect("a timeline");
    let decision =
        timeline.iter().rev().find(|e| ["promote", "rollback", "pause"].contains(&e["action"].as_str().unwrap()));
    let at = decision.unwrap_or_else(|| panic!("no decision in the timeline"))["at"].as_str().unwrap();
    parse_instant(at).unwrap()
}

/// The decision and the timeline's moves, without the per-analysis detail.
fn summary(replay: &Value) -> String {
    let mut text =
        format!("{} at {} by {}: {}", replay["outcome"], replay["decided_at"], replay["trigger"], replay["reason"]);
    for entry in replay["timeline"].as_array().into_iter().flatten().filter(|e| e["action"] != "analysis") {
        text.push_str(&format!("\n  {} {} {}", entry["at"], entry["action"], entry["weight"]));
    }
    text
}

fn path(file: &Path) -> &str {
    file.to_str().expect("temp paths are UTF-8")
}
