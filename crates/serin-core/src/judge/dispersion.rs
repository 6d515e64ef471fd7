//! How bursty a channel's bad events are, estimated from the baseline, and the tempering
//! that keeps every test valid when they come in bursts.
//!
//! The likelihood ratios of the judge assume each request is bad independently. Real errors
//! come in clusters (a retry storm, a pod restarting, a GC pause), and counts extrapolated by
//! Prometheus' `increase()` are scaled-up counts; both make a count vary more than its mean
//! says, by a factor φ (the dispersion index, variance ÷ mean: for clusters of size K it is
//! E[K²]/E[K]; for `increase()` over 15 s scrapes of a 1 m window, 4/3). A log likelihood
//! ratio of counts that vary φ times more than modelled is φ times too confident; dividing
//! every count by φ ("effective counts") gives the quasi-likelihood ratio, which is again an
//! e-process in the Gaussian approximation (`README.md`, "Overdispersion").
//!
//! φ is estimated from data no test judges: the baseline's per-interval counts, before the
//! run (its history, see [`super::prime`]) and during it. The statistic compares each
//! interval with the one before it (successive differences, von Neumann's idea):
//! X = Σ min(cap, (b_i − r_i·b_{i−1})² / (p(1 − p)·(n_i + r_i²·n_{i−1}))), with
//! r_i = n_i / n_{i−1} and p the pair's own pooled rate, is about φ·χ² with one degree of
//! freedom per difference when the rate is steady. Unlike the spread around one pooled
//! rate, a level shift (a regression that starts mid-run, a diurnal curve) moves only one
//! difference, and the cap bounds what that one can add, so a real change of rate is not
//! mistaken for bursts, which would temper away the very evidence of it. Each interval is judged with
//! the estimate from the intervals before it, so the tempering is predictable.

use serde::{Deserialize, Serialize};

use super::counts::Events;

/// Intervals of baseline data needed before the estimate is used (fewer: φ = 1).
const MIN_INTERVALS: u32 = 8;
/// Bad events needed before the estimate is used: with fewer, Pearson's statistic says
/// nothing about bursts.
const MIN_EVENTS: f64 = 5.0;
/// The test for overdispersion rejects above χ²'s 90% quantile (level 10%): z₀.₉.
const Z_OVERDISPERSED: f64 = 1.281_551_6;
/// The upper confidence bound on φ divides by χ²'s 20% quantile (an 80% bound): z₀.₂.
const Z_UCB: f64 = -0.841_621_2;
/// Variance of a sum of successive differences' squares ÷ that of independent ones, under
/// independence: adjacent differences share an interval (correlation −1/2 ⇒ covariance of
/// the squares 1/2 of a variance 2), so 3D instead of 2D.
const ADJACENT: f64 = 1.5;

/// χ²(k)'s quantile at the standard normal quantile `z`, by the Wilson–Hilferty cube
/// approximation (relative error under 1% from k = 7 on, which is as few intervals as an
/// estimate is made from). Evaluated every interval for every channel, so closed-form.
fn chi2_quantile(k: f64, z: f64) -> f64 {
    let a = 2.0 / (9.0 * k);
    (k * (1.0 - a + z * a.sqrt()).powi(3)).max(f64::MIN_POSITIVE)
}
/// Most one difference of the **canary's** intervals adds to X: a χ²(1) term exceeds it with
/// probability 1.6e-6, bursts of φ = 9 with probability 0.1, and a jump of the canary's
/// rate (the regression being judged) adds no more than this once. The baseline's terms are
/// not capped ([`UNCAPPED`]): a burstier-looking baseline only makes the tests more cautious.
pub const CANARY_TERM_CAP: f64 = 25.0;
pub const UNCAPPED: f64 = f64::INFINITY;
/// Largest dispersion applied: beyond it the channel is noise, and tests would stall.
pub const MAX_DISPERSION: f64 = 50.0;

/// Sufficient statistics of the dispersion estimate over one arm's intervals.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct DispersionStats {
    /// Σ of the capped, normalised squared differences of consecutive intervals.
    #[serde(default)]
    pub sum_diff: f64,
    /// The previous interval's (bad, total), to difference the next one against.
    #[serde(default)]
    pub last: Option<(f64, f64)>,
    /// Σ b_i.
    #[serde(default)]
    pub bad: f64,
    /// Σ n_i.
    #[serde(default)]
    pub total: f64,
    /// Intervals counted.
    #[serde(default)]
    pub intervals: u32,
    /// Σ u_i over consecutive pairs, u_i = d_i² / (n_i + r_i²·n_{i−1}): the uncapped squared
    /// differences before they are divided by the **pooled** rate's p(1 − p) ([`Self::phi`]).
    #[serde(default)]
    pub sum_sq: f64,
    /// Σ u_i²: how unevenly the differences are spread (a few bursts, or many small ones).
    #[serde(default)]
    pub sum_sq2: f64,
    /// Σ (n_i + r_i⁴·n_{i−1}) / (n_i + r_i²·n_{i−1})²: the Poisson fourth-cumulant part of
    /// each difference's variance, which dominates when an interval holds few bad events.
    #[serde(default)]
    pub sum_kurt: f64,
    /// Σ u_i·u_{i−1}: adjacent differences share an interval, so their squares covary
    /// (and only adjacent ones: the differences are 1-dependent).
    #[serde(default)]
    pub sum_cross: f64,
    /// The previous pair's u, for [`Self::sum_cross`].
    #[serde(default)]
    pub last_u: Option<f64>,
    /// Consecutive pairs counted.
    #[serde(default)]
    pub pairs: u32,
}

impl DispersionStats {
    /// Adds one baseline interval (rollback-side bad count). Intervals without requests
    /// carry no information and are skipped.
    pub fn add(&mut self, e: &Events, cap: f64) {
        if !(e.total > 0.0 && e.total.is_finite() && e.bad_hi.is_finite() && e.bad_hi >= 0.0) {
            return;
        }
        let bad = e.bad_hi.min(e.total);
        if let Some((b0, n0)) = self.last {
            let r = e.total / n0;
            let p = (bad + b0) / (e.total + n0);
            let d = bad - r * b0;
            let v = p * (1.0 - p) * (e.total + r * r * n0);
            if v.is_finite() && v > 0.0 && d.is_finite() {
                self.sum_diff += (d * d / v).min(cap);
            }
            let w = e.total + r * r * n0;
            if w.is_finite() && w > 0.0 && d.is_finite() {
                let u = d * d / w;
                self.sum_sq += u;
                self.sum_sq2 += u * u;
                self.sum_cross += self.last_u.map_or(0.0, |v| u * v);
                self.last_u = Some(u);
                self.sum_kurt += (e.total + r.powi(4) * n0) / (w * w);
                self.pairs = self.pairs.saturating_add(1);
            }
        }
        self.last = Some((bad, e.total));
        self.bad += bad;
        self.total += e.total;
        self.intervals = self.intervals.saturating_add(1);
    }

    /// The baseline's dispersion index φ ≥ 1 to temper with (see `README.md`,
    /// "Overdispersion"). Each pair's squared difference is normalised by the rate pooled
    /// over **all** the pairs, t_i = u_i / (p̄(1 − p̄)), so X = Σ t_i estimates φ·D over D
    /// pairs at any traffic: a pair without bad events adds 0 and still counts, as it
    /// should (normalised by the pair's own rate, such pairs added nothing, a lone burst of
    /// K added about K rather than K²/(mean), and at 1–10 req/s bursts of 5 looked
    /// independent).
    ///
    /// * **Gate**: under independence (Poisson counts) t_i has mean 1 and variance
    ///   2 + κ_i/p̄ (κ_i: [`Self::sum_kurt`]'s term, large when an interval holds under one
    ///   bad event), and adjacent pairs share an interval (× 3/2), so X is matched to
    ///   (D/ν₀)·χ²(ν₀) with ν₀ = 2D²/Var₀(X). If X is not above its 90% quantile the counts
    ///   look independent and φ = 1 (tempering by noise would only slow every test).
    /// * **Bound**: otherwise φ is the 80% upper confidence bound (X/D)·ν/χ²₀.₂(ν), with ν
    ///   from the spread the terms actually show (Satterthwaite: ν = 2X²/Var̂(X), never
    ///   more than ν₀; Var̂ adds the lag-1 covariance, since a burst alone in its interval
    ///   makes two equal adjacent terms). A few bursts make a few large terms, a small ν and a wide bound:
    ///   the fewer bursts seen, the more the tests are tempered. Tempering by too little is
    ///   anti-conservative (a test's level becomes α^(φ̂/φ)), by too much only costs data.
    ///
    /// 1 until there are [`MIN_INTERVALS`] intervals and [`MIN_EVENTS`] bad events.
    pub fn phi(&self) -> f64 {
        if self.intervals < MIN_INTERVALS || self.bad < MIN_EVENTS || self.pairs == 0 {
            return 1.0;
        }
        let p = self.bad / self.total;
        let q = p * (1.0 - p);
        if !(q.is_finite() && q > 0.0 && self.sum_sq.is_finite()) {
            return 1.0;
        }
        let d = f64::from(self.pairs);
        let x = self.sum_sq.max(0.0) / q;
        let var0 = ADJACENT * (2.0 * d + self.sum_kurt / p);
        let nu0 = (2.0 * d * d / var0).max(1.0);
        if x * nu0 / d <= chi2_quantile(nu0, Z_OVERDISPERSED) {
            return 1.0;
        }
        // Var̂(X): the terms' spread around their mean plus twice their lag-1 covariance,
        // never less than the spread alone (the covariance is positive in expectation).
        let mean = x / d;
        let spread = (self.sum_sq2 / (q * q) - d * mean * mean).max(0.0);
        let cross = self.sum_cross / (q * q) - (d - 1.0) * mean * mean;
        let var = spread + 2.0 * cross.max(0.0);
        let nu = if var > 0.0 { (2.0 * x * x / var).clamp(1.0, nu0) } else { nu0 };
        let phi = (x / d) * nu / chi2_quantile(nu, Z_UCB);
        if phi.is_finite() { phi.clamp(1.0, MAX_DISPERSION) } else { MAX_DISPERSION }
    }
}

impl DispersionStats {
    /// The statistic X (see the module doc), `None` without bad events.
    fn pearson(&self) -> Option<f64> {
        (self.bad > 0.0 && self.sum_diff.is_finite()).then_some(self.sum_diff.max(0.0))
    }

    /// The canary's own dispersion, shrunk toward `prior` (the baseline's): as if `weight`
    /// intervals at `prior` had been seen before the canary's own. Early in a run the
    /// canary has few intervals and its estimate is noise; the baseline's is the best guess
    /// of how bursty the same application is. Clamped to `[1, MAX_DISPERSION]`.
    pub fn phi_toward(&self, prior: f64, weight: f64) -> f64 {
        let (sum, dof) = match self.pearson() {
            Some(x) if self.intervals >= 2 => (x, f64::from(self.intervals - 1)),
            _ => (0.0, 0.0),
        };
        let phi = (weight * prior + sum) / (weight + dof);
        if phi.is_finite() { phi.clamp(1.0, MAX_DISPERSION) } else { prior.clamp(1.0, MAX_DISPERSION) }
    }
}

/// `events` as effective counts: every count divided by φ.
pub fn temper(events: &Events, phi: f64) -> Events {
    let k = if phi.is_finite() && phi > 1.0 { 1.0 / phi } else { 1.0 };
    Events { bad_hi: events.bad_hi * k, bad_lo: events.bad_lo * k, total: events.total * k }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use rand_distr::{Distribution, Poisson};

    use crate::judge::tests::bursty_count;

    fn estimate(intervals: &[(f64, f64)]) -> f64 {
        estimate_capped(intervals, UNCAPPED)
    }

    fn estimate_capped(intervals: &[(f64, f64)], cap: f64) -> f64 {
        let mut s = DispersionStats::default();
        for &(bad, total) in intervals {
            s.add(&Events::exact(bad, total), cap);
        }
        s.phi()
    }

    #[test]
    fn independent_counts_are_mostly_left_untempered() {
        // The overdispersion test has level 10%: about 90% of independent runs keep φ = 1,
        // and the rest get a modest bound.
        let poisson = Poisson::new(30.0).unwrap();
        let phis: Vec<f64> = (0..200)
            .map(|seed| {
                let mut rng = StdRng::seed_from_u64(seed);
                estimate(&(0..60).map(|_| (poisson.sample(&mut rng), 6000.0)).collect::<Vec<_>>())
            })
            .collect();
        let untempered = phis.iter().filter(|&&p| p == 1.0).count();
        assert!((170..=195).contains(&untempered), "{untempered} of 200");
        assert!(phis.iter().all(|&p| p < 2.2), "{phis:?}");
    }

    #[test]
    fn clustered_counts_give_the_cluster_index() {
        // Clusters of geometric size, mean 5: φ = 2·5 − 1 = 9.
        let mut rng = StdRng::seed_from_u64(2);
        let data: Vec<(f64, f64)> = (0..400).map(|_| (bursty_count(6.0, 5.0, &mut rng), 6000.0)).collect();
        let phi = estimate(&data);
        assert!((8.0..13.0).contains(&phi), "{phi}");
    }

    #[test]
    fn a_change_of_rate_is_not_mistaken_for_bursts() {
        // 60 steady intervals at 0.5%, then 5 at 3%: one difference jumps, the rest do not.
        let mut rng = StdRng::seed_from_u64(3);
        let (low, high) = (Poisson::new(30.0).unwrap(), Poisson::new(180.0).unwrap());
        let mut data: Vec<(f64, f64)> = (0..60).map(|_| (low.sample(&mut rng), 6000.0)).collect();
        data.extend((0..5).map(|_| (high.sample(&mut rng), 6000.0)));
        let mut s = DispersionStats::default();
        for &(bad, total) in &data {
            s.add(&Events::exact(bad, total), CANARY_TERM_CAP);
        }
        let phi = s.phi_toward(1.0, 5.0);
        assert!(phi < 2.0, "{phi}");
    }

    /// `intervals` of `requests` each, errors in geometric clusters of mean `m` at `rate`.
    fn clustered(seed: u64, intervals: usize, requests: f64, rate: f64, m: f64) -> Vec<(f64, f64)> {
        let mut rng = StdRng::seed_from_u64(seed);
        (0..intervals).map(|_| (bursty_count(requests * rate / m, m, &mut rng), requests)).collect()
    }

    #[test]
    fn bursts_are_seen_at_low_traffic() {
        // 1 req/s of stable traffic at 0.5%: 0.3 errors a minute, bursts of mean 5 (φ = 9)
        // arrive about once in 17 minutes. An hour holds ~3–4 bursts; normalised by each
        // pair's own rate they looked independent (φ = 1 in most runs).
        let phis: Vec<f64> = (0..200).map(|seed| estimate(&clustered(seed, 60, 60.0, 0.005, 5.0))).collect();
        let tempered = phis.iter().filter(|&&p| p >= 3.0).count();
        assert!(tempered >= 150, "{tempered} of 200 tempered by ≥ 3: {phis:?}");
        // Bursts of mean 2 (φ = 3) at 10 req/s: about 1.5 bursts a minute.
        let phis: Vec<f64> = (0..200).map(|seed| estimate(&clustered(seed, 60, 600.0, 0.005, 2.0))).collect();
        let tempered = phis.iter().filter(|&&p| p >= 2.0).count();
        assert!(tempered >= 170, "{tempered} of 200 tempered by ≥ 2: {phis:?}");
    }

    #[test]
    fn independent_counts_at_low_traffic_are_mostly_left_untempered() {
        for requests in [60.0, 600.0] {
            let phis: Vec<f64> = (0..200).map(|seed| estimate(&clustered(seed, 60, requests, 0.005, 1.0))).collect();
            let untempered = phis.iter().filter(|&&p| p == 1.0).count();
            assert!(untempered >= 170, "{requests}: {untempered} of 200");
        }
    }

    #[test]
    fn the_canary_estimate_starts_at_the_prior_and_moves_to_its_own() {
        let mut s = DispersionStats::default();
        assert_eq!(s.phi_toward(3.0, 5.0), 3.0);
        for k in 0..200 {
            // Alternating 0 and 20 errors in 2000 requests: far more spread than Poisson(10).
            s.add(&Events::exact(if k % 2 == 0 { 0.0 } else { 20.0 }, 2000.0), CANARY_TERM_CAP);
        }
        let phi = s.phi_toward(1.0, 5.0);
        assert!(phi > 8.0, "{phi}");
    }

    #[test]
    fn wilson_hilferty_matches_chi_square_quantiles() {
        use statrs::distribution::{ChiSquared, ContinuousCDF};
        for k in [7.0, 20.0, 59.0, 300.0] {
            let chi2 = ChiSquared::new(k).unwrap();
            for (z, p) in [(Z_OVERDISPERSED, 0.9), (Z_UCB, 0.2)] {
                let (approx, exact) = (chi2_quantile(k, z), chi2.inverse_cdf(p));
                assert!((approx / exact - 1.0).abs() < 0.01, "k {k} p {p}: {approx} vs {exact}");
            }
        }
    }

    #[test]
    fn too_little_data_is_one_and_tempering_divides() {
        assert_eq!(estimate(&[(3.0, 100.0), (9.0, 100.0)]), 1.0);
        assert_eq!(estimate(&[(0.0, 100.0); 20]), 1.0);
        let t = temper(&Events { bad_hi: 4.0, bad_lo: 6.0, total: 100.0 }, 2.0);
        assert_eq!((t.bad_hi, t.bad_lo, t.total), (2.0, 3.0, 50.0));
        assert_eq!(temper(&Events::exact(4.0, 10.0), f64::NAN), Events::exact(4.0, 10.0));
    }
}
