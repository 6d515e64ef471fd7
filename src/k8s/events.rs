//! Kubernetes Events: one per transition, with a specific PascalCase reason and the
//! evidence in the note (never one catch-all reason, unlike Flagger's "Synced"). Which
//! Events a transition gives is pure ([`notices`]); [`EventSink`] publishes them.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};

use crate::rollout::{Action, Phase, RolloutState, Slot};

/// The Events API caps notes at 1 kB.
const MAX_NOTE: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: &'static str,
    pub note: String,
}

impl Notice {
    pub fn normal(reason: &'static str, note: impl Into<String>) -> Notice {
        Notice { warning: false, reason, note: note.into() }
    }

    pub fn warning(reason: &'static str, note: impl Into<String>) -> Notice {
        Notice { warning: true, reason, note: note.into() }
    }
}

/// The Events of one transition from `before` to `after` with `actions`. In a dry run the
/// notes say what serin *would* have done.
pub fn notices(before: &RolloutState, after: &RolloutState, actions: &[Action], dry_run: bool) -> Vec<Notice> {
    let would = if dry_run { "would " } else { "" };
    let mut out: Vec<Notice> = actions
        .iter()
        .map(|action| {
            let (warning, reason, what, why) = match action {
                Action::SetWeight { weight } => {
                    (false, "WeightChanged", format!("set canary weight {}% → {weight}%", before.weight), &after.reason)
                }
                Action::Flip { to: Slot::Candidate, reason } => {
                    (false, "SelectorFlipped", "flip to the candidate".into(), reason)
                }
                Action::Flip { to: Slot::Previous, reason } => {
                    (true, "SelectorFlippedBack", "flip back".into(), reason)
                }
                Action::SmokeTest => (false, "SmokeChecks", "run smoke checks".into(), &after.reason),
                Action::Promote { reason } if after.phase == Phase::Succeeded => {
                    (false, "Succeeded", "keep the candidate".into(), reason)
                }
                Action::Promote { reason } => (false, "Promoting", "promote the candidate".into(), reason),
                Action::Rollback { trigger, reason } => {
                    (true, "RolledBack", format!("roll back (trigger {trigger})"), reason)
                }
                Action::Pause { reason } => (true, "Paused", "pause".into(), reason),
                Action::ScaleDownPrevious => {
                    (false, "PreviousSlotScaledDown", "scale the previous slot to 0".into(), &after.reason)
                }
                Action::Hold { reason } if after.holding.as_deref() == Some(crate::rollout::split::HOLD_CAUSE) => {
                    (true, "TrafficSplitMismatch", "hold".into(), reason)
                }
                Action::Hold { reason } => (false, "Held", "hold".into(), reason),
            };
            Notice { warning, reason, note: format!("{would}{what}: {why}") }
        })
        .collect();
    let acted = |name: &str| actions.iter().any(|a| a.name() == name);
    if before.phase == Phase::Promoting && after.phase == Phase::Succeeded {
        out.push(Notice::normal("Succeeded", after.reason.clone()));
    }
    if before.phase == Phase::Paused && after.phase == Phase::Progressing && !acted("pause") {
        out.push(Notice::normal("Resumed", after.reason.clone()));
    }
    out
}

/// Publishes Events on the candidate. Events are best effort: a failure is logged, never
/// fails the reconcile.
#[derive(Clone)]
pub struct EventSink {
    client: kube::Client,
    reporter: Reporter,
}

impl EventSink {
    pub fn new(client: kube::Client) -> EventSink {
        let reporter = Reporter { controller: "serin".into(), instance: std::env::var("POD_NAME").ok() };
        EventSink { client, reporter }
    }

    pub async fn publish(&self, regarding: &ObjectReference, notice: &Notice) {
        let event = Event {
            type_: if notice.warning { EventType::Warning } else { EventType::Normal },
            reason: notice.reason.into(),
            note: Some(truncate(&notice.note, MAX_NOTE)),
            action: notice.reason.into(),
            secondary: None,
        };
        // A fresh Recorder each time: a shared one folds Events with the same reason into a
        // series within 6 minutes and keeps the *first* note, so "weight 25% → 50%" would
        // be reported as the earlier "10% → 25%". Each transition is its own Event.
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        if let Err(e) = recorder.publish(&event, regarding).await {
            tracing::warn!(reason = notice.reason, error = %e, "could not publish an Event");
        }
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut end = max - 3;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn state(phase: Phase, weight: u8, reason: &str) -> RolloutState {
        let mut s = RolloutState::new("r1", UNIX_EPOCH);
        s.phase = phase;
        s.weight = weight;
        s.reason = reason.into();
        s
    }

    #[test]
    fn each_action_has_its_reason_and_evidence() {
        let before = state(Phase::Progressing, 10, "");
        let after = state(Phase::Progressing, 25, "every metric passes: error-rate 0.4% (4/1000) ≤ 1%");
        let got = notices(&before, &after, &[Action::SetWeight { weight: 25 }], false);
        assert_eq!(
            got,
            vec![Notice::normal(
                "WeightChanged",
                "set canary weight 10% → 25%: every metric passes: error-rate 0.4% (4/1000) ≤ 1%"
            )]
        );
        let rollback =
            Action::Rollback { trigger: "error-rate-critical".into(), reason: "error rate 8% > 5% for 5m".into() };
        let got = notices(&before, &state(Phase::RolledBack, 0, ""), &[rollback], true);
        assert!(got[0].warning);
        assert_eq!(got[0].note, "would roll back (trigger error-rate-critical): error rate 8% > 5% for 5m");
    }

    #[test]
    fn phase_changes_without_actions_are_reported() {
        let done =
            notices(&state(Phase::Promoting, 100, ""), &state(Phase::Succeeded, 0, "stable runs it"), &[], false);
        assert_eq!(done, vec![Notice::normal("Succeeded", "stable runs it")]);
        let resumed = notices(&state(Phase::Paused, 10, ""), &state(Phase::Progressing, 10, "cleared"), &[], false);
        assert_eq!(resumed[0].reason, "Resumed");
    }

    #[test]
    fn a_traffic_split_hold_is_a_warning_and_other_holds_are_not() {
        let before = state(Phase::Progressing, 10, "");
        let mut after = state(Phase::Progressing, 10, "traffic split: …");
        after.holding = Some(crate::rollout::split::HOLD_CAUSE.into());
        let hold = Action::Hold { reason: "traffic split: 2.0% of requests, weight 10%".into() };
        let got = notices(&before, &after, std::slice::from_ref(&hold), false);
        assert!(got[0].warning && got[0].reason == "TrafficSplitMismatch", "{got:?}");
        after.holding = Some("step-max".into());
        assert!(!notices(&before, &after, &[hold], false)[0].warning);
    }

    #[test]
    fn notes_are_cut_at_a_char_boundary() {
        let long = "é".repeat(600);
        let cut = truncate(&long, MAX_NOTE);
        assert!(cut.len() <= MAX_NOTE && cut.ends_with("..."));
    }
}
