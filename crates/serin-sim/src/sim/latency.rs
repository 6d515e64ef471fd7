//! Latency model: a log-normal body plus an optional point-mass tail, counted into the
//! ingress-nginx default histogram buckets.
//!
//! Requests are never drawn one by one: with 50 rps a 2-hour scenario would draw
//! hundreds of thousands of latencies. Bucket probabilities come from the log-normal CDF
//! and a tick's bucket counts are one multinomial draw (successive binomials), which has
//! exactly the distribution per-request drawing would give.

use rand::Rng;
use rand_distr::{Binomial, Distribution};

use super::scenario::Latency;

/// Upper bounds of the ingress-nginx `request_duration_seconds` buckets (Prometheus
/// client `DefBuckets`), ending with `+Inf`.
pub const LE_BOUNDS: [f64; 12] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, f64::INFINITY];

/// `le` label values as ingress-nginx exposes them, aligned with [`LE_BOUNDS`].
pub const LE_LABELS: [&str; 12] =
    ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"];

/// One version's latency distribution during one phase.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatencyModel {
    /// ln(median) of the body.
    mu: f64,
    sigma: f64,
    tail_fraction: f64,
    tail_seconds: f64,
    /// [`LatencyModel::body_probabilities`], computed once: every tick draws from them.
    body: [f64; 12],
}

/// A tick's latency draw: cumulative bucket counts and the sum of latencies.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyDraw {
    /// Cumulative over `le`, aligned with [`LE_BOUNDS`]; the last equals the request count.
    pub buckets: Vec<f64>,
    /// Seconds; the body part uses its expected value (see [`LatencyModel::draw`]).
    pub sum: f64,
}

impl LatencyModel {
    pub fn new(latency: &Latency) -> LatencyModel {
        let (tail_fraction, tail_seconds) =
            latency.tail.map(|t| (t.fraction, t.at.as_secs_f64())).unwrap_or((0.0, 0.0));
        let mut model = LatencyModel {
            mu: latency.median.as_secs_f64().max(f64::MIN_POSITIVE).ln(),
            sigma: latency.sigma.max(0.0),
            tail_fraction: tail_fraction.clamp(0.0, 1.0),
            tail_seconds,
            body: [0.0; 12],
        };
        model.body = model.body_cdf_differences();
        model
    }

    /// Probability that a body request falls in each bucket (not cumulative), from the
    /// log-normal CDF: P(X ≤ le) = Φ((ln le − μ) / σ).
    pub fn body_probabilities(&self) -> [f64; 12] {
        self.body
    }

    fn body_cdf_differences(&self) -> [f64; 12] {
        let mut out = [0.0; 12];
        let mut below = 0.0;
        for (k, le) in LE_BOUNDS.iter().enumerate() {
            let cdf = if le.is_infinite() { 1.0 } else { self.body_cdf(*le) };
            out[k] = (cdf - below).max(0.0);
            below = cdf.max(below);
        }
        out
    }

    fn body_cdf(&self, x: f64) -> f64 {
        let ln_x = x.ln();
        if self.sigma == 0.0 {
            return if ln_x >= self.mu { 1.0 } else { 0.0 };
        }
        let z = (ln_x - self.mu) / self.sigma;
        0.5 * statrs::function::erf::erfc(-z / std::f64::consts::SQRT_2)
    }

    /// Index of the bucket holding the tail latency (`le` is inclusive: x ≤ le).
    fn tail_bucket(&self) -> usize {
        LE_BOUNDS.iter().position(|le| self.tail_seconds <= *le).unwrap_or(LE_BOUNDS.len() - 1)
    }

    /// Probability that a request (body or tail) falls in each bucket (not cumulative):
    /// the exact distribution the decision-quality oracle knows.
    pub fn bucket_probabilities(&self) -> [f64; 12] {
        let mut out = self.body_probabilities().map(|p| p * (1.0 - self.tail_fraction));
        out[self.tail_bucket()] += self.tail_fraction;
        out
    }

    /// Mean of the log-normal body, e^(μ + σ²/2).
    pub fn body_mean(&self) -> f64 {
        (self.mu + self.sigma * self.sigma / 2.0).exp()
    }

    /// Distributes `n` requests over the buckets: first how many hit the tail
    /// (Binomial(n, f)), then the body as a multinomial. The latency sum uses the body's
    /// expected value: only Flagger-style averages read it, and they need no noise there.
    pub fn draw<R: Rng + ?Sized>(&self, n: u64, rng: &mut R) -> LatencyDraw {
        let tail = binomial(n, self.tail_fraction, rng);
        let body = n - tail;
        let mut counts = multinomial(body, &self.body, rng);
        counts[self.tail_bucket()] += tail;
        let mut running = 0u64;
        let buckets = counts
            .iter()
            .map(|c| {
                running += c;
                running as f64
            })
            .collect();
        LatencyDraw { buckets, sum: body as f64 * self.body_mean() + tail as f64 * self.tail_seconds }
    }
}

/// Binomial(n, p) that never fails: p is clamped to [0, 1] and degenerate cases short-cut.
pub fn binomial<R: Rng + ?Sized>(n: u64, p: f64, rng: &mut R) -> u64 {
    if n == 0 || p.is_nan() || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    Binomial::new(n, p).map(|d| d.sample(rng)).unwrap_or(0)
}

/// Multinomial(n, probs) by successive conditional binomials; the last category with
/// probability mass left takes the remainder, so the counts always sum to `n`.
pub fn multinomial<R: Rng + ?Sized>(n: u64, probs: &[f64], rng: &mut R) -> Vec<u64> {
    let mut counts = vec![0u64; probs.len()];
    let mut remaining = n;
    let mut mass_left: f64 = probs.iter().map(|p| p.max(0.0)).sum();
    let last = probs.iter().rposition(|p| *p > 0.0).unwrap_or(probs.len().saturating_sub(1));
    for (k, p) in probs.iter().enumerate() {
        if remaining == 0 || k >= last {
            if let Some(c) = counts.get_mut(last) {
                *c += remaining;
            }
            break;
        }
        let p = p.max(0.0);
        let x = binomial(remaining, if mass_left > 0.0 { p / mass_left } else { 0.0 }, rng);
        counts[k] = x;
        remaining -= x;
        mass_left -= p;
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::scenario::Tail;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use std::time::Duration;

    fn model(median_ms: u64, sigma: f64, tail: Option<Tail>) -> LatencyModel {
        LatencyModel::new(&Latency { median: Duration::from_millis(median_ms), sigma, tail })
    }

    #[test]
    fn median_lands_in_its_bucket() {
        // 80 ms lies in (0.05, 0.1]: half the requests at or below 0.1, well under half at or below 0.05.
        let m = model(80, 0.5, None);
        let draw = m.draw(100_000, &mut StdRng::seed_from_u64(1));
        let total = draw.buckets[11];
        assert_eq!(total, 100_000.0);
        assert!(draw.buckets[4] / total > 0.5, "P(≤0.1) = {}", draw.buckets[4] / total);
        assert!(draw.buckets[3] / total < 0.5, "P(≤0.05) = {}", draw.buckets[3] / total);
        let p = m.body_probabilities();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    }

    #[test]
    fn buckets_are_cumulative_and_tail_lands_at_its_latency() {
        let tail = Tail { fraction: 0.03, at: Duration::from_secs(3) };
        let m = model(80, 0.5, Some(tail));
        let mut rng = StdRng::seed_from_u64(2);
        for n in [0u64, 1, 7, 1000, 250_000] {
            let d = m.draw(n, &mut rng);
            assert_eq!(d.buckets.len(), LE_BOUNDS.len());
            assert!(d.buckets.windows(2).all(|w| w[0] <= w[1]), "{:?}", d.buckets);
            assert_eq!(d.buckets[11], n as f64);
        }
        let d = m.draw(1_000_000, &mut rng);
        // 3 s falls in (2.5, 5]: ≈3% of requests above 2.5 s.
        let above = (d.buckets[11] - d.buckets[8]) / d.buckets[11];
        assert!((above - 0.03).abs() < 0.002, "share above 2.5s = {above}");
    }

    #[test]
    fn zero_sigma_is_a_point_mass() {
        let d = model(300, 0.0, None).draw(50, &mut StdRng::seed_from_u64(3));
        assert_eq!(d.buckets[5], 0.0);
        assert_eq!(d.buckets[6], 50.0);
    }
}
