//! The oracle: Wald's sequential probability ratio test with the true rates known
//! (`simulations/README.md`). A lower bound, not deployable: no real
//! system knows how bad its canary is.
//!
//! Simple H0 "the canary behaves like the stable" against simple H1 "the canary behaves as
//! it truly does"; per step, reject (roll back) when the log-likelihood ratio reaches
//! A = ln((1−β)/α), accept (advance, promote at 100%) at B = ln(β/(1−α)), α = β = 1%. By
//! Wald–Wolfowitz no test with the same error rates needs fewer observations on average
//! under either hypothesis, so its canary exposure bounds every other algorithm's.
//!
//! - **5xx, two-sample** (B4b): condition on the interval's 5xx events; under H0 each is a
//!   canary one with probability θ0 = the canary's share of requests, under H1 with
//!   θ1 = θ0·r/(θ0·r + 1 − θ0), r = canary/stable error rate. The baseline's rate need not
//!   be known; this is the test behind "the oracle needs about 216 canary requests" for a
//!   3% canary at 10%. At 100% nobody else serves, so it falls back to the one-sample
//!   test against the known stable rate (B4).
//! - **latency, one-sample**: when the true latency distributions differ, each canary
//!   request's bucket adds ln(q1/q0) with q the true bucket probabilities of the canary
//!   and of the stable.
//! - **5xx in bursts** (bursts of geometric size, mean m, starting at rate/m per request):
//!   the interval's canary count is Pólya–Aeppli (Poisson bursts of geometric sizes), so
//!   each interval adds ln P1(count)/P0(count), H0 the stable's rate and H1 the canary's,
//!   both with the canary's true burst size, one-sample against the known stable rate.
//!   Counting errors as if independent would be no bound: it would roll back healthy
//!   bursty canaries.
//! - When the canary truly equals the stable (healthy, the shared incident) there is no
//!   true alternative; H1 is then "twice the stable's error rate", the smallest regression
//!   serin insists on ruling out before it promotes (the judge's non-inferiority margin).

use super::{Algorithm, ArmCounts, Call, Ladder, Observation, Prometheus};
use crate::sim::LE_BOUNDS;
use crate::sim::latency::LatencyModel;
use crate::sim::scenario::Latency;

const ALPHA: f64 = 0.01;
const BETA: f64 = 0.01;
/// H1 for a canary that truly equals the stable.
const NO_WORSE_MARGIN: f64 = 2.0;
/// Keeps log-probabilities finite for buckets a version (almost) never reaches.
const MIN_PROBABILITY: f64 = 1e-300;

/// What the oracle knows: both versions' true behaviour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Truth {
    pub stable_error_rate: f64,
    pub canary_error_rate: f64,
    pub stable_latency: Latency,
    pub canary_latency: Latency,
    /// Mean burst size of the canary's errors (1: independent).
    pub canary_cluster: f64,
}

/// One oracle run.
#[derive(Debug, Clone)]
pub struct Oracle {
    /// Error-rate ratio under H1 (1 when only the latency differs).
    ratio: f64,
    stable_error_rate: f64,
    /// The canary's mean burst size, when its errors come in bursts: H0 and H1 differ in
    /// the rate bursts start at, not in their size.
    bursts: Option<f64>,
    /// ln(q1/q0) per bucket; all 0 when the latencies agree.
    bucket_log_ratio: [f64; LE_BOUNDS.len()],
    ladder: Ladder,
    llr: f64,
}

impl Oracle {
    pub fn new(truth: &Truth) -> Oracle {
        let q0 = LatencyModel::new(&truth.stable_latency).bucket_probabilities();
        let q1 = LatencyModel::new(&truth.canary_latency).bucket_probabilities();
        let bucket_log_ratio =
            std::array::from_fn(|k| q1[k].max(MIN_PROBABILITY).ln() - q0[k].max(MIN_PROBABILITY).ln());
        let latency_differs = truth.stable_latency != truth.canary_latency;
        let true_ratio = truth.canary_error_rate / truth.stable_error_rate.max(MIN_PROBABILITY);
        let ratio = if true_ratio > 1.0 {
            true_ratio
        } else if latency_differs {
            1.0
        } else {
            NO_WORSE_MARGIN
        };
        let bursts = (truth.canary_cluster > 1.0).then_some(truth.canary_cluster);
        Oracle {
            ratio,
            stable_error_rate: truth.stable_error_rate,
            bursts,
            bucket_log_ratio,
            ladder: Ladder::default(),
            llr: 0.0,
        }
    }

    /// The interval's log-likelihood ratio of H1 against H0.
    fn log_likelihood_ratio(&self, canary: &ArmCounts, baseline: &ArmCounts) -> f64 {
        let (c_ok, c_bad) = ((canary.requests - canary.errors) as f64, canary.errors as f64);
        let errors = if let Some(m) = self.bursts {
            let (n, p0, count) = (canary.requests as f64, self.stable_error_rate, canary.errors);
            ln_polya_aeppli(count, n * p0 * self.ratio / m, m) - ln_polya_aeppli(count, n * p0 / m, m)
        } else if baseline.requests > 0 && canary.requests > 0 {
            let theta0 = canary.requests as f64 / (canary.requests + baseline.requests) as f64;
            let theta1 = theta0 * self.ratio / (theta0 * self.ratio + 1.0 - theta0);
            c_bad * (theta1 / theta0).ln() + baseline.errors as f64 * ((1.0 - theta1) / (1.0 - theta0)).ln()
        } else {
            let p0 = self.stable_error_rate.clamp(MIN_PROBABILITY, 1.0 - 1e-12);
            let p1 = (p0 * self.ratio).clamp(MIN_PROBABILITY, 1.0 - 1e-12);
            c_bad * (p1 / p0).ln() + c_ok * ((1.0 - p1) / (1.0 - p0)).ln()
        };
        let mut below = 0.0;
        let mut latency = 0.0;
        for (cumulative, log_ratio) in canary.buckets.iter().zip(&self.bucket_log_ratio) {
            let in_bucket = cumulative - below;
            below = *cumulative;
            if in_bucket > 0.0 {
                latency += in_bucket * log_ratio;
            }
        }
        errors + latency
    }
}

/// ln P(Y = y) when Y is the total of Poisson(`bursts`) bursts of geometric size on
/// {1, 2, …} with mean `m` (the Pólya–Aeppli distribution):
/// P(y) = e^(−μ) Σ_{k=1..y} C(y−1, k−1) (μ/m)^k / k! · (1 − 1/m)^(y−k), summed in log space.
fn ln_polya_aeppli(y: u64, bursts: f64, m: f64) -> f64 {
    if y == 0 || bursts <= 0.0 {
        return if y == 0 { -bursts } else { f64::NEG_INFINITY };
    }
    if m <= 1.0 {
        // Every burst a single event: Poisson.
        let y = y as f64;
        return y * bursts.ln() - bursts - ln_factorial(y);
    }
    let (p, yf) = (1.0 / m, y as f64);
    let terms: Vec<f64> = (1..=y)
        .map(|k| {
            let k = k as f64;
            let choose = ln_factorial(yf - 1.0) - ln_factorial(k - 1.0) - ln_factorial(yf - k);
            choose + k * (bursts * p).ln() - ln_factorial(k) + (yf - k) * (1.0 - p).ln()
        })
        .collect();
    let max = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    -bursts + max + terms.iter().map(|t| (t - max).exp()).sum::<f64>().ln()
}

fn ln_factorial(x: f64) -> f64 {
    statrs::function::gamma::ln_gamma(x + 1.0)
}

impl Algorithm for Oracle {
    fn decide(&mut self, observation: &Observation, _: Prometheus<'_>) -> Call {
        if let Some(first) = self.ladder.start() {
            return first;
        }
        self.llr += self.log_likelihood_ratio(&observation.canary, &observation.baseline);
        if self.llr >= ((1.0 - BETA) / ALPHA).ln() {
            return Call::Rollback;
        }
        if self.llr > (BETA / (1.0 - ALPHA)).ln() {
            return Call::Continue;
        }
        // Accepted at this weight: a fresh test at the next.
        self.llr = 0.0;
        self.ladder.climb()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn latency(median_ms: u64) -> Latency {
        Latency { median: Duration::from_millis(median_ms), sigma: 0.5, tail: None }
    }

    fn truth(canary: f64) -> Truth {
        Truth {
            stable_error_rate: 0.005,
            canary_error_rate: canary,
            stable_latency: latency(80),
            canary_latency: latency(80),
            canary_cluster: 1.0,
        }
    }

    #[test]
    fn polya_aeppli_sums_to_one_and_is_poisson_for_single_events() {
        let total: f64 = (0..400).map(|y| ln_polya_aeppli(y, 2.5, 5.0).exp()).sum();
        assert!((total - 1.0).abs() < 1e-9, "{total}");
        let mean: f64 = (0..400).map(|y| y as f64 * ln_polya_aeppli(y, 2.5, 5.0).exp()).sum();
        assert!((mean - 12.5).abs() < 1e-6, "2.5 bursts of mean 5: {mean}");
        let poisson = 3.0f64.powi(2) * (-3.0f64).exp() / 2.0;
        assert!((ln_polya_aeppli(2, 3.0, 1.0).exp() - poisson).abs() < 1e-12);
    }

    /// Why the 99% target does not apply to a 3% canary with bursts of 5 at 10 req/s
    /// (`simulations/results.md`): the Neyman–Pearson test of its 39 minutes at 10% weight,
    /// knowing every rate and the burst sizes and looking once at the end, is the most
    /// powerful level-1% test of that data, and it rolls back about 98%. A test that looks
    /// every minute, estimates the stable and does not know the bursts does less.
    #[test]
    fn no_level_one_percent_test_rolls_back_99_percent_of_bursty_3pct_canaries_at_10_req_s() {
        use rand::SeedableRng;
        let (n, m, minutes, runs) = (60, 5.0, 39, 4000);
        let mut rng = rand::rngs::StdRng::seed_from_u64(11);
        // The canary's minutes drawn as the benchmark's world draws them.
        let mut llr_of_run = |rate: f64| -> f64 {
            (0..minutes)
                .map(|_| {
                    let y = crate::sim::world::clustered_errors(n, rate, m, &mut rng);
                    let bursts = |p: f64| n as f64 * p / m;
                    ln_polya_aeppli(y, bursts(0.03), m) - ln_polya_aeppli(y, bursts(0.005), m)
                })
                .sum()
        };
        let mut healthy: Vec<f64> = (0..runs).map(|_| llr_of_run(0.005)).collect();
        healthy.sort_by(f64::total_cmp);
        let threshold = healthy[runs * 99 / 100];
        let power = (0..runs).filter(|_| llr_of_run(0.03) > threshold).count() as f64 / runs as f64;
        assert!((0.95..0.99).contains(&power), "Neyman–Pearson power {power}");
    }

    #[test]
    fn with_bursts_one_burst_of_errors_is_weak_evidence() {
        // Bursts of 5 on both: 5 canary errors in 60 requests are one burst, likely under
        // the stable's rate too; as independent errors they would be overwhelming.
        let bursty = Oracle::new(&Truth { canary_cluster: 5.0, ..truth(0.03) });
        let llr = bursty.log_likelihood_ratio(&arm(60, 5), &arm(540, 3));
        assert!(llr > 0.0 && llr < 3.0, "{llr}");
        assert!(Oracle::new(&truth(0.03)).log_likelihood_ratio(&arm(60, 5), &arm(540, 3)) > 5.0);
        assert!(bursty.log_likelihood_ratio(&arm(60, 0), &arm(540, 3)) < 0.0, "a quiet minute is evidence against");
    }

    fn arm(requests: u64, errors: u64) -> ArmCounts {
        ArmCounts { requests, errors, ..Default::default() }
    }

    #[test]
    fn two_sample_increments_follow_b4b() {
        let oracle = Oracle::new(&truth(0.03));
        assert!((oracle.ratio - 6.0).abs() < 1e-12);
        // θ0 = 0.1, θ1 = 0.4: one canary 5xx adds ln 4, one baseline 5xx adds ln(0.6/0.9).
        let llr = oracle.log_likelihood_ratio(&arm(100, 1), &arm(900, 1));
        assert!((llr - (4.0f64.ln() + (0.6f64 / 0.9).ln())).abs() < 1e-12, "{llr}");
        // Weight 100: one-sample against the stable's 0.5%.
        let llr = oracle.log_likelihood_ratio(&arm(10, 1), &arm(0, 0));
        let want = 6.0f64.ln() + 9.0 * (0.97f64 / 0.995).ln();
        assert!((llr - want).abs() < 1e-12);
    }

    #[test]
    fn healthy_tests_against_twice_the_stable_and_latency_only_against_the_truth() {
        assert_eq!(Oracle::new(&truth(0.005)).ratio, NO_WORSE_MARGIN);
        let slow = Truth { canary_latency: latency(240), ..truth(0.005) };
        let oracle = Oracle::new(&slow);
        assert_eq!(oracle.ratio, 1.0);
        // 100 canary requests all in (0.25, 0.5]: far likelier under the slow canary.
        let mut canary = arm(100, 0);
        canary.buckets[5..].fill(0.0);
        canary.buckets[6..].fill(100.0);
        assert!(oracle.log_likelihood_ratio(&canary, &arm(900, 0)) > 50.0);
    }
}
