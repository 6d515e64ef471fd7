//! When a rollout is looked at: analysis ticks on interval boundaries, bounded catch-up
//! after downtime, and which ticks are in the past (README, "Lifecycle").

use std::time::{Duration, SystemTime};

use crate::rollout::{Phase, RolloutState};
use crate::spec::RolloutSpec;

use super::record::Record;

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

/// A tick at least one interval in the past: one the daemon missed while it was down.
/// What it finds may roll back, never progress (`rollout::Blocked::CatchingUp`).
pub fn is_catch_up(tick: SystemTime, spec: &RolloutSpec, now: SystemTime) -> bool {
    now.duration_since(tick).is_ok_and(|late| late >= spec.interval)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lifecycle::tests::{record, spec};

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
        assert!(is_catch_up(start + Duration::from_secs(20), &spec, start + Duration::from_secs(45)));
        assert!(!is_catch_up(start + Duration::from_secs(40), &spec, start + Duration::from_secs(45)));
    }
}
