//! The decision-quality benchmark (`serin-sim benchmark`): serin against Flagger, Argo
//! Rollouts, Kayenta and the sequential-test bound, in one closed-loop simulation.
//!
//! Every algorithm sits behind [`Algorithm`]: once per analysis interval (one minute) it
//! gets what the simulated ingress-nginx exposed during that interval ([`Observation`]) and
//! answers continue / advance / promote / rollback ([`Call`]). The driver
//! ([`closed_loop::run`]) owns one simulated [`World`] per run, gives the next interval's
//! traffic the weight the algorithm set (so a slower algorithm exposes more canary
//! requests) and stops the canary's traffic at the decision. One scenario and seed give
//! every algorithm the same total traffic, tick by tick (the world's common random numbers).
//!
//! - `flagger.rs`, `argo.rs`, `kayenta.rs`: what platform teams run today, each faithful to
//!   the upstream source file it cites (listed in `simulations/README.md`);
//! - `honesty.rs`: whether serin's "needs ~N more minutes" came true within 2N;
//! - `oracle.rs`: the Wald SPRT that knows the true rates (a lower bound, not deployable);
//! - `serin.rs`: serin itself through `replay::Replayer` → `engine::decide`, the engine the
//!   daemon and `serin replay` run;
//! - `promql.rs`: what the baselines' PromQL computes from one interval's counters;
//! - `cases.rs`: what the canary does and the world around it (bursts, scrapes, holds);
//! - `closed_loop.rs`: one run; `grid.rs`: cases × traffic × algorithms × seeds, in parallel;
//! - `figures.rs`: per-cell aggregates and the targets (`realism.rs`: those of the judge on
//!   real traffic); `report.rs`: the markdown;
//!   `plot.rs`: one SVG per case.

pub mod argo;
pub mod cases;
pub mod closed_loop;
pub mod figures;
pub mod flagger;
pub mod grid;
pub mod honesty;
pub mod intervals;
pub mod kayenta;
pub mod oracle;
pub mod plot;
pub mod promql;
pub mod realism;
pub mod report;
pub mod serin;

use std::collections::BTreeMap;
use std::time::Duration;

use crate::sim::{LE_BOUNDS, QueryRole, World, WorldSource};

/// Canary weights of every algorithm (Flagger's `stepWeights`, Argo's `setWeight` steps and
/// serin's default `serin.io/steps`).
pub const STEPS: [u8; 4] = [10, 25, 50, 100];

/// One analysis interval: Flagger's `interval` default, serin's `serin.io/interval` default.
pub const INTERVAL: Duration = Duration::from_secs(60);

/// One version's counters during one analysis interval, as ingress-nginx exposes them.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ArmCounts {
    pub requests: u64,
    /// 5xx answers among `requests`.
    pub errors: u64,
    /// `..._request_duration_seconds_bucket` increases, cumulative over `le` ([`LE_BOUNDS`]).
    pub buckets: [f64; LE_BOUNDS.len()],
    /// `..._response_duration_seconds_sum` increase, in seconds.
    pub latency_sum: f64,
    /// The version's request series exists: it served a request at some point. PromQL
    /// answers "no series" with an empty vector and "no request in this window" with 0
    /// (so a ratio is 0/0 = NaN); the baselines treat the two differently.
    pub ever_requests: bool,
    /// A non-5xx series exists (a `status!~"5.."` selector is empty until then).
    pub ever_ok: bool,
}

impl ArmCounts {
    /// Adds one tick's increments (a scrape) to the interval.
    fn add(&mut self, tick: &crate::sim::VersionTick) {
        self.requests += tick.requests;
        self.errors += tick.errors;
        for (sum, b) in self.buckets.iter_mut().zip(&tick.buckets) {
            *sum += b;
        }
        self.latency_sum += tick.latency_sum;
        self.ever_requests |= tick.requests > 0;
        self.ever_ok |= tick.requests > tick.errors;
    }
}

/// What one analysis interval exposed, for both versions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    /// Intervals since the start: this one is the `index`-th, `(elapsed − interval, elapsed]`.
    pub index: u32,
    /// Time from the start to the end of this interval.
    pub elapsed: Duration,
    /// The canary weight in force while the interval's traffic flowed.
    pub weight: u8,
    pub canary: ArmCounts,
    pub baseline: ArmCounts,
}

/// What an algorithm does after an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    /// Keep the weight (wait for more evidence, a failed check, a pause).
    Continue,
    /// Send the canary this weight (percent) from the next interval on.
    Advance(u8),
    Promote,
    Rollback,
}

/// One algorithm under test. A fresh value runs one rollout; it owns its state.
pub trait Algorithm {
    /// One interval's observation in, what to do out. `prometheus` is the simulated
    /// Prometheus for an algorithm that runs its own queries (serin does, through its
    /// templates, as the daemon would); the baselines read only `observation`, which holds
    /// exactly what their queries would return.
    fn decide(&mut self, observation: &Observation, prometheus: Prometheus<'_>) -> Call;

    /// How often it decides: every baseline at its one-minute default; serin at its
    /// `serin.io/interval` (the interval study, `intervals.rs`).
    fn interval(&self) -> Duration {
        INTERVAL
    }

    /// Undecided because it paused for a human, rather than still gathering evidence.
    fn paused(&self) -> bool {
        false
    }

    /// Forecasts of its own decisions it made and kept: (checked, honest). Only serin
    /// forecasts.
    fn forecasts(&self) -> (u32, u32) {
        (0, 0)
    }
}

/// The simulated Prometheus at the current instant: read-only, never ahead of the world.
#[derive(Debug, Clone, Copy)]
pub struct Prometheus<'a> {
    world: &'a World,
}

impl<'a> Prometheus<'a> {
    /// A source answering `roles`' rendered queries as `increase(...[window])`.
    pub fn source(&self, roles: &'a BTreeMap<String, QueryRole>, window: Duration) -> WorldSource<'a> {
        WorldSource { world: self.world, roles, window }
    }
}

/// The weight after `weight` in [`STEPS`] (`None` at the last step).
pub fn next_step(weight: u8) -> Option<u8> {
    STEPS.iter().copied().find(|&w| w > weight)
}

/// Where a baseline stands on [`STEPS`]: the bookkeeping all four baselines share.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ladder {
    weight: u8,
}

impl Ladder {
    /// The weight in force (0 before the first step).
    pub fn weight(&self) -> u8 {
        self.weight
    }

    /// On a run's first tick, the first step: the candidate just became ready, there is
    /// nothing to judge yet (Flagger's pre-rollout tick). `None` once started.
    pub fn start(&mut self) -> Option<Call> {
        (self.weight == 0).then(|| {
            self.weight = STEPS[0];
            Call::Advance(self.weight)
        })
    }

    /// The next step, or the promotion after the last.
    pub fn climb(&mut self) -> Call {
        match next_step(self.weight) {
            Some(w) => {
                self.weight = w;
                Call::Advance(w)
            }
            None => Call::Promote,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Runs `f` with a Prometheus over an empty world: for algorithms that only read their
    /// observations.
    pub(crate) fn prometheus_never_read<R>(f: impl FnOnce(Prometheus<'_>) -> R) -> R {
        let scenario = grid::Cell { case: grid::Case::by_name("healthy").unwrap(), rate: 1.0 }.scenario();
        let world = World::new(&scenario, None);
        f(Prometheus { world: &world })
    }

    /// One version's interval: every request in the (50 ms, 100 ms] bucket, 90 ms each.
    pub(crate) fn arm(requests: u64, errors: u64) -> ArmCounts {
        let mut buckets = [requests as f64; LE_BOUNDS.len()];
        buckets[..4].fill(0.0);
        let latency_sum = 0.09 * requests as f64;
        ArmCounts { requests, errors, buckets, latency_sum, ever_requests: true, ever_ok: requests > errors }
    }

    /// An interval without requests of a version whose series exist: ratios are 0/0 = NaN.
    pub(crate) fn quiet() -> ArmCounts {
        ArmCounts { ever_requests: true, ever_ok: true, ..Default::default() }
    }

    /// An interval at 10%.
    pub(crate) fn observation(canary: ArmCounts, baseline: ArmCounts) -> Observation {
        Observation { index: 1, elapsed: INTERVAL, weight: 10, canary, baseline }
    }

    /// What `algorithm` answers to each observation in turn.
    pub(crate) fn calls(algorithm: &mut dyn Algorithm, observations: &[Observation]) -> Vec<Call> {
        prometheus_never_read(|p| observations.iter().map(|o| algorithm.decide(o, p)).collect())
    }

    #[test]
    fn steps_advance_in_order() {
        assert_eq!(next_step(0), Some(10));
        assert_eq!(next_step(10), Some(25));
        assert_eq!(next_step(50), Some(100));
        assert_eq!(next_step(100), None);
    }
}
