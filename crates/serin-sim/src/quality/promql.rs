//! What the baselines' PromQL returns, computed from one interval's counters.
//!
//! The baselines query Prometheus; here their queries are evaluated on the interval's exact
//! counts (`rate(x[1m])` of both sides of a ratio cancels to a ratio of increases). What
//! matters is kept: a series that does not exist gives an **empty** vector (and so does a
//! division by one), while an existing series with no requests gives 0/0 = **NaN** — the
//! two cases Flagger and Argo treat differently (`simulations/README.md`).

use super::ArmCounts;
use crate::sim::LE_BOUNDS;

/// An instant-vector answer with at most one element.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Answer {
    /// No series: `result` is `[]`.
    Empty,
    /// One sample; may be NaN.
    Value(f64),
}

/// `sum(rate(requests{status!~"5.*"}[1m])) / sum(rate(requests[1m]))`, the success ratio
/// in Flagger's `request-success-rate` (×100) and Argo's documented success query. Empty
/// until a non-5xx series exists: a canary that never answered anything but 5xx has no
/// numerator series, and `[] / x` is `[]`.
pub fn success_ratio(arm: &ArmCounts) -> Answer {
    if !arm.ever_ok || !arm.ever_requests {
        return Answer::Empty;
    }
    Answer::Value((arm.requests - arm.errors) as f64 / arm.requests as f64)
}

/// `sum(rate(..._response_duration_seconds_sum[1m])) / sum(rate(..._count[1m])) * 1000`:
/// Flagger's nginx `request-duration`, the **mean** in milliseconds.
pub fn mean_duration_ms(arm: &ArmCounts) -> Answer {
    if !arm.ever_requests {
        return Answer::Empty;
    }
    Answer::Value(1000.0 * arm.latency_sum / arm.requests as f64)
}

/// `histogram_quantile(phi, sum by (le) (rate(..._bucket[1m])))`.
pub fn histogram_quantile(phi: f64, arm: &ArmCounts) -> Answer {
    if !arm.ever_requests {
        return Answer::Empty;
    }
    Answer::Value(quantile_of_buckets(phi, &arm.buckets))
}

/// Prometheus' bucket interpolation (`promql/quantile.go`): NaN without observations; the
/// rank φ·total falls in the first bucket whose cumulative count reaches it; in `+Inf` it
/// answers the largest finite bound; else linear within the bucket (from 0 for the first).
pub fn quantile_of_buckets(phi: f64, cumulative: &[f64; LE_BOUNDS.len()]) -> f64 {
    let total = cumulative[LE_BOUNDS.len() - 1];
    if total <= 0.0 || !phi.is_finite() {
        return f64::NAN;
    }
    let rank = phi.clamp(0.0, 1.0) * total;
    let Some(k) = cumulative.iter().position(|&c| c >= rank) else { return f64::NAN };
    let upper = LE_BOUNDS[k];
    if upper.is_infinite() {
        return LE_BOUNDS[LE_BOUNDS.len() - 2];
    }
    let (lower, below) = if k == 0 { (0.0, 0.0) } else { (LE_BOUNDS[k - 1], cumulative[k - 1]) };
    let inside = cumulative[k] - below;
    if inside <= 0.0 {
        return upper;
    }
    lower + (upper - lower) * (rank - below) / inside
}

/// 5xx share of the interval's requests (NaN without requests): one point of Kayenta's
/// per-minute error-rate series.
pub fn error_rate(arm: &ArmCounts) -> f64 {
    if arm.requests == 0 { f64::NAN } else { arm.errors as f64 / arm.requests as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arm(requests: u64, errors: u64, ever_ok: bool) -> ArmCounts {
        ArmCounts { requests, errors, ever_requests: true, ever_ok, ..Default::default() }
    }

    #[test]
    fn empty_nan_and_values_are_told_apart() {
        assert_eq!(success_ratio(&ArmCounts::default()), Answer::Empty);
        assert_eq!(success_ratio(&arm(10, 10, false)), Answer::Empty, "outage: no non-5xx series");
        assert!(matches!(success_ratio(&arm(0, 0, true)), Answer::Value(v) if v.is_nan()));
        assert_eq!(success_ratio(&arm(200, 1, true)), Answer::Value(0.995));
        assert!(error_rate(&arm(0, 0, true)).is_nan());
        assert_eq!(error_rate(&arm(50, 5, true)), 0.1);
    }

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        let mut c = [0.0; 12];
        // 100 requests: 50 in (0.05, 0.1], 49 in (0.1, 0.25], 1 in (2.5, 5].
        for (k, v) in c.iter_mut().enumerate() {
            *v = match k {
                0..=3 => 0.0,
                4 => 50.0,
                5..=8 => 99.0,
                _ => 100.0,
            };
        }
        assert!((quantile_of_buckets(0.5, &c) - 0.1).abs() < 1e-12);
        assert!((quantile_of_buckets(0.25, &c) - 0.075).abs() < 1e-12);
        assert!((quantile_of_buckets(0.99, &c) - 0.25).abs() < 1e-12);
        assert!((quantile_of_buckets(0.995, &c) - 3.75).abs() < 1e-12);
        assert!(quantile_of_buckets(0.99, &[0.0; 12]).is_nan());
        let mut inf = [0.0; 12];
        inf[11] = 3.0;
        assert_eq!(quantile_of_buckets(0.99, &inf), 10.0);
    }
}
