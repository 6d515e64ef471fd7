//! Argo Rollouts' canary with a background analysis (`simulations/README.md`, where the upstream files are listed).
//!
//! Semantics from argoproj/argo-rollouts:
//! - `pkg/apis/rollouts/v1alpha1/analysis_types.go`, `utils/defaults/defaults.go`: a metric
//!   is Failed iff `failed > failureLimit` (default 0: the first failed measurement fails
//!   the run), Error iff `consecutiveError > consecutiveErrorLimit` (default 4: the 5th
//!   error in a row); a completed measurement resets the error streak;
//! - `utils/evaluate/evaluate.go` and `metricproviders/prometheus/prometheus_test.go`
//!   (`TestProcessNaNResponse`): with only `successCondition`, a NaN result is **Failed**;
//!   an empty vector makes `result[0]` throw, so the measurement is an **Error** (#1466);
//! - `rollout/analysis.go`: a Failed or Error run aborts the rollout (weight 0); a background
//!   run still going when the steps finish is terminated as Successful.
//!
//! The rollout here: `steps: [setWeight 10, pause 5m, setWeight 25, pause 5m, setWeight 50,
//! pause 5m, setWeight 100, pause 5m]`, then promotion; the background analysis starts with
//! the rollout and measures every minute (`interval: 1m`, first measurement at once).
//! Two metrics, as a team writing Argo analyses would have them:
//! - `success-rate`: the documented `successCondition: result[0] >= 0.99` on
//!   non-5xx / all requests of the canary;
//! - `latency-p99`: the documented latency variant, `histogram_quantile(0.99, …) <= 0.5`.

use super::promql::{Answer, histogram_quantile, success_ratio};
use super::{Algorithm, Call, Ladder, Observation, Prometheus};

/// Minutes of `pause` after each `setWeight`.
pub const PAUSE_INTERVALS: u32 = 5;
/// Argo's `DefaultConsecutiveErrorLimit`.
const CONSECUTIVE_ERROR_LIMIT: u32 = 4;
const MIN_SUCCESS_RATIO: f64 = 0.99;
const MAX_P99_SECONDS: f64 = 0.5;

/// One measurement's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Measurement {
    Successful,
    Failed,
    Error,
}

impl Measurement {
    /// `successCondition` alone: empty ⇒ Error, NaN ⇒ Failed (the condition is false).
    fn of(answer: Answer, condition: impl Fn(f64) -> bool) -> Measurement {
        match answer {
            Answer::Empty => Measurement::Error,
            Answer::Value(v) if !v.is_nan() && condition(v) => Measurement::Successful,
            Answer::Value(_) => Measurement::Failed,
        }
    }
}

/// One metric's counters in the analysis run.
#[derive(Debug, Clone, Copy, Default)]
struct MetricRun {
    failed: u32,
    consecutive_errors: u32,
}

impl MetricRun {
    /// Records a measurement; true when the metric (so the run) has failed or errored.
    fn record(&mut self, m: Measurement, failure_limit: u32) -> bool {
        match m {
            Measurement::Successful => self.consecutive_errors = 0,
            Measurement::Failed => {
                self.failed += 1;
                self.consecutive_errors = 0;
            }
            Measurement::Error => self.consecutive_errors += 1,
        }
        self.failed > failure_limit || self.consecutive_errors > CONSECUTIVE_ERROR_LIMIT
    }
}

/// One Argo Rollouts canary run.
#[derive(Debug, Clone)]
pub struct Argo {
    failure_limit: u32,
    success_rate: MetricRun,
    latency: MetricRun,
    ladder: Ladder,
    /// Intervals measured at the current weight.
    at_step: u32,
}

impl Argo {
    /// `failureLimit` (Argo's default is 0; its documentation example uses 3).
    pub fn new(failure_limit: u32) -> Argo {
        Argo {
            failure_limit,
            success_rate: MetricRun::default(),
            latency: MetricRun::default(),
            ladder: Ladder::default(),
            at_step: 0,
        }
    }
}

impl Algorithm for Argo {
    fn decide(&mut self, observation: &Observation, _: Prometheus<'_>) -> Call {
        let canary = &observation.canary;
        let success = Measurement::of(success_ratio(canary), |v| v >= MIN_SUCCESS_RATIO);
        let p99 = Measurement::of(histogram_quantile(0.99, canary), |v| v <= MAX_P99_SECONDS);
        let failed_success = self.success_rate.record(success, self.failure_limit);
        let failed_latency = self.latency.record(p99, self.failure_limit);
        if failed_success || failed_latency {
            return Call::Rollback;
        }
        if let Some(first) = self.ladder.start() {
            return first;
        }
        self.at_step += 1;
        if self.at_step < PAUSE_INTERVALS {
            return Call::Continue;
        }
        self.at_step = 0;
        self.ladder.climb()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::ArmCounts;
    use crate::quality::tests::{arm, calls, observation, quiet};

    fn canary(canary: ArmCounts) -> Observation {
        observation(canary, ArmCounts::default())
    }

    #[test]
    fn healthy_walks_every_pause_then_promotes() {
        let mut obs = vec![canary(ArmCounts::default())];
        obs.extend([canary(arm(600, 3)); 20]);
        let got = calls(&mut Argo::new(0), &obs);
        let moves: Vec<(usize, Call)> = got.into_iter().enumerate().filter(|(_, c)| *c != Call::Continue).collect();
        let want = [(0, Call::Advance(10)), (5, Call::Advance(25)), (10, Call::Advance(50)), (15, Call::Advance(100))];
        assert_eq!(moves[..4], want);
        assert_eq!(moves[4], (20, Call::Promote));
    }

    #[test]
    fn failure_limit_counts_failed_measurements_and_nan_fails() {
        let (good, bad, nan) = (canary(arm(600, 3)), canary(arm(600, 30)), canary(quiet()));
        assert_eq!(calls(&mut Argo::new(0), &[good, bad]), [Call::Advance(10), Call::Rollback]);
        assert_eq!(calls(&mut Argo::new(0), &[good, nan]), [Call::Advance(10), Call::Rollback]);
        let got = calls(&mut Argo::new(3), &[good, bad, good, bad, bad, bad]);
        assert_eq!(got[5], Call::Rollback);
        assert!(got[..5].iter().all(|c| *c != Call::Rollback));
    }

    #[test]
    fn empty_results_are_errors_and_the_fifth_in_a_row_aborts() {
        let none = canary(ArmCounts::default());
        let got = calls(&mut Argo::new(0), &[none; 5]);
        assert_eq!(got[..4], [Call::Advance(10), Call::Continue, Call::Continue, Call::Continue]);
        assert_eq!(got[4], Call::Rollback);
        // An outage never creates a non-5xx series: errors, not failures.
        let got = calls(&mut Argo::new(0), &[canary(arm(600, 600)); 5]);
        assert_eq!(got[4], Call::Rollback);
        assert!(got[..4].iter().all(|c| *c != Call::Rollback));
    }
}
