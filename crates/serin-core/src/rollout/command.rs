//! An operator's command (`POST …/promote` or `…/abort`), applied to the state machine.
//!
//! A command is a decision a human takes instead of the judge, so it goes through the same
//! transition as the judge's: the same actions, the same write-ahead, the same Events. It is
//! pure, like [`super::step`]: the daemon applies it on the leader, whichever replica the
//! request reached.

use std::fmt;

use crate::spec::{RolloutSpec, Strategy};

use super::transition::Draft;
use super::{Action, BlueGreenStage, Inputs, Phase, RolloutState, Slot, Transition};

/// The trigger name recorded for a human's decision.
pub const MANUAL: &str = "manual";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    /// Skip the remaining analysis: promote now (canary), flip now and keep it (blue-green).
    Promote,
    /// Roll back now: weight 0 (canary), flip back to the previous slot (blue-green, also
    /// during `keep-previous`, which exists for exactly this).
    Abort,
}

impl Command {
    pub fn parse(text: &str) -> Option<Command> {
        match text.trim() {
            "promote" => Some(Command::Promote),
            "abort" => Some(Command::Abort),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Promote => "promote",
            Command::Abort => "abort",
        }
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why `command` cannot apply to a rollout in `state`, if it cannot. The API answers 409
/// with this before writing anything; the daemon checks again when it applies it.
pub fn refusal(command: Command, state: &RolloutState, spec: &RolloutSpec, candidate_ready: bool) -> Option<String> {
    let phase = state.phase.as_str();
    match command {
        Command::Abort => match state.phase {
            Phase::Pending | Phase::Progressing | Phase::Paused => None,
            // The canary still carries traffic until the stable has rolled out.
            Phase::Promoting if matches!(spec.strategy, Strategy::Canary(_)) => None,
            Phase::Succeeded if in_rollback_window(state, spec) => None,
            _ => Some(format!("nothing to abort: the rollout is {phase}")),
        },
        Command::Promote => match state.phase {
            Phase::Pending if !candidate_ready => Some("the candidate is not Available yet".into()),
            Phase::Pending | Phase::Progressing | Phase::Paused => None,
            _ => Some(format!("nothing to promote: the rollout is {phase}")),
        },
    }
}

/// Blue-green after success, while the previous slot still has its replicas.
fn in_rollback_window(state: &RolloutState, spec: &RolloutSpec) -> bool {
    matches!(spec.strategy, Strategy::BlueGreen(_)) && state.stage == Some(BlueGreenStage::KeepingPrevious)
}

/// The transition `command` makes, or why it cannot apply.
pub fn apply(
    command: Command,
    state: &RolloutState,
    spec: &RolloutSpec,
    inputs: &Inputs,
) -> Result<Transition, String> {
    if let Some(why) = refusal(command, state, spec, inputs.candidate_ready) {
        return Err(why);
    }
    let mut draft = Draft::new(state, inputs.now);
    match command {
        Command::Abort => {
            let reason = format!("aborted by an operator at {}% (serin API)", state.weight);
            draft.roll_back(MANUAL, &reason);
        }
        Command::Promote => promote(&mut draft, spec, state),
    }
    Ok(draft.finish())
}

fn promote(draft: &mut Draft, spec: &RolloutSpec, state: &RolloutState) {
    let reason = format!("promoted by an operator at {}%, skipping the remaining analysis (serin API)", state.weight);
    draft.next.decided_at = Some(draft.now);
    draft.next.trigger = Some(MANUAL.into());
    draft.next.holding = None;
    draft.next.reason = reason.clone();
    match spec.strategy {
        Strategy::Canary(_) => draft.next.phase = Phase::Promoting,
        Strategy::BlueGreen(_) => {
            if state.phase == Phase::Pending {
                // Not live yet: flip first, then the success below keeps the previous slot.
                draft.new_traffic_step();
                draft.actions.push(Action::Flip { to: Slot::Candidate, reason: reason.clone() });
            }
            draft.next.weight = 100;
            draft.next.phase = Phase::Succeeded;
            draft.next.stage = Some(BlueGreenStage::KeepingPrevious);
        }
    }
    draft.actions.push(Action::Promote { reason });
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::SystemTime;

    use super::*;
    use crate::time::parse_instant;

    fn spec(strategy: &str) -> RolloutSpec {
        let mut annotations = BTreeMap::from([("serin.io/strategy".to_string(), strategy.to_string())]);
        if strategy == "blue-green" {
            annotations.insert("serin.io/service".into(), "sark".into());
        }
        crate::spec::parse("sark-canary", &annotations).unwrap()
    }

    fn state(phase: Phase, weight: u8) -> RolloutState {
        let mut state = RolloutState::new("r", parse_instant("2026-11-20T02:00:00Z").unwrap());
        state.phase = phase;
        state.weight = weight;
        state
    }

    fn inputs() -> Inputs {
        Inputs::offline(SystemTime::now())
    }

    #[test]
    fn abort_rolls_a_canary_back_at_once_with_the_manual_trigger() {
        let t = apply(Command::Abort, &state(Phase::Progressing, 25), &spec("canary"), &inputs()).unwrap();
        assert_eq!(t.next.phase, Phase::RolledBack);
        assert_eq!(t.next.weight, 0);
        assert_eq!(t.next.trigger.as_deref(), Some(MANUAL));
        assert!(matches!(&t.actions[..], [Action::Rollback { trigger, .. }] if trigger == MANUAL));
        assert!(t.next.reason.contains("25%"), "{}", t.next.reason);
    }

    #[test]
    fn promote_skips_the_remaining_canary_steps() {
        let t = apply(Command::Promote, &state(Phase::Paused, 10), &spec("canary"), &inputs()).unwrap();
        assert_eq!(t.next.phase, Phase::Promoting);
        assert!(matches!(&t.actions[..], [Action::Promote { .. }]));
        assert!(t.next.decided_at.is_some());
    }

    #[test]
    fn promoting_a_blue_green_before_the_flip_flips_and_keeps_the_previous_slot() {
        let t = apply(Command::Promote, &state(Phase::Pending, 0), &spec("blue-green"), &inputs()).unwrap();
        assert_eq!(t.next.phase, Phase::Succeeded);
        assert_eq!(t.next.stage, Some(BlueGreenStage::KeepingPrevious));
        assert!(matches!(&t.actions[..], [Action::Flip { to: Slot::Candidate, .. }, Action::Promote { .. }]));
    }

    #[test]
    fn a_blue_green_can_be_aborted_during_keep_previous_but_not_after() {
        let bg = spec("blue-green");
        let mut kept = state(Phase::Succeeded, 100);
        kept.stage = Some(BlueGreenStage::KeepingPrevious);
        let t = apply(Command::Abort, &kept, &bg, &inputs()).unwrap();
        assert!(matches!(&t.actions[..], [Action::Rollback { .. }]));
        kept.stage = None;
        let refused = apply(Command::Abort, &kept, &bg, &inputs()).unwrap_err();
        assert!(refused.contains("Succeeded"), "{refused}");
    }

    #[test]
    fn commands_that_cannot_apply_are_refused_with_the_reason() {
        let canary = spec("canary");
        for phase in [Phase::Succeeded, Phase::RolledBack, Phase::Invalid, Phase::Promoting] {
            assert!(refusal(Command::Promote, &state(phase, 0), &canary, true).is_some(), "{phase:?}");
            let abort = refusal(Command::Abort, &state(phase, 0), &canary, true);
            // A promoting canary still carries traffic until the stable has rolled out.
            assert_eq!(abort.is_none(), phase == Phase::Promoting, "{phase:?}");
        }
        let not_ready = refusal(Command::Promote, &state(Phase::Pending, 0), &canary, false).unwrap();
        assert!(not_ready.contains("not Available"), "{not_ready}");
        assert_eq!(Command::parse("promote"), Some(Command::Promote));
        assert_eq!(Command::parse("restart"), None);
    }
}
