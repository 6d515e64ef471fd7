//! Which notifications one saved record gives (pure): the difference between the record
//! serin read and the record it wrote, at `time`.
//!
//! The daemon writes a decision's record *before* doing its work (README, "Lifecycle":
//! write-ahead), so a decision shows as new work in `pending`; the write that ends the work
//! clears it again and adds nothing here. A daemon restarted between the two writes finds
//! the work already recorded, so a decision is never announced twice (but one decided just
//! before a crash may not be announced at all: notifications are at most once).

use std::time::SystemTime;

use serde::Serialize;

use crate::k8s::record::{Record, Work};
use crate::rollout::command::MANUAL;
use crate::rollout::{Action, Phase, Slot};

/// What happened, as the `action` of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// A run of a new revision (or a retry) began.
    Started,
    WeightChanged,
    /// Blue-green: the Service now selects the candidate.
    Flipped,
    /// The candidate is promoted (canary: the stable takes its pod spec; blue-green: kept).
    Promoted,
    /// Canary: the stable runs the candidate and the canary is removed.
    Succeeded,
    RolledBack,
    Paused,
    Resumed,
    /// Progress held for a reason worth telling (step-max reached, outside a window).
    Held,
    Invalid,
    /// An operator's `promote` or `abort` was applied (its outcome follows).
    CommandApplied,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Started => "started",
            Kind::WeightChanged => "weight_changed",
            Kind::Flipped => "flipped",
            Kind::Promoted => "promoted",
            Kind::Succeeded => "succeeded",
            Kind::RolledBack => "rolled_back",
            Kind::Paused => "paused",
            Kind::Resumed => "resumed",
            Kind::Held => "held",
            Kind::Invalid => "invalid",
            Kind::CommandApplied => "command_applied",
        }
    }
}

/// One metric's last verdict, as evidence.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MetricLine {
    pub metric: String,
    pub verdict: &'static str,
    pub reason: String,
}

/// One notification: the JSON object a webhook receives (README, "Notifications").
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    pub namespace: String,
    pub name: String,
    pub revision: String,
    pub phase: &'static str,
    pub action: Kind,
    /// Canary weight after the transition, in percent.
    pub weight: u8,
    /// The trigger behind a rollback or pause (`manual` for an operator's command).
    pub trigger: Option<String>,
    /// Why, with the evidence, in serin's words.
    pub reason: String,
    /// Each metric's last verdict.
    pub metrics: Vec<MetricLine>,
    /// The run only records what it would do.
    pub dry_run: bool,
    #[serde(with = "crate::time::rfc3339")]
    pub time: SystemTime,
}

/// The notifications of writing `after` over `before` (`None`: the candidate had no
/// record) for `namespace/name`, at `time`.
pub fn transitions(
    (namespace, name): (&str, &str),
    before: Option<&Record>,
    after: &Record,
    time: SystemTime,
) -> Vec<Notification> {
    let note = |action: Kind, reason: &str, trigger: Option<&String>| Notification {
        namespace: namespace.to_string(),
        name: name.to_string(),
        revision: after.state.revision.clone(),
        phase: after.phase().as_str(),
        action,
        weight: after.state.weight,
        trigger: trigger.cloned(),
        reason: reason.to_string(),
        metrics: after
            .state
            .last_verdicts
            .iter()
            .map(|m| MetricLine { metric: m.metric.clone(), verdict: m.verdict.as_str(), reason: m.reason.clone() })
            .collect(),
        dry_run: after.dry_run,
        time,
    };
    let mut out = Vec::new();
    let invalid_news = !after.invalid.is_empty() && before.is_none_or(|b| b.invalid != after.invalid);
    if invalid_news {
        out.push(note(Kind::Invalid, &after.invalid.join("; "), None));
    }
    let new_run =
        before.is_none_or(|b| b.state.revision != after.state.revision || b.state.started != after.state.started);
    if new_run && after.state.phase != Phase::Invalid {
        out.push(note(Kind::Started, &after.state.reason, None));
    }
    let before_pending = before.map(|b| b.pending.as_slice()).unwrap_or_default();
    let actions: Vec<&Action> =
        after.pending.iter().filter(|w| !before_pending.contains(w)).filter_map(Work::action).collect();
    let by_command = after.state.trigger.as_deref() == Some(MANUAL)
        && after.state.decided_at.is_some()
        && before.is_none_or(|b| b.state.decided_at != after.state.decided_at);
    if by_command {
        out.push(note(Kind::CommandApplied, &after.state.reason, after.state.trigger.as_ref()));
    }
    for action in &actions {
        let (kind, reason, trigger) = match action {
            Action::SetWeight { .. } => (Kind::WeightChanged, &after.state.reason, None),
            Action::Flip { to: Slot::Candidate, reason } => (Kind::Flipped, reason, None),
            // A flip back is the work of a rollback, announced as the rollback.
            Action::Flip { to: Slot::Previous, .. } => continue,
            Action::Promote { reason } => (Kind::Promoted, reason, after.state.trigger.as_ref()),
            Action::Rollback { trigger, reason } => (Kind::RolledBack, reason, Some(trigger)),
            Action::Pause { reason } => (Kind::Paused, reason, after.state.trigger.as_ref()),
            Action::Hold { reason } => (Kind::Held, reason, None),
            Action::SmokeTest | Action::ScaleDownPrevious => continue,
        };
        out.push(note(kind, reason, trigger));
    }
    let acted = |name: &str| actions.iter().any(|a| a.name() == name);
    let phase_before = before.map(Record::phase);
    if after.phase() == Phase::Succeeded && phase_before.is_some_and(|p| p != Phase::Succeeded) && !acted("promote") {
        out.push(note(Kind::Succeeded, &after.state.reason, None));
    }
    if phase_before == Some(Phase::Paused) && after.phase() == Phase::Progressing && !acted("pause") {
        out.push(note(Kind::Resumed, &after.state.reason, None));
    }
    out
}

#[cfg(test)]
#[path = "transitions_tests.rs"]
mod tests;
