//! One benchmark run: one algorithm, one scenario, one seed, closed loop.
//!
//! Interval by interval (a minute unless the algorithm decides more often): the world generates the interval's traffic with the weight in force,
//! the algorithm sees the interval's counters and answers; a new weight applies to the
//! traffic from the next tick on, as a canary Ingress would. A promotion or a rollback ends
//! the run there: from then on the canary serves nobody as a canary, so the figures count
//! only what it served before the decision.

use std::time::Duration;

use super::{Algorithm, ArmCounts, Call, Observation, Prometheus};
use crate::sim::{Scenario, World};

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Promoted,
    RolledBack,
    /// Neither by the end of the scenario (holding, paused or still stepping).
    Undecided,
}

/// What one run measured.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunResult {
    pub outcome: Outcome,
    /// Minutes from the start to the decision (begun minutes, rounded up); `None` when
    /// undecided.
    pub minutes: Option<u32>,
    /// Requests the canary served before the decision (to the end if undecided).
    pub canary_requests: u64,
    /// 5xx answers among them.
    pub canary_errors: u64,
    /// Undecided and paused (for a human) at the end.
    pub paused: bool,
    /// serin's forecasts checked and found honest (see `honesty.rs`).
    pub forecasts_checked: u32,
    pub forecasts_honest: u32,
}

/// Runs `algorithm` on `scenario` with `seed` for the scenario's whole duration.
pub fn run(scenario: &Scenario, seed: u64, algorithm: &mut dyn Algorithm) -> RunResult {
    let mut world = World::new(scenario, Some(seed));
    let interval = algorithm.interval();
    let intervals = (scenario.duration.as_millis() / interval.as_millis().max(1)) as u32;
    let mut ever = (ArmCounts::default(), ArmCounts::default());
    let mut end = (Outcome::Undecided, None);
    for index in 1..=intervals {
        let from = world.ticks().len();
        let elapsed = interval * index;
        world.advance_to(scenario.start + elapsed);
        let observation = observe(&world, from, (index, elapsed), &mut ever);
        let minutes = Some(begun_minutes(elapsed));
        match algorithm.decide(&observation, Prometheus { world: &world }) {
            Call::Continue => {}
            Call::Advance(weight) => world.set_weight(weight),
            Call::Promote => end = (Outcome::Promoted, minutes),
            Call::Rollback => end = (Outcome::RolledBack, minutes),
        }
        if end.0 != Outcome::Undecided {
            break;
        }
    }
    let served = world.ticks().iter().map(|t| &t.canary);
    let (canary_requests, canary_errors) = served.fold((0, 0), |(n, e), c| (n + c.requests, e + c.errors));
    let paused = end.0 == Outcome::Undecided && algorithm.paused();
    let (forecasts_checked, forecasts_honest) = algorithm.forecasts();
    RunResult {
        outcome: end.0,
        minutes: end.1,
        canary_requests,
        canary_errors,
        paused,
        forecasts_checked,
        forecasts_honest,
    }
}

fn begun_minutes(elapsed: Duration) -> u32 {
    elapsed.as_secs().div_ceil(60) as u32
}

/// The interval made of the ticks generated since index `from`. `ever` carries which
/// series exist across intervals (a series, once created, stays).
fn observe(world: &World, from: usize, at: (u32, Duration), ever: &mut (ArmCounts, ArmCounts)) -> Observation {
    let mut canary = ArmCounts { ever_requests: ever.0.ever_requests, ever_ok: ever.0.ever_ok, ..Default::default() };
    let mut baseline = ArmCounts { ever_requests: ever.1.ever_requests, ever_ok: ever.1.ever_ok, ..Default::default() };
    for tick in world.ticks().get(from..).unwrap_or(&[]) {
        canary.add(&tick.canary);
        baseline.add(&tick.baseline);
    }
    *ever = (canary, baseline);
    Observation { index: at.0, elapsed: at.1, weight: world.weight(), canary, baseline }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::grid::{Case, Cell};

    /// Advances one step per interval, then promotes at 100%.
    struct Stepper;

    impl Algorithm for Stepper {
        fn decide(&mut self, o: &Observation, _: Prometheus<'_>) -> Call {
            match crate::quality::next_step(o.weight) {
                Some(w) => Call::Advance(w),
                None => Call::Promote,
            }
        }
    }

    #[test]
    fn weights_apply_to_the_next_interval_and_the_decision_ends_the_run() {
        let cell = Cell { case: Case::by_name("healthy").unwrap(), rate: 100.0 };
        let scenario = cell.scenario();
        let mut seen = Vec::new();
        struct Spy<'a>(&'a mut Vec<(u32, u8, u64)>);
        impl Algorithm for Spy<'_> {
            fn decide(&mut self, o: &Observation, p: Prometheus<'_>) -> Call {
                self.0.push((o.index, o.weight, o.canary.requests));
                Stepper.decide(o, p)
            }
        }
        let result = run(&scenario, 3, &mut Spy(&mut seen));
        assert_eq!(result.outcome, Outcome::Promoted);
        assert_eq!(result.minutes, Some(5));
        let weights: Vec<u8> = seen.iter().map(|s| s.1).collect();
        assert_eq!(weights, [0, 10, 25, 50, 100]);
        assert_eq!(seen[0].2, 0, "weight 0 in the first minute: no canary traffic");
        assert!(seen[4].2 > 5000, "100% of 100 req/s for a minute: {seen:?}");
        assert_eq!(result.canary_requests, seen.iter().map(|s| s.2).sum::<u64>());
    }

    #[test]
    fn an_algorithm_that_never_advances_exposes_nobody() {
        struct Never;
        impl Algorithm for Never {
            fn decide(&mut self, _: &Observation, _: Prometheus<'_>) -> Call {
                Call::Continue
            }
        }
        let scenario = Cell { case: Case::by_name("outage").unwrap(), rate: 10.0 }.scenario();
        let never = run(&scenario, 9, &mut Never);
        assert_eq!((never.outcome, never.minutes, never.canary_requests), (Outcome::Undecided, None, 0));
    }
}
