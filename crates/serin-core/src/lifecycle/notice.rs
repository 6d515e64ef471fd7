//! What a human should be told about a decision: one Kubernetes Event per transition, with a
//! specific PascalCase reason and the evidence in the note (never one catch-all reason).
//! Deciding the notices is pure; the `serin` crate publishes them (`k8s::events`).

use crate::rollout::{Action, Phase, RolloutState, Slot};

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
}
