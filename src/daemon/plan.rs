//! The daemon's own decisions, pure: when the next analysis tick is, and which cluster
//! work a transition implies beyond the state machine's actions.

use std::time::{Duration, SystemTime};

use crate::rollout::{Action, Phase, RolloutState};
use crate::spec::{RolloutSpec, Strategy};

use crate::k8s::record::{Record, Work};

/// Missed analysis ticks replayed from Prometheus' history after a restart; older ones
/// are skipped (their data is still judged by the next window, just not tick by tick).
pub const MAX_CATCH_UP: u32 = 10;

/// The analysis tick due now, if any: the next interval boundary after the last tick,
/// or, when more than [`MAX_CATCH_UP`] ticks behind, `now` itself.
pub fn due_tick(record: &Record, spec: &RolloutSpec, now: SystemTime) -> Option<SystemTime> {
    let next = next_tick(record, spec);
    if now < next {
        return None;
    }
    let behind = now.duration_since(next).unwrap_or_default();
    Some(if behind > spec.interval.saturating_mul(MAX_CATCH_UP) { now } else { next })
}

/// One interval after the last tick. The record comes from the cluster, so its times may
/// be anything: a tick past the latest representable instant is never due, not a panic.
pub fn next_tick(record: &Record, spec: &RolloutSpec) -> SystemTime {
    crate::time::add(record.analysed_at.unwrap_or(record.state.started), spec.interval)
        .unwrap_or_else(crate::time::latest)
}

/// How long until the reconciler should look again.
pub fn requeue_after(record: &Record, spec: &RolloutSpec, now: SystemTime) -> Duration {
    // A little past the boundary, so the tick is due when the reconcile runs.
    const SLACK: Duration = Duration::from_millis(50);
    next_tick(record, spec).duration_since(now).map(|d| d + SLACK).unwrap_or(SLACK)
}

/// True when the state machine should be stepped without an analysis tick: the phases
/// that wait on the cluster (candidate ready, smoke result, stable rolled out) react to
/// its changes at once rather than at the next tick.
pub fn steps_between_ticks(state: &RolloutState) -> bool {
    matches!(state.phase, Phase::Pending | Phase::Promoting)
}

/// The cluster work for a transition: each action, plus for a canary the removal of the
/// canary after a rollback (weight 0 first, in one patch) or once promotion completed.
pub fn work_for(spec: &RolloutSpec, before: &RolloutState, after: &RolloutState, actions: &[Action]) -> Vec<Work> {
    let mut work: Vec<Work> = actions.iter().cloned().map(Work::Act).collect();
    if let Strategy::Canary(_) = spec.strategy {
        let rolled_back = actions.iter().any(|a| matches!(a, Action::Rollback { .. }));
        let promoted = before.phase == Phase::Promoting && after.phase == Phase::Succeeded;
        if rolled_back || promoted {
            work.push(Work::RemoveCanary);
        }
    }
    work
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
    use crate::time::parse_instant;
    use std::collections::BTreeMap;

    fn spec(strategy: &str) -> RolloutSpec {
        let mut annotations = BTreeMap::from([("serin.io/strategy".to_string(), strategy.to_string())]);
        annotations.insert("serin.io/interval".into(), "10s".into());
        if strategy == "blue-green" {
            annotations.insert("serin.io/service".into(), "sark".into());
        }
        crate::spec::parse("sark-canary", &annotations).unwrap()
    }

    fn record(phase: Phase) -> Record {
        let mut state = RolloutState::new("r", parse_instant("2026-11-20T02:00:00Z").unwrap());
        state.phase = phase;
        Record::new(state)
    }

    #[test]
    fn ticks_fall_on_interval_boundaries_and_catch_up_boundedly() {
        let spec = spec("canary");
        let mut r = record(Phase::Progressing);
        let start = r.state.started;
        assert_eq!(due_tick(&r, &spec, start + Duration::from_secs(9)), None);
        assert_eq!(due_tick(&r, &spec, start + Duration::from_secs(13)), Some(start + Duration::from_secs(10)));
        r.analysed_at = Some(start + Duration::from_secs(10));
        assert_eq!(due_tick(&r, &spec, start + Duration::from_secs(45)), Some(start + Duration::from_secs(20)));
        let far = start + Duration::from_secs(10_000);
        assert_eq!(due_tick(&r, &spec, far), Some(far), "too far behind: tick now");
        assert_eq!(requeue_after(&r, &spec, start + Duration::from_secs(15)), Duration::from_millis(5050));
    }

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
        let bg = work_for(&super::tests::spec("blue-green"), &before, &after, &[Action::ScaleDownPrevious]);
        assert_eq!(bg, vec![Work::Act(Action::ScaleDownPrevious)]);
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
