//! State-machine tests: synthetic judgements in, actions out. No IO, no clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::judge::{Evidence, Judgement, MetricVerdict, TriggerStatus, TriggerVerdict, Verdict};
use crate::spec::{BlueGreenSpec, CanarySpec, OnInconclusive, RolloutSpec, Routing, Strategy, Windows};
use crate::template::TriggerAction;

const MIN: Duration = Duration::from_secs(60);

fn t(minutes: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_795_140_000 + minutes * 60)
}

fn canary_spec(on_inconclusive: OnInconclusive) -> RolloutSpec {
    RolloutSpec {
        strategy: Strategy::Canary(CanarySpec {
            stable: "sark".into(),
            ingress: "sark".into(),
            route: None,
            canary_service: "sark-canary".into(),
            steps: vec![10, 25, 50, 100],
            step_min: 5 * MIN,
            step_max: 30 * MIN,
            on_inconclusive,
            scale_with_weight: false,
            routing: Routing::Weight,
        }),
        analysis: vec!["nginx-canary".into()],
        args: Default::default(),
        interval: MIN,
        progress_deadline: 10 * MIN,
        windows: Windows::always(),
        dry_run: false,
        paused: false,
        retry: None,
    }
}

fn blue_green_spec() -> RolloutSpec {
    RolloutSpec {
        strategy: Strategy::BlueGreen(BlueGreenSpec {
            service: "sark".into(),
            slot_label: "version".into(),
            smoke: vec!["/health".into()],
            observe: 30 * MIN,
            keep_previous: Some(10 * MIN),
        }),
        analysis: vec!["http-slo".into()],
        ..canary_spec(OnInconclusive::Hold)
    }
}

fn judgement(at: SystemTime, verdict: Verdict) -> Judgement {
    Judgement {
        at,
        metrics: vec![MetricVerdict {
            metric: "error-rate".into(),
            verdict,
            reason: format!("error-rate {verdict:?}"),
            evidence: Evidence::default(),
            advance: verdict == Verdict::Pass,
            forecast: None,
        }],
        triggers: vec![],
    }
}

fn fired(mut j: Judgement, trigger: &str, action: TriggerAction, canary_worse: bool) -> Judgement {
    j.triggers.push(TriggerVerdict {
        trigger: trigger.into(),
        metric: "error-rate".into(),
        action,
        status: TriggerStatus::Fired,
        canary_worse,
        reason: format!("{trigger} fired"),
    });
    j
}

/// Runs the machine once a minute from minute 1 to `until`, with `verdict_at` choosing
/// each judgement, and returns every (minute, action).
fn drive(spec: &RolloutSpec, until: u64, verdict_at: impl Fn(u64) -> Judgement) -> (RolloutState, Vec<(u64, Action)>) {
    let mut state = RolloutState::new("rev", t(0));
    let mut actions = Vec::new();
    for minute in 1..=until {
        let j = verdict_at(minute);
        let transition = step(&state, spec, Some(&j), &Inputs::offline(t(minute)));
        actions.extend(transition.actions.into_iter().map(|a| (minute, a)));
        state = transition.next;
    }
    (state, actions)
}

fn weights(actions: &[(u64, Action)]) -> Vec<(u64, u8)> {
    actions
        .iter()
        .filter_map(|(m, a)| match a {
            Action::SetWeight { weight } => Some((*m, *weight)),
            _ => None,
        })
        .collect()
}

#[test]
fn a_passing_canary_walks_every_step_after_step_min_and_is_promoted() {
    let spec = canary_spec(OnInconclusive::Hold);
    let (state, actions) = drive(&spec, 40, |m| judgement(t(m), Verdict::Pass));
    assert_eq!(weights(&actions), vec![(1, 10), (6, 25), (11, 50), (16, 100)]);
    assert!(actions.iter().any(|(m, a)| *m == 21 && matches!(a, Action::Promote { .. })));
    assert_eq!(state.phase, Phase::Succeeded);
}

#[test]
fn inconclusive_evidence_never_advances_and_holds_at_step_max() {
    let spec = canary_spec(OnInconclusive::Hold);
    let (state, actions) = drive(&spec, 60, |m| judgement(t(m), Verdict::Inconclusive));
    assert_eq!(weights(&actions), vec![(1, 10)]);
    let holds: Vec<_> = actions.iter().filter(|(_, a)| matches!(a, Action::Hold { .. })).collect();
    assert_eq!(holds.len(), 1, "a hold is reported once: {actions:?}");
    assert_eq!(holds[0].0, 31);
    assert_eq!(state.phase, Phase::Progressing);
}

#[test]
fn evidence_enough_to_advance_walks_the_steps_but_only_a_pass_promotes() {
    let spec = canary_spec(OnInconclusive::Hold);
    let advance_only = |m| {
        let mut j = judgement(t(m), Verdict::Inconclusive);
        j.metrics[0].advance = true;
        j
    };
    let (state, actions) = drive(&spec, 60, advance_only);
    assert_eq!(weights(&actions), vec![(1, 10), (6, 25), (11, 50), (16, 100)]);
    assert!(!actions.iter().any(|(_, a)| matches!(a, Action::Promote { .. })), "{actions:?}");
    assert_eq!(state.phase, Phase::Progressing);
    // The same run promotes once the last step's evidence is a pass.
    let (state, _) = drive(&spec, 60, |m| if m < 25 { advance_only(m) } else { judgement(t(m), Verdict::Pass) });
    assert_eq!(state.phase, Phase::Succeeded);
}

#[test]
fn on_inconclusive_advance_moves_weights_but_never_promotes() {
    let spec = canary_spec(OnInconclusive::Advance);
    let (state, actions) = drive(&spec, 200, |m| judgement(t(m), Verdict::Inconclusive));
    assert_eq!(weights(&actions), vec![(1, 10), (31, 25), (61, 50), (91, 100)]);
    assert!(!actions.iter().any(|(_, a)| matches!(a, Action::Promote { .. })));
    assert_ne!(state.phase, Phase::Succeeded);
}

#[test]
fn on_inconclusive_rollback_rolls_back_at_step_max() {
    let spec = canary_spec(OnInconclusive::Rollback);
    let (state, _) = drive(&spec, 40, |m| judgement(t(m), Verdict::Inconclusive));
    assert_eq!(state.phase, Phase::RolledBack);
    assert_eq!(state.trigger.as_deref(), Some("inconclusive"));
}

#[test]
fn a_rollback_trigger_rolls_back_at_once_even_when_paused_or_outside_a_window() {
    let mut spec = canary_spec(OnInconclusive::Hold);
    spec.paused = true;
    let (state, actions) = drive(&spec, 3, |m| {
        let j = judgement(t(m), Verdict::Pass);
        if m == 3 { fired(j, "error-rate-critical", TriggerAction::Rollback, true) } else { j }
    });
    assert_eq!(state.phase, Phase::RolledBack);
    assert_eq!(state.weight, 0);
    assert_eq!(state.trigger.as_deref(), Some("error-rate-critical"));
    assert!(matches!(actions.last(), Some((3, Action::Rollback { trigger, .. })) if trigger == "error-rate-critical"));
}

#[test]
fn a_significant_comparison_rolls_back_under_the_metric_name() {
    let spec = canary_spec(OnInconclusive::Hold);
    let (state, _) = drive(&spec, 4, |m| judgement(t(m), if m == 4 { Verdict::Fail } else { Verdict::Pass }));
    assert_eq!(state.phase, Phase::RolledBack);
    assert_eq!(state.trigger.as_deref(), Some("error-rate-vs-baseline"));
}

#[test]
fn a_soft_trigger_without_a_worse_canary_pauses_then_resumes_when_it_clears() {
    let spec = canary_spec(OnInconclusive::Hold);
    let (state, actions) = drive(&spec, 30, |m| {
        let j = judgement(t(m), Verdict::Pass);
        if (3..=12).contains(&m) { fired(j, "error-rate-elevated", TriggerAction::RollbackIfWorse, false) } else { j }
    });
    let pauses = actions.iter().filter(|(_, a)| matches!(a, Action::Pause { .. })).count();
    assert_eq!(pauses, 1, "{actions:?}");
    // Paused from minute 3 to 12; the step clock restarts at 13, so 25% comes at 18.
    assert_eq!(weights(&actions)[..2], [(1, 10), (18, 25)]);
    assert_ne!(state.phase, Phase::RolledBack);
}

#[test]
fn the_same_soft_trigger_with_a_worse_canary_rolls_back() {
    let spec = canary_spec(OnInconclusive::Hold);
    let (state, _) = drive(&spec, 3, |m| {
        let j = judgement(t(m), Verdict::Pass);
        if m == 3 { fired(j, "error-rate-elevated", TriggerAction::RollbackIfWorse, true) } else { j }
    });
    assert_eq!(state.phase, Phase::RolledBack);
    assert_eq!(state.trigger.as_deref(), Some("error-rate-elevated"));
}

#[test]
fn three_query_errors_in_a_row_pause_and_never_roll_back() {
    let spec = canary_spec(OnInconclusive::Hold);
    let (state, actions) = drive(&spec, 6, |m| judgement(t(m), if m >= 2 { Verdict::Error } else { Verdict::Pass }));
    assert_eq!(state.phase, Phase::Paused);
    assert_eq!(state.trigger.as_deref(), Some("query-errors"));
    assert!(actions.iter().any(|(m, a)| *m == 4 && matches!(a, Action::Pause { .. })));
    assert!(!actions.iter().any(|(_, a)| matches!(a, Action::Rollback { .. })));
}

#[test]
fn a_candidate_never_ready_is_rolled_back_as_outage_at_the_progress_deadline() {
    let spec = canary_spec(OnInconclusive::Hold);
    let mut state = RolloutState::new("rev", t(0));
    for minute in 1..=10 {
        let inputs = Inputs { candidate_ready: false, ..Inputs::offline(t(minute)) };
        state = step(&state, &spec, None, &inputs).next;
    }
    assert_eq!(state.phase, Phase::RolledBack);
    assert_eq!(state.trigger.as_deref(), Some("outage"));
}

#[test]
fn a_state_survives_serialisation_mid_run() {
    let spec = canary_spec(OnInconclusive::Hold);
    let (state, _) = drive(&spec, 7, |m| judgement(t(m), Verdict::Pass));
    let json = serde_json::to_string(&state).unwrap();
    let back: RolloutState = serde_json::from_str(&json).unwrap();
    assert_eq!(back, state);
    // Resuming from the persisted state gives the same next step as never stopping.
    let j = judgement(t(8), Verdict::Pass);
    assert_eq!(
        step(&back, &spec, Some(&j), &Inputs::offline(t(8))),
        step(&state, &spec, Some(&j), &Inputs::offline(t(8)))
    );
}

#[test]
fn blue_green_smoke_flip_observe_succeed_then_scale_down_the_previous_slot() {
    let spec = blue_green_spec();
    let (state, actions) = drive(&spec, 50, |m| judgement(t(m), Verdict::Pass));
    let names: Vec<(u64, &str)> = actions.iter().map(|(m, a)| (*m, a.name())).collect();
    assert_eq!(names, vec![(1, "smoke_test"), (2, "flip"), (32, "promote"), (42, "scale_down_previous")]);
    assert_eq!(state.phase, Phase::Succeeded);
}

#[test]
fn blue_green_flips_back_when_a_trigger_fires_after_the_flip() {
    let spec = blue_green_spec();
    let (state, actions) = drive(&spec, 10, |m| {
        let j = judgement(t(m), Verdict::Pass);
        if m == 5 { fired(j, "error-rate-critical", TriggerAction::Rollback, true) } else { j }
    });
    assert_eq!(state.phase, Phase::RolledBack);
    assert!(matches!(actions.last(), Some((5, Action::Rollback { .. }))));
}

#[test]
fn blue_green_flips_only_at_an_analysis_so_the_baseline_is_recorded() {
    let spec = blue_green_spec();
    let mut state = RolloutState::new("rev", t(0));
    state = step(&state, &spec, None, &Inputs::offline(t(1))).next;
    assert_eq!(state.stage, Some(BlueGreenStage::Smoke), "smoke checks need no analysis");
    let between_ticks = step(&state, &spec, None, &Inputs::offline(t(1)));
    assert!(between_ticks.actions.is_empty(), "no flip without a judgement: {:?}", between_ticks.actions);
    let at_a_tick = step(&state, &spec, Some(&judgement(t(2), Verdict::Pass)), &Inputs::offline(t(2)));
    assert!(matches!(at_a_tick.actions.as_slice(), [Action::Flip { to: Slot::Candidate, .. }]));
}

#[test]
fn blue_green_never_flips_without_a_recorded_baseline() {
    use crate::judge::evidence::{ArmEvidence, ChannelEvidence};
    let spec = blue_green_spec();
    let mut state = RolloutState::new("rev", t(0));
    state = step(&state, &spec, None, &Inputs::offline(t(1))).next;
    let with_baseline = |total: f64| {
        let mut j = judgement(t(2), Verdict::Inconclusive);
        let mut baseline = ArmEvidence::default();
        baseline.run.total = total;
        j.metrics[0].evidence.channels.push(ChannelEvidence { baseline: Some(baseline), ..Default::default() });
        j
    };
    let empty = step(&state, &spec, Some(&with_baseline(0.0)), &Inputs::offline(t(2)));
    assert!(!empty.actions.iter().any(|a| matches!(a, Action::Flip { .. })), "{:?}", empty.actions);
    assert!(empty.next.reason.contains("no requests recorded for the live slot"), "{}", empty.next.reason);
    let late = step(&state, &spec, Some(&with_baseline(0.0)), &Inputs::offline(t(11)));
    assert_eq!(late.next.phase, Phase::RolledBack, "no baseline by progress-deadline: no flip, ever");
    assert_eq!(late.next.trigger.as_deref(), Some("no-baseline"));
    let recorded = step(&state, &spec, Some(&with_baseline(500.0)), &Inputs::offline(t(2)));
    assert!(matches!(recorded.actions.as_slice(), [Action::Flip { to: Slot::Candidate, .. }]));
}

#[test]
fn blue_green_failed_smoke_checks_never_flip() {
    let spec = blue_green_spec();
    let mut state = RolloutState::new("rev", t(0));
    let mut all = Vec::new();
    for minute in 1..=3 {
        let inputs = Inputs { smoke_passed: Some(false), ..Inputs::offline(t(minute)) };
        let tr = step(&state, &spec, Some(&judgement(t(minute), Verdict::Pass)), &inputs);
        all.extend(tr.actions);
        state = tr.next;
    }
    assert_eq!(state.phase, Phase::RolledBack);
    assert_eq!(state.trigger.as_deref(), Some("smoke"));
    assert!(!all.iter().any(|a| matches!(a, Action::Flip { .. })));
}

#[test]
fn outside_a_window_nothing_progresses_but_rollbacks_still_happen() {
    // 02:00 UTC is outside 09:00-17:59.
    let mut spec = canary_spec(OnInconclusive::Hold);
    spec.windows = Windows::parse("* * 9-17 * * *").unwrap();
    let (state, actions) = drive(&spec, 10, |m| judgement(t(m), Verdict::Pass));
    assert!(weights(&actions).is_empty(), "no weight outside the window: {actions:?}");
    assert_eq!(state.phase, Phase::Pending);
    assert_eq!(actions.iter().filter(|(_, a)| matches!(a, Action::Hold { .. })).count(), 1);

    // Started inside a window, then the window closes: a firing trigger still rolls back.
    let mut state = RolloutState::new("rev", t(0));
    let open = canary_spec(OnInconclusive::Hold);
    state = step(&state, &open, Some(&judgement(t(1), Verdict::Pass)), &Inputs::offline(t(1))).next;
    assert_eq!(state.weight, 10);
    let j = fired(judgement(t(2), Verdict::Pass), "outage", TriggerAction::Rollback, true);
    let tr = step(&state, &spec, Some(&j), &Inputs::offline(t(2)));
    assert_eq!(tr.next.phase, Phase::RolledBack);
    assert_eq!(tr.actions, vec![Action::Rollback { trigger: "outage".into(), reason: "outage fired".into() }]);
}

/// A passing judgement whose evidence shows `canary` of every 1000 requests on the canary,
/// the same share in every interval.
fn passing_with_split(at: SystemTime, minute: u64, canary: f64) -> Judgement {
    use crate::judge::evidence::{ArmEvidence, ChannelEvidence, Events};
    let mut j = judgement(at, Verdict::Pass);
    let arm = |per: f64| ArmEvidence {
        interval: Some(Events::exact(0.0, per)),
        step: Events::exact(0.0, per * minute as f64),
        ..Default::default()
    };
    j.metrics[0].evidence.channels = vec![ChannelEvidence {
        name: "error-rate".into(),
        limit: 0.01,
        canary: arm(canary),
        baseline: Some(arm(1000.0 - canary)),
        dispersion: 1.0,
        ..Default::default()
    }];
    j
}

#[test]
fn a_canary_that_gets_another_share_than_its_weight_holds_with_both_numbers() {
    // Sticky sessions: 2% of requests whatever the weight. Every metric passes, yet the
    // first step never advances, and the hold is reported once.
    let spec = canary_spec(OnInconclusive::Hold);
    let (state, actions) = drive(&spec, 40, |m| passing_with_split(t(m), m, 20.0));
    assert_eq!(weights(&actions), vec![(1, 10)]);
    let holds: Vec<_> = actions.iter().filter(|(_, a)| matches!(a, Action::Hold { .. })).collect();
    assert_eq!(holds.len(), 1, "{actions:?}");
    assert!(
        state.reason.contains("2.0% of requests") && state.reason.contains("its weight is 10%"),
        "{}",
        state.reason
    );
    assert_eq!(state.holding.as_deref(), Some(split::HOLD_CAUSE));
    assert_eq!(state.phase, Phase::Progressing);
    // A split that follows the weight (10%) advances after step-min as before.
    let (_, actions) = drive(&spec, 6, |m| passing_with_split(t(m), m, 100.0));
    assert_eq!(weights(&actions), vec![(1, 10), (6, 25)]);
}
