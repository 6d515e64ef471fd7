//! Intended actions: what the state machine wants done, as data.

use serde::{Deserialize, Serialize};

use super::RolloutState;

/// Which blue-green slot the Service should select.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Slot {
    Candidate,
    Previous,
}

/// One thing to do to the world. Executing an action twice must be harmless: the daemon
/// may crash between doing it and persisting the next state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Canary: set the canary Ingress weight (creating it at the first step).
    SetWeight { weight: u8 },
    /// Blue-green: point the Service selector at a slot.
    Flip { to: Slot, reason: String },
    /// Blue-green: run the smoke checks on the candidate; the result comes back as input.
    SmokeTest,
    /// Canary: the stable Deployment takes the candidate's pod spec; traffic returns to
    /// stable once it is rolled out, and the canary is removed.
    Promote { reason: String },
    /// Canary: weight 0 at once, then remove the canary. Blue-green: flip back.
    Rollback { trigger: String, reason: String },
    /// Hold where we are until a human (or the condition) resumes.
    Pause { reason: String },
    /// Blue-green: the previous slot's rollback window is over; scale it to 0.
    ScaleDownPrevious,
    /// Progress is held for a reason worth reporting (step-max reached, outside a window).
    Hold { reason: String },
}

impl Action {
    /// The timeline name of the action (`replay --output json`).
    pub fn name(&self) -> &'static str {
        match self {
            Action::SetWeight { .. } => "set_weight",
            Action::Flip { .. } => "flip",
            Action::SmokeTest => "smoke_test",
            Action::Promote { .. } => "promote",
            Action::Rollback { .. } => "rollback",
            Action::Pause { .. } => "pause",
            Action::ScaleDownPrevious => "scale_down_previous",
            Action::Hold { .. } => "hold",
        }
    }
}

/// The result of one state-machine step.
#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub next: RolloutState,
    pub actions: Vec<Action>,
}
