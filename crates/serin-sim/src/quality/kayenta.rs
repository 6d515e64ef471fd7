//! A Kayenta-style canary judge (`simulations/README.md`, where the upstream files are listed): Kayenta's classifier and
//! scorer, faithful; the orchestration around it simplified to one judgement per step.
//!
//! Semantics from spinnaker/kayenta:
//! - `kayenta-judge/.../NetflixACAJudge.scala` (`classifyMetric`): NaN strategy Remove (the
//!   default), direction here `increase`, `MannWhitneyClassifier(tolerance = 0.25,
//!   confLevel = 0.98)`, effect size `meanRatio` with `allowedIncrease` 1.0;
//! - `.../classifiers/metric/MannWhitneyClassifier.scala`: an empty arm is Nodata, identical
//!   arrays Pass; else **High** iff the lower end of the 98% Mann-Whitney interval for the
//!   location shift canary − baseline exceeds 0.25 × |Hodges-Lehmann estimate| (and the
//!   mean ratio is NaN or ≥ 1);
//! - `kayenta-mannwhitney/.../MannWhitney.scala`: the interval, from the normal
//!   approximation (here by the pairwise-difference order statistics it approximates);
//! - `.../scorers/WeightedSumScorer.scala`: score = 100 × Pass / scored metrics, 0 when ≥ 50%
//!   of the metrics are Nodata; `ThresholdScoreClassifier` with the schema's example
//!   thresholds pass 75 / marginal 50; `MonitorCanaryTask`: an intermediate score ≤ marginal
//!   ends the canary.
//!
//! Data are Kayenta's: per-minute series for the canary and the baseline (stable) of the
//! error rate (5xx / requests, NaN without requests) and of p99 (`histogram_quantile` of
//! the minute). Each step (10%, 25%, 50%) runs 5 minutes, then its series are judged:
//! score ≤ 50 rolls back, else the next step; the judgement at 50% is the final one (score
//! ≥ 75 promotes). At 100% there is no baseline left to compare with. Kayenta adds tiny
//! noise when both arms are constant only so that its numeric test runs; the order
//! statistics below need none.

use super::promql::{error_rate, histogram_quantile};
use super::{Algorithm, Call, Ladder, Observation, Prometheus};

/// Minutes of data per step (Kayenta's own guidance would want 50 points per series).
pub const STEP_INTERVALS: usize = 5;
/// The last weight at which both versions serve: the final judgement.
const LAST_COMPARED_WEIGHT: u8 = super::STEPS[2];
const TOLERANCE: f64 = 0.25;
/// Two-sided 98%: z = Φ⁻¹(0.99).
const Z_98: f64 = 2.326_347_874;
const PASS_SCORE: f64 = 75.0;
const MARGINAL_SCORE: f64 = 50.0;
const NODATA_THRESHOLD_PERCENT: f64 = 50.0;

/// Kayenta's metric classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Pass,
    High,
    Nodata,
}

/// The two metrics' per-minute series during the current step.
#[derive(Debug, Clone, Default)]
struct Series {
    canary: Vec<f64>,
    baseline: Vec<f64>,
}

/// One Kayenta-judged canary run.
#[derive(Debug, Clone, Default)]
pub struct Kayenta {
    ladder: Ladder,
    error_rate: Series,
    p99: Series,
}

impl Kayenta {
    pub fn new() -> Kayenta {
        Kayenta::default()
    }

    /// The step's score, 0–100.
    fn score(&self) -> f64 {
        let classes = [classify(&self.error_rate), classify(&self.p99)];
        let nodata = classes.iter().filter(|c| **c == Class::Nodata).count();
        if 100.0 * nodata as f64 / classes.len() as f64 >= NODATA_THRESHOLD_PERCENT {
            return 0.0;
        }
        let pass = classes.iter().filter(|c| **c == Class::Pass).count();
        100.0 * pass as f64 / (classes.len() - nodata) as f64
    }
}

impl Algorithm for Kayenta {
    fn decide(&mut self, observation: &Observation, _: Prometheus<'_>) -> Call {
        if let Some(first) = self.ladder.start() {
            return first;
        }
        let p99 = |arm| match histogram_quantile(0.99, arm) {
            super::promql::Answer::Value(v) => v,
            super::promql::Answer::Empty => f64::NAN,
        };
        self.error_rate.canary.push(error_rate(&observation.canary));
        self.error_rate.baseline.push(error_rate(&observation.baseline));
        self.p99.canary.push(p99(&observation.canary));
        self.p99.baseline.push(p99(&observation.baseline));
        if self.error_rate.canary.len() < STEP_INTERVALS {
            return Call::Continue;
        }
        let score = self.score();
        (self.error_rate, self.p99) = (Series::default(), Series::default());
        if self.ladder.weight() >= LAST_COMPARED_WEIGHT {
            return if score >= PASS_SCORE { Call::Promote } else { Call::Rollback };
        }
        if score <= MARGINAL_SCORE {
            return Call::Rollback;
        }
        self.ladder.climb()
    }
}

/// `MannWhitneyClassifier.classify` with direction `increase`, NaNs removed.
fn classify(series: &Series) -> Class {
    let clean = |v: &[f64]| v.iter().copied().filter(|x| !x.is_nan()).collect::<Vec<f64>>();
    let (canary, baseline) = (clean(&series.canary), clean(&series.baseline));
    if canary.is_empty() || baseline.is_empty() {
        return Class::Nodata;
    }
    if canary == baseline {
        return Class::Pass;
    }
    let Some((low, estimate)) = shift_interval_low(&canary, &baseline) else { return Class::Pass };
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let ratio = mean(&canary) / mean(&baseline);
    let effect_ok = !ratio.is_finite() || ratio >= 1.0;
    if low > TOLERANCE * estimate.abs() && effect_ok { Class::High } else { Class::Pass }
}

/// The lower end of the 98% Mann-Whitney interval for the shift canary − baseline and the
/// Hodges-Lehmann estimate (the median of the pairwise differences). `None` when the
/// samples are too small for a finite bound at this level.
pub fn shift_interval_low(canary: &[f64], baseline: &[f64]) -> Option<(f64, f64)> {
    let (m, n) = (canary.len() as f64, baseline.len() as f64);
    let mut diffs: Vec<f64> = canary.iter().flat_map(|c| baseline.iter().map(move |b| c - b)).collect();
    diffs.sort_by(f64::total_cmp);
    let count = diffs.len();
    let estimate = if count % 2 == 1 { diffs[count / 2] } else { 0.5 * (diffs[count / 2 - 1] + diffs[count / 2]) };
    let k = (m * n / 2.0 - Z_98 * (m * n * (m + n + 1.0) / 12.0).sqrt()).floor();
    if k < 1.0 {
        return None;
    }
    Some((diffs[k as usize - 1], estimate))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::tests::{arm, calls, observation, quiet};

    #[test]
    fn interval_and_estimate_from_pairwise_differences() {
        let (low, hl) = shift_interval_low(&[10.0, 11.0, 12.0, 13.0, 14.0], &[0.0, 1.0, 2.0, 3.0, 4.0]).unwrap();
        // 25 differences 6..=14; k = ⌊12.5 − 2.326·√(25·11/12)⌋ = 1: the smallest.
        assert_eq!((low, hl), (6.0, 10.0));
        assert!(shift_interval_low(&[1.0, 2.0], &[0.0]).is_none(), "too few points for 98%");
    }

    #[test]
    fn a_clear_regression_is_high_and_rolls_back_at_the_first_step() {
        let got = calls(&mut Kayenta::new(), &[observation(arm(600, 60), arm(5400, 27)); 6]);
        assert_eq!(got[0], Call::Advance(10));
        assert!(got[1..5].iter().all(|c| *c == Call::Continue));
        assert_eq!(got[5], Call::Rollback);
    }

    #[test]
    fn healthy_steps_through_and_promotes_at_the_last_compared_step() {
        let got = calls(&mut Kayenta::new(), &[observation(arm(600, 3), arm(5400, 27)); 16]);
        let moves: Vec<Call> = got.into_iter().filter(|c| *c != Call::Continue).collect();
        assert_eq!(moves, [Call::Advance(10), Call::Advance(25), Call::Advance(50), Call::Promote]);
    }

    #[test]
    fn no_canary_data_scores_zero() {
        assert_eq!(calls(&mut Kayenta::new(), &[observation(quiet(), arm(5400, 27)); 6])[5], Call::Rollback);
    }
}
