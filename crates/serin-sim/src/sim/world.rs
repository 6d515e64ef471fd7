//! The simulated world: an ingress-nginx in front of a stable and a canary version,
//! advancing in fixed ticks of the scenario's `step`.
//!
//! Each tick draws: total requests ~ Poisson(rate × step); canary requests ~
//! Binomial(total, weight/100) with the weight the rollout set (the canary share follows
//! the weight); per version errors ~ Binomial(requests, error_rate) and latencies into
//! the histogram buckets. The world keeps every tick's increments, so any query window
//! can be answered afterwards.
//!
//! Determinism: the numbers are a function of (scenario, seed, weight history) only.
//! Every tick and every version has its own RNG stream seeded from (seed, tick, stream),
//! so the total traffic of a tick is the same whatever weights were set (common random
//! numbers: two policies replayed on one scenario see the same load).

use std::time::{Duration, SystemTime};

use rand::SeedableRng;
use rand::rngs::StdRng;
use rand_distr::{Distribution, Gamma, Poisson};

use super::latency::{LE_BOUNDS, LatencyModel, binomial};
use super::scenario::{Scenario, VersionPhase};

/// Which version of the application (for blue-green: the new slot and the previous one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Arm {
    Canary,
    /// The stable version, the canary's comparison baseline.
    Baseline,
}

/// One version's increments during one tick.
#[derive(Debug, Clone, PartialEq)]
pub struct VersionTick {
    pub requests: u64,
    /// 5xx answers among `requests`.
    pub errors: u64,
    /// Cumulative over `le`, aligned with [`LE_BOUNDS`]; the last equals `requests`.
    pub buckets: Vec<f64>,
    /// Sum of latencies in seconds.
    pub latency_sum: f64,
}

/// One scrape interval `(end − step, end]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Tick {
    pub end: SystemTime,
    /// The canary weight in force while the tick's traffic flowed.
    pub weight: u8,
    /// Prometheus has no sample for this tick's scrape.
    pub gap: bool,
    pub canary: VersionTick,
    pub baseline: VersionTick,
}

impl Tick {
    pub fn arm(&self, arm: Arm) -> &VersionTick {
        match arm {
            Arm::Canary => &self.canary,
            Arm::Baseline => &self.baseline,
        }
    }
}

/// One version's counters summed over every tick so far (what a scrape reads).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counters {
    pub requests: f64,
    pub errors: f64,
    /// Cumulative over `le` and over time, aligned with [`LE_BOUNDS`].
    pub buckets: [f64; LE_BOUNDS.len()],
    pub latency_sum: f64,
}

impl Counters {
    fn add(&mut self, v: &VersionTick) {
        self.requests += v.requests as f64;
        self.errors += v.errors as f64;
        for (c, b) in self.buckets.iter_mut().zip(&v.buckets) {
            *c += b;
        }
        self.latency_sum += v.latency_sum;
    }
}

/// The simulation state: the scenario, the current weight and every tick generated so far.
#[derive(Debug, Clone)]
pub struct World {
    scenario: Scenario,
    seed: u64,
    weight: u8,
    ticks: Vec<Tick>,
    /// Per tick, both versions' counters up to and including it ([canary, baseline]).
    counters: Vec<[Counters; 2]>,
    /// Each phase's latency model ([canary phases, stable phases]), built once.
    latency: [Vec<LatencyModel>; 2],
}

/// Counters before the first tick.
const ZERO: Counters = Counters { requests: 0.0, errors: 0.0, buckets: [0.0; LE_BOUNDS.len()], latency_sum: 0.0 };

/// RNG streams within a tick; fixed numbers so that adding a stream never shifts another.
const STREAM_TOTAL: u64 = 1;
const STREAM_SPLIT: u64 = 2;
const STREAM_CANARY: u64 = 3;
const STREAM_BASELINE: u64 = 4;

impl World {
    /// A world at the scenario's start, canary weight 0. `seed_override` replaces the
    /// scenario's seed (for running one scenario under many seeds).
    pub fn new(scenario: &Scenario, seed_override: Option<u64>) -> World {
        let models = |phases: &[VersionPhase]| phases.iter().map(|p| LatencyModel::new(&p.latency)).collect();
        World {
            scenario: scenario.clone(),
            seed: seed_override.unwrap_or(scenario.seed),
            weight: 0,
            ticks: Vec::new(),
            counters: Vec::new(),
            latency: [models(&scenario.canary), models(&scenario.stable)],
        }
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    pub fn seed(&self) -> u64 {
        self.seed
    }

    pub fn start(&self) -> SystemTime {
        self.scenario.start
    }

    /// No traffic is generated past this instant.
    pub fn end(&self) -> SystemTime {
        self.scenario.end()
    }

    pub fn step(&self) -> Duration {
        self.scenario.step
    }

    /// The end of the last generated tick (the origin before any).
    pub fn now(&self) -> SystemTime {
        self.ticks.last().map(|t| t.end).unwrap_or(self.scenario.origin())
    }

    /// Where the first tick begins: the scenario's start less its history.
    pub fn origin(&self) -> SystemTime {
        self.scenario.origin()
    }

    /// `arm`'s counters after the first `ticks` ticks (zero for none, or for more ticks
    /// than were generated).
    pub fn counters(&self, ticks: usize, arm: Arm) -> &Counters {
        ticks.checked_sub(1).and_then(|i| self.counters.get(i)).map_or(&ZERO, |c| &c[arm_index(arm)])
    }

    pub fn weight(&self) -> u8 {
        self.weight
    }

    /// Every tick generated so far, oldest first.
    pub fn ticks(&self) -> &[Tick] {
        &self.ticks
    }

    /// Sets the canary weight (percent, clamped to 100) for every tick generated from now
    /// on; ticks already generated keep theirs, as traffic already served does.
    pub fn set_weight(&mut self, weight: u8) {
        self.weight = weight.min(100);
    }

    /// Generates the ticks that end at or before `t` (and at or before [`World::end`]).
    /// Never goes backwards: an earlier `t` does nothing.
    pub fn advance_to(&mut self, t: SystemTime) {
        let limit = t.min(self.end());
        loop {
            let index = self.ticks.len() as u64;
            let Some(end) = self.tick_end(index) else { return };
            if end > limit {
                return;
            }
            let tick = self.generate(index, end);
            let mut counters = self.counters.last().copied().unwrap_or_default();
            counters[arm_index(Arm::Canary)].add(&tick.canary);
            counters[arm_index(Arm::Baseline)].add(&tick.baseline);
            self.counters.push(counters);
            self.ticks.push(tick);
        }
    }

    /// End instant of tick `index`, `None` on overflow.
    fn tick_end(&self, index: u64) -> Option<SystemTime> {
        let steps = u32::try_from(index.checked_add(1)?).ok()?;
        self.scenario.origin().checked_add(self.scenario.step.checked_mul(steps)?)
    }

    fn generate(&self, index: u64, end: SystemTime) -> Tick {
        let step = self.scenario.step;
        // Offset of the tick's start from the scenario's start; history ticks use the first phases.
        let begin = end.checked_sub(step).unwrap_or(end);
        let offset = begin.duration_since(self.scenario.start).unwrap_or(Duration::ZERO);
        let rate = phase_at(&self.scenario.traffic, offset, |p| p.at).map(|p| p.rate).unwrap_or(0.0);
        let lambda = rate * step.as_secs_f64();
        let total = match Poisson::new(lambda) {
            Ok(d) if lambda > 0.0 => d.sample(&mut self.rng(index, STREAM_TOTAL)) as u64,
            _ => 0,
        };
        let share = match self.scenario.canary_share {
            Some(share) if self.weight > 0 => share,
            _ => f64::from(self.weight) / 100.0,
        };
        let canary_requests = binomial(total, share, &mut self.rng(index, STREAM_SPLIT));
        let phase = |arm: Arm| {
            let phases = match arm {
                Arm::Canary => &self.scenario.canary,
                Arm::Baseline => &self.scenario.stable,
            };
            let index = version_phase(phases, offset, self.weight)?;
            Some((&phases[index], &self.latency[arm_index(arm)][index]))
        };
        let (canary_phase, baseline_phase) = (phase(Arm::Canary), phase(Arm::Baseline));
        Tick {
            end,
            weight: self.weight,
            gap: self.in_gap(end),
            canary: version_tick(canary_phase, canary_requests, &mut self.rng(index, STREAM_CANARY)),
            baseline: version_tick(baseline_phase, total - canary_requests, &mut self.rng(index, STREAM_BASELINE)),
        }
    }

    /// Whether a scrape at `t` falls in a gap (`from ≤ t − start < to`).
    pub fn in_gap(&self, t: SystemTime) -> bool {
        if self.scenario.gaps.is_empty() {
            return false;
        }
        let Ok(offset) = t.duration_since(self.scenario.start) else { return false };
        self.scenario.gaps.iter().any(|g| g.from <= offset && offset < g.to)
    }

    /// The RNG of tick `index` and `stream`, keyed by the tick's position relative to the
    /// scenario's start (not to the origin), so worlds with and without history draw the
    /// very same traffic from the start on.
    fn rng(&self, index: u64, stream: u64) -> StdRng {
        let history_ticks = (self.scenario.history.as_nanos() / self.scenario.step.as_nanos().max(1)) as u64;
        let tick = index.wrapping_sub(history_ticks);
        StdRng::seed_from_u64(mix(mix(self.seed ^ mix(tick)) ^ stream))
    }
}

fn version_tick(phase: Option<(&VersionPhase, &LatencyModel)>, requests: u64, rng: &mut StdRng) -> VersionTick {
    let Some((phase, latency)) = phase else {
        return VersionTick { requests, errors: 0, buckets: vec![requests as f64; LE_BOUNDS.len()], latency_sum: 0.0 };
    };
    let errors = clustered_errors(requests, phase.error_rate, phase.cluster, rng);
    let latency = latency.draw(requests, rng);
    VersionTick { requests, errors, buckets: latency.buckets, latency_sum: latency.sum }
}

/// Errors among `requests`: independent at `rate`, or in clusters of geometric size with
/// mean `cluster` (clusters ~ Binomial(requests, rate/cluster); the sum of k geometric
/// sizes is k plus a negative binomial, drawn as a gamma-Poisson mixture), never more
/// than the requests.
pub(crate) fn clustered_errors(requests: u64, rate: f64, cluster: f64, rng: &mut StdRng) -> u64 {
    if cluster <= 1.0 || rate >= 1.0 {
        return binomial(requests, rate, rng);
    }
    let clusters = binomial(requests, rate / cluster, rng);
    if clusters == 0 {
        return 0;
    }
    // Geometric on {1, 2, …} with mean m: failures before success with p = 1/m, plus one.
    let extra = match Gamma::new(clusters as f64, cluster - 1.0) {
        Ok(g) => {
            let lambda: f64 = g.sample(rng);
            Poisson::new(lambda).map(|p| p.sample(rng) as u64).unwrap_or(0)
        }
        Err(_) => 0,
    };
    (clusters + extra).min(requests)
}

/// The phase of a version at `offset` and canary `weight` (its index): the last phase
/// started by then whose weight condition holds.
fn version_phase(phases: &[VersionPhase], offset: Duration, weight: u8) -> Option<usize> {
    phases.iter().rposition(|p| p.at <= offset && weight >= p.min_weight)
}

fn arm_index(arm: Arm) -> usize {
    match arm {
        Arm::Canary => 0,
        Arm::Baseline => 1,
    }
}

/// The phase in force at `offset`: the last one starting at or before it.
fn phase_at<T>(phases: &[T], offset: Duration, at: impl Fn(&T) -> Duration) -> Option<&T> {
    phases.iter().rev().find(|p| at(p) <= offset)
}

/// SplitMix64 finaliser: spreads (seed, tick, stream) into unrelated RNG seeds.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A small healthy scenario for unit tests.
    pub(crate) fn scenario(extra: &str) -> Scenario {
        let yaml = format!(
            "name: t\nduration: 1h\nseed: 7\ntraffic: [{{at: 0s, rate: 50}}]\n\
             stable: [{{at: 0s, error_rate: 0.5%, latency: {{median: 80ms, sigma: 0.5}}}}]\n\
             canary: [{{at: 0s, error_rate: 8%, latency: {{median: 80ms, sigma: 0.5}}}}]\n\
             expect: {{outcome: promoted}}\n{extra}"
        );
        Scenario::parse(&yaml).unwrap()
    }

    fn run(world: &mut World, minutes: u64) {
        let t = world.start() + Duration::from_secs(60 * minutes);
        world.advance_to(t);
    }

    #[test]
    fn same_seed_same_numbers_and_totals_independent_of_weight() {
        let s = scenario("");
        let (mut a, mut b, mut c) = (World::new(&s, None), World::new(&s, None), World::new(&s, Some(8)));
        for w in [&mut a, &mut b] {
            w.set_weight(10);
            run(w, 30);
        }
        run(&mut c, 30);
        assert_eq!(a.ticks(), b.ticks());
        assert_ne!(a.ticks(), c.ticks());
        let mut d = World::new(&s, None);
        run(&mut d, 30);
        let totals = |w: &World| w.ticks().iter().map(|t| t.canary.requests + t.baseline.requests).collect::<Vec<_>>();
        assert_eq!(totals(&a), totals(&d), "weight history must not change total traffic");
    }

    #[test]
    fn canary_share_follows_weight_and_error_rate_matches() {
        let mut w = World::new(&scenario(""), None);
        run(&mut w, 5);
        assert!(w.ticks().iter().all(|t| t.canary.requests == 0 && t.weight == 0));
        w.set_weight(10);
        run(&mut w, 60);
        let ticks = &w.ticks()[20..];
        let canary: u64 = ticks.iter().map(|t| t.canary.requests).sum();
        let total: u64 = ticks.iter().map(|t| t.canary.requests + t.baseline.requests).sum::<u64>();
        let n = total as f64;
        let sd = (n * 0.1 * 0.9).sqrt();
        assert!((canary as f64 - 0.1 * n).abs() < 3.0 * sd, "canary {canary} of {total}");
        let errors: u64 = ticks.iter().map(|t| t.canary.errors).sum();
        let sd = (canary as f64 * 0.08 * 0.92).sqrt();
        assert!((errors as f64 - 0.08 * canary as f64).abs() < 3.0 * sd, "errors {errors} of {canary}");
        let errors: u64 = ticks.iter().map(|t| t.baseline.errors).sum();
        let base = (total - canary) as f64;
        assert!((errors as f64 - 0.005 * base).abs() < 3.0 * (base * 0.005 * 0.995).sqrt());
        // 50 rps over 55 minutes.
        assert!((n - 50.0 * 3300.0).abs() < 3.0 * (50.0f64 * 3300.0).sqrt());
    }

    #[test]
    fn never_backwards_and_stops_at_the_end() {
        let mut w = World::new(&scenario(""), None);
        run(&mut w, 10);
        assert_eq!(w.ticks().len(), 40);
        run(&mut w, 5);
        assert_eq!(w.ticks().len(), 40);
        run(&mut w, 600);
        assert_eq!(w.ticks().len(), 240);
        assert_eq!(w.now(), w.end());
        w.set_weight(250);
        assert_eq!(w.weight(), 100);
    }

    #[test]
    fn gap_flags_follow_the_scenario() {
        let mut w = World::new(&scenario("gaps: [{from: 8m, to: 25m}]\n"), None);
        run(&mut w, 30);
        let gaps: Vec<usize> = w.ticks().iter().enumerate().filter(|(_, t)| t.gap).map(|(i, _)| i).collect();
        // Tick i ends at (i + 1) × 15 s: 8m is tick 31, the last before 25m is tick 98.
        assert_eq!(gaps.first(), Some(&31));
        assert_eq!(gaps.last(), Some(&98));
        assert_eq!(gaps.len(), 68);
    }
}
