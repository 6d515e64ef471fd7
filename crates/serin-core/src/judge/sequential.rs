//! The one statistical building block of the judge: a mixture of likelihood ratios of two
//! binomial cells, kept in log space.
//!
//! Every test of the judge (canary vs baseline, non-inferiority, within-limit, the frozen
//! baseline comparison, the trigger windows) is "events fall on side A with probability θ0
//! under the null, θ1 under an alternative". Each alternative's product of likelihood
//! ratios is a nonnegative (super)martingale under the null; an equally weighted average of
//! them is one too, so by Ville's inequality P(ever ≥ 1/a) ≤ a. Working in log space with
//! log-sum-exp keeps the value finite (and JSON-serialisable) however large it grows.

use serde::{Deserialize, Serialize};
use statrs::distribution::{Beta, ContinuousCDF};

/// Largest |log LR| we keep: far beyond any threshold, small enough to stay finite.
const LOG_CAP: f64 = 1.0e6;

/// A mixture e-process over a fixed grid of alternatives (equal weights).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MixtureTest {
    /// ln of the likelihood ratio of each alternative against the null, since the start.
    pub log_lr: Vec<f64>,
}

impl MixtureTest {
    /// A test with `alternatives` alternatives, each at likelihood ratio 1.
    pub fn new(alternatives: usize) -> Self {
        MixtureTest { log_lr: vec![0.0; alternatives] }
    }

    /// Folds in a batch: `x` events on side A, `y` on side B, null probability `theta0` of
    /// side A and one `theta1` per alternative. Batches that would make the value
    /// non-finite (degenerate θ, negative or NaN counts) are skipped: they carry no
    /// information the model can use. A grid of the wrong length resets the test, since
    /// its history then belongs to other alternatives.
    pub fn update(&mut self, x: f64, y: f64, theta0: f64, theta1: &[f64]) {
        if self.log_lr.len() != theta1.len() {
            *self = MixtureTest::new(theta1.len());
        }
        if !valid_count(x) || !valid_count(y) || !in_open_unit(theta0) || x + y <= 0.0 {
            return;
        }
        for (acc, &t1) in self.log_lr.iter_mut().zip(theta1) {
            if !in_open_unit(t1) {
                continue;
            }
            let step = xlog(x, t1 / theta0) + xlog(y, (1.0 - t1) / (1.0 - theta0));
            if step.is_finite() {
                *acc = (*acc + step).clamp(-LOG_CAP, LOG_CAP);
            }
        }
    }

    /// ln of the mixture (the e-value); 0 (e = 1) before any data.
    pub fn log_e(&self) -> f64 {
        log_mean_exp(&self.log_lr)
    }

    /// Whether the e-value has reached `1/level`.
    pub fn rejects(&self, level: f64) -> bool {
        rejects(self.log_e(), level)
    }
}

/// A mixture test restarted every `every` batches, beside the cumulative one, so a
/// regression that starts late is not drowned by the evidence of hours of healthy data.
///
/// The e-value is `w·E_cum + (1 − w)·Σ_j g(j)·E_j`, where `E_j` is a test started at batch
/// `j·every` (j ≥ 1) and g(j) = 1/(j(j+1)) sums to 1: a weighted average of
/// nonnegative supermartingales that each start at 1 at a predictable time, so it is one
/// too and Ville's inequality holds for the whole run. Only the two newest restarted tests
/// are kept; dropping an older one (setting it to 0 from a predictable time on) can only
/// lower the sum, so the bound still holds and the state stays small.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RestartedTest {
    #[serde(default)]
    pub cumulative: MixtureTest,
    /// The test started at the latest restart (block `block`).
    #[serde(default)]
    pub current: MixtureTest,
    /// The one started at the restart before (block `block − 1`).
    #[serde(default)]
    pub previous: MixtureTest,
    /// Batches folded in so far.
    #[serde(default)]
    pub batches: u32,
}

/// Weight of the cumulative test in a [`RestartedTest`].
const CUMULATIVE_WEIGHT: f64 = 0.9;

impl RestartedTest {
    /// Folds in a batch, restarting first when `every` batches have passed since the last
    /// restart. Batches that carry no information (see [`MixtureTest::update`]) still count
    /// as batches only if they had events, so quiet stretches do not spend restarts.
    pub fn update(&mut self, x: f64, y: f64, theta0: f64, theta1: &[f64], every: u32) {
        if !(valid_count(x) && valid_count(y) && x + y > 0.0) {
            self.cumulative.update(x, y, theta0, theta1);
            return;
        }
        if every > 0 && self.batches > 0 && self.batches % every == 0 {
            self.previous = std::mem::replace(&mut self.current, MixtureTest::new(theta1.len()));
        }
        self.batches = self.batches.saturating_add(1);
        self.cumulative.update(x, y, theta0, theta1);
        if self.block(every) >= 1 {
            self.current.update(x, y, theta0, theta1);
        }
    }

    /// Index of the newest restarted test (0: none started yet).
    pub fn block(&self, every: u32) -> u32 {
        if every == 0 || self.batches == 0 { 0 } else { (self.batches - 1) / every }
    }

    /// ln of the combined e-value.
    pub fn log_e(&self, every: u32) -> f64 {
        let j = self.block(every);
        let mut terms = vec![CUMULATIVE_WEIGHT.ln() + self.cumulative.log_e()];
        let rest = (1.0 - CUMULATIVE_WEIGHT).ln();
        if j >= 1 {
            terms.push(rest + restart_weight(j).ln() + self.current.log_e());
        }
        if j >= 2 {
            terms.push(rest + restart_weight(j - 1).ln() + self.previous.log_e());
        }
        log_sum_exp(&terms)
    }
}

/// g(j) = 1/(j(j+1)): Σ_{j≥1} g(j) = 1.
fn restart_weight(j: u32) -> f64 {
    let j = f64::from(j);
    1.0 / (j * (j + 1.0))
}

fn log_sum_exp(v: &[f64]) -> f64 {
    log_mean_exp(v) + (v.len().max(1) as f64).ln()
}

/// `x·ln(r)` with `0·ln(anything) = 0`, so an empty side never produces NaN.
fn xlog(x: f64, ratio: f64) -> f64 {
    if x == 0.0 { 0.0 } else { x * ratio.ln() }
}

fn valid_count(x: f64) -> bool {
    x.is_finite() && x >= 0.0
}

fn in_open_unit(p: f64) -> bool {
    p.is_finite() && p > 0.0 && p < 1.0
}

/// ln(mean(exp(v))) computed stably; 0 for an empty grid (no test = e-value 1).
pub fn log_mean_exp(v: &[f64]) -> f64 {
    let max = v.iter().copied().filter(|x| x.is_finite()).fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return 0.0;
    }
    let sum: f64 = v.iter().filter(|x| x.is_finite()).map(|x| (x - max).exp()).sum();
    max + (sum / v.len() as f64).ln()
}

/// Ville: an e-value at or above `1/level` rejects the null at `level`.
pub fn rejects(log_e: f64, level: f64) -> bool {
    level > 0.0 && log_e >= threshold_log(level)
}

/// ln(1/level).
pub fn threshold_log(level: f64) -> f64 {
    -(level.max(f64::MIN_POSITIVE)).ln()
}

/// Probability that an event is a canary one when the canary's rate is `r` times the
/// baseline's and the canary has request share `theta0`.
pub fn theta_of_ratio(theta0: f64, r: f64) -> f64 {
    theta0 * r / (theta0 * r + 1.0 - theta0)
}

/// Alternatives `p·m` for each multiplier, kept strictly between `p` and 1 (capped at
/// 99% of the way to 1), so every alternative is a valid Bernoulli parameter.
pub fn scaled_alternatives(p: f64, multipliers: &[f64]) -> Vec<f64> {
    let cap = p + 0.99 * (1.0 - p);
    multipliers.iter().map(|m| (p * m).min(cap)).collect()
}

/// Totals above this use a closed-form bound: statrs' incomplete-beta inversion does not
/// terminate for parameters near f64's range (found with counts of 1e308).
const CP_EXACT_MAX_TOTAL: f64 = 1.0e9;

/// One-sided Clopper–Pearson upper bound at `confidence` for `bad` of `total`
/// (the `confidence` quantile of Beta(bad+1, total−bad)); 1 when undefined. Beyond
/// [`CP_EXACT_MAX_TOTAL`] requests, the Poisson-limit bound (bad + z·√(bad+1) + z²)/total,
/// which is at least as wide there.
pub fn clopper_pearson_upper(bad: f64, total: f64, confidence: f64) -> f64 {
    if !(total > 0.0 && bad >= 0.0 && bad < total && total.is_finite()) {
        return 1.0;
    }
    if total > CP_EXACT_MAX_TOTAL {
        let z = 2.33;
        return ((bad + z * (bad + 1.0).sqrt() + z * z) / total).clamp(0.0, 1.0);
    }
    match Beta::new(bad + 1.0, total - bad) {
        Ok(beta) => {
            let q = beta.inverse_cdf(confidence.clamp(0.0, 1.0));
            if q.is_finite() { q.clamp(0.0, 1.0) } else { 1.0 }
        }
        Err(_) => 1.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_test_has_e_value_one() {
        assert_eq!(MixtureTest::new(3).log_e(), 0.0);
        assert_eq!(MixtureTest::default().log_e(), 0.0);
    }

    #[test]
    fn single_alternative_matches_direct_likelihood_ratio() {
        let mut t = MixtureTest::new(1);
        t.update(3.0, 7.0, 0.1, &[0.3]);
        let direct = 3.0 * (0.3f64 / 0.1).ln() + 7.0 * (0.7f64 / 0.9).ln();
        assert!((t.log_e() - direct).abs() < 1e-12);
    }

    #[test]
    fn garbage_is_skipped() {
        let mut t = MixtureTest::new(2);
        t.update(f64::NAN, 1.0, 0.5, &[0.6, 0.7]);
        t.update(-1.0, 1.0, 0.5, &[0.6, 0.7]);
        t.update(1.0, 1.0, 1.0, &[0.6, 0.7]);
        t.update(0.0, 0.0, 0.5, &[0.6, 0.7]);
        assert_eq!(t.log_e(), 0.0);
    }

    #[test]
    fn clopper_pearson_is_sane() {
        let u = clopper_pearson_upper(100.0, 20000.0, 0.99);
        assert!(u > 0.005 && u < 0.0065, "{u}");
        let u0 = clopper_pearson_upper(0.0, 1000.0, 0.99);
        assert!((u0 - (1.0 - 0.01f64.powf(1.0 / 1000.0))).abs() < 1e-6, "{u0}");
        assert_eq!(clopper_pearson_upper(5.0, 5.0, 0.99), 1.0);
        assert_eq!(clopper_pearson_upper(0.0, 0.0, 0.99), 1.0);
        // Absurd totals terminate (statrs' inversion loops forever on them).
        let huge = clopper_pearson_upper(0.0, 1e308, 0.99);
        assert!(huge > 0.0 && huge < 1e-300, "{huge}");
        let big = clopper_pearson_upper(5000.0, 2e9, 0.99);
        assert!(big > 2.5e-6 && big < 3e-6, "{big}");
    }
}
