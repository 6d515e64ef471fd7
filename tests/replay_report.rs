//! `serin replay --report` (README, "Reading a replay report"): for every shipped recording,
//! the page says its decisions in words, plots the canary's points beside the baseline,
//! shows each test's evidence against its threshold, marks where triggers fired, and
//! renders in headless Chromium (screenshots kept in `target/test-artifacts/`). Needs chromium.

#[path = "support/chromium.rs"]
mod chromium;

use std::path::Path;
use std::process::Command;

use chromium::{artifacts, chromium_sized};

const RECORDINGS: &[&str] = &[
    "error-regression",
    "latency-regression",
    "healthy",
    "bursty-healthy",
    "low-traffic",
    "prometheus-gap",
    "shared-incident",
];
const CANARY_POINT: &str = "fill=\"#D62728\" stroke=\"none\"";

/// `serin replay [--recording simulations/recordings/NAME.json] --report DIR/NAME.html`.
fn report(name: Option<&str>, dir: &Path) -> String {
    let path = dir.join(format!("{}.html", name.unwrap_or("default")));
    let recording = name.map(|n| format!("simulations/recordings/{n}.json"));
    let mut args = vec!["replay", "--report", path.to_str().unwrap()];
    if let Some(recording) = &recording {
        args.extend(["--recording", recording.as_str()]);
    }
    let out =
        Command::new(env!("CARGO_BIN_EXE_serin")).args(&args).current_dir(env!("CARGO_MANIFEST_DIR")).output().unwrap();
    assert!(out.status.success(), "serin {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    std::fs::read_to_string(&path).unwrap()
}

/// The text between `start` and the next `end` after it.
fn between<'a>(html: &'a str, start: &str, end: &str) -> &'a str {
    let from = html.find(start).unwrap_or_else(|| panic!("no {start}"));
    let rest = &html[from..];
    &rest[..rest.find(end).unwrap_or(rest.len())]
}

/// Every `<figure class="plot values" …>…</figure>`.
fn value_plots(html: &str) -> Vec<&str> {
    html.split("<figure class=\"plot values\"").skip(1).map(|f| &f[..f.find("</figure>").unwrap_or(f.len())]).collect()
}

#[test]
fn every_shipped_recording_gets_a_report_people_read() {
    let dir = tempfile::tempdir().unwrap();
    for name in RECORDINGS {
        let html = report(Some(name), dir.path());
        let decisions = between(&html, "<ol class=\"decisions\">", "</ol>");
        assert!(
            !decisions.contains("{\"") && !decisions.contains("\":"),
            "{name}: JSON in the decisions:\n{decisions}"
        );
        for item in decisions.split("<li class=").skip(1) {
            let sentence = item.split("</span> ").nth(1).unwrap_or_default();
            let starts = ["Canary weight", "Rolled back", "Promoted", "Paused", "Held", "Service flipped"];
            assert!(starts.iter().any(|s| sentence.starts_with(s)), "{name}: not a sentence: {item}");
        }
        let plots = value_plots(&html);
        assert!(plots.len() >= 3, "{name}: error rate, p95 and p99 plotted: {}", plots.len());
        for plot in &plots {
            assert!(plot.matches(CANARY_POINT).count() >= 1, "{name}: a canary series without points:\n{plot}");
            assert!(plot.contains("stroke=\"#1F77B4\""), "{name}: the baseline is drawn");
        }
        let weight = between(&html, "<figure class=\"plot weight\">", "</figure>");
        assert!(
            weight.contains("stroke=\"#2CA02C\"") && weight.matches(CANARY_POINT).count() >= 1,
            "{name}: weight and share"
        );
        let tests = between(&html, "<table class=\"tests\">", "</table>");
        assert!(tests.contains("of the way to") || tests.contains("concluded"), "{name}: how close each test came");
        assert!(html.contains("<figure class=\"plot evidence\">"), "{name}: the evidence plot");
        assert!(!html.contains("<script") && !html.contains("<link"), "{name}: self-contained");
    }
}

#[test]
fn the_default_replay_tells_a_rollback_at_minute_one_with_its_trigger_marked() {
    let dir = tempfile::tempdir().unwrap();
    let html = report(None, dir.path());
    let outcome = between(&html, "<p class=\"outcome rolled_back\">", "</p>");
    assert!(outcome.contains("(1 minute in) from 10% canary weight by the trigger error-rate-critical"), "{outcome}");
    let decisions = between(&html, "<ol class=\"decisions\">", "</ol>");
    assert!(decisions.contains("Canary weight raised 0% → 10%."), "{decisions}");
    assert!(decisions.contains("Rolled back by error-rate-critical (weight 10% → 0%): "), "{decisions}");
    let triggers = between(&html, "<table class=\"triggers\">", "</table>");
    assert!(triggers.contains("<tr class=\"fired\"><td>error-rate-critical</td>"), "{triggers}");
    let error_rate = value_plots(&html)[0];
    assert!(error_rate.contains("⚑ error-rate-critical fired"), "the trigger is marked where it fired");
    let tests = between(&html, "<table class=\"tests\">", "</table>");
    assert!(tests.contains("concluded: e = 1.6e16 ≥ 100"), "the rollback test crossed its threshold: {tests}");
}

/// The file at `path` once it is non-empty (Chromium may finish writing it as it exits).
fn written(path: &Path) -> Vec<u8> {
    for _ in 0..50 {
        match std::fs::read(path) {
            Ok(bytes) if !bytes.is_empty() => return bytes,
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    std::fs::read(path).unwrap_or_default()
}

#[test]
fn reports_render_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    // A fresh profile per launch: one still closing would take the next launch over.
    let profile = || tempfile::tempdir().unwrap();
    for name in RECORDINGS {
        report(Some(name), dir.path());
        let url = format!("file://{}", dir.path().join(format!("{name}.html")).display());
        let dom = chromium_sized(&url, "--dump-dom", profile().path(), (1000, 2000));
        let rendered = String::from_utf8_lossy(&dom.stdout);
        assert!(dom.status.success(), "{name}: {}", String::from_utf8_lossy(&dom.stderr));
        assert!(rendered.matches("<svg").count() >= 5, "{name}: the plots are in the rendered page");
        let shot = artifacts().join(format!("report-{name}.png"));
        let _ = std::fs::remove_file(&shot);
        let out = chromium_sized(&url, &format!("--screenshot={}", shot.display()), profile().path(), (1000, 2000));
        assert!(out.status.success(), "{name}: {}", String::from_utf8_lossy(&out.stderr));
        let png = written(&shot);
        assert!(
            png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 50_000,
            "{name}: a rendered page ({} bytes)",
            png.len()
        );
    }
}

/// A canary held at 10% for a day (1,440 analyses) that regresses to 3% errors at hour 20.
const DAY: &str = r#"
name: late-regression-after-a-day
description: healthy for 20 hours at 10%, then 3% errors
duration: 24h
step: 60s
seed: 7
annotations: {step-min: "24h", step-max: "24h"}
traffic:
  - {at: 0s, rate: 40}
stable:
  - {at: 0s, error_rate: 0.5%, latency: {median: 90ms, sigma: 0.4}}
canary:
  - {at: 0s, error_rate: 0.5%, latency: {median: 90ms, sigma: 0.4}}
  - {at: 20h, error_rate: 3%, latency: {median: 90ms, sigma: 0.4}}
expect:
  outcome: rolled_back
"#;

#[test]
fn a_day_long_run_stays_readable() {
    // Closed loop: the weight serin sets decides the canary's share of the simulated traffic.
    let scenario = serin_sim::sim::Scenario::parse(DAY).unwrap();
    let config = serin::judge::JudgeConfig::default();
    let run = serin_sim::simulate::run(&scenario, None, &serin::template::Catalog::builtin(), &config).unwrap();
    let replay = run.replay;
    serin_sim::simulate::check_expectation(&scenario, &replay).unwrap();
    assert!(replay.judgements.len() > 1_000, "20 hours of analyses: {}", replay.judgements.len());
    let html = serin::replay::report::html(&replay, "a late regression after a day");
    let path = artifacts().join("report-day.html");
    std::fs::write(&path, &html).unwrap();
    assert!(html.len() < 6_000_000, "a page a browser opens at once: {} bytes", html.len());
    let outcome = between(&html, "<p class=\"outcome rolled_back\">", "</p>");
    assert!(
        outcome.contains(" (20 h ") && outcome.contains("from 10% canary weight by the trigger error-rate-"),
        "{outcome}"
    );
    assert!(html.contains("hours since the start"), "a day is drawn in hours");
    for plot in value_plots(&html) {
        let points = plot.matches(CANARY_POINT).count();
        assert!((100..=130).contains(&points), "1,440 analyses binned into about 120 points: {points}");
    }
    let profile = tempfile::tempdir().unwrap();
    let shot = artifacts().join("report-day.png");
    let out = chromium_sized(
        &format!("file://{}", path.display()),
        &format!("--screenshot={}", shot.display()),
        profile.path(),
        (1000, 2000),
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}
