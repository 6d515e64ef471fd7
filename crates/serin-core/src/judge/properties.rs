//! Operating characteristics of the judge by simulation (the properties the product
//! promises): 50 req/s total, canary share 10%, 1-minute intervals, 200 seeds, baseline
//! error rate 0.5%. Run with `--nocapture` to see the measured numbers.

use std::collections::BTreeMap;
use std::time::SystemTime;

use super::tests::{context, counts, error_template};
use super::*;

const SEEDS: u64 = 200;
const TOTAL_PER_INTERVAL: f64 = 50.0 * 60.0;
const SHARE: f64 = 0.10;
const BASELINE_P: f64 = 0.005;

/// splitmix64: tiny, deterministic, good enough for a simulation.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1).
    fn uniform(&mut self) -> f64 {
        ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    /// Binomial(n, p) by inversion (p small, so the loop is short).
    fn binomial(&mut self, n: u64, p: f64) -> u64 {
        let q = 1.0 - p;
        let mut pmf = q.powf(n as f64);
        if pmf < 1e-300 {
            return (0..n).filter(|_| self.uniform() < p).count() as u64;
        }
        let u = self.uniform();
        let (mut cdf, mut k) = (pmf, 0u64);
        while u > cdf && k < n {
            pmf *= (n - k) as f64 / (k + 1) as f64 * p / q;
            k += 1;
            cdf += pmf;
        }
        k
    }

    /// Requests of one arm: total traffic is Poisson, split binomially; approximated by a
    /// normal with the Poisson-thinned variance (mean ≥ 300, so the approximation is fine).
    fn requests(&mut self, mean: f64) -> u64 {
        let z = (-2.0 * self.uniform().ln()).sqrt() * (std::f64::consts::TAU * self.uniform()).cos();
        (mean + mean.sqrt() * z).round().max(0.0) as u64
    }
}

/// What one simulated run saw.
#[derive(Debug, Default)]
struct Outcome {
    first_fail: Option<usize>,
    first_pass: Option<usize>,
    /// First interval each trigger fired as a rollback (action rollback, or
    /// rollback-if-worse with the canary worse).
    rollbacks: BTreeMap<String, usize>,
}

fn simulate(seed: u64, canary_p: f64, intervals: usize) -> Outcome {
    let templates = [error_template()];
    let mut rng = Rng(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
    // As the daemon and replay do: the baseline's 60 intervals before the run, for the
    // dispersion estimate.
    let history: Vec<IntervalObservation> = (0..60)
        .map(|_| {
            let nb = rng.requests(TOTAL_PER_INTERVAL);
            let eb = rng.binomial(nb, BASELINE_P);
            let metrics = BTreeMap::from([(
                "error-rate".to_string(),
                MetricObservation { canary: Reading::NoData, baseline: Some(counts(eb as f64, nb as f64)) },
            )]);
            IntervalObservation { at: SystemTime::UNIX_EPOCH, metrics }
        })
        .collect();
    let mut state = prime(&JudgeState::default(), &templates, &history);
    let mut out = Outcome::default();
    for i in 1..=intervals {
        let nc = rng.requests(TOTAL_PER_INTERVAL * SHARE);
        let nb = rng.requests(TOTAL_PER_INTERVAL * (1.0 - SHARE));
        let ec = rng.binomial(nc, canary_p);
        let eb = rng.binomial(nb, BASELINE_P);
        let mut metrics = BTreeMap::new();
        metrics.insert(
            "error-rate".to_string(),
            MetricObservation { canary: counts(ec as f64, nc as f64), baseline: Some(counts(eb as f64, nb as f64)) },
        );
        let obs = IntervalObservation { at: SystemTime::UNIX_EPOCH, metrics };
        let (next, j) = update(&state, &templates, &obs, &context(1), &JudgeConfig::default());
        state = next;
        if out.first_fail.is_none() && j.any(Verdict::Fail) {
            out.first_fail = Some(i);
        }
        if out.first_pass.is_none() && j.all_pass() {
            out.first_pass = Some(i);
        }
        for t in j.fired() {
            let rollback = match t.action {
                TriggerAction::Rollback => true,
                TriggerAction::RollbackIfWorse => t.canary_worse,
                TriggerAction::Pause => false,
            };
            if rollback {
                out.rollbacks.entry(t.trigger.clone()).or_insert(i);
            }
        }
    }
    out
}

/// Intervals at which `trigger` first rolled back, over the runs where it did.
fn fired(runs: &[Outcome], trigger: &str) -> Vec<usize> {
    runs.iter().filter_map(|o| o.rollbacks.get(trigger).copied()).collect()
}

fn describe(times: &[usize]) -> String {
    if times.is_empty() {
        return "none".to_string();
    }
    let mut t = times.to_vec();
    t.sort_unstable();
    format!("median {} max {} (n={})", t[t.len() / 2], t[t.len() - 1], t.len())
}

#[test]
fn healthy_canary_is_not_rolled_back_and_passes() {
    let runs: Vec<Outcome> = (0..SEEDS).map(|s| simulate(s, BASELINE_P, 60)).collect();
    let false_fail = runs.iter().filter(|o| o.first_fail.is_some()).count();
    let false_rollback = runs.iter().filter(|o| !o.rollbacks.is_empty()).count();
    let either = runs.iter().filter(|o| o.first_fail.is_some() || !o.rollbacks.is_empty()).count();
    let pass_times: Vec<usize> = runs.iter().filter_map(|o| o.first_pass).collect();
    let passed_by_20 = pass_times.iter().filter(|&&t| t <= 20).count();
    eprintln!(
        "healthy: false Fail {false_fail}/{SEEDS}, false rollback trigger {false_rollback}/{SEEDS}, \
         pass within 20 intervals {passed_by_20}/{SEEDS}, intervals to pass: {}",
        describe(&pass_times)
    );
    assert!(either <= 2, "{either} seeds failed or rolled back a healthy canary");
    assert!(passed_by_20 >= 190, "only {passed_by_20} seeds passed within 20 intervals");
}

#[test]
fn eight_percent_canary_fires_critical_at_once() {
    let runs: Vec<Outcome> = (0..SEEDS).map(|s| simulate(s, 0.08, 10)).collect();
    let times = fired(&runs, "error-rate-critical");
    let within_3 = times.iter().filter(|&&t| t <= 3).count();
    eprintln!("8% canary: error-rate-critical within 3 intervals {within_3}/{SEEDS}, {}", describe(&times));
    assert!(within_3 >= 198, "only {within_3} seeds fired error-rate-critical within 3 intervals");
}

#[test]
fn three_percent_canary_fails_the_comparison() {
    let runs: Vec<Outcome> = (0..SEEDS).map(|s| simulate(s, 0.03, 30)).collect();
    let fails: Vec<usize> = runs.iter().filter_map(|o| o.first_fail).collect();
    let elevated = fired(&runs, "error-rate-elevated");
    let critical = fired(&runs, "error-rate-critical").len();
    eprintln!(
        "3% canary: comparison Fail within 30 intervals {}/{SEEDS} ({}); error-rate-elevated fired {}/{SEEDS} ({}); \
         error-rate-critical fired {critical}/{SEEDS} (point estimate of a short step above 5%)",
        fails.len(),
        describe(&fails),
        elevated.len(),
        describe(&elevated)
    );
    assert!(fails.len() >= 198, "only {} seeds failed the comparison", fails.len());
    assert!(elevated.len() >= 198, "only {} seeds rolled back through error-rate-elevated", elevated.len());
}
