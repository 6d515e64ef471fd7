//! Reading the judge's findings into the decisions both strategies share.

use crate::judge::{Judgement, Verdict};
use crate::template::TriggerAction;

use super::MAX_CONSECUTIVE_ERRORS;
use super::transition::Draft;
use crate::spec::RolloutSpec;

/// What the judgement asks for, most urgent first.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    /// Take traffic off the candidate now.
    Rollback { trigger: String, reason: String },
    /// Stop progressing until the cause clears or a human acts.
    Pause { trigger: String, reason: String },
    /// Nothing can be concluded: keep the traffic where it is.
    Hold { reason: String },
    /// Every metric passes.
    Progress,
}

/// Reads a judgement. `errors_in_a_row` counts this tick if it had a query error.
pub fn read(judgement: &Judgement, errors_in_a_row: u32) -> Call {
    // Rollback triggers first, in template order: they name the documented condition.
    for t in judgement.fired() {
        match t.action {
            TriggerAction::Rollback => return rollback(&t.trigger, &t.reason),
            TriggerAction::RollbackIfWorse if t.canary_worse => return rollback(&t.trigger, &t.reason),
            _ => {}
        }
    }
    // A significant comparison with no trigger limit exceeded still rolls back.
    if let Some(m) = judgement.metrics.iter().find(|m| m.verdict == Verdict::Fail) {
        return rollback(&format!("{}-vs-baseline", m.metric), &m.reason);
    }
    if let Some(t) = judgement.fired().next() {
        let why = if t.action == TriggerAction::RollbackIfWorse {
            format!("{} (canary not significantly worse than baseline: pausing, not rolling back)", t.reason)
        } else {
            t.reason.clone()
        };
        return Call::Pause { trigger: t.trigger.clone(), reason: why };
    }
    let errors: Vec<&str> =
        judgement.metrics.iter().filter(|m| m.verdict == Verdict::Error).map(|m| m.reason.as_str()).collect();
    if !errors.is_empty() {
        let reason = format!("query errors ({errors_in_a_row} in a row): {}", errors.join("; "));
        if errors_in_a_row >= MAX_CONSECUTIVE_ERRORS {
            return Call::Pause { trigger: "query-errors".into(), reason };
        }
        return Call::Hold { reason };
    }
    if judgement.all_pass() {
        return Call::Progress;
    }
    let waiting: Vec<&str> =
        judgement.metrics.iter().filter(|m| m.verdict != Verdict::Pass).map(|m| m.reason.as_str()).collect();
    Call::Hold { reason: if waiting.is_empty() { "no metrics to judge".into() } else { waiting.join("; ") } }
}

/// Rolls back with `outage` when the candidate has had no ready pods for progress-deadline
/// during the run (no pods, no data: the analysis alone would only ever hold). True if so.
pub fn no_pods_too_long(draft: &mut Draft, spec: &RolloutSpec) -> bool {
    let Some(since) = draft.next.unready_since else { return false };
    if draft.now.duration_since(since).unwrap_or_default() < spec.progress_deadline {
        return false;
    }
    let reason = format!(
        "no candidate pod ready for progress-deadline {}",
        crate::time::format_duration(spec.progress_deadline)
    );
    draft.roll_back("outage", &reason);
    true
}

/// Counts query-error ticks in a row, including this judgement.
pub fn errors_in_a_row(previous: u32, judgement: Option<&Judgement>) -> u32 {
    match judgement {
        Some(j) if j.any(Verdict::Error) => previous + 1,
        Some(_) => 0,
        None => previous,
    }
}

fn rollback(trigger: &str, reason: &str) -> Call {
    Call::Rollback { trigger: trigger.to_string(), reason: reason.to_string() }
}

/// Applies what must happen whatever the step: a rollback, a pause (by a trigger, by query
/// errors, or by `serin.io/paused`), or leaving a pause whose cause has cleared.
///
/// Returns `None` when the draft is settled, else whether the evidence allows progress:
/// `Ok(())` when every metric passes, `Err(why not)` otherwise.
pub fn gate(
    draft: &mut Draft,
    spec: &RolloutSpec,
    judgement: &Judgement,
    paused_note: &str,
) -> Option<Result<(), String>> {
    let evidence = match read(judgement, draft.next.consecutive_errors) {
        Call::Rollback { trigger, reason } => {
            draft.roll_back(&trigger, &reason);
            return None;
        }
        Call::Pause { trigger, reason } => {
            draft.pause(Some(&trigger), &reason);
            return None;
        }
        Call::Hold { reason } => Err(reason),
        Call::Progress => Ok(()),
    };
    if spec.paused {
        draft.pause(None, &format!("paused by serin.io/paused{paused_note}"));
        return None;
    }
    draft.resume_if_paused();
    Some(evidence)
}
