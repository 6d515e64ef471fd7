//! The pure output of `serin status`: blocks, watch lines, JSON and exit codes from
//! Deployments as the API server returns them.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::apps::v1::Deployment;
use serde_json::json;

use super::*;
use crate::judge::{Evidence, MetricVerdict, Verdict};
use crate::k8s::record::Record;
use crate::rollout::RolloutState;
use crate::time::parse_instant;

fn at() -> SystemTime {
    parse_instant("2026-11-20T02:00:00Z").unwrap()
}

fn deployment(image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": "sark-canary", "namespace": "production",
                     "annotations": {"serin.io/strategy": "canary"}},
        "spec": {"selector": {"matchLabels": {"app": "sark"}},
                 "template": {"metadata": {"labels": {"app": "sark"}},
                              "spec": {"containers": [{"name": "sark", "image": image}]}}}
    }))
    .unwrap()
}

fn verdict(metric: &str, verdict: Verdict, reason: &str) -> MetricVerdict {
    MetricVerdict {
        metric: metric.into(),
        verdict,
        reason: reason.into(),
        evidence: Evidence::default(),
        advance: false,
        forecast: None,
    }
}

/// The candidate running `image`, with a status of `phase` for its own revision.
fn rollout(phase: Phase, weight: u8) -> (Deployment, Record) {
    let mut candidate = deployment("sark:1.0");
    let mut record = Record::new(RolloutState::new(&objects::revision(&candidate), at()));
    record.state.phase = phase;
    record.state.weight = weight;
    record.state.reason = "weight 25: every metric passes".into();
    record.state.last_verdicts = vec![
        verdict("error-rate", Verdict::Pass, "error-rate: canary 0.4% (2/500) vs baseline 0.5%"),
        verdict("latency", Verdict::Inconclusive, "latency: not enough evidence yet"),
    ];
    write(&mut candidate, &record);
    (candidate, record)
}

fn write(candidate: &mut Deployment, record: &Record) {
    candidate.metadata.annotations.as_mut().unwrap().extend(record.annotations());
}

fn status(candidate: &Deployment) -> RolloutStatus {
    RolloutStatus::of(candidate).expect("opted in")
}

#[test]
fn a_block_shows_phase_weight_reason_and_each_verdict_with_its_evidence() {
    let (candidate, record) = rollout(Phase::Progressing, 25);
    let lines = block(&status(&candidate));
    let revision = &record.state.revision;
    assert_eq!(
        lines,
        [
            format!("production/sark-canary  canary  Progressing  weight 25%  revision {revision}"),
            "  reason:  weight 25: every metric passes".into(),
            "  error-rate  pass          error-rate: canary 0.4% (2/500) vs baseline 0.5%".into(),
            "  latency     inconclusive  latency: not enough evidence yet".into(),
        ]
    );
}

#[test]
fn trigger_and_pending_command_are_shown_and_a_fresh_rollout_says_so() {
    let (mut candidate, mut record) = rollout(Phase::RolledBack, 0);
    record.state.trigger = Some("error-rate-critical".into());
    write(&mut candidate, &record);
    candidate.metadata.annotations.as_mut().unwrap().insert("serin.io/command".into(), "abort@x".into());
    let lines = block(&status(&candidate));
    assert!(lines.contains(&"  trigger: error-rate-critical".to_string()), "{lines:#?}");
    assert!(lines.contains(&"  command: abort@x (not applied by serin yet)".to_string()), "{lines:#?}");

    let fresh = deployment("sark:1.0");
    let lines = block(&status(&fresh));
    assert_eq!(lines[0], "production/sark-canary  canary  not started  weight -  revision -");
    assert_eq!(lines[1], "  reason:  serin has not written a status yet");
    assert!(RolloutStatus::of(&serde_json::from_value(json!({"metadata": {"name": "web"}})).unwrap()).is_none());
}

#[test]
fn several_rollouts_are_blocks_separated_by_a_blank_line() {
    let (a, _) = rollout(Phase::Progressing, 25);
    let mut b = deployment("web:2");
    b.metadata.name = Some("web".into());
    let lines = table(&[status(&a), status(&b)]);
    assert_eq!(lines.iter().filter(|l| l.is_empty()).count(), 1);
    assert!(lines.iter().any(|l| l.starts_with("production/web  canary  not started")), "{lines:#?}");
}

#[test]
fn a_watch_line_is_one_plain_line_per_state() {
    let (candidate, _) = rollout(Phase::Progressing, 25);
    let line = watch_line(&status(&candidate), at() + Duration::from_secs(61));
    assert_eq!(
        line,
        "2026-11-20T02:01:01Z production/sark-canary Progressing weight 25% \
         [error-rate=pass latency=inconclusive]: weight 25: every metric passes"
    );
    assert!(!line.contains('\n') && !line.contains('\x1b'));
}

#[test]
fn json_carries_phase_weight_revision_verdicts_and_reason() {
    let (candidate, record) = rollout(Phase::Paused, 10);
    let shown = status(&candidate);
    let value = serde_json::to_value(super::json(&shown)).unwrap();
    assert_eq!(value["phase"], "Paused");
    assert_eq!(value["weight"], 10);
    assert_eq!(value["revision"], record.state.revision.as_str());
    assert_eq!(value["candidate_revision"], record.state.revision.as_str());
    assert_eq!(value["reason"], "weight 25: every metric passes");
    assert_eq!(
        value["verdicts"][1],
        json!({"metric": "latency", "verdict": "inconclusive", "reason": "latency: not enough evidence yet"})
    );
    let list = json_list(std::slice::from_ref(&shown));
    assert_eq!(list["items"][0], value, "a list of one is still a list");
    assert_eq!(json_list(&[]), json!({"items": []}));
}

#[test]
fn exit_codes_follow_the_phase() {
    let outcome = |phase| watch_outcome(&status(&rollout(phase, 0).0));
    assert_eq!(outcome(Phase::Succeeded), Some(0));
    assert_eq!(outcome(Phase::RolledBack), Some(1));
    assert_eq!(outcome(Phase::Invalid), Some(1));
    for phase in [Phase::Pending, Phase::Progressing, Phase::Paused, Phase::Promoting] {
        assert_eq!(outcome(phase), None, "{phase:?} is still under way");
        assert!(!has_failed(&status(&rollout(phase, 0).0)));
    }
    assert!(has_failed(&status(&rollout(Phase::RolledBack, 0).0)));
    assert_eq!(watch_outcome(&status(&deployment("sark:1.0"))), None, "not started yet");
}

#[test]
fn the_end_of_an_earlier_revision_is_not_the_new_revisions_outcome() {
    // `kubectl apply` of a new image: the status still says how the previous run ended.
    let (mut candidate, record) = rollout(Phase::Succeeded, 0);
    candidate.spec.as_mut().unwrap().template.spec.as_mut().unwrap().containers[0].image = Some("sark:1.1".into());
    let shown = status(&candidate);
    assert_eq!(shown.phase(), Some(Phase::Pending));
    assert_eq!(watch_outcome(&shown), None);
    let reason = shown.reason().unwrap();
    assert!(reason.contains(&objects::revision(&candidate)), "{reason}");
    assert!(reason.contains(&record.state.revision) && reason.contains("Succeeded"), "{reason}");
}

#[test]
fn a_retried_rollback_is_pending_until_serin_starts_the_retry() {
    let (mut candidate, mut record) = rollout(Phase::RolledBack, 0);
    let annotations = candidate.metadata.annotations.as_mut().unwrap();
    annotations.insert("serin.io/retry".into(), "2026-11-20T03:00:00Z".into());
    assert_eq!(watch_outcome(&status(&candidate)), None, "retry written, not started");
    record.retry = Some("2026-11-20T03:00:00Z".into());
    write(&mut candidate, &record);
    assert_eq!(watch_outcome(&status(&candidate)), Some(1), "the retry's own run rolled back");
}
