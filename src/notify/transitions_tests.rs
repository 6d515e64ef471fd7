use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::k8s::record::{Record, Work};
use crate::rollout::{Action, Phase, RolloutState};

const ROLLOUT: (&str, &str) = ("production", "sark-canary");

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_000_000 + seconds)
}

fn running(weight: u8) -> Record {
    let mut record = Record::new(RolloutState::new("68e3ad9b", at(0)));
    record.state.phase = Phase::Progressing;
    record.state.weight = weight;
    record
}

fn kinds(notes: &[Notification]) -> Vec<Kind> {
    notes.iter().map(|n| n.action).collect()
}

#[test]
fn a_new_run_is_started_and_its_first_weight_follows() {
    let mut first = Record::new(RolloutState::new("68e3ad9b", at(0)));
    assert_eq!(kinds(&transitions(ROLLOUT, None, &first, at(1))), [Kind::Started]);
    let before = first.clone();
    first.state.phase = Phase::Progressing;
    first.state.weight = 10;
    first.state.reason = "the candidate is ready: first step".into();
    first.pending = vec![Work::Act(Action::SetWeight { weight: 10 })];
    let notes = transitions(ROLLOUT, Some(&before), &first, at(2));
    assert_eq!(kinds(&notes), [Kind::WeightChanged]);
    assert_eq!((notes[0].weight, notes[0].phase), (10, "Progressing"));
    assert_eq!(notes[0].reason, "the candidate is ready: first step");
    // The write that ends the work announces nothing more.
    let mut done = first.clone();
    done.pending.clear();
    assert_eq!(transitions(ROLLOUT, Some(&first), &done, at(3)), []);
    // A retry of the same revision is a new run.
    let mut retried = done.clone();
    retried.state = RolloutState::new("68e3ad9b", at(60));
    assert_eq!(kinds(&transitions(ROLLOUT, Some(&done), &retried, at(61))), [Kind::Started]);
}

#[test]
fn a_rollback_carries_its_trigger_and_evidence() {
    let before = running(10);
    let mut after = before.clone();
    after.state.phase = Phase::RolledBack;
    after.state.weight = 0;
    after.state.trigger = Some("error-rate-critical".into());
    after.state.decided_at = Some(at(120));
    let reason = "error-rate-critical: canary 5.9% (17/287) > 5%";
    after.pending = vec![
        Work::Act(Action::Rollback { trigger: "error-rate-critical".into(), reason: reason.into() }),
        Work::RemoveCanary,
    ];
    let notes = transitions(ROLLOUT, Some(&before), &after, at(120));
    assert_eq!(kinds(&notes), [Kind::RolledBack]);
    let json = serde_json::to_value(&notes[0]).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "namespace": "production", "name": "sark-canary", "revision": "68e3ad9b",
            "phase": "RolledBack", "action": "rolled_back", "weight": 0,
            "trigger": "error-rate-critical", "reason": reason, "metrics": [], "dry_run": false,
            "time": crate::time::format_instant(at(120)),
        })
    );
}

#[test]
fn an_operator_abort_is_a_command_then_its_rollback() {
    let before = running(25);
    let mut after = before.clone();
    after.state.phase = Phase::RolledBack;
    after.state.trigger = Some("manual".into());
    after.state.decided_at = Some(at(30));
    after.state.reason = "aborted by an operator at 25% (serin API)".into();
    after.pending = vec![Work::Act(Action::Rollback { trigger: "manual".into(), reason: after.state.reason.clone() })];
    let notes = transitions(ROLLOUT, Some(&before), &after, at(30));
    assert_eq!(kinds(&notes), [Kind::CommandApplied, Kind::RolledBack]);
    assert!(notes.iter().all(|n| n.trigger.as_deref() == Some("manual")), "{notes:?}");
}

#[test]
fn promotion_then_success_once_the_canary_is_removed() {
    let before = running(100);
    let mut promoting = before.clone();
    promoting.state.phase = Phase::Promoting;
    promoting.pending = vec![Work::Act(Action::Promote { reason: "every metric passes".into() })];
    assert_eq!(kinds(&transitions(ROLLOUT, Some(&before), &promoting, at(1))), [Kind::Promoted]);
    promoting.pending.clear();
    let mut cleaning = promoting.clone();
    cleaning.state.phase = Phase::Succeeded;
    cleaning.pending = vec![Work::RemoveCanary];
    assert_eq!(transitions(ROLLOUT, Some(&promoting), &cleaning, at(2)), [], "still Promoting while cleaning up");
    let mut done = cleaning.clone();
    done.pending.clear();
    assert_eq!(kinds(&transitions(ROLLOUT, Some(&cleaning), &done, at(3))), [Kind::Succeeded]);
}

#[test]
fn invalid_configuration_is_told_once_and_is_not_a_start() {
    let mut fresh = Record::new(RolloutState::new("68e3ad9b", at(0)));
    fresh.state.phase = Phase::Invalid;
    fresh.invalid = vec!["serin.io/steps: expected increasing percentages".into()];
    let notes = transitions(ROLLOUT, None, &fresh, at(0));
    assert_eq!(kinds(&notes), [Kind::Invalid]);
    assert_eq!(
        (notes[0].phase, notes[0].reason.as_str()),
        ("Invalid", "serin.io/steps: expected increasing percentages")
    );
    assert_eq!(transitions(ROLLOUT, Some(&fresh), &fresh.clone(), at(60)), []);
}

#[test]
fn pause_and_resume() {
    let before = running(25);
    let mut paused = before.clone();
    paused.state.phase = Phase::Paused;
    paused.state.trigger = Some("error-rate-elevated".into());
    paused.pending = vec![Work::Act(Action::Pause { reason: "both versions at 3%".into() })];
    let notes = transitions(ROLLOUT, Some(&before), &paused, at(1));
    assert_eq!(kinds(&notes), [Kind::Paused]);
    assert_eq!(notes[0].trigger.as_deref(), Some("error-rate-elevated"));
    paused.pending.clear();
    let mut resumed = paused.clone();
    resumed.state.phase = Phase::Progressing;
    assert_eq!(kinds(&transitions(ROLLOUT, Some(&paused), &resumed, at(2))), [Kind::Resumed]);
}

#[test]
fn a_blue_green_flip_is_told_and_a_flip_back_is_the_rollback() {
    use crate::rollout::Slot;
    let before = running(0);
    let mut flipped = before.clone();
    flipped.state.weight = 100;
    flipped.pending = vec![Work::Act(Action::Flip { to: Slot::Candidate, reason: "smoke checks passed".into() })];
    let notes = transitions(ROLLOUT, Some(&before), &flipped, at(1));
    assert_eq!(kinds(&notes), [Kind::Flipped]);
    assert_eq!(notes[0].reason, "smoke checks passed");
    flipped.pending.clear();
    let mut back = flipped.clone();
    back.state.phase = Phase::RolledBack;
    back.pending = vec![
        Work::Act(Action::Rollback { trigger: "outage".into(), reason: "nothing but errors".into() }),
        Work::Act(Action::Flip { to: Slot::Previous, reason: "nothing but errors".into() }),
    ];
    assert_eq!(kinds(&transitions(ROLLOUT, Some(&flipped), &back, at(2))), [Kind::RolledBack]);
}
