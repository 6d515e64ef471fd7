//! When a run starts, and how it begins (README, "Annotations" and "Lifecycle"):
//! - a canary run starts when the candidate's pod spec differs from the stable's; a
//!   blue-green run when the candidate's pod spec changed;
//! - a revision that was rolled back is not retried until its pod spec changes or
//!   `serin.io/retry` changes value;
//! - a new revision during a run restarts it: weight 0 first, evidence discarded;
//! - a candidate serin scaled to 0 after the last run is scaled back up first, and gets no
//!   traffic until its pods are ready;
//! - the run keeps its configuration and the names it resolved until it ends.

use crate::rollout::{Action, Phase, RolloutState};
use crate::spec::Strategy;

use super::notice::Notice;
use super::record::{Record, Work};
use super::{Input, SnapshotWorld};

/// Replicas for the canary at `weight` percent of a stable with `stable` replicas.
pub fn replicas_for_weight(stable_replicas: i32, weight: u8) -> i32 {
    let scaled = (i64::from(stable_replicas.max(0)) * i64::from(weight) + 99) / 100;
    i32::try_from(scaled).unwrap_or(i32::MAX).max(1)
}

/// The record of a run starting now, with its Event; `None` when no run starts.
pub fn next_run(input: &Input, stored: Option<&Record>) -> Option<(Record, Notice)> {
    let (spec, snapshot, now) = (input.spec, input.snapshot, input.now);
    let revision = &snapshot.revision;
    let current = stored.filter(|r| r.state.phase != Phase::Invalid);
    let worth_a_run = match &snapshot.world {
        SnapshotWorld::Canary { stable_revision, .. } => stable_revision != revision,
        SnapshotWorld::BlueGreen { .. } => true,
    };
    let in_flight = current.is_some_and(|r| !r.state.phase.is_terminal());
    let start = match current {
        None => worth_a_run,
        Some(r) if &r.state.revision != revision => true,
        Some(r) => r.state.phase == Phase::RolledBack && spec.retry.is_some() && spec.retry != r.retry,
    };
    if !start {
        return None;
    }
    let mut record = Record::new(RolloutState::new(revision, now));
    record.retry = spec.retry.clone();
    record.dry_run = input.dry_run;
    record.config = input.config.clone();
    record.replicas_before = current.and_then(|r| r.replicas_before).or(input.remembered_replicas);
    let mut notice = Notice::normal(
        "RolloutStarted",
        format!("revision {revision}: {} analysed with {}", spec.strategy_name(), spec.analysis.join(", ")),
    );
    match (&snapshot.world, &spec.strategy) {
        (SnapshotWorld::Canary { canary_route, http_route, stable_replicas, .. }, Strategy::Canary(c)) => {
            match http_route {
                Some(route) => record.canary_route = Some(route.clone()),
                None => record.canary_ingress = Some(canary_route.clone()),
            }
            if in_flight {
                // No traffic on a revision nobody analysed.
                record.pending.push(Work::Act(Action::SetWeight { weight: 0 }));
                notice.reason = "RolloutRestarted";
                notice.note = format!("new revision {revision} during a run: canary weight 0, analysis restarts");
            }
            if !worth_a_run {
                record.state.phase = Phase::Succeeded;
                record.state.reason = "the candidate runs the stable's pod spec: nothing to roll out".into();
                record.pending.push(Work::RemoveCanary);
                notice.reason = "NothingToRollOut";
                notice.note = record.state.reason.clone();
                return Some((record, notice));
            }
            if snapshot.candidate_replicas == 0 {
                let wanted = if c.scale_with_weight {
                    replicas_for_weight(*stable_replicas, c.steps[0])
                } else {
                    record.replicas_before.unwrap_or(1)
                };
                record.pending.push(Work::ScaleCandidate { replicas: wanted });
            }
        }
        (
            SnapshotWorld::BlueGreen { live_slot, candidate_slot, previous_deployment, previous_replicas },
            Strategy::BlueGreen(bg),
        ) => {
            record.service = Some(bg.service.clone());
            record.slot_label = Some(bg.slot_label.clone());
            record.candidate_slot = Some(candidate_slot.clone());
            if live_slot == candidate_slot {
                // The Service already selects this slot: the change went live in place.
                record.state.phase = Phase::Succeeded;
                record.state.reason = format!(
                    "Service {} already selects {}={}: nothing to flip (update the idle slot to run blue-green)",
                    bg.service, bg.slot_label, candidate_slot
                );
                let note = record.state.reason.clone();
                let notice = match current {
                    Some(_) => Notice::warning("LiveSlotChanged", note),
                    None => Notice::normal("AlreadyLive", note),
                };
                return Some((record, notice));
            }
            record.previous_slot = Some(live_slot.clone());
            record.previous_deployment = previous_deployment.clone();
            record.previous_replicas = previous_replicas.filter(|r| *r > 0);
            if snapshot.candidate_replicas == 0 {
                let wanted = record.replicas_before.or(*previous_replicas).unwrap_or(1).max(1);
                record.pending.push(Work::ScaleCandidate { replicas: wanted });
            }
        }
        // The snapshot is read for the spec's strategy; a mismatch starts nothing.
        _ => return None,
    }
    Some((record, notice))
}
