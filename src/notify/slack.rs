//! A notification as a Slack incoming-webhook message (pure): the outcome first, then the
//! evidence, then the commands that act on it. Text only (mrkdwn), so it reads the same in
//! the channel, in a push notification and in the fallback of clients without blocks.

use serde_json::{Value, json};

use super::transitions::{Kind, Notification};
use crate::time::format_instant;

/// The webhook body for `note`.
pub fn message(note: &Notification) -> Value {
    json!({"text": text(note)})
}

/// The message text: headline, reason, metrics, then what to do.
pub fn text(note: &Notification) -> String {
    let rollout = format!("{}/{}", note.namespace, note.name);
    let mut lines = vec![headline(note, &rollout)];
    if !note.reason.is_empty() {
        lines.push(format!("> {}", escape(&note.reason)));
    }
    let decides = matches!(note.action, Kind::RolledBack | Kind::Paused | Kind::Promoted | Kind::Succeeded);
    if decides {
        for m in &note.metrics {
            lines.push(format!("• *{}* {}: {}", escape(&m.metric), m.verdict, escape(&m.reason)));
        }
    }
    let act: Vec<String> = commands(note.action).iter().map(|c| format!("`kubectl serin {c} {rollout}`")).collect();
    if !act.is_empty() {
        lines.push(format!("Act: {}", act.join(" · ")));
    }
    let dry = if note.dry_run { " · dry run: nothing was changed" } else { "" };
    lines.push(format!("revision `{}` · {} · {}{dry}", escape(&note.revision), note.phase, format_instant(note.time)));
    lines.join("\n")
}

fn headline(note: &Notification, rollout: &str) -> String {
    let weight = note.weight;
    let would = if note.dry_run { "would be " } else { "" };
    let by = note.trigger.as_deref().map(|t| format!(" by `{}`", escape(t))).unwrap_or_default();
    let r = format!("*{}*", escape(rollout));
    match note.action {
        Kind::RolledBack => format!(":rotating_light: {r} {would}*rolled back*{by}"),
        Kind::Paused => format!(":double_vertical_bar: {r} {would}*paused* at {weight}%{by}"),
        Kind::Promoted => format!(":white_check_mark: {r} {would}*promoted*{by}"),
        Kind::Succeeded => format!(":white_check_mark: {r} *succeeded*: the stable runs the new revision"),
        Kind::Invalid => format!(":warning: {r} *invalid configuration*: no traffic changed"),
        Kind::Started => format!(":rocket: {r} rollout *started*"),
        Kind::WeightChanged => format!(":arrow_up: {r} canary weight {would}*{weight}%*"),
        Kind::Flipped => format!(":twisted_rightwards_arrows: {r} {would}*flipped* to the candidate"),
        Kind::Resumed => format!(":arrow_forward: {r} *resumed* at {weight}%"),
        Kind::Held => format!(":hourglass: {r} *held* at {weight}%"),
        Kind::CommandApplied => format!(":raised_hand: {r} operator command applied{by}"),
    }
}

/// The `kubectl serin` commands that make sense after `kind`.
fn commands(kind: Kind) -> &'static [&'static str] {
    match kind {
        Kind::RolledBack => &["status", "retry"],
        Kind::Paused => &["resume", "abort", "status"],
        Kind::Invalid | Kind::Succeeded | Kind::CommandApplied => &["status"],
        // Blue-green keeps the previous slot after a promotion: abort still flips back.
        Kind::Promoted => &["status", "abort"],
        Kind::Started | Kind::WeightChanged | Kind::Flipped | Kind::Resumed | Kind::Held => {
            &["status", "pause", "abort", "promote"]
        }
    }
}

/// Slack's three control characters in message text.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Slack's incoming webhooks live on hooks.slack.com.
pub fn is_slack(url: &reqwest::Url) -> bool {
    url.host_str().is_some_and(|h| h.eq_ignore_ascii_case("hooks.slack.com"))
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::notify::transitions::MetricLine;

    fn rollback() -> Notification {
        Notification {
            namespace: "production".into(),
            name: "sark-canary".into(),
            revision: "68e3ad9bfdef78dc".into(),
            phase: "RolledBack",
            action: Kind::RolledBack,
            weight: 0,
            trigger: Some("error-rate-critical".into()),
            reason: "error-rate-critical: canary 5.9% (17/287) > 5% and significantly worse than baseline 0.41%".into(),
            metrics: vec![MetricLine {
                metric: "error-rate".into(),
                verdict: "fail",
                reason: "canary 5.9% vs baseline 0.41%; e=1.2e9 ≥ 200 → fail".into(),
            }],
            dry_run: false,
            time: UNIX_EPOCH + Duration::from_secs(1_795_000_000),
        }
    }

    #[test]
    fn a_rollback_reads_outcome_then_evidence_then_commands() {
        let text = text(&rollback());
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], ":rotating_light: *production/sark-canary* *rolled back* by `error-rate-critical`");
        assert!(lines[1].starts_with("> error-rate-critical: canary 5.9% (17/287) &gt; 5%"), "{text}");
        assert_eq!(lines[2], "• *error-rate* fail: canary 5.9% vs baseline 0.41%; e=1.2e9 ≥ 200 → fail");
        assert_eq!(
            lines[3],
            "Act: `kubectl serin status production/sark-canary` · `kubectl serin retry production/sark-canary`"
        );
        assert!(lines[4].starts_with("revision `68e3ad9bfdef78dc` · RolledBack · 2026-"), "{text}");
        assert_eq!(message(&rollback())["text"], text);
    }

    #[test]
    fn progress_offers_abort_and_a_dry_run_says_so() {
        let note = Notification {
            action: Kind::WeightChanged,
            weight: 25,
            trigger: None,
            dry_run: true,
            phase: "Progressing",
            ..rollback()
        };
        let text = text(&note);
        assert!(text.starts_with(":arrow_up: *production/sark-canary* canary weight would be *25%*"), "{text}");
        assert!(text.contains("`kubectl serin abort production/sark-canary`"), "{text}");
        assert!(!text.contains("• *error-rate*"), "metrics only on decisions: {text}");
        assert!(text.ends_with("dry run: nothing was changed"), "{text}");
    }

    #[test]
    fn only_slack_hosts_get_slack_messages() {
        let slack = reqwest::Url::parse("https://hooks.slack.com/services/T0/B0/secret").unwrap();
        let other = reqwest::Url::parse("https://hooks.slack.com.example.org/services/x").unwrap();
        assert!(is_slack(&slack));
        assert!(!is_slack(&other));
    }
}
