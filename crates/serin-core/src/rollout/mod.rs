//! The rollout state machines (pure, clock injected): canary and blue-green.
//!
//! [`step`] takes the persisted [`RolloutState`], the spec, the judge's findings and what
//! the world looks like now ([`Inputs`]), and returns a [`Transition`]: the next state, the
//! [`Action`]s to take, and when to look again. The daemon executes the actions against
//! Kubernetes; replay and the simulations write them into a timeline.
//!
//! Rules shared by both strategies (see `verdicts.rs`):
//! - rollbacks are never held back: not by a window, not by a pause;
//! - progress (more weight, a flip, a promotion) needs every metric to pass, inside a window;
//! - no data, NaN or too few requests is inconclusive: it holds, never promotes, and by
//!   itself never rolls back;
//! - three analysis ticks in a row with failing queries pause the rollout.

pub mod action;
mod bluegreen;
mod canary;
pub mod command;
pub mod split;
pub mod state;
mod transition;
mod verdicts;

use std::time::SystemTime;

pub use action::{Action, Slot, Transition};
pub use state::{BlueGreenStage, Phase, RolloutState};

use crate::judge::Judgement;
use crate::spec::{RolloutSpec, Strategy};

/// Query-error ticks in a row after which the rollout pauses.
pub const MAX_CONSECUTIVE_ERRORS: u32 = 3;

/// What the world looks like at this step, beyond the judge's findings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Inputs {
    pub now: SystemTime,
    /// The candidate Deployment is Available (replay: always).
    pub candidate_ready: bool,
    /// Blue-green: the result of the smoke checks requested by [`Action::SmokeTest`].
    pub smoke_passed: Option<bool>,
    /// Canary: after [`Action::Promote`], the stable Deployment runs the candidate's pod
    /// spec and the canary is gone (replay: at once).
    pub promotion_complete: bool,
    /// Why the rollout may not progress at this step, if it may not. Rollbacks, pauses and
    /// the deadlines still act; more weight, a flip or a promotion wait (README, "Lifecycle").
    pub blocked: Option<Blocked>,
}

/// What keeps a step from progressing although the evidence may allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blocked {
    /// The tick is in the past (the daemon is catching up after downtime): what was missed
    /// may roll back, never progress, so every step is observed live for step-min.
    CatchingUp,
    /// Work decided earlier is not done yet (a write keeps failing): the next weight waits
    /// until the cluster carries the current one.
    WorkPending,
    /// The candidate's configuration is broken: the run is guarded by the configuration it
    /// started with until the annotations are fixed.
    ConfigurationBroken,
    /// Another rollout's run, started first, holds objects this run would write
    /// (`target::refusal`): the run holds until that run ends.
    ObjectsShared,
}

impl Blocked {
    pub fn why(self) -> &'static str {
        match self {
            Blocked::CatchingUp => "catching up on missed analysis ticks: a missed tick may roll back, never progress",
            Blocked::WorkPending => "the previous traffic change is not applied yet",
            Blocked::ConfigurationBroken => "the configuration is broken: guarded by the one the run started with",
            Blocked::ObjectsShared => "another rollout's run holds objects this run would write",
        }
    }
}

impl Inputs {
    /// Inputs of an offline run, where the world does whatever it is told at once.
    pub fn offline(now: SystemTime) -> Inputs {
        Inputs { now, candidate_ready: true, smoke_passed: Some(true), promotion_complete: true, blocked: None }
    }
}

/// One step of the rollout's state machine.
pub fn step(state: &RolloutState, spec: &RolloutSpec, judgement: Option<&Judgement>, inputs: &Inputs) -> Transition {
    match &spec.strategy {
        Strategy::Canary(canary) => canary::step(state, spec, canary, judgement, inputs),
        Strategy::BlueGreen(bg) => bluegreen::step(state, spec, bg, judgement, inputs),
    }
}

/// A rollback decided outside the judge and the operator's commands (the lifecycle's
/// guards, README "Lifecycle"): traffic back to the stable at once, like any rollback.
pub fn roll_back(state: &RolloutState, trigger: &str, reason: &str, now: SystemTime) -> Transition {
    let mut draft = transition::Draft::new(state, now);
    draft.roll_back(trigger, reason);
    draft.finish()
}

/// The bookkeeping every step starts with: error streak and last verdicts.
fn begin(state: &RolloutState, judgement: Option<&Judgement>, inputs: &Inputs) -> transition::Draft {
    let mut draft = transition::Draft::new(state, inputs.now);
    draft.next.consecutive_errors = verdicts::errors_in_a_row(state.consecutive_errors, judgement);
    draft.next.unready_since = match inputs.candidate_ready {
        true => None,
        false => state.unready_since.or(Some(inputs.now)),
    };
    if let Some(j) = judgement {
        draft.next.last_verdicts = j.metrics.clone();
    }
    draft
}

#[cfg(test)]
mod tests;
