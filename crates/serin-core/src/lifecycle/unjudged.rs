//! A run whose analysis can no longer be prepared (README, "Lifecycle"): a template it uses
//! left the catalog (the daemon loads it only at start, so a restart with a ConfigMap that
//! lost it), or no longer renders. The daemon passes the problems as
//! [`Input::analysis_problems`](super::Input) with an empty analysis. The triggers live in
//! the templates, so nothing could guard the run any more:
//!
//! - a run that moved traffic and has not decided (a canary with weight, a blue-green
//!   flipped and observing) is rolled back at once, with trigger [`CONFIGURATION`] and a
//!   reason naming every problem;
//! - a run that needs no judging to complete goes on as it would: a canary Promoting (the
//!   decision is made, the stable takes the pod spec), a blue-green keeping its previous
//!   slot, a finished run's clean-up still pending;
//! - anything else (no run, a run that would start, one that has moved no traffic yet, a
//!   finished one) is the daemon's to report as invalid configuration ([`Plan::invalid`]:
//!   an `InvalidConfiguration` Warning, once) and no traffic changes. Once the templates
//!   are back, the next run starts as usual.

use crate::rollout::{self, Phase, RolloutState};

use super::notice::Notice;
use super::record::Record;
use super::{CommandOutcome, Input, Plan};

/// The trigger recorded for a run rolled back because it cannot be judged any more.
pub const CONFIGURATION: &str = "configuration";

/// The plan for a rollout whose analysis cannot be prepared (`input.analysis_problems` is
/// not empty), or `None` when the run on record goes on without judging. `starts`: a new
/// run would start now.
pub(super) fn plan(input: &Input, starts: bool) -> Option<Plan> {
    let problems = input.analysis_problems;
    let stored = input.stored.filter(|r| r.state.phase != Phase::Invalid);
    match stored {
        // Whatever starts next: the traffic on the candidate goes back first.
        Some(record) if undecided_with_traffic(&record.state) => Some(roll_back(record, input)),
        Some(record) if !starts && completes_unjudged(record) => None,
        _ => {
            let command = if input.command.is_some() { CommandOutcome::Waiting } else { CommandOutcome::None };
            Some(Plan { invalid: problems.to_vec(), command, ..Plan::nothing() })
        }
    }
}

/// A run that moved traffic to the candidate and is still deciding whether to keep it.
fn undecided_with_traffic(state: &RolloutState) -> bool {
    matches!(state.phase, Phase::Progressing | Phase::Paused) && state.weight > 0
}

/// A run whose decision is made: it completes without its analysis (a promotion whose
/// stable rolls out, the kept previous slot, a clean-up not done yet).
fn completes_unjudged(record: &Record) -> bool {
    match record.state.phase {
        Phase::Promoting => true,
        Phase::Succeeded | Phase::RolledBack => !crate::engine::finished(&record.state) || !record.pending.is_empty(),
        // Pending (or paused before any traffic): it would need judging to go anywhere.
        _ => false,
    }
}

/// The Warning for a run that goes on without its analysis (`problems`).
pub(super) fn completing(problems: &[String]) -> Notice {
    let note = format!(
        "{}; the run's decision is made and it completes without judging; the next run needs the analysis \
         back (README, \"Lifecycle\")",
        problems.join("; ")
    );
    Notice::warning("AnalysisUnprepared", note)
}

fn roll_back(stored: &Record, input: &Input) -> Plan {
    let mut record = stored.clone();
    let problems = input.analysis_problems.join("; ");
    let reason = format!(
        "the run can no longer be judged at {}%, its analysis cannot be prepared: {problems}; nothing would guard \
         the candidate's traffic",
        record.state.weight
    );
    let transition = rollout::roll_back(&record.state, CONFIGURATION, &reason, input.now);
    let mut notices = super::take(&mut record, input.spec, &transition);
    // Reported: the next reconciles with the same problems say nothing more.
    record.invalid = input.analysis_problems.to_vec();
    let command = match input.command {
        Some(_) => {
            let note = "serin.io/command ignored: the run was rolled back, its analysis cannot be prepared";
            notices.push(Notice::warning("CommandRejected", note));
            CommandOutcome::Consumed
        }
        None => CommandOutcome::None,
    };
    let decided = transition.actions;
    Plan { record: Some(record), notices, command, decided, ..Plan::nothing() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::{Run, at, snapshot};
    use crate::lifecycle::{SnapshotWorld, Work};
    use crate::rollout::{Action, BlueGreenStage};

    fn missing() -> Vec<String> {
        vec!["template my-slo is not in the catalog".to_string()]
    }

    /// The canary of `lifecycle::tests` at 50%, healthy.
    fn at_half() -> Run {
        let mut run = Run::new();
        run.reconcile(at(0.0), 0.0, None, true);
        for minute in 1..=6 {
            run.reconcile(at(f64::from(minute) + 0.01), 0.0, None, true);
        }
        assert_eq!(run.state().weight, 50);
        run
    }

    #[test]
    fn a_canary_with_weight_that_cannot_be_judged_is_rolled_back_at_once() {
        let mut run = at_half();
        run.analysis_problems = missing();
        // Between ticks too: nothing waits for a judge that cannot judge.
        let plan = run.reconcile(at(6.5), 0.0, None, false);
        assert!(plan.invalid.is_empty(), "{:?}", plan.invalid);
        assert!(
            matches!(&plan.decided[..], [Action::Rollback { trigger, .. }] if trigger == CONFIGURATION),
            "{:?}",
            plan.decided
        );
        let record = run.record.as_ref().unwrap();
        assert_eq!((record.state.phase, record.state.weight), (Phase::RolledBack, 0));
        assert!(record.state.reason.contains("template my-slo is not in the catalog"), "{}", record.state.reason);
        assert!(matches!(&record.pending[..], [Work::Act(Action::Rollback { .. }), Work::RemoveCanary]));
        let warning = plan.notices.iter().find(|n| n.warning && n.reason == "RolledBack").expect("a Warning");
        assert!(warning.note.contains("template my-slo is not in the catalog"), "{}", warning.note);

        // The clean-up still runs while the templates stay missing; then nothing more is said.
        let cleanup = run.reconcile(at(6.6), 0.0, None, true);
        assert!(cleanup.invalid.is_empty() && cleanup.decided.is_empty());
        assert!(run.record.as_ref().unwrap().pending.is_empty());
        let after = run.reconcile(at(7.01), 0.0, None, true);
        assert!(after.record.is_none() && after.notices.is_empty());
        assert_eq!(after.invalid, missing(), "reported Invalid, already said in the record");
        assert_eq!(run.record.as_ref().unwrap().invalid, missing());
    }

    #[test]
    fn a_run_that_moved_no_traffic_is_only_reported_invalid() {
        let mut run = Run::new();
        run.analysis_problems = missing();
        let fresh = run.reconcile(at(0.0), 0.0, None, true);
        assert!(fresh.record.is_none() && fresh.decided.is_empty());
        assert_eq!(fresh.invalid, missing());

        // A run Pending (its candidate not Available yet) when the templates went missing.
        let mut pending = Run::new();
        let unready = crate::lifecycle::Snapshot { candidate_ready: false, ..snapshot(true) };
        pending.reconcile_in(at(0.0), &unready, (0.0, 0.0), None, true, &[]);
        assert_eq!((pending.state().phase, pending.state().weight), (Phase::Pending, 0));
        pending.analysis_problems = missing();
        let plan = pending.reconcile_in(at(1.01), &snapshot(true), (0.0, 0.0), None, true, &[]);
        assert!(plan.record.is_none() && plan.decided.is_empty(), "{:?}", plan.decided);
        assert_eq!(plan.invalid, missing());
        assert_eq!(pending.state().phase, Phase::Pending, "no traffic changed");
    }

    #[test]
    fn a_promoting_canary_completes_without_judging() {
        let mut run = at_half();
        let mut minute = 7.0;
        while run.state().phase != Phase::Promoting && minute < 60.0 {
            run.reconcile(at(minute + 0.01), 0.0, None, true);
            minute += 1.0;
        }
        assert_eq!(run.state().phase, Phase::Promoting);
        run.analysis_problems = missing();
        let plan = run.reconcile(at(minute + 0.01), 0.0, None, true);
        assert!(plan.invalid.is_empty() && plan.decided.is_empty(), "{:?} {:?}", plan.invalid, plan.decided);
        assert_eq!(run.state().phase, Phase::Promoting);
        let warning = plan.notices.iter().find(|n| n.reason == "AnalysisUnprepared").expect("said once");
        assert!(warning.warning && warning.note.contains("my-slo"), "{}", warning.note);
        assert!(run.reconcile(at(minute + 0.2), 0.0, None, true).notices.is_empty(), "said once");
        let mut promoted = snapshot(true);
        if let SnapshotWorld::Canary { promotion_complete, .. } = &mut promoted.world {
            *promotion_complete = true;
        }
        run.reconcile_in(at(minute + 0.5), &promoted, (0.0, 0.0), None, true, &[]);
        assert_eq!(run.state().phase, Phase::Succeeded, "{}", run.state().reason);
    }

    #[test]
    fn a_blue_green_is_rolled_back_after_its_flip_only() {
        let mut state = RolloutState::new("r", at(0.0));
        state.phase = Phase::Paused;
        assert!(!undecided_with_traffic(&state), "paused before the flip: the previous slot is live");
        state.phase = Phase::Progressing;
        state.stage = Some(BlueGreenStage::Observing);
        state.weight = 100;
        assert!(undecided_with_traffic(&state), "flipped, observing");
        state.phase = Phase::Succeeded;
        state.stage = Some(BlueGreenStage::KeepingPrevious);
        assert!(!undecided_with_traffic(&state), "kept: the decision is made");
    }
}
