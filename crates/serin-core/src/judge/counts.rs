//! From raw readings to event counts: validation of what Prometheus returned, and the
//! bracketing of a latency limit by histogram buckets.
//!
//! A latency limit `pQ <= L` becomes "at most 1−Q of requests are slower than L". A
//! histogram only knows counts at its bucket bounds, so the slow count at L is bracketed:
//! the bucket with the smallest `le >= L` gives a lower bound (used by tests that roll
//! back: they may only claim "too slow" from requests certainly slower than L), the bucket
//! with the largest `le <= L` gives an upper bound (used by tests that pass). On a bucket
//! boundary both agree.

use serde::{Deserialize, Serialize};

use super::observation::{Bucket, Reading};

/// Events of one arm over one period: `bad` out of `total`, bracketed for histograms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Events {
    /// Bad events certainly counted (lower bound): what rollback tests use.
    pub bad_hi: f64,
    /// Bad events possibly counted (upper bound): what pass tests use.
    pub bad_lo: f64,
    pub total: f64,
}

impl Events {
    /// Exact counts (ratio metrics, or a limit on a bucket boundary).
    pub fn exact(bad: f64, total: f64) -> Self {
        Events { bad_hi: bad, bad_lo: bad, total }
    }

    pub fn add(&mut self, other: &Events) {
        self.bad_hi += other.bad_hi;
        self.bad_lo += other.bad_lo;
        self.total += other.total;
    }
}

/// A reading after validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Clean {
    Counts {
        bad: f64,
        total: f64,
    },
    /// Sorted by `le`, duplicates merged, cumulative counts non-decreasing, ends with +Inf.
    Buckets(Vec<Bucket>),
    Value(f64),
    NoData,
    /// NaN, ±Inf, negative counts, or a histogram without a `+Inf` bucket; says which.
    NotANumber(&'static str),
    Error(String),
}

/// Validates a reading. Negative or non-finite numbers are not counts: they become
/// `NotANumber`, never zero. A `bad` above `total` (the two queries are evaluated
/// separately, so extrapolated increases can disagree slightly) raises `total` to `bad`
/// rather than lowering `bad`: the error is never hidden.
pub fn clean(reading: &Reading) -> Clean {
    match reading {
        Reading::Counts { bad, total } => {
            if !(bad.is_finite() && total.is_finite()) {
                Clean::NotANumber("the query returned NaN or Inf (0÷0: no requests in the window?)")
            } else if *bad < 0.0 || *total < 0.0 {
                Clean::NotANumber("the query returned a negative count (counter reset or wrong query?)")
            } else {
                Clean::Counts { bad: *bad, total: total.max(*bad) }
            }
        }
        Reading::Buckets(buckets) => clean_buckets(buckets),
        Reading::Value(v) if v.is_finite() => Clean::Value(*v),
        Reading::Value(_) | Reading::NotANumber => {
            Clean::NotANumber("the query returned NaN (0÷0: no requests in the window, or wrong labels?)")
        }
        Reading::NoData => Clean::NoData,
        Reading::Error(msg) => Clean::Error(msg.clone()),
    }
}

fn clean_buckets(buckets: &[Bucket]) -> Clean {
    if buckets.is_empty() {
        return Clean::NoData;
    }
    if buckets.iter().any(|b| b.le.is_nan() || !b.count.is_finite()) {
        return Clean::NotANumber("a histogram bucket is NaN or Inf");
    }
    if buckets.iter().any(|b| b.count < 0.0) {
        return Clean::NotANumber("a histogram bucket count is negative (counter reset?)");
    }
    let mut sorted = buckets.to_vec();
    sorted.sort_by(|a, b| a.le.total_cmp(&b.le));
    let mut merged: Vec<Bucket> = Vec::with_capacity(sorted.len());
    for b in sorted {
        match merged.last_mut() {
            // Duplicated `le` (e.g. "1" and "1.0" from two scrapes): keep the larger count.
            Some(last) if last.le == b.le => last.count = last.count.max(b.count),
            _ => merged.push(b),
        }
    }
    // Cumulative counts cannot decrease; extrapolated increases sometimes do. The running
    // maximum only ever raises counts at larger `le`, i.e. never invents slow requests
    // below a limit that were not there above it.
    let mut running = 0.0f64;
    for b in &mut merged {
        running = running.max(b.count);
        b.count = running;
    }
    match merged.last() {
        Some(last) if last.le == f64::INFINITY => Clean::Buckets(merged),
        _ => Clean::NotANumber("the histogram has no +Inf bucket"),
    }
}

/// Requests slower than `limit` seconds, bracketed by the buckets around it.
/// `buckets` must come from [`clean`].
pub fn slow_events(buckets: &[Bucket], limit: f64) -> Events {
    let total = buckets.last().map_or(0.0, |b| b.count);
    // Smallest le >= L: requests above it are certainly slower than L.
    let cum_hi = buckets.iter().find(|b| b.le >= limit).map_or(total, |b| b.count);
    // Largest le <= L: requests above it may be slower than L; none below ⇒ all may be.
    let cum_lo = buckets.iter().rev().find(|b| b.le <= limit).map_or(0.0, |b| b.count);
    Events { bad_hi: (total - cum_hi).max(0.0), bad_lo: (total - cum_lo).max(0.0), total }
}

/// The bucket bounds bracketing `limit`: (largest le ≤ L, smallest le ≥ L).
pub fn bracket(buckets: &[Bucket], limit: f64) -> (Option<f64>, Option<f64>) {
    let lo = buckets.iter().rev().find(|b| b.le <= limit).map(|b| b.le);
    let hi = buckets.iter().find(|b| b.le >= limit).map(|b| b.le);
    (lo, hi)
}

/// Quantile estimate as Prometheus' `histogram_quantile` computes it (linear interpolation
/// inside the bucket; the largest finite bound if the rank falls in `+Inf`); `None`
/// without requests.
pub fn quantile(buckets: &[Bucket], q: f64) -> Option<f64> {
    let total = buckets.last()?.count;
    if total <= 0.0 || !(0.0..=1.0).contains(&q) {
        return None;
    }
    let rank = q * total;
    let mut prev_le = 0.0f64;
    let mut prev_count = 0.0f64;
    for b in buckets {
        if b.count >= rank {
            if b.le == f64::INFINITY {
                return Some(prev_le);
            }
            let width = b.count - prev_count;
            let lower = if prev_le > b.le { 0.0 } else { prev_le };
            if width <= 0.0 {
                return Some(b.le);
            }
            return Some(lower + (b.le - lower) * (rank - prev_count) / width);
        }
        prev_le = b.le;
        prev_count = b.count;
    }
    Some(prev_le)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ingress-nginx defaults: .005 .01 .025 .05 .1 .25 .5 1 2.5 5 10 +Inf.
    fn nginx(counts: [f64; 12]) -> Vec<Bucket> {
        let les = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, f64::INFINITY];
        les.iter().zip(counts).map(|(&le, count)| Bucket { le, count }).collect()
    }

    fn cleaned(b: Vec<Bucket>) -> Vec<Bucket> {
        match clean(&Reading::Buckets(b)) {
            Clean::Buckets(b) => b,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn limit_on_a_boundary_is_exact() {
        let b = cleaned(nginx([0., 0., 10., 20., 40., 60., 90., 95., 98., 99., 100., 100.]));
        let e = slow_events(&b, 0.5);
        assert_eq!((e.bad_hi, e.bad_lo, e.total), (10.0, 10.0, 100.0));
        assert_eq!(bracket(&b, 0.5), (Some(0.5), Some(0.5)));
    }

    #[test]
    fn limit_between_boundaries_is_bracketed() {
        let b = cleaned(nginx([0., 0., 10., 20., 40., 60., 90., 95., 98., 99., 100., 100.]));
        // 2 s lies between 1 (95) and 2.5 (98): certainly slower 2, possibly slower 5.
        let e = slow_events(&b, 2.0);
        assert_eq!((e.bad_hi, e.bad_lo), (2.0, 5.0));
        assert_eq!(bracket(&b, 2.0), (Some(1.0), Some(2.5)));
    }

    #[test]
    fn limit_below_every_bucket_counts_all_as_possibly_slow() {
        let b = cleaned(nginx([1., 2., 10., 20., 40., 60., 90., 95., 98., 99., 100., 100.]));
        let e = slow_events(&b, 0.001);
        assert_eq!((e.bad_hi, e.bad_lo), (99.0, 100.0));
        let e = slow_events(&b, 60.0);
        assert_eq!((e.bad_hi, e.bad_lo), (0.0, 0.0));
    }

    #[test]
    fn unsorted_duplicated_and_broken_buckets() {
        let b = vec![
            Bucket { le: f64::INFINITY, count: 10.0 },
            Bucket { le: 1.0, count: 8.0 },
            Bucket { le: 0.5, count: 9.0 },
            Bucket { le: 1.0, count: 7.0 },
        ];
        let b = cleaned(b);
        assert_eq!(b.len(), 3);
        assert_eq!(b[1].count, 9.0);
        let no_inf = vec![Bucket { le: 1.0, count: 1.0 }];
        assert!(matches!(clean(&Reading::Buckets(no_inf)), Clean::NotANumber(_)));
        assert_eq!(clean(&Reading::Buckets(vec![])), Clean::NoData);
        let nan = vec![Bucket { le: f64::INFINITY, count: f64::NAN }];
        assert!(matches!(clean(&Reading::Buckets(nan)), Clean::NotANumber(_)));
    }

    #[test]
    fn counts_validation() {
        assert!(matches!(clean(&Reading::Counts { bad: -1.0, total: 3.0 }), Clean::NotANumber(_)));
        assert!(matches!(clean(&Reading::Counts { bad: f64::NAN, total: 3.0 }), Clean::NotANumber(_)));
        assert_eq!(clean(&Reading::Counts { bad: 4.0, total: 3.0 }), Clean::Counts { bad: 4.0, total: 4.0 });
    }

    #[test]
    fn quantile_like_prometheus() {
        let b = cleaned(nginx([0., 0., 10., 20., 40., 60., 90., 95., 98., 99., 100., 100.]));
        let p50 = quantile(&b, 0.5).unwrap_or(f64::NAN);
        assert!((p50 - 0.175).abs() < 1e-9, "{p50}");
        assert_eq!(quantile(&b, 1.0), Some(10.0));
        let empty = cleaned(nginx([0.; 12]));
        assert_eq!(quantile(&empty, 0.5), None);
    }
}
