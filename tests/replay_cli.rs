//! The `serin` binary end to end: every shipped recording replays to the outcome its
//! scenario expects, the JSON has exactly the README's replay JSON shape, and bad input (annotations,
//! templates, recordings) gives a clear error and a non-zero exit, never a panic.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serin_sim::sim::Scenario;

fn serin(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_serin")).args(args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs a command that must fail cleanly, and returns its error output.
fn fails(args: &[&str], code: i32) -> String {
    let out = serin(args);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(code), "serin {args:?}\nstdout: {}\nstderr: {err}", stdout(&out));
    assert!(!err.contains("panicked"), "serin {args:?} panicked: {err}");
    err
}

fn replay_json(args: &[&str]) -> serde_json::Value {
    let out = serin(&[&["replay", "--output", "json"], args].concat());
    assert!(out.status.success(), "serin replay {args:?} failed: {}", stderr(&out));
    serde_json::from_str(&stdout(&out)).expect("replay --output json prints one JSON object")
}

fn recording(name: &str) -> String {
    format!("simulations/recordings/{name}.json")
}

#[test]
fn every_shipped_recording_replays_to_its_expected_outcome() {
    let dir = Scenario::shipped_dir();
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let scenario = Scenario::load(entry.unwrap().path()).unwrap();
        let json = replay_json(&["--recording", &recording(&scenario.name)]);
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort();
        assert_eq!(keys, ["decided_at", "outcome", "reason", "timeline", "trigger"], "the README's replay JSON shape");
        let outcome = json["outcome"].as_str().unwrap();
        let expected = serde_json::to_value(scenario.expect.outcome).unwrap();
        match expected.as_str().unwrap() {
            "not_rolled_back" => assert_ne!(outcome, "rolled_back", "{}", scenario.name),
            exp => assert_eq!(outcome, exp, "{}: {}", scenario.name, json["reason"]),
        }
        if let Some(trigger) = &scenario.expect.trigger {
            assert_eq!(json["trigger"].as_str(), Some(trigger.as_str()), "{}", scenario.name);
        }
        for entry in json["timeline"].as_array().unwrap() {
            assert!(entry["at"].is_string() && entry["action"].is_string() && entry["weight"].is_u64(), "{entry}");
            if entry["action"] == "analysis" {
                assert!(
                    !entry["detail"]["metrics"].as_array().unwrap().is_empty(),
                    "analysis carries verdicts: {entry}"
                );
            }
        }
        if outcome == "promoted" || outcome == "rolled_back" {
            assert!(json["decided_at"].is_string(), "{}", scenario.name);
        }
        seen += 1;
    }
    assert_eq!(seen, 8, "eight shipped scenarios");
}

#[test]
fn sticky_sessions_hold_the_first_step_with_both_numbers() {
    // The canary gets 2% of requests whatever its weight: the split check holds at 10%.
    let json = replay_json(&["--recording", &recording("sticky-sessions")]);
    assert_eq!(json["outcome"], "in_progress");
    let timeline = json["timeline"].as_array().unwrap();
    let weights: Vec<u64> =
        timeline.iter().filter(|e| e["action"] == "set_weight").map(|e| e["weight"].as_u64().unwrap()).collect();
    assert_eq!(weights, [10], "never past the first step");
    let holds: Vec<&str> =
        timeline.iter().filter(|e| e["action"] == "hold").filter_map(|e| e["detail"]["reason"].as_str()).collect();
    assert_eq!(holds.len(), 1, "{timeline:?}");
    let served: f64 = holds[0]
        .strip_prefix("traffic split: the canary served ")
        .and_then(|rest| rest.split('%').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{}", holds[0]));
    assert!((1.0..3.0).contains(&served), "about 2% observed: {}", holds[0]);
    assert!(holds[0].contains("but its weight is 10%"), "{}", holds[0]);
}

#[test]
fn the_gap_scenario_never_moves_forward_while_prometheus_is_silent() {
    let json = replay_json(&["--recording", &recording("prometheus-gap")]);
    let gap = ("2026-11-20T02:08:00Z", "2026-11-20T02:25:00Z");
    for e in json["timeline"].as_array().unwrap() {
        let (at, action) = (e["at"].as_str().unwrap(), e["action"].as_str().unwrap());
        if at > gap.0 && at < gap.1 {
            assert!(!matches!(action, "set_weight" | "promote"), "{action} at {at} during the gap");
            if action == "analysis" {
                let verdicts: Vec<&str> =
                    e["detail"]["metrics"].as_array().unwrap().iter().map(|m| m["verdict"].as_str().unwrap()).collect();
                assert!(verdicts.iter().all(|v| *v != "pass"), "no data must not pass: {verdicts:?} at {at}");
            }
        }
    }
    assert_eq!(json["outcome"], "promoted");
}

#[test]
fn replay_without_input_replays_the_shipped_default_and_explains_itself() {
    let out = serin(&["replay"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = stdout(&out);
    assert!(table.contains("outcome: rolled_back"), "{table}");
    assert!(table.contains("error-rate-critical"), "{table}");
    assert!(table.contains("significantly worse than baseline"), "the reason carries the evidence: {table}");
}

#[test]
fn the_html_report_is_self_contained_with_a_plot_per_metric_series() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let out = serin(&["replay", "--recording", &recording("latency-regression"), "--report", report.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.matches("<svg").count() >= 2, "a plot per metric series");
    assert!(!html.contains("<script src") && !html.contains("<link"), "no external assets");
    assert!(html.contains("latency-p99-critical"));
}

#[test]
fn malformed_annotations_are_all_reported_and_exit_non_zero() {
    let rec = recording("healthy");
    let err = fails(&["replay", "--recording", &rec, "--set", "steps=10,5", "--set", "interval=soon"], 2);
    assert!(err.contains("serin.io/steps") && err.contains("serin.io/interval"), "{err}");
    let err = fails(&["replay", "--recording", &rec, "--set", "analysis=no-such-template"], 2);
    assert!(err.contains("no-such-template"), "{err}");
}

#[test]
fn a_template_with_an_unknown_variable_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string("analysis-templates/nginx-canary.yaml")
        .unwrap()
        .replace("name: nginx-canary", "name: typo")
        .replacen("{{namespace}}", "{{namespce}}", 1);
    std::fs::write(dir.path().join("typo.yaml"), text).unwrap();
    let templates = dir.path().to_str().unwrap();
    let rec = recording("healthy");
    let err = fails(&["replay", "--recording", &rec, "--templates", templates, "--set", "analysis=typo"], 2);
    assert!(err.contains("namespce"), "{err}");
}

#[test]
fn malformed_recordings_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases: [(&str, &str); 3] = [
        ("not-json.json", "this is not json"),
        (
            "version.json",
            r#"{"serin_recording": 7, "start": "2026-11-20T02:00:00Z", "end": "2026-11-20T03:00:00Z", "step": "15s", "queries": {}}"#,
        ),
        (
            "values.json",
            r#"{"serin_recording": 1, "start": "2026-11-20T02:00:00Z", "end": "2026-11-20T03:00:00Z", "step": "15s", "queries": {"up": [{"metric": {}, "values": [[1, 2, 3]]}]}}"#,
        ),
    ];
    for (name, text) in cases {
        let path: PathBuf = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let err = fails(
            &["replay", "--recording", path.to_str().unwrap(), "--deployment", "tests/lint_fixtures/sark-canary.yaml"],
            2,
        );
        assert!(err.contains(name), "the error names the file: {err}");
    }
    let err = fails(&["replay", "--recording", "does/not/exist.json"], 2);
    assert!(err.contains("does/not/exist.json"), "{err}");
}

#[test]
fn lint_passes_good_manifests_and_lists_every_problem_of_bad_ones() {
    let out = serin(&["lint", "tests/lint_fixtures/sark-canary.yaml", "tests/lint_fixtures/sark-green.yaml"]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let out = serin(&["lint", "tests/lint_fixtures/bad-canary.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    let problems = stdout(&out);
    for needle in ["serin.io/steps", "serin.io/interval", "serin.io/step", "serin.io/observe", "no-such-template"] {
        assert!(problems.contains(needle), "lint must report {needle}: {problems}");
    }
    assert!(Path::new("tests/lint_fixtures/bad-canary.yaml").exists());
}

#[test]
fn the_documented_example_manifests_lint_clean() {
    let out = serin(&[
        "lint",
        "deploy/examples/canary.yaml",
        "deploy/examples/blue-green.yaml",
        "deploy/examples/gateway-api.yaml",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let said = format!("{}{}", stdout(&out), stderr(&out));
    assert!(said.contains("3 file(s): no problems"), "{said}");
}

#[test]
fn run_needs_a_prometheus() {
    let err = fails(&["run"], 2);
    assert!(err.contains("--prometheus"), "{err}");
}

#[test]
fn absurd_durations_and_instants_are_errors_naming_the_bound_not_panics() {
    let rec = recording("healthy");
    let err = fails(&["replay", "--recording", &rec, "--set", "serin.io/interval=300000000000y"], 2);
    assert!(err.contains("serin.io/interval") && err.contains("at most 7days"), "{err}");
    let err = fails(&["replay", "--prometheus", "http://127.0.0.1:9", "--start", "1e300", "--end", "1e301"], 2);
    assert!(err.contains("--start") && err.contains("9999-12-31T23:59:59Z"), "{err}");

    let err = fails(
        &["run", "--prometheus", "http://127.0.0.1:9", "--leader-election", "--lease-duration", "300000000000y"],
        2,
    );
    assert!(err.contains("--lease-duration") && err.contains("at most 1h"), "{err}");
    let err = fails(
        &["record", "--prometheus", "http://127.0.0.1:9", "--deployment", "tests/lint_fixtures/sark-canary.yaml"]
            .into_iter()
            .chain(["--start", "0", "--end", "60", "--step", "300000000000y", "-o", "/dev/null"])
            .collect::<Vec<_>>(),
        2,
    );
    assert!(err.contains("--step") && err.contains("at most 1day"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let manifest = std::fs::read_to_string("tests/lint_fixtures/sark-canary.yaml")
        .unwrap()
        .replace("serin.io/interval: 1m", "serin.io/interval: \"300000000000y\"");
    let path = dir.path().join("huge-interval.yaml");
    std::fs::write(&path, manifest).unwrap();
    let out = serin(&["lint", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("serin.io/interval") && stdout(&out).contains("at most 7days"), "{}", stdout(&out));
}
