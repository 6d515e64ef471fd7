//! The cluster work a decision implies, and when a run is over (README, "Lifecycle").
//!
//! Work is written ahead into the record and done afterwards; every item is idempotent.
//! A rollback pre-empts whatever progress work is still pending: taking traffic off the
//! candidate never waits behind a weight increase that keeps failing.

use crate::rollout::{Action, Phase, RolloutState};
use crate::spec::{RolloutSpec, Strategy};

use super::record::{Record, Work};

/// The cluster work for a transition: each action, plus for a canary the removal of the
/// canary after a rollback (weight 0 first, in one patch) or once promotion completed.
pub fn work_for(spec: &RolloutSpec, before: &RolloutState, after: &RolloutState, actions: &[Action]) -> Vec<Work> {
    let mut work: Vec<Work> = actions.iter().cloned().map(Work::Act).collect();
    if let Strategy::Canary(_) = spec.strategy {
        let promoted = before.phase == Phase::Promoting && after.phase == Phase::Succeeded;
        if rolls_back(&work) || promoted {
            work.push(Work::RemoveCanary);
        }
    }
    work
}

/// Adds newly decided work to what is pending. A rollback replaces pending work that
/// would move traffic towards the candidate (it would be undone at once anyway).
pub fn enqueue(pending: &mut Vec<Work>, new: Vec<Work>) {
    if rolls_back(&new) {
        pending.retain(|w| !moves_traffic_forward(w));
    }
    for work in new {
        if !pending.contains(&work) {
            pending.push(work);
        }
    }
}

fn rolls_back(work: &[Work]) -> bool {
    work.iter().any(|w| matches!(w, Work::Act(Action::Rollback { .. })))
}

pub(super) fn moves_traffic_forward(work: &Work) -> bool {
    matches!(
        work,
        Work::Act(Action::SetWeight { .. } | Action::Promote { .. } | Action::Flip { .. })
            | Work::ScaleCandidate { .. }
    )
}

/// Whether traffic work is pending: the next step's weight waits for it.
pub fn traffic_pending(record: &Record) -> bool {
    record.pending.iter().any(|w| !matches!(w, Work::Act(Action::Hold { .. } | Action::Pause { .. })))
}

/// Whether the candidate needs serin's finalizer: while deleting it must first restore
/// traffic (a canary in flight; a blue-green candidate that is, or may become, live).
pub fn holds_finalizer(record: &Record) -> bool {
    if record.dry_run || record.settled {
        return false;
    }
    !matches!(record.state.phase, Phase::RolledBack | Phase::Invalid)
}

/// A run whose traffic work is all done: nothing left to hold the finalizer for.
pub fn is_settled(record: &Record, spec: &RolloutSpec) -> bool {
    record.pending.is_empty()
        && match spec.strategy {
            Strategy::Canary(_) => record.state.phase.is_terminal(),
            // The previous slot is kept for a fast flip back until keep-previous ends.
            Strategy::BlueGreen(_) => crate::engine::finished(&record.state),
        }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::{record, spec};

    #[test]
    fn a_canary_rollback_then_removes_the_canary() {
        let spec = spec("canary");
        let before = record(Phase::Progressing).state;
        let after = record(Phase::RolledBack).state;
        let rollback = Action::Rollback { trigger: "outage".into(), reason: "x".into() };
        let work = work_for(&spec, &before, &after, std::slice::from_ref(&rollback));
        assert_eq!(work, vec![Work::Act(rollback), Work::RemoveCanary]);
        let promoted = work_for(&spec, &record(Phase::Promoting).state, &record(Phase::Succeeded).state, &[]);
        assert_eq!(promoted, vec![Work::RemoveCanary]);
        let bg = work_for(&crate::lifecycle::tests::spec("blue-green"), &before, &after, &[Action::ScaleDownPrevious]);
        assert_eq!(bg, vec![Work::Act(Action::ScaleDownPrevious)]);
    }

    #[test]
    fn a_rollback_pre_empts_a_pending_weight_increase() {
        let mut pending = vec![Work::Act(Action::SetWeight { weight: 50 })];
        let rollback = Work::Act(Action::Rollback { trigger: "manual".into(), reason: "x".into() });
        enqueue(&mut pending, vec![rollback.clone(), Work::RemoveCanary]);
        assert_eq!(pending, vec![rollback, Work::RemoveCanary]);
    }

    #[test]
    fn the_finalizer_is_held_while_traffic_may_need_restoring() {
        assert!(holds_finalizer(&record(Phase::Progressing)));
        assert!(holds_finalizer(&record(Phase::Succeeded)), "until settled");
        assert!(!holds_finalizer(&record(Phase::RolledBack)));
        let mut dry = record(Phase::Progressing);
        dry.dry_run = true;
        assert!(!holds_finalizer(&dry), "a dry run changes no traffic");
        let canary = spec("canary");
        assert!(is_settled(&record(Phase::Succeeded), &canary));
        assert!(!is_settled(&record(Phase::Progressing), &canary));
    }
}
