//! A rollout whose objects another rollout's run holds (README, "Lifecycle"). Who holds
//! what is decided by `target::refusal`; the daemon passes its sentences as
//! [`Input::refused`](super::Input):
//!
//! - a run that would start does not: nothing is written to the cluster, the record only
//!   says why (`refused`, with one `RolloutRefused` Warning per change) and the rollout
//!   starts at a later reconcile, once the other run has ended;
//! - a run in flight (the later of two that started at once) makes no progress, with an
//!   `ObjectsShared` Warning, until the other run ends; rollbacks and aborts still act;
//! - a rollout without a run in flight that would not start anyway is not told anything.

use crate::rollout::{Phase, RolloutState};

use super::notice::Notice;
use super::record::Record;
use super::{CommandOutcome, Input, Plan};

/// Whether the run on record holds the objects it names: it has not ended, or its
/// clean-up (the canary's removal) is not done yet. A dry run writes nothing, so holds
/// nothing.
pub fn holds_objects(record: &Record) -> bool {
    !record.settled && !record.dry_run && record.state.phase != Phase::Invalid
}

/// The plan of a run that would start but is refused: no work, only the reason.
pub(super) fn refuse_start(input: &Input) -> Plan {
    let revision = &input.snapshot.revision;
    let mut record = match input.stored {
        // The last run's record stays (its remembered replicas, its revision's outcome).
        Some(stored) => stored.clone(),
        None => {
            let mut fresh = Record::new(RolloutState::new(revision, input.now));
            fresh.state.phase = Phase::Invalid;
            fresh.settled = true;
            fresh
        }
    };
    // Whatever was invalid before is valid now: this far, only the objects are in the way.
    record.invalid.clear();
    let mut notices = Vec::new();
    if record.refused != input.refused {
        record.refused = input.refused.to_vec();
        if record.state.revision == *revision && record.state.phase == Phase::Invalid {
            record.state.reason = format!("not started: {}", input.refused.join("; "));
        }
        notices.push(Notice::warning(
            "RolloutRefused",
            format!("revision {revision} not started, nothing written: {}", input.refused.join("; ")),
        ));
    }
    let command = if input.command.is_some() { CommandOutcome::Waiting } else { CommandOutcome::None };
    Plan { record: Some(record), notices, command, ..Plan::nothing() }
}

/// Records why a run in flight is held (`refused`: empty when nothing is in its way),
/// reporting each change once.
pub(super) fn report(record: &mut Record, refused: &[String], notices: &mut Vec<Notice>) {
    if record.refused == refused {
        return;
    }
    notices.push(match refused {
        [] => Notice::normal("ObjectsFreed", "no other rollout's run holds this run's objects any more: resuming"),
        _ => Notice::warning(
            "ObjectsShared",
            format!(
                "{}; rollbacks and aborts still act, and nothing another rollout created is written (README, \
                 \"Lifecycle\")",
                refused.join("; ")
            ),
        ),
    });
    record.refused = refused.to_vec();
}

#[cfg(test)]
mod tests {
    use crate::lifecycle::SnapshotWorld;
    use crate::lifecycle::tests::{Run, at, record, snapshot};
    use crate::rollout::{Action, Phase};

    fn shared() -> Vec<String> {
        vec!["Deployment p/sark is the stable Deployment of both p/a and p/sark-canary: …".to_string()]
    }

    #[test]
    fn a_refused_start_writes_only_why_and_starts_once_the_objects_are_free() {
        let mut run = Run::new();
        run.refused = shared();
        let plan = run.reconcile(at(0.0), 0.0, None, true);
        let record = plan.record.unwrap();
        assert_eq!(record.state.phase, Phase::Invalid);
        assert!(record.pending.is_empty(), "no work: {:?}", record.pending);
        assert_eq!(record.refused, shared());
        assert!(record.settled, "nothing to hold a finalizer for");
        assert_eq!(plan.notices.len(), 1);
        assert_eq!(plan.notices[0].reason, "RolloutRefused");
        assert!(plan.notices[0].note.contains("p/a"), "{}", plan.notices[0].note);
        let again = run.reconcile(at(0.5), 0.0, None, true);
        assert!(again.notices.is_empty(), "reported once: {:?}", again.notices);

        run.refused.clear();
        let plan = run.reconcile(at(1.0), 0.0, None, true);
        assert_eq!(plan.notices[0].reason, "RolloutStarted");
        let record = plan.record.unwrap();
        assert!(record.refused.is_empty());
        assert!(record.pending.contains(&crate::lifecycle::Work::Act(Action::SetWeight { weight: 10 })));
    }

    #[test]
    fn a_start_that_ends_at_once_writes_nothing_shared_and_is_not_refused() {
        let mut run = Run::new();
        let mut before = record(Phase::Succeeded);
        before.settled = true;
        run.record = Some(before);
        run.refused = shared();
        let mut same = snapshot(true);
        if let SnapshotWorld::Canary { stable_revision, .. } = &mut same.world {
            *stable_revision = same.revision.clone();
        }
        let plan = run.reconcile_in(at(0.0), &same, (0.0, 0.0), None, true, &[]);
        assert_eq!(plan.notices[0].reason, "NothingToRollOut");
        assert_eq!(run.state().phase, Phase::Succeeded);
        assert!(run.record.as_ref().unwrap().refused.is_empty());
    }

    #[test]
    fn a_run_in_flight_that_yields_holds_its_weight_and_still_rolls_back() {
        let mut run = Run::new();
        run.reconcile(at(0.0), 0.0, None, true);
        assert_eq!(run.state().weight, 10);
        run.refused = shared();
        let plan = run.reconcile(at(1.01), 0.0, None, true);
        assert_eq!(plan.notices[0].reason, "ObjectsShared");
        for minute in 2..=8 {
            run.reconcile(at(f64::from(minute) + 0.01), 0.0, None, true);
        }
        assert_eq!(run.state().weight, 10, "no progress while held");
        assert!(run.state().reason.contains("another rollout's run holds"), "{}", run.state().reason);
        let plan = run.reconcile(at(9.01), 100.0, None, true);
        assert!(plan.decided.iter().any(|a| matches!(a, Action::Rollback { .. })), "{:?}", plan.decided);
    }

    #[test]
    fn a_held_run_resumes_when_the_objects_are_free() {
        let mut run = Run::new();
        run.reconcile(at(0.0), 0.0, None, true);
        run.refused = shared();
        for minute in 1..=6 {
            run.reconcile(at(f64::from(minute) + 0.01), 0.0, None, true);
        }
        run.refused.clear();
        let plan = run.reconcile(at(7.01), 0.0, None, true);
        assert_eq!(plan.notices[0].reason, "ObjectsFreed");
        assert_eq!(run.state().weight, 50);
    }
}
