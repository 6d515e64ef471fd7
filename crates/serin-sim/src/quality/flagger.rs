//! Flagger's nginx canary analysis, as Flagger runs it (`simulations/README.md`, where the upstream files are listed).
//!
//! Semantics from fluxcd/flagger:
//! - `pkg/controller/scheduler.go` (`advanceCanary`): one tick per `analysis.interval`; the
//!   rollback test `failedChecks >= threshold` runs at the **start** of the next tick, before
//!   the analysis; a failed check increments `status.failedChecks` and returns without
//!   moving the weight, and nothing ever decrements it (it is cumulative for the run); the
//!   first tick of a revision sends `stepWeights[0]` without any metric check; a passing
//!   tick below `maxWeight` advances one step, at `maxWeight` it promotes;
//! - `pkg/apis/flagger/v1beta1/canary.go` (`GetAnalysisThreshold`): `threshold` defaults to 1
//!   (the seed guides use 5);
//! - `pkg/metrics/observers/nginx.go`: `request-success-rate` = non-5xx rate / all rate × 100
//!   and `request-duration` = mean response time in ms (not a percentile), both on the
//!   canary alone (`canary!=""`), over the interval (`1m`); `thresholdRange` fails iff
//!   `value < min` or `value > max`; the duration is truncated to whole milliseconds;
//! - `pkg/metrics/providers/prometheus.go` (`RunQuery`) and `scheduler_metrics.go`: an empty
//!   result or NaN is `ErrNoValuesFound`, and the check **counts as failed** ("Halt
//!   advancement no values found"), so a canary without traffic is rolled back.
//!
//! Promotion is the decision: Flagger's Promoting and Finalising ticks come after it and
//! route to the promoted version, so they expose no canary requests.

use super::promql::{Answer, mean_duration_ms, success_ratio};
use super::{Algorithm, Call, Ladder, Observation, Prometheus};

/// The seed guides' `thresholdRange`: success rate at least 99%, mean duration at most 500 ms.
const MIN_SUCCESS_PERCENT: f64 = 99.0;
const MAX_DURATION_MS: f64 = 500.0;

/// One Flagger canary run.
#[derive(Debug, Clone)]
pub struct Flagger {
    threshold: u32,
    failed_checks: u32,
    ladder: Ladder,
}

impl Flagger {
    /// `analysis.threshold` (Flagger's default is 1).
    pub fn new(threshold: u32) -> Flagger {
        Flagger { threshold: threshold.max(1), failed_checks: 0, ladder: Ladder::default() }
    }

    /// Both builtin checks, in Flagger's order; the first failure short-circuits.
    fn checks_pass(observation: &Observation) -> bool {
        let success = match success_ratio(&observation.canary) {
            Answer::Value(v) if !v.is_nan() => 100.0 * v,
            _ => return false, // no values found
        };
        if success < MIN_SUCCESS_PERCENT {
            return false;
        }
        match mean_duration_ms(&observation.canary) {
            Answer::Value(ms) if !ms.is_nan() => ms.trunc() <= MAX_DURATION_MS,
            _ => false,
        }
    }
}

impl Algorithm for Flagger {
    fn decide(&mut self, observation: &Observation, _: Prometheus<'_>) -> Call {
        if self.failed_checks >= self.threshold {
            return Call::Rollback;
        }
        if let Some(first) = self.ladder.start() {
            return first;
        }
        if !Flagger::checks_pass(observation) {
            self.failed_checks += 1;
            return Call::Continue;
        }
        self.ladder.climb()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quality::ArmCounts;
    use crate::quality::tests::{arm, calls, observation, quiet};

    /// `requests` canary requests, `errors` of them 5xx, `mean_ms` mean duration.
    fn obs(requests: u64, errors: u64, mean_ms: f64) -> Observation {
        let canary = ArmCounts { latency_sum: requests as f64 * mean_ms / 1000.0, ..arm(requests, errors) };
        observation(canary, ArmCounts::default())
    }

    #[test]
    fn happy_path_checks_four_steps_then_promotes() {
        let good = obs(1000, 5, 90.0);
        let got = calls(&mut Flagger::new(1), &[good; 6]);
        let want = [Call::Advance(10), Call::Advance(25), Call::Advance(50), Call::Advance(100), Call::Promote];
        assert_eq!(got[..5], want);
    }

    #[test]
    fn failures_are_cumulative_and_roll_back_one_tick_late() {
        let (good, bad) = (obs(1000, 5, 90.0), obs(1000, 20, 90.0));
        let got = calls(&mut Flagger::new(2), &[good, bad, good, bad, good]);
        assert_eq!(got, [Call::Advance(10), Call::Continue, Call::Advance(25), Call::Continue, Call::Rollback]);
    }

    #[test]
    fn no_traffic_and_slow_means_are_failed_checks() {
        let quiet = observation(quiet(), ArmCounts::default());
        assert!(!Flagger::checks_pass(&quiet));
        assert!(!Flagger::checks_pass(&obs(100, 0, 501.1)));
        assert!(Flagger::checks_pass(&obs(100, 0, 500.9)), "500.9 ms truncates to 500: passes");
        let got = calls(&mut Flagger::new(1), &[quiet, quiet, quiet]);
        assert_eq!(got, [Call::Advance(10), Call::Continue, Call::Rollback]);
    }
}
