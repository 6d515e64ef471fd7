//! The comparison counted in bursts: which intervals had any bad event, rather than how
//! many (`README.md`, "Counting bursts").
//!
//! With errors in bursts of mean size m, the tempered counts carry the evidence of about
//! one event per E[K²]/E[K] errors (9 for geometric bursts of 5), while a burst carries the
//! evidence of one. Where the canary sees less than a burst per interval, whether an
//! interval had any bad event is nearly a burst count, and its probability needs only the
//! rate λ at which bursts start per request: P(quiet interval of n requests) = e^(−λn)
//! whatever the bursts' sizes (bursts starting as a Poisson process in the requests).
//!
//! * The baseline's intervals before the run (its history) give an upper confidence bound
//!   on its λ, fixed once when the run's first comparison is made, as the frozen baseline's
//!   bound is (`channel::fold_frozen`): the test is then valid at ≤ its level + 0.1%.
//! * The canary's intervals are then a sequence of Bernoulli trials "not quiet" with
//!   probability at most 1 − e^(−λ·n) under "the canary starts bursts no more often than
//!   the baseline", tested by a mixture of likelihood ratios ([`MixtureTest`]) against
//!   λ × [`RATIOS`].
//! * It runs only when the baseline's counts are overdispersed (φ > 1 at the start):
//!   with independent errors the count comparison is already efficient, and halving its
//!   weight would only slow it.

use serde::{Deserialize, Serialize};

use super::counts::Events;
use super::evidence::is_zero;
use super::sequential::MixtureTest;

/// Burst-rate ratios canary/baseline the test looks for.
const RATIOS: [f64; 5] = [1.5, 2.0, 3.0, 5.0, 8.0];
/// Confidence of the baseline's upper bound: the bound fails with probability 0.1%.
const Z_BOUND: f64 = 3.090_232;
/// Baseline intervals needed before the bound is made (fewer: no burst test this run).
const MIN_INTERVALS: u32 = 30;
/// Quiet baseline intervals needed: with fewer, the bound is too wide to test anything.
const MIN_QUIET: u32 = 5;
/// Bins of request counts per doubling.
const BINS_PER_DOUBLING: f64 = 4.0;
/// A count below this is no bad event: `increase()` and per-pod splits make fractions.
const QUIET_BELOW: f64 = 0.5;

/// The baseline's intervals, binned by request count (log-spaced, 19% wide): per bin the
/// smallest count, the intervals and the quiet ones. Binning keeps the state small; taking
/// each bin's smallest count makes every bin's intervals look quieter for their traffic
/// than they were, which can only raise the bound.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuietIntervals {
    /// `[bin, smallest requests, intervals, quiet]`.
    #[serde(default)]
    pub bins: Vec<(i32, f64, u32, u32)>,
}

impl QuietIntervals {
    pub fn is_empty(&self) -> bool {
        self.bins.is_empty()
    }

    /// Adds one baseline interval (rollback-side bad count).
    pub fn add(&mut self, e: &Events) {
        if !(e.total >= 1.0 && e.total.is_finite() && e.bad_hi.is_finite() && e.bad_hi >= 0.0) {
            return;
        }
        let bin = (e.total.log2() * BINS_PER_DOUBLING).floor() as i32;
        let quiet = u32::from(e.bad_hi < QUIET_BELOW);
        match self.bins.iter_mut().find(|b| b.0 == bin) {
            Some(b) => *b = (bin, b.1.min(e.total), b.2.saturating_add(1), b.3.saturating_add(quiet)),
            None => self.bins.push((bin, e.total, 1, quiet)),
        }
    }

    fn intervals(&self) -> u32 {
        self.bins.iter().map(|b| b.2).sum()
    }

    fn quiet(&self) -> u32 {
        self.bins.iter().map(|b| b.3).sum()
    }

    /// Log-likelihood of burst rate λ, and its derivative.
    fn log_likelihood(&self, lambda: f64) -> (f64, f64) {
        self.bins.iter().fold((0.0, 0.0), |(l, d), &(_, n, intervals, quiet)| {
            let busy = f64::from(intervals - quiet);
            let x = lambda * n;
            let p_busy = -(-x).exp_m1();
            let dl = -f64::from(quiet) * n + if busy > 0.0 { busy * n * (-x).exp() / p_busy } else { 0.0 };
            (l - f64::from(quiet) * x + if busy > 0.0 { busy * p_busy.ln() } else { 0.0 }, d + dl)
        })
    }

    /// The upper confidence bound on λ (likelihood ratio, one-sided at [`Z_BOUND`]), or
    /// `None` when the intervals are too few or too seldom quiet to bound it.
    pub fn upper_bound(&self) -> Option<f64> {
        if self.intervals() < MIN_INTERVALS || self.quiet() < MIN_QUIET {
            return None;
        }
        let most = self.bins.iter().map(|b| b.1).fold(0.0, f64::max);
        // The log-likelihood is concave in λ: bisect its derivative for the maximum, then
        // the level for the bound, between 1e-12 and 50 bursts per interval.
        let (least, largest) = (1e-12 / most, 50.0 / most);
        let mle = if self.quiet() == self.intervals() {
            0.0
        } else {
            bisect(least, largest, |lambda| self.log_likelihood(lambda).1 > 0.0).0
        };
        let target = self.log_likelihood(mle).0 - Z_BOUND * Z_BOUND / 2.0;
        if self.log_likelihood(largest).0 > target {
            return None;
        }
        Some(bisect(mle.max(least), largest, |lambda| self.log_likelihood(lambda).0 > target).1)
    }
}

/// Where `below` turns from true to false between `lo` and `hi` (true at `lo`), bisected in
/// log space: the last λ known below and the first known above.
fn bisect(lo: f64, hi: f64, below: impl Fn(f64) -> bool) -> (f64, f64) {
    let (mut lo, mut hi) = (lo.ln(), hi.ln());
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if below(mid.exp()) { lo = mid } else { hi = mid }
    }
    (lo.exp(), hi.exp())
}

/// The burst comparison of one channel for one run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BurstTest {
    /// Decided at the run's first comparison: the baseline's bound on λ, or `None` when the
    /// test does not run (counts not overdispersed, or too little history).
    #[serde(default)]
    pub decided: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound: Option<f64>,
    #[serde(default, skip_serializing_if = "is_empty")]
    pub test: MixtureTest,
    /// Canary intervals tested, and those of them with a bad event.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub intervals: u32,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub busy: u32,
    /// Intervals with a bad event expected at most under the null: Σ 1 − e^(−λn).
    #[serde(default, skip_serializing_if = "is_nil")]
    pub expected: f64,
}

fn is_nil(x: &f64) -> bool {
    *x == 0.0
}

fn is_empty(t: &MixtureTest) -> bool {
    t.log_lr.is_empty()
}

impl BurstTest {
    /// Not decided yet: nothing to keep.
    pub fn is_off(&self) -> bool {
        *self == BurstTest::default()
    }

    /// Fixes whether the test runs, once: when the baseline's counts are overdispersed
    /// (`phi_b > 1`) and its quiet intervals bound λ, and only while the count comparison
    /// it is averaged with is still at e = 1 (its cumulative `counts_log_e` 0): a run whose state predates
    /// this test keeps the count comparison alone.
    pub fn decide(&mut self, baseline: &QuietIntervals, phi_b: f64, counts_log_e: f64) {
        if !self.decided {
            self.decided = true;
            self.bound = if phi_b > 1.0 && counts_log_e == 0.0 { baseline.upper_bound() } else { None };
        }
    }

    /// Folds in one canary interval.
    pub fn update(&mut self, canary: &Events) {
        let Some(lambda) = self.bound else { return };
        if !(canary.total > 0.0 && canary.total.is_finite() && canary.bad_hi.is_finite()) {
            return;
        }
        let busy = |ratio: f64| -(-ratio * lambda * canary.total).exp_m1();
        let alts: Vec<f64> = RATIOS.iter().map(|&r| busy(r)).collect();
        let hit = canary.bad_hi >= QUIET_BELOW;
        self.intervals = self.intervals.saturating_add(1);
        self.busy = self.busy.saturating_add(u32::from(hit));
        self.expected += busy(1.0);
        let x = if hit { 1.0 } else { 0.0 };
        self.test.update(x, 1.0 - x, busy(1.0), &alts);
    }

    /// What it saw, for the reason: `bad events in 12 of 35 intervals, ≤ 2.9 expected at
    /// the baseline's burst rate (e=…)`.
    pub fn describe(&self) -> Option<String> {
        let log_e = self.log_e()?;
        (self.intervals > 0).then(|| {
            format!(
                "bad events in {} of {} intervals, ≤ {:.1} expected at the baseline's burst rate (e={})",
                self.busy,
                self.intervals,
                self.expected,
                super::format::e_value(log_e)
            )
        })
    }

    /// ln e, when the test runs.
    pub fn log_e(&self) -> Option<f64> {
        self.bound.map(|_| self.test.log_e())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use crate::judge::observation::Reading;
    use crate::judge::tests::bursty_count;

    /// One interval of `n` requests: bursts start at `lambda` per request, geometric sizes
    /// of mean `m`.
    fn interval(n: f64, lambda: f64, m: f64, rng: &mut StdRng) -> Events {
        Events::exact(bursty_count(n * lambda, m, rng), n)
    }

    fn history(seed: u64, n: f64, lambda: f64, m: f64) -> QuietIntervals {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut q = QuietIntervals::default();
        for _ in 0..180 {
            q.add(&interval(n, lambda, m, &mut rng));
        }
        q
    }

    #[test]
    fn the_bound_covers_the_burst_rate_whatever_the_burst_sizes() {
        // The 99.9% bound is wider where bursts are rarer (25 busy minutes of 180 at n = 60).
        for (n, m, width) in [(600.0, 5.0, 1.6), (300.0, 1.0, 1.6), (1800.0, 10.0, 1.6), (60.0, 2.0, 2.0)] {
            let lambda = 0.005 / m;
            let bounds: Vec<f64> = (0..300).filter_map(|seed| history(seed, n, lambda, m).upper_bound()).collect();
            assert!(bounds.len() >= 290, "n {n} m {m}: {} bounded", bounds.len());
            let below = bounds.iter().filter(|&&b| b < lambda).count();
            assert!(below <= 2, "n {n} m {m}: the bound missed λ {below} times of 300");
            let median = {
                let mut b = bounds.clone();
                b.sort_by(f64::total_cmp);
                b[b.len() / 2]
            };
            assert!(median < width * lambda, "n {n} m {m}: median bound {median} for λ {lambda}");
        }
    }

    #[test]
    fn a_busy_baseline_gives_no_bound() {
        // 100 req/s at 0.5%: 30 errors a minute, never a quiet minute.
        assert_eq!(history(1, 6000.0, 0.005, 1.0).upper_bound(), None);
        let mut few = QuietIntervals::default();
        (0..10).for_each(|_| few.add(&Events::exact(0.0, 600.0)));
        assert_eq!(few.upper_bound(), None, "fewer than 30 intervals");
    }

    /// Rejections at level 1% among `runs` canaries of 35 intervals of `n` requests whose
    /// bursts start at `canary` × the baseline's rate.
    fn rejected(n: f64, m: f64, canary: f64, runs: u64) -> u64 {
        let lambda = 0.005 / m;
        (0..runs)
            .filter(|&seed| {
                let mut test = BurstTest::default();
                test.decide(&history(seed, 10.0 * n, lambda, m), 2.0, 0.0);
                let mut rng = StdRng::seed_from_u64(seed + 10_000);
                (0..35).any(|_| {
                    test.update(&interval(n, canary * lambda, m, &mut rng));
                    test.log_e().unwrap_or(0.0) >= 100f64.ln()
                })
            })
            .count() as u64
    }

    #[test]
    fn a_healthy_bursty_canary_is_seldom_rejected_and_a_bad_one_often() {
        assert!(rejected(60.0, 5.0, 1.0, 1000) <= 10, "healthy, bursts of 5");
        assert!(rejected(180.0, 10.0, 1.0, 1000) <= 10, "healthy, bursts of 10");
        // 3% against 0.5% in bursts of 5 at 1 and 3 canary req/s.
        assert!(rejected(60.0, 5.0, 6.0, 200) >= 100, "1 req/s");
        assert!(rejected(180.0, 5.0, 6.0, 200) >= 190, "3 req/s");
    }

    /// Through the judge: a stable whose errors come ten at a time, once in ten minutes,
    /// and a canary with a burst every third minute. Tempered by the stable's dispersion
    /// the counts stay short of a rollback; the minutes with errors do not.
    #[test]
    fn the_judge_rolls_back_on_bursts_the_counts_alone_do_not_prove() {
        use crate::judge::tests::{context, counts, error_template, errors_obs};
        use crate::judge::{JudgeConfig, JudgeState, Verdict, prime, update};
        let t = [error_template()];
        let history: Vec<_> = (0..180)
            .map(|i| errors_obs(Reading::NoData, counts(if i % 10 == 3 { 10.0 } else { 0.0 }, 600.0)))
            .collect();
        let mut state = prime(&JudgeState::default(), &t, &history);
        let mut failed = None;
        for i in 0..30 {
            let canary = counts(if i % 3 == 1 { 10.0 } else { 0.0 }, 60.0);
            let baseline = counts(if i % 10 == 3 { 10.0 } else { 0.0 }, 540.0);
            let (next, j) = update(&state, &t, &errors_obs(canary, baseline), &context(1), &JudgeConfig::default());
            state = next;
            if j.metrics[0].verdict == Verdict::Fail {
                failed = Some((i + 1, j.metrics[0].clone()));
                break;
            }
        }
        let (minutes, verdict) = failed.expect("rolled back within 30 minutes");
        let channel = &state.metrics[0].channels[0];
        assert!(channel.phi > 5.0, "the stable's bursts temper the counts: φ {}", channel.phi);
        let counts_alone = channel.comparison.log_e(10).exp();
        assert!(counts_alone < 100.0, "after {minutes} minutes the counts alone have e {counts_alone}");
        assert!(verdict.reason.contains("in bursts: bad events in"), "{}", verdict.reason);
    }

    #[test]
    fn it_runs_only_on_overdispersed_counts_with_a_bound() {
        let q = history(3, 600.0, 0.001, 5.0);
        let mut off = BurstTest::default();
        off.decide(&q, 1.0, 0.0);
        off.update(&Events::exact(40.0, 60.0));
        assert_eq!(off.log_e(), None);
        let mut late = BurstTest::default();
        late.decide(&q, 9.0, 0.7);
        assert_eq!(late.bound, None, "not once the count comparison has moved");
        let mut on = BurstTest::default();
        on.decide(&q, 9.0, 0.0);
        on.decide(&QuietIntervals::default(), 9.0, 0.0);
        assert!(on.bound.is_some(), "decided once, at the first comparison");
        on.update(&Events::exact(0.0, 60.0));
        assert!(on.log_e().unwrap() < 0.0, "a quiet canary interval is evidence against");
    }
}
