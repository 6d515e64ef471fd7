//! Closed-loop simulation: the engine drives a simulated world. Every weight the state
//! machine sets changes the canary's share of the simulated traffic from the next tick on,
//! exactly as a canary Ingress would. The shipped recordings, `serin-sim quality` and
//! `serin-sim bench` run through here; the decision-quality benchmark (`crate::quality`)
//! runs the same replay loop one tick at a time (`replay::Replayer`) beside the baselines.

use std::time::Duration;

use crate::engine::{self, Analysis};
use crate::judge::JudgeConfig;
use crate::replay::{self, Outcome, Replay};
use crate::rollout::Action;
use crate::sim::{ExpectedOutcome, QueryRole, Scenario, SimSource, World, roles_of};
use crate::source::Recording;
use crate::spec::RolloutSpec;
use crate::template::Catalog;

/// One simulated rollout.
pub struct ScenarioRun {
    pub spec: RolloutSpec,
    pub analysis: Analysis,
    pub replay: Replay,
    world: World,
    roles: std::collections::BTreeMap<String, QueryRole>,
}

/// Runs `scenario` (with another seed if given) through the engine.
pub fn run(
    scenario: &Scenario,
    seed: Option<u64>,
    catalog: &Catalog,
    config: &JudgeConfig,
) -> Result<ScenarioRun, String> {
    let target = scenario.candidate();
    let spec = crate::spec::parse(&target.name, &target.annotations).map_err(|e| e.to_string())?;
    let analysis = engine::prepare(&spec, catalog, &target).map_err(|e| e.to_string())?;
    let roles = roles_of(&analysis.templates);
    let source = SimSource::new(World::new(scenario, seed), roles.clone(), spec.interval);
    let range = (scenario.start, scenario.end());
    let run = replay::run(&source, &spec, &analysis, range, config, |action| match action {
        Action::SetWeight { weight } => source.set_weight(*weight),
        // After a decision the candidate serves no more canary traffic.
        Action::Rollback { .. } | Action::Promote { .. } => source.set_weight(0),
        _ => {}
    });
    let replay = block_on(run);
    Ok(ScenarioRun { spec, analysis, replay, world: source.into_world(), roles })
}

impl ScenarioRun {
    /// The recording of what the simulated Prometheus held for the whole scenario.
    pub fn recording(&mut self, scenario: &Scenario) -> Recording {
        // A scenario with history records it too, so a replay reads it as the daemon would.
        let from = scenario.origin();
        let step = scenario.scrape_interval();
        let mut recording = self.world.to_recording(&self.roles, self.spec.interval, from, scenario.end(), step);
        recording.deployment = Some(scenario.candidate());
        recording.rollout_start = (from < scenario.start).then_some(scenario.start);
        recording
    }

    /// The raw counters as OpenMetrics text (to backfill a real Prometheus).
    pub fn openmetrics(&mut self, scenario: &Scenario) -> String {
        self.world.advance_to(scenario.end());
        self.world.to_openmetrics(scenario)
    }
}

/// Checks a replay against the scenario's `expect:`; the error says what differed.
pub fn check_expectation(scenario: &Scenario, replay: &Replay) -> Result<(), String> {
    let expect = &scenario.expect;
    let outcome_ok = match expect.outcome {
        ExpectedOutcome::Promoted => replay.outcome == Outcome::Promoted,
        ExpectedOutcome::RolledBack => replay.outcome == Outcome::RolledBack,
        ExpectedOutcome::Paused => replay.outcome == Outcome::Paused,
        ExpectedOutcome::InProgress => replay.outcome == Outcome::InProgress,
        ExpectedOutcome::NotRolledBack => replay.outcome != Outcome::RolledBack,
    };
    if !outcome_ok {
        return Err(format!(
            "{}: expected {:?}, got {} ({:?}: {})",
            scenario.name,
            expect.outcome,
            replay.outcome.as_str(),
            replay.trigger,
            replay.reason
        ));
    }
    if let Some(trigger) = &expect.trigger
        && replay.trigger.as_deref() != Some(trigger.as_str())
    {
        return Err(format!(
            "{}: expected trigger {trigger}, got {:?} ({})",
            scenario.name, replay.trigger, replay.reason
        ));
    }
    if let Some(by) = expect.by {
        let took = replay.decided_at.and_then(|t| t.duration_since(scenario.start).ok());
        if took.is_none_or(|d| d > by) {
            return Err(format!("{}: expected a decision within {by:?}, got {took:?}", scenario.name));
        }
    }
    if expect.no_progress_during_gaps {
        let progress_in_gap = replay.timeline.iter().find(|e| {
            matches!(e.action.as_str(), "set_weight" | "flip" | "promote") && in_gap(scenario, e.at) && e.weight > 0
        });
        if let Some(e) = progress_in_gap {
            return Err(format!("{}: {} at {:?} during a Prometheus gap", scenario.name, e.action, e.at));
        }
    }
    Ok(())
}

/// True when an analysis at `at` saw only the gap: its window ends after the gap began
/// (an analysis exactly at `from` still judges the interval before the gap).
fn in_gap(scenario: &Scenario, at: std::time::SystemTime) -> bool {
    let offset = at.duration_since(scenario.start).unwrap_or(Duration::ZERO);
    scenario.gaps.iter().any(|g| g.from < offset && offset < g.to)
}

/// Runs a future that never waits on IO (simulated and recorded sources) to completion.
pub fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a current-thread runtime without IO drivers always builds")
        .block_on(future)
}
