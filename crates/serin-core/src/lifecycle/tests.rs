//! Planner tests: a recorded run in, records, work and Events out. No IO, no clock.
//! `property` drives the planner through random ticks, downtime, failing writes, commands
//! and broken configurations, and checks the lifecycle's invariants after every reconcile.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::*;
use crate::judge::{MetricObservation, Reading};
use crate::rollout::{Phase, RolloutState};
use crate::time::parse_instant;

const MIN: Duration = Duration::from_secs(60);

/// A test template: one error ratio, judged alone, with the outage trigger.
const TEMPLATE: &str = "name: t
metrics:
  - name: errors
    min-requests: 20
    ratio:
      canary: {bad: bad, total: total}
      max: 1%
triggers:
  - {name: outage, metric: errors, outage: true, action: rollback}
";

pub(crate) fn spec(strategy: &str) -> RolloutSpec {
    let mut annotations = BTreeMap::from([("serin.io/strategy".to_string(), strategy.to_string())]);
    annotations.insert("serin.io/interval".into(), "10s".into());
    if strategy == "blue-green" {
        annotations.insert("serin.io/service".into(), "sark".into());
    }
    crate::spec::parse("sark-canary", &annotations).unwrap()
}

pub(crate) fn record(phase: Phase) -> Record {
    let mut state = RolloutState::new("r", start());
    state.phase = phase;
    Record::new(state)
}

fn start() -> SystemTime {
    parse_instant("2026-11-20T02:00:00Z").unwrap()
}

/// A canary with 1-minute ticks, steps 10/50/100 and step-min 5m.
fn canary() -> (RolloutSpec, BTreeMap<String, String>, Analysis) {
    let config: BTreeMap<String, String> = [
        ("strategy", "canary"),
        ("analysis", "t"),
        ("interval", "1m"),
        ("steps", "10,50,100"),
        ("step-min", "5m"),
        ("progress-deadline", "10m"),
    ]
    .iter()
    .map(|(k, v)| (format!("serin.io/{k}"), v.to_string()))
    .collect();
    let spec = crate::spec::parse("sark-canary", &config).unwrap();
    let mut catalog = crate::template::Catalog::builtin();
    catalog.insert(crate::template::schema::parse(TEMPLATE, "test").unwrap());
    let target = crate::target::Target {
        namespace: "prod".into(),
        name: "sark-canary".into(),
        annotations: config.clone(),
        pod_labels: BTreeMap::new(),
    };
    let analysis = engine::prepare(&spec, &catalog, &target).unwrap();
    (spec, config, analysis)
}

pub(crate) fn snapshot(ready: bool) -> Snapshot {
    Snapshot {
        revision: "cand".into(),
        candidate_ready: ready,
        candidate_replicas: 2,
        world: SnapshotWorld::Canary {
            stable_revision: "stable".into(),
            stable_replicas: 4,
            promotion_complete: false,
            canary_route: "sark-canary".into(),
            http_route: None,
        },
    }
}

fn observation(at: SystemTime, bad: f64, total: f64) -> IntervalObservation {
    let metric = MetricObservation { canary: Reading::Counts { bad, total }, baseline: None };
    IntervalObservation { at, metrics: BTreeMap::from([("errors".to_string(), metric)]) }
}

/// One reconcile of the canary above; the pending work is then done (or not).
pub(crate) struct Run {
    spec: RolloutSpec,
    config: BTreeMap<String, String>,
    analysis: Analysis,
    pub(crate) record: Option<Record>,
    judge: JudgeConfig,
    /// What the daemon would pass as `Input::refused` (`refused.rs`).
    pub(crate) refused: Vec<String>,
    /// What the daemon would pass as `Input::analysis_problems`, with an empty analysis
    /// (`unjudged.rs`).
    pub(crate) analysis_problems: Vec<String>,
}

impl Run {
    pub(crate) fn new() -> Run {
        let (spec, config, analysis) = canary();
        let judge = JudgeConfig::default();
        Run { spec, config, analysis, record: None, judge, refused: Vec::new(), analysis_problems: Vec::new() }
    }

    /// Reconciles at `now` with healthy (`bad` = 0) or failing traffic; `applied`: the
    /// work's writes succeed.
    pub(crate) fn reconcile(&mut self, now: SystemTime, bad: f64, command: Option<&str>, applied: bool) -> Plan {
        self.reconcile_with(now, bad, command, applied, &[])
    }

    fn reconcile_with(
        &mut self,
        now: SystemTime,
        bad: f64,
        command: Option<&str>,
        applied: bool,
        broken: &[String],
    ) -> Plan {
        self.reconcile_in(now, &snapshot(true), (bad * 10.0, 1000.0), command, applied, broken)
    }

    /// A reconcile while the candidate has no ready pods and no traffic.
    fn reconcile_unready(&mut self, now: SystemTime) -> Plan {
        let snapshot = Snapshot { candidate_ready: false, ..snapshot(true) };
        self.reconcile_in(now, &snapshot, (0.0, 0.0), None, true, &[])
    }

    /// One reconcile: `(bad, total)` requests of the interval if a tick is due.
    pub(crate) fn reconcile_in(
        &mut self,
        now: SystemTime,
        snapshot: &Snapshot,
        (bad, total): (f64, f64),
        command: Option<&str>,
        applied: bool,
        broken: &[String],
    ) -> Plan {
        let due = self.record.as_ref().and_then(|r| due_tick(r, &self.spec, now));
        let observed = due.map(|at| observation(at, bad, total));
        let requested = command.map(|c| Requested(c.to_string()));
        let unprepared = Analysis { templates: Vec::new() };
        let analysis = if self.analysis_problems.is_empty() { &self.analysis } else { &unprepared };
        let input = Input {
            stored: self.record.as_ref(),
            spec: &self.spec,
            config: &self.config,
            analysis,
            snapshot,
            command: requested.as_ref(),
            tick: observed.as_ref().map(|o| Tick { at: o.at, observation: o }),
            broken,
            refused: &self.refused,
            deferred: &[],
            analysis_problems: &self.analysis_problems,
            remembered_replicas: None,
            dry_run: false,
            judge: &self.judge,
            now,
        };
        let plan = plan(&input);
        if let Some(mut record) = plan.record.clone() {
            if applied {
                work_done(&mut record, &self.spec, now);
            }
            self.record = Some(record);
        }
        plan
    }

    pub(crate) fn state(&self) -> &RolloutState {
        &self.record.as_ref().unwrap().state
    }
}

pub(crate) fn at(minutes: f64) -> SystemTime {
    start() + Duration::from_secs_f64(minutes * 60.0)
}

#[test]
fn a_run_starts_with_its_configuration_and_the_first_weight() {
    let mut run = Run::new();
    let plan = run.reconcile(at(0.0), 0.0, None, true);
    assert_eq!(plan.notices[0].reason, "RolloutStarted");
    let record = run.record.as_ref().unwrap();
    assert_eq!(record.config, run.config, "the run keeps the configuration it started with");
    assert_eq!(record.canary_ingress.as_deref(), Some("sark-canary"));
    assert_eq!(run.state().weight, 10, "the first weight once the candidate is ready");
}

#[test]
fn missed_ticks_never_progress() {
    let mut run = Run::new();
    run.reconcile(at(0.0), 0.0, None, true);
    for minute in 1..=6 {
        run.reconcile(at(f64::from(minute) + 0.01), 0.0, None, true);
    }
    assert_eq!(run.state().weight, 50, "healthy: the second step after step-min");
    // Down from minute 6 to minute 16: ticks 7..=15 are caught up in the past, 16 is live.
    let mut weights = Vec::new();
    for _ in 0..MAX_CATCH_UP {
        run.reconcile(at(16.02), 0.0, None, true);
        weights.push(run.state().weight);
    }
    let (caught_up, live) = weights.split_at(weights.len() - 1);
    assert!(caught_up.iter().all(|w| *w == 50), "no progress at a missed tick: {weights:?}");
    // The 50% step was written at minute 5 and its traffic observed since: the live tick
    // may take the next step, and that step's clock starts live.
    assert!(live[0] == 50 || live[0] == 100, "{weights:?}");
    assert!(run.state().step_started >= at(16.0) || live[0] == 50);
}

#[test]
fn missed_ticks_may_roll_back() {
    let mut run = Run::new();
    run.reconcile(at(0.0), 0.0, None, true);
    run.reconcile(at(1.01), 0.0, None, true);
    run.reconcile(at(6.5), 100.0, None, true);
    assert_eq!(run.state().phase, Phase::RolledBack, "{}", run.state().reason);
}

#[test]
fn a_failing_weight_write_holds_progress_and_an_abort_pre_empts_it() {
    let mut run = Run::new();
    run.reconcile(at(0.0), 0.0, None, true);
    for minute in 1..=4 {
        run.reconcile(at(f64::from(minute) + 0.01), 0.0, None, true);
    }
    // From the 50% step on, the weight PATCH keeps failing (an admission webhook is down).
    for minute in 5..=8 {
        run.reconcile(at(f64::from(minute) + 0.01), 0.0, None, false);
    }
    let record = run.record.as_ref().unwrap();
    assert!(record.pending.contains(&Work::Act(Action::SetWeight { weight: 50 })), "{:?}", record.pending);
    assert_eq!(record.state.weight, 50, "no further step while 50% is not applied");
    let plan = run.reconcile(at(8.5), 0.0, Some("abort"), false);
    assert_eq!(plan.command, CommandOutcome::Consumed);
    assert!(
        plan.decided.iter().any(|a| matches!(a, Action::Rollback { .. })),
        "counted as decided: {:?}",
        plan.decided
    );
    let record = run.record.as_ref().unwrap();
    assert_eq!(record.state.phase, Phase::RolledBack);
    assert!(
        !record.pending.iter().any(|w| matches!(w, Work::Act(Action::SetWeight { weight }) if *weight > 0)),
        "the stale weight increase is dropped: {:?}",
        record.pending
    );
    assert!(record.pending.contains(&Work::RemoveCanary));
}

#[test]
fn a_configuration_broken_mid_run_still_rolls_back_but_never_progresses() {
    let mut run = Run::new();
    run.reconcile(at(0.0), 0.0, None, true);
    let broken = vec!["serin.io/steps: expected percentages".to_string()];
    let plan = run.reconcile_with(at(1.01), 0.0, None, true, &broken);
    assert!(plan.notices.iter().any(|n| n.reason == "ConfigurationBroken" && n.warning));
    for minute in 2..=12 {
        run.reconcile_with(at(f64::from(minute) + 0.01), 0.0, None, true, &broken);
    }
    assert_eq!(run.state().weight, 10, "no progress on a broken configuration");
    assert!(run.state().reason.contains("configuration is broken"), "{}", run.state().reason);
    run.reconcile_with(at(13.01), 100.0, None, true, &broken);
    assert_eq!(run.state().phase, Phase::RolledBack, "the outage trigger still guards");
}

#[test]
fn a_fixed_configuration_resumes_a_run_but_not_one_that_has_ended() {
    let valid_again = |plan: &Plan| {
        let notice = plan.notices.iter().find(|n| n.reason == "ConfigurationValid").expect("reported when fixed");
        notice.note.clone()
    };
    let broken = vec!["serin.io/steps: expected percentages".to_string()];
    let mut run = Run::new();
    run.reconcile(at(0.0), 0.0, None, true);
    run.reconcile_with(at(1.01), 0.0, None, true, &broken);
    assert_eq!(valid_again(&run.reconcile(at(2.01), 0.0, None, true)), "the configuration is valid again: resuming");
    run.reconcile_with(at(3.01), 0.0, None, true, &broken);
    run.reconcile_with(at(4.01), 100.0, None, true, &broken);
    assert_eq!(run.state().phase, Phase::RolledBack);
    let message = valid_again(&run.reconcile(at(5.01), 0.0, None, true));
    assert!(message.contains("this run has ended (RolledBack): nothing resumes"), "{message}");
}

#[test]
fn promoting_has_a_deadline_and_accepts_abort() {
    let mut run = Run::new();
    run.reconcile(at(0.0), 0.0, None, true);
    let mut minute = 1.0;
    while run.state().phase != Phase::Promoting && minute < 60.0 {
        run.reconcile(at(minute + 0.01), 0.0, None, true);
        minute += 1.0;
    }
    assert_eq!(run.state().phase, Phase::Promoting);
    let mut aborted = Run { record: run.record.clone(), ..Run::new() };
    aborted.reconcile(at(minute + 0.5), 0.0, Some("abort"), true);
    assert_eq!(aborted.state().phase, Phase::RolledBack, "abort while the canary holds its last weight");
    // The stable never rolls out (the snapshot says so): progress-deadline 10m rolls back.
    run.reconcile(at(minute + 11.0), 0.0, None, true);
    assert_eq!(run.state().phase, Phase::RolledBack, "{}", run.state().reason);
    assert_eq!(run.state().trigger.as_deref(), Some("promotion-deadline"));
}

#[test]
fn a_canary_without_ready_pods_for_progress_deadline_fires_outage() {
    let mut run = Run::new();
    run.reconcile(at(0.0), 0.0, None, true);
    run.reconcile(at(1.01), 0.0, None, true);
    assert_eq!(run.state().weight, 10);
    // The pods stop being ready: no data, so the judge alone would only ever hold.
    for minute in 2..=20 {
        let plan = run.reconcile_unready(at(f64::from(minute) + 0.01));
        if run.state().phase == Phase::RolledBack {
            assert!(minute >= 12, "not before progress-deadline 10m: minute {minute}");
            assert_eq!(run.state().trigger.as_deref(), Some("outage"));
            assert!(plan.record.unwrap().pending.contains(&Work::RemoveCanary));
            return;
        }
    }
    panic!("never rolled back: {}", run.state().reason);
}

/// Invariants over random sequences: reconciles at random times (with downtime), random
/// failing writes, random health, random aborts and broken configurations.
#[test]
fn property_steps_last_step_min_of_live_traffic_and_rollbacks_are_never_held() {
    use rand::{Rng, SeedableRng};
    for seed in 0..200u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let mut run = Run::new();
        let mut now = 0.0;
        // When the current weight went live (its write succeeded), in wall-clock time.
        let mut live_since: Option<SystemTime> = None;
        let mut awaiting_write = false;
        for _ in 0..80 {
            now += if rng.random_bool(0.1) { rng.random_range(2.0..15.0) } else { rng.random_range(0.2..1.2) };
            let bad = if rng.random_bool(0.05) { 100.0 } else { 0.0 };
            let command = rng.random_bool(0.02).then_some("abort");
            let applied = rng.random_bool(0.8);
            let broken: Vec<String> =
                if rng.random_bool(0.1) { vec!["serin.io/steps: broken".into()] } else { Vec::new() };
            let before = run.record.as_ref().map(|r| r.state.weight).unwrap_or(0);
            // Like the daemon after downtime: missed ticks back to back, at the same time.
            let mut plan = run.reconcile_with(at(now), bad, command, applied, &broken);
            for _ in 0..MAX_CATCH_UP {
                let behind = run.record.as_ref().is_some_and(|r| due_tick(r, &run.spec, at(now)).is_some());
                if !behind || run.record.as_ref().is_some_and(|r| r.state.weight != before) {
                    break;
                }
                plan = run.reconcile_with(at(now), bad, None, applied, &broken);
            }
            let record = run.record.as_ref().unwrap();
            let after = record.state.weight;
            if after > before {
                assert!(broken.is_empty(), "seed {seed}: progress on a broken configuration");
                let missed = record.analysed_at.is_some_and(|tick| is_catch_up(tick, &run.spec, at(now)));
                assert!(!missed, "seed {seed}: progress at a missed tick");
                if let Some(since) = live_since.filter(|_| before > 0) {
                    let observed = at(now).duration_since(since).unwrap_or_default();
                    // Measured on ticks: within a quarter interval of step-min.
                    assert!(
                        observed >= 5 * MIN - MIN / 4,
                        "seed {seed}: {before}% observed live for {observed:?} only"
                    );
                }
                awaiting_write = true;
            }
            if awaiting_write && applied {
                live_since = Some(at(now));
                awaiting_write = false;
            }
            if plan.decided.iter().any(|a| matches!(a, Action::Rollback { .. })) {
                assert!(
                    record.pending.first().is_some_and(|w| matches!(w, Work::Act(Action::Rollback { .. })))
                        || record.pending.is_empty(),
                    "seed {seed}: a rollback waits behind other work: {:?}",
                    record.pending
                );
            }
            if record.state.phase.is_terminal() && record.pending.is_empty() {
                break;
            }
        }
    }
}
