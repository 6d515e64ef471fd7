//! The blue-green state machine: wait for the idle slot → smoke checks → flip the Service
//! selector → observe → success (keep the previous slot for `keep-previous`, then scale it
//! down) or flip back at once.
//!
//! Phases: Pending (waiting / smoke) → Progressing (live on the candidate, observing) →
//! Succeeded (previous slot kept, then scaled down) | RolledBack. For blue-green,
//! [`Action::Rollback`] means "flip the selector back to the previous slot".

use crate::judge::Judgement;
use crate::spec::{BlueGreenSpec, RolloutSpec};
use crate::time::format_duration;

use super::transition::Draft;
use super::verdicts;
use super::{Action, BlueGreenStage, Inputs, Phase, RolloutState, Slot, Transition};

pub(super) fn step(
    state: &RolloutState,
    spec: &RolloutSpec,
    bg: &BlueGreenSpec,
    judgement: Option<&Judgement>,
    inputs: &Inputs,
) -> Transition {
    let mut draft = super::begin(state, judgement, inputs);
    match state.phase {
        Phase::RolledBack | Phase::Invalid | Phase::Promoting => {}
        Phase::Succeeded => keep_previous(&mut draft, bg),
        Phase::Pending => before_flip(&mut draft, spec, bg, inputs, judgement.is_some()),
        Phase::Progressing | Phase::Paused => match judgement {
            Some(j) => observe(&mut draft, spec, bg, j, inputs),
            None => draft.wait("waiting for the first analysis after the flip"),
        },
    }
    draft.finish()
}

/// `analysed`: this step carries a judgement, i.e. the previous slot's traffic up to now is
/// in the judge. The flip waits for one: after it, that evidence is the frozen baseline
/// the candidate is compared with, and without it a bad candidate could only be caught by
/// the absolute triggers, after their full duration.
fn before_flip(draft: &mut Draft, spec: &RolloutSpec, bg: &BlueGreenSpec, inputs: &Inputs, analysed: bool) {
    let deadline_passed = draft.in_run() >= spec.progress_deadline;
    let stage = draft.next.stage.unwrap_or(BlueGreenStage::WaitingReady);
    if stage == BlueGreenStage::WaitingReady {
        if !inputs.candidate_ready {
            if deadline_passed {
                let reason = format!(
                    "idle slot not Available within progress-deadline {}; selector left on the previous slot",
                    format_duration(spec.progress_deadline)
                );
                return draft.roll_back("outage", &reason);
            }
            draft.next.stage = Some(BlueGreenStage::WaitingReady);
            return draft.wait("waiting for the idle slot to be Available");
        }
        if !bg.smoke.is_empty() {
            draft.next.stage = Some(BlueGreenStage::Smoke);
            draft.next.reason = format!("idle slot Available: smoke-checking {}", bg.smoke.join(", "));
            draft.actions.push(Action::SmokeTest);
            return;
        }
    } else {
        match inputs.smoke_passed {
            Some(false) => return draft.roll_back("smoke", "smoke checks failed on the idle slot; no flip"),
            None if deadline_passed => {
                return draft.roll_back("smoke", "smoke checks gave no result within progress-deadline");
            }
            None => return draft.wait("waiting for the smoke checks"),
            Some(true) => {}
        }
    }
    if spec.paused {
        return draft.pause(None, "paused by serin.io/paused before the flip");
    }
    if !spec.windows.allows(draft.now) {
        return draft.hold("window", "outside every deployment window: not flipping");
    }
    if !analysed {
        return draft.wait("ready to flip: waiting for the next analysis of the previous slot (the baseline)");
    }
    if let Some(blocked) = inputs.blocked {
        return draft.wait(&format!("ready to flip; the flip waits: {}", blocked.why()));
    }
    draft.next.phase = Phase::Progressing;
    draft.next.stage = Some(BlueGreenStage::Observing);
    draft.next.weight = 100;
    draft.new_traffic_step();
    let reason = format!("idle slot ready{}: flipping {} to it", smoke_note(bg), bg.service);
    draft.next.reason = reason.clone();
    draft.actions.push(Action::Flip { to: Slot::Candidate, reason });
}

fn smoke_note(bg: &BlueGreenSpec) -> &'static str {
    if bg.smoke.is_empty() { "" } else { " and smoke checks passed" }
}

fn observe(draft: &mut Draft, spec: &RolloutSpec, bg: &BlueGreenSpec, judgement: &Judgement, inputs: &Inputs) {
    let Some(evidence) = verdicts::gate(draft, spec, judgement, " (live on the candidate)") else { return };
    let (evidence_ok, waiting_reason) = (evidence.is_ok(), evidence.err().unwrap_or_default());
    if let Some(blocked) = inputs.blocked {
        return draft.wait(&format!("live on the candidate; success waits: {}", blocked.why()));
    }
    if draft.in_step() < bg.observe {
        return draft.wait(if evidence_ok { "observing: every metric passes so far" } else { &waiting_reason });
    }
    if !evidence_ok {
        let why = format!("observe {} over without enough evidence: {waiting_reason}", format_duration(bg.observe));
        return draft.hold("observe", &format!("{why}; staying on the candidate"));
    }
    let evidence: Vec<&str> = judgement.metrics.iter().map(|m| m.reason.as_str()).collect();
    let reason = format!("observed {}: every metric passes: {}", format_duration(bg.observe), evidence.join("; "));
    draft.next.phase = Phase::Succeeded;
    draft.next.stage = Some(BlueGreenStage::KeepingPrevious);
    draft.next.decided_at = Some(draft.now);
    draft.next.holding = None;
    draft.next.reason = reason.clone();
    draft.actions.push(Action::Promote { reason });
}

/// After success the previous slot keeps its replicas for `keep-previous`, for a fast flip back.
fn keep_previous(draft: &mut Draft, bg: &BlueGreenSpec) {
    if draft.next.stage != Some(BlueGreenStage::KeepingPrevious) {
        return;
    }
    let (Some(keep), Some(decided)) = (bg.keep_previous, draft.next.decided_at) else { return };
    if draft.now.duration_since(decided).unwrap_or_default() >= keep {
        draft.next.stage = None;
        draft.next.reason = format!("keep-previous {} over: previous slot scaled down", format_duration(keep));
        draft.actions.push(Action::ScaleDownPrevious);
    }
}
