//! The report's sentences (pure): the outcome, each decision with its evidence, and how
//! close each test came to its threshold. No JSON reaches the page.

use std::time::SystemTime;

use crate::judge::format;
use crate::judge::{Judgement, Verdict};
use crate::time::format_instant;

use super::super::{Entry, Outcome, Replay};
use super::data::{TestTrace, minute};

/// `2 minutes`, `1 h 30 min`.
pub fn span(minutes: f64) -> String {
    let m = minutes.round().max(0.0) as u64;
    match m {
        1 => "1 minute".into(),
        m if m < 120 => format!("{m} minutes"),
        m if m % 60 == 0 => format!("{} h", m / 60),
        m => format!("{} h {} min", m / 60, m % 60),
    }
}

/// The first line: what happened, when, and what decided it.
pub fn headline(replay: &Replay, start: SystemTime) -> String {
    let by = replay.trigger.as_deref().map(|t| format!(" by the trigger {t}")).unwrap_or_default();
    let weight_before = |at: SystemTime| {
        replay
            .timeline
            .iter()
            .filter(|e| e.at < at && e.action != "analysis")
            .map(|e| e.weight)
            .next_back()
            .unwrap_or(0)
    };
    let when = |at: SystemTime| format!("at {} ({} in)", format_instant(at), span(minute(start, at)));
    match (replay.outcome, replay.decided_at) {
        (Outcome::RolledBack, Some(at)) => {
            format!("Rolled back {} from {}% canary weight{by}.", when(at), weight_before(at))
        }
        (Outcome::Promoted, Some(at)) => format!("Promoted {}.", when(at)),
        (Outcome::Paused, _) => format!("Paused{by}: a human decides (resume or abort)."),
        _ => {
            let end = replay.timeline.last().map(|e| minute(start, e.at)).unwrap_or(0.0);
            format!("Still undecided when the recording ended, {} in.", span(end))
        }
    }
}

/// One decision in words. `before` is the canary weight before it.
pub fn decision(entry: &Entry, before: u8) -> String {
    let text = |key: &str| entry.detail.get(key).and_then(|v| v.as_str()).unwrap_or_default().to_string();
    let reason = text("reason");
    let because = if reason.is_empty() { String::new() } else { format!(": {reason}") };
    match entry.action.as_str() {
        "set_weight" if entry.weight > before => format!("Canary weight raised {before}% → {}%.", entry.weight),
        "set_weight" => format!("Canary weight set {before}% → {}%.", entry.weight),
        "rollback" => format!("Rolled back by {} (weight {before}% → 0%){because}", text("trigger")),
        "promote" => format!("Promoted at {before}%{because}"),
        "pause" => format!("Paused at {before}%{because}"),
        "hold" => format!("Held at {before}%{because}"),
        "flip" if text("to") == "previous" => format!("Service flipped back to the previous slot{because}"),
        "flip" => format!("Service flipped to the candidate{because}"),
        "smoke_test" => "Smoke checks requested on the idle slot.".into(),
        "scale_down_previous" => "The previous slot's rollback window ended: scaled to 0.".into(),
        other => format!("{other}{because}"),
    }
}

/// Why a step could be taken: the judgement's verdict per metric, in a sentence.
pub fn verdicts(judgement: &Judgement) -> String {
    let each: Vec<String> = judgement
        .metrics
        .iter()
        .map(|m| {
            let how = match m.verdict {
                Verdict::Inconclusive if m.advance => "inconclusive, enough to advance a step",
                v => v.as_str(),
            };
            format!("{} {how}", m.metric)
        })
        .collect();
    each.join("; ")
}

/// `e = 8.1: 56% of the way to 40 (log scale)`, or `concluded: e = 1.1e9 ≥ 100`.
pub fn closeness(test: &TestTrace) -> String {
    let Some(last) = test.last() else { return "no reading".into() };
    let e = format::e_value(last.ln());
    let threshold = format::e_value(test.threshold.ln());
    if last >= test.threshold {
        return format!("concluded: e = {e} ≥ {threshold}");
    }
    let peak = test.peak().map(|p| p.1).unwrap_or(last);
    let peak_text = if peak > last * 1.01 && fraction(peak, test.threshold) > 0.0 {
        format!(" (highest {}: {:.0}%)", format::e_value(peak.ln()), 100.0 * fraction(peak, test.threshold))
    } else {
        String::new()
    };
    format!(
        "e = {e}: {:.0}% of the way to {threshold} on a log scale{peak_text}",
        100.0 * fraction(last, test.threshold)
    )
}

/// How far `e` is from 1 toward `threshold` on a log scale, in [0, 1].
pub fn fraction(e: f64, threshold: f64) -> f64 {
    if threshold <= 1.0 || e <= 1.0 {
        return 0.0;
    }
    (e.ln() / threshold.ln()).clamp(0.0, 1.0)
}

/// A series' value for people: `5.9%`, `235ms`, `0.93`.
pub fn value(unit: &str, v: f64) -> String {
    match unit {
        "ratio" => format::pct(v),
        "seconds" => format::seconds(v),
        _ => format::number(v),
    }
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trace(points: &[f64], threshold: f64) -> TestTrace {
        let points = points.iter().enumerate().map(|(i, e)| (i as f64, *e)).collect();
        TestTrace { name: "error-rate: worse than baseline".into(), threshold, points, rollback: true }
    }

    #[test]
    fn closeness_is_on_a_log_scale_and_remembers_the_peak() {
        assert_eq!(closeness(&trace(&[1.0, 1.1e9], 100.0)), "concluded: e = 1.1e9 ≥ 100");
        assert_eq!(closeness(&trace(&[10.0], 100.0)), "e = 10: 50% of the way to 100 on a log scale");
        assert_eq!(
            closeness(&trace(&[10.0, 2.0], 100.0)),
            "e = 2: 15% of the way to 100 on a log scale (highest 10: 50%)"
        );
        assert_eq!(fraction(0.3, 40.0), 0.0, "evidence against is no progress");
    }

    #[test]
    fn decisions_are_sentences() {
        let entry = |action: &str, weight: u8, detail: serde_json::Value| Entry {
            at: SystemTime::UNIX_EPOCH,
            action: action.into(),
            weight,
            detail,
        };
        assert_eq!(
            decision(&entry("set_weight", 25, serde_json::json!({"weight": 25})), 10),
            "Canary weight raised 10% → 25%."
        );
        let rollback = entry(
            "rollback",
            0,
            serde_json::json!({"trigger": "error-rate-critical", "reason": "canary 5.9% (17/287) > 5%"}),
        );
        assert_eq!(
            decision(&rollback, 10),
            "Rolled back by error-rate-critical (weight 10% → 0%): canary 5.9% (17/287) > 5%"
        );
        assert_eq!(span(2.0), "2 minutes");
        assert_eq!(span(1440.0), "24 h");
    }
}
