//! Another writer putting back a field serin set (README, "GitOps"): a GitOps tool that
//! re-applies the manifests as written in Git, without the fields serin owns ignored.
//! serin never writes such a field again in a loop (it would fight the tool on every sync);
//! it notices where that is cheap, says so once, and keeps the run safe:
//!
//! - **blue-green**: after the flip, the Service no longer selects the candidate's slot.
//!   The run holds: no analysis (the candidate gets no traffic to judge), no success and no
//!   scale-down of the previous slot (it serves all traffic again), with one
//!   `SelectorReverted` Warning naming the field. When the selector is back on the
//!   candidate, observation (or keep-previous) starts again from then.
//! - **canary**: after the promotion was written, the stable Deployment's pod template is
//!   no longer the promoted one. The previous version serves the stable's traffic; serin
//!   does not promote again and says so once (`PromotionReverted` Warning).
//!
//! Decisions are pure ([`selector`], [`promotion`]); [`check`] feeds them what the
//! reconcile resolved. "Once": the record keeps what was reported (`reverted`) while the
//! field stays reverted, so a reconcile that finds the same finds nothing new to write.

use std::time::SystemTime;

use crate::k8s::events::Notice;
use crate::k8s::objects::revision;
use crate::k8s::record::Record;
use crate::rollout::{BlueGreenStage, Phase};

use super::resolve::World;

/// True when the run must not analyse now (the record and `notices` say why).
pub fn check(world: &World, stored: &mut Option<Record>, notices: &mut Vec<Notice>, now: SystemTime) -> bool {
    let Some(record) = stored.as_mut().filter(|r| r.pending.is_empty() && !r.dry_run) else { return false };
    match world {
        World::BlueGreen(bg) => selector(record, &bg.live_slot, notices, now),
        World::Canary(canary) => {
            notices.extend(promotion(record, &revision(&canary.stable)));
            false
        }
        World::Unresolved => false,
    }
}

/// Blue-green after the flip: holds while the Service selects another slot than the
/// candidate's. Pure.
pub fn selector(record: &mut Record, live_slot: &str, notices: &mut Vec<Notice>, now: SystemTime) -> bool {
    let (Some(service), Some(label), Some(candidate)) = (&record.service, &record.slot_label, &record.candidate_slot)
    else {
        return false;
    };
    let live_on_candidate = matches!(
        (record.state.phase, record.state.stage),
        (Phase::Progressing | Phase::Paused, Some(BlueGreenStage::Observing))
            | (Phase::Succeeded, Some(BlueGreenStage::KeepingPrevious))
    );
    if !live_on_candidate {
        return false;
    }
    if live_slot != candidate {
        let note = format!(
            "Service {service}'s spec.selector.{label} is {live_slot:?}, not {candidate:?} as serin set it at the \
             flip: another writer (a GitOps sync?) put it back, and {live_slot} serves all traffic. serin does not \
             flip it again; the run holds (no analysis, no success, the previous slot is not scaled down) until the \
             selector is back on {candidate} or the run is aborted. Let the GitOps tool ignore the Service's \
             spec.selector (README, \"GitOps\")"
        );
        if record.reverted.as_ref() != Some(&note) {
            notices.push(Notice::warning("SelectorReverted", note.clone()));
            record.state.reason = format!("held: {note}");
            record.state.updated = now;
            record.reverted = Some(note);
        }
        return true;
    }
    if record.reverted.take().is_some() {
        // Back on the candidate: its evidence (or keep-previous) counts from now.
        record.state.step_started = now;
        record.analysed_at = Some(now);
        if record.state.phase == Phase::Succeeded {
            record.state.decided_at = Some(now);
        }
        record.state.reason = format!("Service {service} selects {label}={candidate} again: the run goes on");
        record.state.updated = now;
        notices.push(Notice::normal("SelectorRestored", record.state.reason.clone()));
    }
    false
}

/// A promoted canary (its promotion written) whose stable Deployment no longer has the
/// promoted pod template: a Warning, once. While promoting, the run then waits for a
/// rollout that is not coming and rolls back at progress-deadline. Pure.
pub fn promotion(record: &mut Record, stable_revision: &str) -> Option<Notice> {
    let canary = record.canary_ingress.is_some() || record.canary_route.is_some();
    // `decided_at`: a promotion was decided (a candidate that already ran the stable's pod
    // spec succeeds without one, and a later change of the stable is no revert).
    let promoted =
        matches!(record.state.phase, Phase::Promoting | Phase::Succeeded) && record.state.decided_at.is_some();
    if !promoted || !canary {
        return None;
    }
    if stable_revision == record.state.revision {
        record.reverted = None;
        return None;
    }
    let note = format!(
        "the stable Deployment's pod template is no longer the promoted revision {} (it is {stable_revision} \
         now): another writer (a GitOps sync?) put it back, and that version serves the stable's traffic. serin \
         does not promote again: put the candidate's pod spec in Git for the stable Deployment, or let the \
         GitOps tool ignore its spec.template (README, \"GitOps\")",
        record.state.revision
    );
    if record.reverted.as_ref() == Some(&note) {
        return None;
    }
    record.reverted = Some(note.clone());
    Some(Notice::warning("PromotionReverted", note))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::rollout::RolloutState;

    fn observing() -> Record {
        let mut record = Record::new(RolloutState::new("r2", SystemTime::UNIX_EPOCH));
        record.state.phase = Phase::Progressing;
        record.state.stage = Some(BlueGreenStage::Observing);
        record.service = Some("sark".into());
        record.slot_label = Some("version".into());
        record.candidate_slot = Some("green".into());
        record.previous_slot = Some("blue".into());
        record
    }

    #[test]
    fn a_reverted_selector_holds_with_one_warning_and_the_restore_restarts_the_observation() {
        let mut record = observing();
        let mut notices = Vec::new();
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        assert!(selector(&mut record, "blue", &mut notices, t0), "holds");
        assert_eq!(notices.len(), 1);
        assert!(notices[0].warning && notices[0].reason == "SelectorReverted");
        assert!(notices[0].note.starts_with("Service sark's spec.selector.version is \"blue\""), "{}", notices[0].note);
        let held = record.clone();
        assert!(selector(&mut record, "blue", &mut notices, t0 + Duration::from_secs(5)), "still holds");
        assert_eq!(notices.len(), 1, "said once");
        assert_eq!(record, held, "nothing new to write while it stays reverted");
        let t1 = t0 + Duration::from_secs(30);
        assert!(!selector(&mut record, "green", &mut notices, t1), "goes on");
        assert_eq!(notices[1].reason, "SelectorRestored");
        assert_eq!((record.state.step_started, record.analysed_at), (t1, Some(t1)), "observation counts from now");
        assert!(!selector(&mut record, "green", &mut notices, t1), "no further notice");
        assert_eq!(notices.len(), 2);
    }

    #[test]
    fn before_the_flip_and_after_keep_previous_the_selector_is_not_serins() {
        for (phase, stage) in [
            (Phase::Pending, Some(BlueGreenStage::Smoke)),
            (Phase::Succeeded, None),
            (Phase::RolledBack, Some(BlueGreenStage::Observing)),
        ] {
            let mut record = observing();
            (record.state.phase, record.state.stage) = (phase, stage);
            let mut notices = Vec::new();
            assert!(!selector(&mut record, "blue", &mut notices, SystemTime::now()), "{phase:?}");
            assert!(notices.is_empty());
        }
        let mut keeping = observing();
        (keeping.state.phase, keeping.state.stage) = (Phase::Succeeded, Some(BlueGreenStage::KeepingPrevious));
        assert!(selector(&mut keeping, "blue", &mut Vec::new(), SystemTime::now()), "no scale-down of a live slot");
    }

    #[test]
    fn a_reverted_promotion_is_reported_once() {
        let mut record = Record::new(RolloutState::new("r2", SystemTime::UNIX_EPOCH));
        record.state.phase = Phase::Succeeded;
        record.canary_ingress = Some("sark-canary".into());
        assert!(promotion(&mut record, "r1").is_none(), "nothing to roll out: no promotion to revert");
        record.state.decided_at = Some(SystemTime::UNIX_EPOCH);
        assert!(promotion(&mut record, "r2").is_none(), "the stable runs the promoted revision");
        let warning = promotion(&mut record, "r1").expect("reverted");
        assert_eq!(warning.reason, "PromotionReverted");
        assert!(warning.note.contains("revision r2 (it is r1 now)"), "{}", warning.note);
        assert!(promotion(&mut record, "r1").is_none(), "once");
        assert!(promotion(&mut record, "r2").is_none() && record.reverted.is_none(), "put back: forgotten");
        record.state.phase = Phase::Promoting;
        record.state.reason = "waiting for the stable to roll out".into();
        assert!(promotion(&mut record, "r1").is_some(), "reverted while the stable was rolling out");
        assert!(promotion(&mut record, "r1").is_none(), "once, though the planner rewrites the reason");
        record.state.phase = Phase::Progressing;
        record.reverted = None;
        assert!(promotion(&mut record, "r1").is_none(), "only a promoted run has something to revert");
    }
}
