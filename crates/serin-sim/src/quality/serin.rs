//! serin itself, through the engine the daemon and `serin replay` run: the shipped
//! `nginx-canary` template rendered by `engine::prepare`, queried by `engine::observe`
//! against the simulated Prometheus, judged by `engine::decide` and planned by
//! `lifecycle::plan`, one [`Replayer::tick`] per interval: the body of `replay::run` and the
//! daemon's planner, not a copy of them.
//!
//! The rollout is the product's defaults (`serin.io/strategy: canary` and nothing else):
//! steps 10/25/50/100, interval 1m, step-min 5m, step-max 30m, on-inconclusive hold; the
//! interval study (`intervals.rs`) sets `serin.io/interval`, and serin then decides that
//! often.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::honesty::Honesty;
use super::{Algorithm, Call, Observation, Prometheus};
use crate::engine::{self, Analysis};
use crate::judge::JudgeConfig;
use crate::replay::Replayer;
use crate::rollout::{Action, Phase};
use crate::sim::{QueryRole, Scenario, roles_of};
use crate::spec::RolloutSpec;
use crate::template::Catalog;

/// The benchmark's `increase()` variant of `nginx-canary` (`simulations/templates/`): what
/// a template written the usual way does on real scrapes.
pub const INCREASE_TEMPLATE: &str = "nginx-canary-increase";
const INCREASE_SOURCE: &str = include_str!("../../../../simulations/templates/nginx-canary-increase.yaml");

/// The shipped templates plus [`INCREASE_TEMPLATE`].
pub fn catalog() -> Result<Catalog, String> {
    let mut catalog = Catalog::builtin();
    let template = crate::template::schema::parse(INCREASE_SOURCE, INCREASE_TEMPLATE).map_err(|e| e.to_string())?;
    catalog.insert(template);
    Ok(catalog)
}

/// What every serin run of a cell shares: the parsed annotations, the rendered templates
/// and which simulated counter each rendered query reads.
#[derive(Debug, Clone)]
pub struct SerinSetup {
    spec: RolloutSpec,
    analysis: Analysis,
    roles: BTreeMap<String, QueryRole>,
    config: JudgeConfig,
}

impl SerinSetup {
    /// The candidate Deployment of `scenario` (its target and annotations), the builtin
    /// templates and the default judge.
    pub fn new(scenario: &Scenario) -> Result<SerinSetup, String> {
        let target = scenario.candidate();
        let spec = crate::spec::parse(&target.name, &target.annotations).map_err(|e| e.to_string())?;
        let (interval, step) = (spec.interval.as_millis(), scenario.step.as_millis());
        if interval == 0 || interval % step != 0 {
            return Err(format!(
                "serin.io/interval {:?} is not a whole number of the world's {:?} ticks",
                spec.interval, scenario.step
            ));
        }
        let analysis = engine::prepare(&spec, &catalog()?, &target).map_err(|e| e.to_string())?;
        let roles = roles_of(&analysis.templates);
        Ok(SerinSetup { spec, analysis, roles, config: JudgeConfig::default() })
    }

    /// The same with `serin.io/interval` set to `interval`.
    pub fn every(scenario: &Scenario, interval: Duration) -> Result<SerinSetup, String> {
        let mut scenario = scenario.clone();
        scenario.annotations.insert("interval".into(), humantime::format_duration(interval).to_string());
        SerinSetup::new(&scenario)
    }

    /// How often this serin decides.
    pub fn interval(&self) -> Duration {
        self.spec.interval
    }
}

/// One serin rollout.
pub struct Serin<'a> {
    setup: &'a SerinSetup,
    start: SystemTime,
    /// The run, from the first tick on.
    replayer: Option<Replayer<'a>>,
    honesty: Honesty,
    /// `engine::observe` is async (the daemon awaits Prometheus); the simulated source
    /// never waits, so a current-thread runtime without IO drivers runs it.
    runtime: tokio::runtime::Runtime,
}

impl<'a> Serin<'a> {
    /// A rollout of the scenario that starts at `start`.
    pub fn new(setup: &'a SerinSetup, start: SystemTime) -> Serin<'a> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a current-thread runtime without IO drivers always builds");
        Serin { setup, start, replayer: None, honesty: Honesty::default(), runtime }
    }
}

impl Algorithm for Serin<'_> {
    /// The run starts at the first tick, as every algorithm's does here (`Ladder::start`:
    /// the candidate just became ready), and is planned from then on as the daemon plans it.
    fn decide(&mut self, observation: &Observation, prometheus: Prometheus<'_>) -> Call {
        let at = self.start + observation.elapsed;
        let mut call = Call::Continue;
        let on_action = |action: &Action| call = call_of(call, action);
        let setup = self.setup;
        match &mut self.replayer {
            None => {
                self.replayer = Some(Replayer::start(&setup.spec, &setup.analysis, &setup.config, at, on_action));
            }
            Some(replayer) if replayer.finished() => {}
            Some(replayer) => {
                let source = prometheus.source(&setup.roles, setup.spec.interval);
                self.runtime.block_on(replayer.tick(&source, at, on_action));
                let minute = observation.elapsed.as_secs_f64() / 60.0;
                self.honesty.observe(minute, &replayer.state().last_verdicts);
            }
        }
        call
    }

    fn interval(&self) -> Duration {
        self.setup.interval()
    }

    fn forecasts(&self) -> (u32, u32) {
        (self.honesty.checked, self.honesty.honest)
    }

    /// Paused by a trigger (`error-rate-elevated` when the canary is no worse, as in a
    /// shared incident): undecided, waiting for a human.
    fn paused(&self) -> bool {
        self.replayer.as_ref().is_some_and(|r| r.state().phase == Phase::Paused)
    }
}

/// What the actions of one tick come to for the closed loop: a decision wins over a weight.
fn call_of(call: Call, action: &Action) -> Call {
    match (call, action) {
        (_, Action::Rollback { .. }) | (Call::Rollback, _) => Call::Rollback,
        (_, Action::Promote { .. }) | (Call::Promote, _) => Call::Promote,
        (_, Action::SetWeight { weight }) => Call::Advance(*weight),
        (call, _) => call,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::closed_loop::{Outcome, run};
    use crate::quality::grid::{Case, Cell};
    use crate::sim::{SimSource, World};

    #[test]
    fn serin_rolls_back_an_outage_and_leaves_a_healthy_canary_alone() {
        let outage = Cell { case: Case::by_name("outage").unwrap(), rate: 100.0 }.scenario();
        let setup = SerinSetup::new(&outage).unwrap();
        let result = run(&outage, 1, &mut Serin::new(&setup, outage.start));
        assert_eq!(result.outcome, Outcome::RolledBack);
        assert_eq!(result.minutes, Some(2), "weight 10% from minute 1, judged at minute 2");
        let healthy = Cell { case: Case::by_name("healthy").unwrap(), rate: 100.0 }.scenario();
        let result = run(&healthy, 1, &mut Serin::new(&setup, healthy.start));
        assert_eq!(result.outcome, Outcome::Promoted);
    }

    #[test]
    fn the_same_engine_as_replay_decides_the_same() {
        // replay::run over a SimSource, started at the benchmark's first tick; the benchmark
        // drives the Replayer over its own world. Same scenario and seed: same decision,
        // same minute.
        let scenario = Cell { case: Case::by_name("errors-3pct").unwrap(), rate: 10.0 }.scenario();
        let setup = SerinSetup::new(&scenario).unwrap();
        for seed in 1..4 {
            let ours = run(&scenario, seed, &mut Serin::new(&setup, scenario.start));
            let interval = setup.spec.interval;
            let source = SimSource::new(World::new(&scenario, Some(seed)), setup.roles.clone(), interval);
            let range = (scenario.start + interval, scenario.end());
            let theirs = crate::simulate::block_on(crate::replay::run(
                &source,
                &setup.spec,
                &setup.analysis,
                range,
                &setup.config,
                |action| {
                    if let Action::SetWeight { weight } = action {
                        source.set_weight(*weight)
                    }
                },
            ));
            let minutes = theirs.decided_at.map(|t| t.duration_since(scenario.start).unwrap().as_secs() as u32 / 60);
            assert_eq!(ours.minutes, minutes, "seed {seed}");
            assert_eq!(ours.outcome == Outcome::RolledBack, theirs.outcome == crate::replay::Outcome::RolledBack);
        }
    }
}
