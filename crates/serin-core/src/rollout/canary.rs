//! The canary state machine: Pending → Progressing through `steps` → Promoting → Succeeded,
//! or RolledBack from anywhere; Paused while a trigger, query errors or a human say so.

use crate::judge::Judgement;
use crate::spec::{CanarySpec, OnInconclusive, RolloutSpec};
use crate::time::format_duration;

use super::transition::Draft;
use super::verdicts;
use super::{Action, Inputs, Phase, RolloutState, Transition};

pub(super) fn step(
    state: &RolloutState,
    spec: &RolloutSpec,
    canary: &CanarySpec,
    judgement: Option<&Judgement>,
    inputs: &Inputs,
) -> Transition {
    let mut draft = super::begin(state, judgement, inputs);
    match state.phase {
        Phase::Succeeded | Phase::RolledBack | Phase::Invalid => {}
        Phase::Promoting => promoting(&mut draft, spec, inputs),
        Phase::Pending => start(&mut draft, spec, canary, inputs),
        Phase::Progressing | Phase::Paused if verdicts::no_pods_too_long(&mut draft, spec) => {}
        Phase::Progressing | Phase::Paused => match judgement {
            Some(j) => progress(&mut draft, spec, canary, j, inputs),
            None => draft.wait("waiting for the first analysis"),
        },
    }
    draft.finish()
}

/// Before the first step: wait for the candidate, then send it the first weight.
fn start(draft: &mut Draft, spec: &RolloutSpec, canary: &CanarySpec, inputs: &Inputs) {
    if !inputs.candidate_ready {
        if draft.in_run() >= spec.progress_deadline {
            let reason =
                format!("no canary pod ready within progress-deadline {}", format_duration(spec.progress_deadline));
            draft.roll_back("outage", &reason);
        } else {
            draft.wait("waiting for the candidate Deployment to be Available");
        }
        return;
    }
    if spec.paused {
        draft.pause(None, "paused by serin.io/paused before the first step");
        return;
    }
    if !spec.windows.allows(draft.now) {
        draft.hold("window", "outside every deployment window: not starting");
        return;
    }
    if let Some(blocked) = inputs.blocked {
        return draft.wait(&format!("candidate ready; first weight waits: {}", blocked.why()));
    }
    let weight = canary.steps[0];
    draft.next.phase = Phase::Progressing;
    draft.next.step = Some(0);
    draft.next.weight = weight;
    draft.new_traffic_step();
    draft.next.reason = format!("candidate ready: canary weight {weight}%");
    draft.actions.push(Action::SetWeight { weight });
}

/// At a step: roll back, pause, hold, advance or promote, in that order of precedence.
fn progress(draft: &mut Draft, spec: &RolloutSpec, canary: &CanarySpec, judgement: &Judgement, inputs: &Inputs) {
    let Some(evidence) = verdicts::gate(draft, spec, judgement, "") else { return };
    if !spec.windows.allows(draft.now) {
        return draft.hold("window", "outside every deployment window: holding the current weight");
    }
    if let Some(blocked) = inputs.blocked {
        let weight = draft.next.weight;
        return draft.wait(&format!("holding {weight}%: {}", blocked.why()));
    }
    let index = draft.next.step.unwrap_or(0);
    let in_step = draft.in_step();
    let last = index + 1 >= canary.steps.len();
    // An intermediate step may advance on weaker evidence than a promotion needs
    // (`judge::JudgeConfig::advance_beta`); the rollback tests guard every step alike.
    let evidence_ok = evidence.is_ok() || (!last && judgement.all_advance());
    let waiting_reason = evidence.err().unwrap_or_default();
    if evidence_ok && in_step >= canary.step_min {
        let why =
            if judgement.all_pass() { "every metric passes" } else { "every metric has enough evidence to advance" };
        return if last { promote(draft, judgement) } else { advance(draft, canary, index + 1, why) };
    }
    if in_step < canary.step_max {
        let reason = if evidence_ok {
            format!("every metric passes; step-min {} not reached", format_duration(canary.step_min))
        } else {
            waiting_reason
        };
        return draft.wait(&reason);
    }
    let why = format!(
        "step-max {} reached at {}% without enough evidence: {waiting_reason}",
        format_duration(canary.step_max),
        draft.next.weight
    );
    match canary.on_inconclusive {
        OnInconclusive::Rollback => draft.roll_back("inconclusive", &why),
        // Missing evidence never promotes: `advance` moves weights, but the last step holds.
        OnInconclusive::Advance if !last => {
            advance(draft, canary, index + 1, &format!("on-inconclusive: advance; {why}"))
        }
        OnInconclusive::Advance | OnInconclusive::Hold => draft.hold("step-max", &format!("{why}; holding")),
    }
}

/// After the promote: the stable Deployment rolls out the candidate's pod spec. That waits at
/// most progress-deadline; then the canary's traffic goes back to the stable's Service,
/// whose old pods a stuck rollout keeps serving.
fn promoting(draft: &mut Draft, spec: &RolloutSpec, inputs: &Inputs) {
    if inputs.promotion_complete {
        draft.next.phase = Phase::Succeeded;
        draft.next.weight = 0;
        draft.next.reason = "the stable Deployment runs the candidate's pod spec; canary removed".into();
        return;
    }
    let since = draft.next.decided_at.unwrap_or(draft.next.step_started);
    if draft.now.duration_since(since).unwrap_or_default() >= spec.progress_deadline {
        let reason = format!(
            "the stable Deployment did not roll out the candidate's pod spec within progress-deadline {}: canary \
             weight 0; the stable keeps the pod spec it was given (`kubectl rollout undo` reverts it)",
            format_duration(spec.progress_deadline)
        );
        return draft.roll_back("promotion-deadline", &reason);
    }
    draft.wait("promoting: waiting for the stable Deployment to roll out");
}

fn advance(draft: &mut Draft, canary: &CanarySpec, index: usize, why: &str) {
    let weight = canary.steps[index];
    let from = draft.next.weight;
    draft.next.step = Some(index);
    draft.next.weight = weight;
    draft.next.phase = Phase::Progressing;
    draft.new_traffic_step();
    draft.next.reason = format!("{why}: weight {from}% → {weight}%");
    draft.actions.push(Action::SetWeight { weight });
}

fn promote(draft: &mut Draft, judgement: &Judgement) {
    let evidence: Vec<&str> = judgement.metrics.iter().map(|m| m.reason.as_str()).collect();
    let reason = format!("every metric passes at the last step: {}", evidence.join("; "));
    draft.next.phase = Phase::Promoting;
    draft.next.decided_at = Some(draft.now);
    draft.next.holding = None;
    draft.next.reason = reason.clone();
    draft.actions.push(Action::Promote { reason });
}
