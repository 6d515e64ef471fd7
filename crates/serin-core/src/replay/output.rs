//! Printing a replay: the replay JSON object (README, "Commands"), or a table for people.

use std::fmt::Write;

use super::{Entry, Outcome, Replay};
use crate::time::format_instant;

/// The replay JSON object (README, "Commands").
pub fn json(replay: &Replay) -> String {
    serde_json::to_string_pretty(replay).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// A human summary: the outcome, every action, and the last analysis in full.
pub fn table(replay: &Replay, title: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{title}");
    let decided = replay.decided_at.map(|t| format!(" at {}", format_instant(t))).unwrap_or_default();
    let by = replay.trigger.as_deref().map(|t| format!(" by {t}")).unwrap_or_default();
    let _ = writeln!(out, "outcome: {}{decided}{by}", replay.outcome.as_str());
    let _ = writeln!(out, "reason:  {}", replay.reason);
    let analyses = replay.timeline.iter().filter(|e| e.action == "analysis").count();
    let _ = writeln!(out, "analyses: {analyses}\n");
    let _ = writeln!(out, "{:<22} {:<12} {:>6}  DETAIL", "TIME", "ACTION", "WEIGHT");
    for entry in replay.timeline.iter().filter(|e| e.action != "analysis") {
        let _ = writeln!(
            out,
            "{:<22} {:<12} {:>5}%  {}",
            format_instant(entry.at),
            entry.action,
            entry.weight,
            detail(entry)
        );
    }
    if let Some(last) = replay.judgements.last() {
        let _ = writeln!(out, "\nlast analysis ({}):", format_instant(last.at));
        for m in &last.metrics {
            let verdict = serde_json::to_value(m.verdict).ok().and_then(|v| v.as_str().map(str::to_string));
            let _ = writeln!(out, "  {:<14} {:<13} {}", m.metric, verdict.unwrap_or_default(), m.reason);
        }
        for t in last.triggers.iter().filter(|t| t.status != crate::judge::TriggerStatus::Clear) {
            let _ = writeln!(out, "  trigger {:<22} {:?}: {}", t.trigger, t.status, t.reason);
        }
    }
    if replay.outcome == Outcome::InProgress {
        let _ = writeln!(out, "\nthe recording ended before a decision");
    }
    out
}

fn detail(entry: &Entry) -> String {
    let Some(map) = entry.detail.as_object() else { return String::new() };
    map.iter()
        .map(|(k, v)| match v.as_str() {
            Some(text) => format!("{k}: {text}"),
            None => format!("{k}: {v}"),
        })
        .collect::<Vec<_>>()
        .join("; ")
}
